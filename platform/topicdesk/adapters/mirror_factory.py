"""Which MirrorMaker 2 engine the reconciler drives, from the environment.

    TOPICDESK_MIRROR_ENGINE         process (default): a dedicated MirrorMaker process per mirror
    TOPICDESK_MIRROR_STATE_DIR      process: the folder whose mirrors/<mirror_id>/ hold each
                                    process's files [default: $TOPICDESK_DATA_DIR or ./.topicdesk]
    TOPICDESK_MIRROR_KAFKA_VERSION  process: the Kafka release of MirrorMaker [default: 4.3.1]

    TOPICDESK_MIRROR_ENGINE=connect an existing Kafka Connect cluster, through its REST API
    TOPICDESK_CONNECT_URL           connect: the REST URL of any worker, or of the cluster's load
                                    balancer (workers forward to the leader) [required]
    TOPICDESK_CONNECT_AUTH          connect: basic-auth credentials by reference, as clusters'
                                    admin credentials: env:PREFIX or file:/path.json [default: none]
    TOPICDESK_CONNECT_TIMEOUT_SECONDS  connect: timeout of one REST call [default: 10]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from topicdesk.adapters.mirror_connect import ConnectMirrorEngine
from topicdesk.adapters.mirror_process import ProcessMirrorEngine
from topicdesk.adapters.secrets import SecretUnavailable, resolve_credentials
from topicdesk.config import ConfigError
from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.local_kafka.versions import DEFAULT_VERSION, resolve_version
from topicdesk.services.mirror_port import MirrorEngine

ENGINES = ("process", "connect")


def mirror_engine_from_env(env: Mapping[str, str] | None = None) -> MirrorEngine:
    env = os.environ if env is None else env
    kind = env.get("TOPICDESK_MIRROR_ENGINE", "process").strip().lower() or "process"
    if kind == "process":
        state_dir = env.get("TOPICDESK_MIRROR_STATE_DIR") or env.get("TOPICDESK_DATA_DIR") or ".topicdesk"
        version = env.get("TOPICDESK_MIRROR_KAFKA_VERSION", DEFAULT_VERSION)
        try:
            version = resolve_version(version)
        except LocalKafkaError as exc:
            raise ConfigError(f"TOPICDESK_MIRROR_KAFKA_VERSION: {exc.message}") from None
        return ProcessMirrorEngine(Path(state_dir).resolve(), kafka_version=version)
    if kind == "connect":
        return _connect_engine(env)
    raise ConfigError(f"TOPICDESK_MIRROR_ENGINE must be one of {', '.join(ENGINES)}, not {kind!r}")


def _connect_engine(env: Mapping[str, str]) -> ConnectMirrorEngine:
    url = env.get("TOPICDESK_CONNECT_URL", "").strip()
    if not url.startswith(("http://", "https://")):
        raise ConfigError("TOPICDESK_MIRROR_ENGINE=connect needs TOPICDESK_CONNECT_URL, the http(s) URL of the "
                          f"Connect cluster's REST API, not {url!r}")
    auth = None
    ref = env.get("TOPICDESK_CONNECT_AUTH", "").strip()
    if ref:
        try:
            credentials = resolve_credentials(ref, dict(env))
        except SecretUnavailable as exc:
            raise ConfigError(f"TOPICDESK_CONNECT_AUTH: {exc}") from None
        auth = (credentials.username, credentials.password)
    raw = env.get("TOPICDESK_CONNECT_TIMEOUT_SECONDS", "10")
    try:
        timeout = float(raw)
    except ValueError:
        timeout = -1.0
    if not timeout > 0:
        raise ConfigError(f"TOPICDESK_CONNECT_TIMEOUT_SECONDS must be a positive number of seconds, not {raw!r}")
    return ConnectMirrorEngine(url, auth=auth, timeout=timeout)

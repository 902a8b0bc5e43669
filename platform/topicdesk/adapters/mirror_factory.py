"""Which MirrorMaker 2 engine the reconciler drives, from the environment.

    TOPICDESK_MIRROR_ENGINE         process (default): a dedicated MirrorMaker process per mirror
    TOPICDESK_MIRROR_STATE_DIR      process: the folder whose mirrors/<mirror_id>/ hold each
                                    process's files [default: $TOPICDESK_DATA_DIR or ./.topicdesk]
    TOPICDESK_MIRROR_KAFKA_VERSION  process: the Kafka release of MirrorMaker [default: 4.3.1]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from topicdesk.adapters.mirror_process import ProcessMirrorEngine
from topicdesk.config import ConfigError
from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.local_kafka.versions import DEFAULT_VERSION, resolve_version
from topicdesk.services.mirror_port import MirrorEngine

ENGINES = ("process",)


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
    raise ConfigError(f"TOPICDESK_MIRROR_ENGINE must be one of {', '.join(ENGINES)}, not {kind!r}")

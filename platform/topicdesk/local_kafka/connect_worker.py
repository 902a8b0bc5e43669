"""A local Kafka Connect distributed worker: what production's Connect cluster is, on one JVM.

Topicdesk drives an existing Connect cluster through its REST API in production
(adapters/mirror_connect.py); this worker lets the tests and a developer do the same locally.
It runs `org.apache.kafka.connect.cli.ConnectDistributed` on the MirrorMaker 2 classpath of one
Kafka release (local_kafka.distribution.ensure_mirror_libs: connect-runtime and connect-mirror
of the same release), joined to one local cluster (the migration's target: a Connect cluster
writes what its source connectors produce into the cluster it is attached to), with SCRAM
credentials, its config/offset/status topics on that cluster, and the REST listener on a free
loopback port. Everything lives under one folder, beside the local clusters' own:

    <state_dir>/connect-workers/<name>/worker.properties   the worker's configuration (0600: it holds the password)
    <state_dir>/connect-workers/<name>/log4j2.properties   (log4j.properties on 3.9)
    <state_dir>/connect-workers/<name>/worker.json         pid, REST port, Kafka release, bootstrap (0600)
    <state_dir>/connect-workers/<name>/logs/connect.log    the worker's log; jvm.log its stdout/stderr

The JVM runs in its own session, so it outlives the call that started it; `stop` ends it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from topicdesk.local_kafka.config import jvm_options
from topicdesk.local_kafka.distribution import ensure_mirror_libs
from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.local_kafka.model import DEFAULT_STOP_TIMEOUT, HOST, LocalCluster
from topicdesk.local_kafka.processes import (
    cmdline_of,
    find_free_ports,
    is_zombie,
    java_executable,
    port_is_free,
    reap,
    spawn_detached,
    terminate_group,
)
from topicdesk.local_kafka.run_logs import RUN_MARKER, first_error, tail
from topicdesk.local_kafka.state import locked, remove_tree, write_private
from topicdesk.local_kafka.versions import resolve_version, uses_log4j2

MAIN_CLASS = "org.apache.kafka.connect.cli.ConnectDistributed"
MIRROR_SOURCE_CLASS = "org.apache.kafka.connect.mirror.MirrorSourceConnector"
FIRST_REST_PORT = 18083
DEFAULT_HEAP_MB = 384
DEFAULT_START_TIMEOUT = 120.0
_TAG = "-Dtopicdesk.local.connect="


@dataclass(frozen=True)
class ConnectWorker:
    name: str
    home: Path
    rest_port: int
    bootstrap_servers: str
    kafka_version: str
    pid: int | None = None
    host: str = HOST

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"

    @property
    def group_id(self) -> str:
        return f"topicdesk-connect-{self.name}"

    @property
    def properties_file(self) -> Path:
        return self.home / "worker.properties"

    @property
    def log4j_file(self) -> Path:
        return self.home / ("log4j2.properties" if uses_log4j2(self.kafka_version) else "log4j.properties")

    @property
    def state_file(self) -> Path:
        return self.home / "worker.json"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    def internal_topics(self) -> dict[str, str]:
        base = self.group_id
        return {"config": f"{base}-configs", "offset": f"{base}-offsets", "status": f"{base}-status"}


def _jaas(username: str, password: str) -> str:
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return (f"org.apache.kafka.common.security.scram.ScramLoginModule required "
            f"username={quoted(username)} password={quoted(password)};")


def worker_properties(worker: ConnectWorker, *, username: str, password: str, replication_factor: int = 1,
                      security_protocol: str = "SASL_PLAINTEXT", sasl_mechanism: str = "SCRAM-SHA-512",
                      extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's configuration. Connect builds its tasks' producers, consumers and admin
    clients from the `producer.`/`consumer.`/`admin.` prefixed settings only, so the security
    settings are repeated under each prefix."""
    security = {"security.protocol": security_protocol}
    if security_protocol.startswith("SASL"):
        security.update({"sasl.mechanism": sasl_mechanism, "sasl.jaas.config": _jaas(username, password)})
    topics = worker.internal_topics()
    props = {
        "bootstrap.servers": worker.bootstrap_servers,
        "group.id": worker.group_id,
        "config.storage.topic": topics["config"],
        "offset.storage.topic": topics["offset"],
        "status.storage.topic": topics["status"],
        "config.storage.replication.factor": str(replication_factor),
        "offset.storage.replication.factor": str(replication_factor),
        "status.storage.replication.factor": str(replication_factor),
        # One worker on a laptop: a few partitions keep start-up and the metadata small.
        "offset.storage.partitions": "5",
        "status.storage.partitions": "1",
        # MirrorMaker copies bytes: no conversion of keys, values or headers anywhere.
        "key.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "header.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "listeners": f"http://{worker.host}:{worker.rest_port}",
        "rest.advertised.host.name": worker.host,
        "rest.advertised.port": str(worker.rest_port),
        # Source offsets (MirrorMaker's position on the source) committed every second: a worker
        # that dies re-sends at most a second of records.
        "offset.flush.interval.ms": "1000",
        # A single worker that restarts gets its connectors back at once, not after 5 minutes.
        "scheduled.rebalance.max.delay.ms": "0",
        "task.shutdown.graceful.timeout.ms": "3000",
        # The Apache connectors ship ServiceLoader manifests: no classpath scan at start-up.
        "plugin.discovery": "service_load",
        "connector.client.config.override.policy": "All",
        **security,
        **{f"{prefix}.{k}": v for prefix in ("producer", "consumer", "admin") for k, v in security.items()},
    }
    props.update(extra or {})
    return props


def _properties_text(props: Mapping[str, str], what: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n")

    return f"# Written by topicdesk: {what}. Holds a password: keep it private (mode 0600).\n" + "".join(
        f"{k}={escape(v)}\n" for k, v in props.items())


def _log4j_text(worker: ConnectWorker) -> str:
    log_file = worker.log_dir / "connect.log"
    if not uses_log4j2(worker.kafka_version):
        return f"""# Written by topicdesk for local Connect worker {worker.name} (log4j 1.x / reload4j).
log4j.rootLogger=INFO, connect
log4j.appender.connect=org.apache.log4j.RollingFileAppender
log4j.appender.connect.File={log_file}
log4j.appender.connect.MaxFileSize=10MB
log4j.appender.connect.MaxBackupIndex=2
log4j.appender.connect.layout=org.apache.log4j.PatternLayout
log4j.appender.connect.layout.ConversionPattern=[%d] %p %X{{connector.context}}%m (%c)%n
log4j.logger.org.reflections=ERROR
"""
    return f"""# Written by topicdesk for local Connect worker {worker.name}.
status = error
name = topicdesk-connect-{worker.name}
appender.connect.type = RollingFile
appender.connect.name = connect
appender.connect.fileName = {log_file}
appender.connect.filePattern = {log_file}.%i
appender.connect.layout.type = PatternLayout
appender.connect.layout.pattern = [%d] %p %X{{connector.context}}%m (%c)%n
appender.connect.policies.type = Policies
appender.connect.policies.size.type = SizeBasedTriggeringPolicy
appender.connect.policies.size.size = 10MB
appender.connect.strategy.type = DefaultRolloverStrategy
appender.connect.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.connect.ref = connect
"""


# --- state ---------------------------------------------------------------------------------------


def worker_home(state_dir: Path, name: str) -> Path:
    # A folder of their own: a cluster's home is <state_dir>/<cluster name>.
    return state_dir.absolute() / "connect-workers" / name


def load_worker(state_dir: Path, name: str = "connect") -> ConnectWorker | None:
    path = worker_home(state_dir, name) / "worker.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ConnectWorker(name=str(data["name"]), home=Path(data["home"]), rest_port=int(data["rest_port"]),
                             bootstrap_servers=str(data["bootstrap_servers"]),
                             kafka_version=str(data["kafka_version"]),
                             pid=int(data["pid"]) if data.get("pid") is not None else None,
                             host=str(data.get("host", HOST)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save(worker: ConnectWorker) -> None:
    data = {**asdict(worker), "home": str(worker.home), "url": worker.url}
    write_private(worker.state_file, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _live_cmdline(pid: int) -> list[str] | None:
    reap(pid)  # a dead child of this process stays a zombie until waited for
    return None if is_zombie(pid) else cmdline_of(pid)


def is_running(worker: ConnectWorker) -> bool:
    """The recorded pid is alive and still is this worker's JVM (pids get reused)."""
    if worker.pid is None or worker.pid <= 0:
        return False
    argv = _live_cmdline(worker.pid)
    return argv is not None and MAIN_CLASS in argv and str(worker.properties_file) in argv


# --- lifecycle -----------------------------------------------------------------------------------


def up(cluster: LocalCluster, state_dir: Path, *, name: str = "connect", kafka_version: str | None = None,
       username: str | None = None, password: str | None = None, rest_port: int | None = None,
       heap_mb: int = DEFAULT_HEAP_MB, timeout: float = DEFAULT_START_TIMEOUT,
       extra: Mapping[str, str] | None = None) -> ConnectWorker:
    """Get a Connect worker attached to `cluster` running and ready; reuse a running one.

    Ready: GET / answers and GET /connector-plugins lists MirrorSourceConnector. The worker joins
    with `username`/`password` (default: the cluster's admin). A worker that cannot start is
    stopped again and LocalKafkaError says why, from its log.
    """
    version = resolve_version(kafka_version or cluster.kafka_version)
    state_dir = state_dir.absolute()
    home = worker_home(state_dir, name)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    with locked(home):
        recorded = load_worker(state_dir, name)
        if recorded is not None and is_running(recorded) and recorded.bootstrap_servers == cluster.bootstrap \
                and recorded.kafka_version == version and rest_port in (None, recorded.rest_port):
            wait_ready(recorded, time.monotonic() + timeout)
            return recorded
        if recorded is not None:
            stop_worker(recorded)
        port = rest_port
        if port is None:
            port = recorded.rest_port if recorded is not None and port_is_free(recorded.rest_port) else \
                find_free_ports(1, set(), start=FIRST_REST_PORT)[0]
        elif not port_is_free(port):
            raise LocalKafkaError(f"port {port} on {HOST} is already in use; choose another REST port")
        worker = ConnectWorker(name=name, home=home, rest_port=port, bootstrap_servers=cluster.bootstrap,
                               kafka_version=version)
        libs = ensure_mirror_libs(version)
        java = java_executable()
        worker.log_dir.mkdir(mode=0o700, exist_ok=True)
        props = worker_properties(worker, username=username or cluster.admin_username,
                                  password=password or cluster.admin_password,
                                  replication_factor=min(3, cluster.broker_count), extra=extra)
        write_private(worker.properties_file, _properties_text(props, f"Connect worker {name}"))
        write_private(worker.log4j_file, _log4j_text(worker))
        worker = _spawn(worker, libs, java, heap_mb)
        _save(worker)
        try:
            wait_ready(worker, time.monotonic() + timeout)
        except BaseException:
            stop_worker(worker)
            raise
        return worker


def _spawn(worker: ConnectWorker, libs: Path, java: str, heap_mb: int) -> ConnectWorker:
    log4j = (f"-Dlog4j2.configurationFile={worker.log4j_file}" if uses_log4j2(worker.kafka_version)
             else f"-Dlog4j.configuration=file:{worker.log4j_file}")
    argv = [java, *jvm_options(heap_mb), log4j, f"-Dkafka.logs.dir={worker.log_dir}",
            f"-XX:ErrorFile={worker.log_dir}/hs_err_pid%p.log", f"{_TAG}{worker.name}",
            "-cp", str(libs / "*"), MAIN_CLASS, str(worker.properties_file)]
    marker = f"{RUN_MARKER}Connect worker {worker.name} at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n"
    for log_file in (worker.log_dir / "jvm.log", worker.log_dir / "connect.log"):
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(marker)
    pid = spawn_detached(argv, worker.log_dir / "jvm.log")
    return ConnectWorker(name=worker.name, home=worker.home, rest_port=worker.rest_port,
                         bootstrap_servers=worker.bootstrap_servers, kafka_version=worker.kafka_version,
                         pid=pid, host=worker.host)


def failure_summary(worker: ConnectWorker) -> str:
    texts = []
    for name in ("connect.log", "jvm.log"):
        with suppress(OSError):
            texts.append(tail(worker.log_dir / name).rsplit(RUN_MARKER, 1)[-1])
    joined = "\n".join(texts)
    if "Address already in use" in joined:
        return f"port {worker.rest_port} on {worker.host} is already in use (logs in {worker.log_dir})"
    return f"{first_error(joined) or 'no error in the logs'} (logs in {worker.log_dir})"


def probe(worker: ConnectWorker, timeout: float = 3.0) -> bool:
    """GET / answers and GET /connector-plugins lists MirrorSourceConnector."""
    try:
        root = requests.get(worker.url + "/", timeout=timeout)
        if root.status_code != 200:
            return False
        plugins = requests.get(worker.url + "/connector-plugins", timeout=timeout)
    except requests.RequestException:
        return False
    if plugins.status_code != 200:
        return False
    return any(p.get("class") == MIRROR_SOURCE_CLASS for p in plugins.json())


def wait_ready(worker: ConnectWorker, deadline: float) -> None:
    while True:
        if not is_running(worker):
            raise LocalKafkaError(f"local Connect worker {worker.name} stopped while starting: "
                                  f"{failure_summary(worker)}")
        if probe(worker):
            return
        if time.monotonic() >= deadline:
            raise LocalKafkaError(f"local Connect worker {worker.name} did not answer at {worker.url} in time: "
                                  f"{failure_summary(worker)}")
        time.sleep(0.5)


def stop_worker(worker: ConnectWorker, timeout: float = DEFAULT_STOP_TIMEOUT) -> bool:
    """Stop the worker's JVM (SIGTERM, then SIGKILL); True if it was running."""
    if worker.pid is None or not is_running(worker):
        return False
    terminate_group(worker.pid, timeout)
    return True


def down(state_dir: Path, name: str = "connect", *, timeout: float = DEFAULT_STOP_TIMEOUT) -> ConnectWorker | None:
    """Stop the recorded worker; the worker that was running, or None. Its folder stays (logs)."""
    state_dir = state_dir.absolute()
    home = worker_home(state_dir, name)
    if not home.is_dir():
        return None
    with locked(home):
        worker = load_worker(state_dir, name)
        if worker is None:
            return None
        was_running = stop_worker(worker, timeout)
        stopped = ConnectWorker(name=worker.name, home=worker.home, rest_port=worker.rest_port,
                                bootstrap_servers=worker.bootstrap_servers, kafka_version=worker.kafka_version,
                                host=worker.host)
        _save(stopped)
        return worker if was_running else None


def purge(state_dir: Path) -> None:
    """Delete every stopped worker's folder (state, properties, logs) under `state_dir`."""
    root = worker_home(state_dir, "x").parent
    if root.is_dir():
        remove_tree(root, state_dir.absolute())


def find_workers(under: Path) -> list[int]:
    """Pids of local Connect JVMs whose worker.properties lies under `under`."""
    prefix = str(under.absolute()) + os.sep
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        argv = _live_cmdline(int(entry.name))
        if argv and MAIN_CLASS in argv and any(a.startswith(_TAG) for a in argv) and argv[-1].startswith(prefix):
            found.append(int(entry.name))
    return sorted(found)

"""Single-node KRaft Kafka clusters on loopback, for development and the integration tests.

Each cluster is one JVM (combined broker + controller) with SASL/SCRAM-SHA-512 on its client
listener and the StandardAuthorizer enforcing ACLs, so what works against it works against a
producer-owned production cluster. Everything a cluster needs lives under one state folder:

    <state_dir>/<name>.json          state: pid, ports, cluster id, admin credentials (0600)
    <state_dir>/<name>/server.properties, log4j2.properties
    <state_dir>/<name>/data/         KRaft metadata log and topic data
    <state_dir>/<name>/logs/         server.log (log4j2) and jvm.log (JVM stdout/stderr)

JVMs run in their own session, so they outlive the CLI call that started them; `down` stops them.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from topicdesk import ports
from topicdesk.local_kafka.distribution import KAFKA_VERSION, ensure_kafka_libs
from topicdesk.local_kafka.errors import LocalKafkaError, PortInUseError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
ADMIN_USER = "admin"
# The controller listener speaks SASL/PLAIN with its own secret instead of PLAINTEXT: a PLAINTEXT
# controller listener forces `User:ANONYMOUS` into super.users, which would make anyone who can
# reach the controller port a super user. PLAIN rather than SCRAM because SCRAM credentials live
# in the metadata log, which controllers of a multi-node quorum must authenticate each other
# before having; on one combined node SCRAM happens to work too (tried with 4.3.1), but PLAIN
# stays valid if a cluster grows and keeps the controller principal apart from the admin user.
CONTROLLER_USER = "controller"
NODE_ID = 1
FIRST_PORT = 19092
DEFAULT_HEAP_MB = 256
DEFAULT_START_TIMEOUT = 120.0
DEFAULT_STOP_TIMEOUT = 30.0
STATE_VERSION = 1
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")

Origin = Literal["reused", "restarted", "formatted", ""]


@dataclass(frozen=True)
class LocalCluster:
    name: str
    cluster_id: str
    client_port: int
    controller_port: int
    admin_username: str
    admin_password: str
    controller_password: str
    home: Path
    state_file: Path
    pid: int | None = None
    kafka_version: str = KAFKA_VERSION
    host: str = HOST
    # How the last `up` got this cluster running; not persisted.
    origin: Origin = field(default="", compare=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.client_port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def log4j_file(self) -> Path:
        return self.home / "log4j2.properties"

    def client_config(self) -> dict[str, str | int | float | bool]:
        """confluent-kafka configuration that authenticates as the cluster's super user."""
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": self.admin_username,
            "sasl.password": self.admin_password,
        }

    def to_state(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("origin")
        data["home"] = str(self.home)
        data["state_file"] = str(self.state_file)
        data.update(
            state_version=STATE_VERSION,
            bootstrap=self.bootstrap,
            data_dir=str(self.data_dir),
            log_dir=str(self.log_dir),
        )
        return data

    @classmethod
    def from_state(cls, data: dict[str, Any], state_file: Path) -> LocalCluster:
        pid = data.get("pid")
        return cls(
            name=str(data["name"]),
            cluster_id=str(data["cluster_id"]),
            client_port=int(data["client_port"]),
            controller_port=int(data["controller_port"]),
            admin_username=str(data["admin_username"]),
            admin_password=str(data["admin_password"]),
            controller_password=str(data["controller_password"]),
            home=Path(data["home"]),
            state_file=state_file,
            pid=int(pid) if pid is not None else None,
            kafka_version=str(data.get("kafka_version", KAFKA_VERSION)),
            host=str(data.get("host", HOST)),
        )


@dataclass(frozen=True)
class ClusterStatus:
    cluster: LocalCluster
    # running: the recorded JVM is alive; ready: it also answered describe_cluster as admin.
    running: bool
    ready: bool


# --- generated configuration -------------------------------------------------------------


def new_cluster_id() -> str:
    """16 random bytes, URL-safe base64 without padding: the form `kafka-storage random-uuid` prints.

    Kafka's tools parse an id starting with '-' as an option, so such ids are drawn again.
    """
    while True:
        cid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")
        if not cid.startswith("-"):
            return cid


def new_secret() -> str:
    # Alphanumeric only: the value is embedded in a JAAS string and a StorageTool argument, where
    # quotes, commas, brackets and '=' would need escaping.
    return secrets.token_hex(24)


def server_properties(cluster: LocalCluster) -> str:
    host, port, ctl = cluster.host, cluster.client_port, cluster.controller_port
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.bootstrap.servers": f"{host}:{ctl}",
        "listeners": f"CLIENT://{host}:{port},CONTROLLER://{host}:{ctl}",
        "advertised.listeners": f"CLIENT://{host}:{port}",
        "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "CLIENT",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.client.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.client.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{cluster.admin_username}" password="{cluster.admin_password}";'
        ),
        "listener.name.controller.plain.sasl.jaas.config": (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{CONTROLLER_USER}" password="{cluster.controller_password}" '
            f'user_{CONTROLLER_USER}="{cluster.controller_password}";'
        ),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{cluster.admin_username};User:{CONTROLLER_USER}",
        "allow.everyone.if.no.acl.found": "false",
        "auto.create.topics.enable": "false",
        "log.dirs": str(cluster.data_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Internal topics default to 50 partitions each; on a laptop that is 150 logs created on
        # first use for no benefit.
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.num.partitions": "5",
        "group.initial.rebalance.delay.ms": "0",
        # After a crash the restarted node cannot register until its previous broker session
        # expires (9 s by default); a shorter session makes `up` after a crash that much faster
        # while staying well above G1 pauses of a 256 MiB heap.
        "broker.session.timeout.ms": "4000",
        "broker.heartbeat.interval.ms": "1000",
        # The log cleaner allocates its dedupe buffer on the heap up front (128 MiB by default),
        # half of the small heap these brokers get.
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "2",
    }
    header = (
        f"# Written by topicdesk for local cluster {cluster.name}; rewritten on every start.\n"
        "# Holds the admin and controller secrets: keep it private (mode 0600).\n"
    )
    return header + "".join(f"{k}={_escape_property(v)}\n" for k, v in lines.items())


def _escape_property(value: str) -> str:
    return value.replace("\\", "\\\\")


def log4j2_properties(cluster: LocalCluster) -> str:
    server_log = cluster.log_dir / "server.log"
    return f"""# Written by topicdesk for local cluster {cluster.name}.
status = error
name = topicdesk-local-{cluster.name}
appender.server.type = RollingFile
appender.server.name = server
appender.server.fileName = {server_log}
appender.server.filePattern = {server_log}.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 10MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server
"""


def jvm_options(heap_mb: int) -> list[str]:
    return [
        f"-Xms{heap_mb}m",
        f"-Xmx{heap_mb}m",
        # Kafka's own start script uses G1 as well; a small fixed heap keeps it from growing.
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        # A broker that ran out of heap is useless; exiting makes `up`/`status` see it.
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
    ]


# --- ports -----------------------------------------------------------------------------------


def port_is_free(port: int, host: str = HOST) -> bool:
    # The JVM binds with SO_REUSEADDR, as the shared check does: TIME_WAIT sockets do not count.
    return ports.port_is_free(host, port)


def find_free_ports(count: int, taken: set[int], host: str = HOST, start: int | None = None) -> list[int]:
    """Free ports from a fixed range below Linux's ephemeral range, so they are stable run to run."""
    start = FIRST_PORT if start is None else start
    found: list[int] = []
    port = start
    while len(found) < count:
        if port > 32000:
            raise LocalKafkaError(f"no free TCP port on {host} between {start} and 32000 for a local cluster")
        if port not in taken and port_is_free(port, host):
            found.append(port)
        port += 1
    return found


def _require_free(port: int, what: str, host: str) -> None:
    if not port_is_free(port, host):
        raise PortInUseError(
            port,
            f"port {port} on {host} is already in use ({what}); stop whatever listens there "
            f"or choose another port",
        )


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # fields: sl, local_address (hex ip:port), rem_address, state (0A = LISTEN), ..., inode
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def owns_listener(pid: int, port: int) -> bool:
    """True if process `pid` holds the listening socket on `port`.

    Lets `up` tell its own broker from another one that grabbed the same port first (say a
    second test session picking ports at the same moment) before trusting an answer there.
    """
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return False
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        with suppress(OSError):
            if os.readlink(fd) in wanted:
                return True
    return False


# --- process handling ------------------------------------------------------------------------


def _proc_cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _reap(pid: int) -> None:
    # Clusters started by this process are its children until it exits; a dead child stays a
    # zombie (and looks alive to kill(pid, 0)) until waited for.
    with suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_running(cluster: LocalCluster) -> bool:
    """True if the recorded pid is alive and still is this cluster's JVM (pids get reused)."""
    pid = cluster.pid
    if pid is None or pid <= 0:
        return False
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if _is_zombie(pid):
        return False
    cmdline = _proc_cmdline(pid)
    if cmdline is None:
        return False
    return "kafka.Kafka" in cmdline and str(cluster.config_file) in cmdline


def find_jvms(under: Path) -> list[int]:
    """Pids of local-cluster JVMs whose server.properties lies under `under`, state file or not."""
    prefix = str(under.absolute()) + os.sep
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        cmdline = _proc_cmdline(int(entry.name))
        if not cmdline or "kafka.Kafka" not in cmdline:
            continue
        if not any(a.startswith("-Dtopicdesk.local.cluster=") for a in cmdline):
            continue
        if cmdline[-1].startswith(prefix) and not _is_zombie(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def _kill_orphan(pid: int, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
    log.warning("stopping local Kafka JVM %s that no state file records", pid)
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if _proc_cmdline(pid) is None or _is_zombie(pid):
            return
        time.sleep(0.1)
    _signal_group(pid, signal.SIGKILL)
    for _ in range(100):
        _reap(pid)
        if _proc_cmdline(pid) is None or _is_zombie(pid):
            return
        time.sleep(0.1)


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise LocalKafkaError(
            f"cannot start local Kafka {KAFKA_VERSION}: no 'java' on PATH and no JAVA_HOME; "
            "install a Java 17+ runtime (apt-get install openjdk-17-jre-headless)"
        )
    return found


def _spawn_detached(argv: list[str], log_file: Path) -> int:
    """Start argv in its own session with stdout/stderr appended to log_file; return its pid.

    posix_spawn rather than subprocess.Popen: a Popen object for a process meant to outlive
    this call would warn (ResourceWarning) when collected while the broker still runs.
    """
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_file), os.O_WRONLY | os.O_APPEND, 0),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=file_actions, setsid=True)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        with suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_dead(cluster: LocalCluster, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(cluster):
            return True
        time.sleep(0.1)
    return not is_running(cluster)


def stop_process(cluster: LocalCluster, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
    """SIGTERM (Kafka shuts down cleanly on it), then SIGKILL after `timeout`."""
    if cluster.pid is None or not is_running(cluster):
        return
    _signal_group(cluster.pid, signal.SIGTERM)
    if _wait_dead(cluster, timeout):
        _reap(cluster.pid)
        return
    log.warning("local cluster %s (pid %s) ignored SIGTERM for %.0fs; killing it", cluster.name,
                cluster.pid, timeout)
    _signal_group(cluster.pid, signal.SIGKILL)
    if not _wait_dead(cluster, 10):
        raise LocalKafkaError(f"local cluster {cluster.name} (pid {cluster.pid}) survived SIGKILL")
    _reap(cluster.pid)


# --- state files -----------------------------------------------------------------------------


def default_state_dir() -> Path:
    env = os.environ.get("TOPICDESK_LOCAL_DIR")
    return Path(env) if env else Path.cwd() / ".topicdesk" / "local"


def _state_file(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.json"


def _write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600 from the first byte (the files hold passwords)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_state(cluster: LocalCluster) -> None:
    _write_private(cluster.state_file, json.dumps(cluster.to_state(), indent=2, sort_keys=True) + "\n")


def load_state(state_dir: Path, name: str) -> LocalCluster | None:
    """The recorded cluster, or None if there is no state file or it cannot be used."""
    path = _state_file(state_dir, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cluster = LocalCluster.from_state(data, path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable state file %s: %s", path, exc)
        return None
    if cluster.name != name or cluster.home != state_dir / name:
        log.warning("ignoring state file %s: it describes another cluster or folder", path)
        return None
    return cluster


def recorded_clusters(state_dir: Path) -> list[LocalCluster]:
    if not state_dir.is_dir():
        return []
    found = []
    for path in sorted(state_dir.glob("*.json")):
        cluster = load_state(state_dir, path.stem)
        if cluster is not None:
            found.append(cluster)
    return found


@contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another topicdesk process using %s", state_dir)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- data folders ----------------------------------------------------------------------------


def read_meta_properties(data_dir: Path) -> dict[str, str] | None:
    try:
        text = (data_dir / "meta.properties").read_text(encoding="utf-8")
    except OSError:
        return None
    props: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        props[key.strip()] = value.strip()
    return props


def data_dir_matches(data_dir: Path, cluster_id: str) -> bool:
    """True if data_dir is a completely formatted log folder of `cluster_id` for our node."""
    props = read_meta_properties(data_dir)
    if props is None:
        return False
    return (
        props.get("cluster.id") == cluster_id
        and props.get("node.id") == str(NODE_ID)
        and (data_dir / "__cluster_metadata-0").is_dir()
    )


def _remove_tree(path: Path, owner: Path) -> None:
    # Guard against a state file pointing anywhere else on disk: only delete inside our folder.
    if owner.resolve() not in path.resolve().parents:
        raise LocalKafkaError(f"refusing to delete {path}: it is outside {owner}")
    shutil.rmtree(path, ignore_errors=False)


# --- planning ---------------------------------------------------------------------------------


@dataclass
class _Plan:
    cluster: LocalCluster
    action: Literal["reuse", "restart", "format"]


def plan_cluster(
    state_dir: Path,
    name: str,
    *,
    client_port: int | None = None,
    controller_port: int | None = None,
    taken: set[int] | None = None,
    kafka_version: str = KAFKA_VERSION,
) -> _Plan:
    """Decide how to get cluster `name` running, cleaning what cannot be reused; starts nothing.

    A running JVM of the cluster is reused. A stopped one restarts on its data folder if that
    folder is the recorded cluster's (meta.properties cluster id matches); otherwise the folder
    is wiped and formatted as a new cluster. Port conflicts are reported here, before any work.
    """
    if not NAME_RE.match(name):
        raise LocalKafkaError(
            f"invalid local cluster name {name!r}: use lowercase letters, digits, '.', '_' or '-'"
        )
    taken = taken if taken is not None else set()
    home = state_dir / name
    recorded = load_state(state_dir, name)
    strays = [pid for pid in find_jvms(home) if recorded is None or pid != recorded.pid]
    if recorded is not None and strays and not is_running(recorded):
        # `up` was interrupted after starting this JVM but before recording its pid: adopt it.
        adopted = replace(recorded, pid=strays.pop(0))
        if is_running(adopted):
            recorded = adopted
            save_state(recorded)
    # Any other JVM on this folder would hold Kafka's data-folder lock against a new start, or
    # keep writing into a folder about to be formatted.
    for pid in strays:
        _kill_orphan(pid)
    if recorded is not None and is_running(recorded):
        for wanted, actual, what in ((client_port, recorded.client_port, "client"),
                                     (controller_port, recorded.controller_port, "controller")):
            if wanted is not None and wanted != actual:
                raise LocalKafkaError(
                    f"local cluster {name} is already running with {what} port {actual} (pid "
                    f"{recorded.pid}), not {wanted}; run 'topicdesk local down' first"
                )
        taken.update((recorded.client_port, recorded.controller_port))
        return _Plan(replace(recorded, origin="reused"), "reuse")

    reusable = recorded is not None and data_dir_matches(recorded.data_dir, recorded.cluster_id)
    ports = _choose_ports(name, recorded if reusable else None, client_port, controller_port, taken)
    if recorded is not None and reusable:
        cluster = replace(recorded, client_port=ports[0], controller_port=ports[1], pid=None,
                          kafka_version=kafka_version, origin="restarted")
        return _Plan(cluster, "restart")

    if recorded is not None:
        log.warning("local cluster %s: data folder %s is not a complete log of cluster %s; "
                    "formatting it anew", name, recorded.data_dir, recorded.cluster_id)
    if home.exists():
        # Whatever is here (a crashed format, a folder without state) cannot be trusted: without
        # the recorded admin password even an intact log would be unusable.
        for child in home.iterdir():
            if child.name != "logs":
                if child.is_dir() and not child.is_symlink():
                    _remove_tree(child, home)
                else:
                    child.unlink()
    cluster = LocalCluster(
        name=name,
        cluster_id=new_cluster_id(),
        client_port=ports[0],
        controller_port=ports[1],
        admin_username=ADMIN_USER,
        admin_password=new_secret(),
        controller_password=new_secret(),
        home=home,
        state_file=_state_file(state_dir, name),
        kafka_version=kafka_version,
        origin="formatted",
    )
    return _Plan(cluster, "format")


def _choose_ports(
    name: str,
    recorded: LocalCluster | None,
    client_port: int | None,
    controller_port: int | None,
    taken: set[int],
) -> tuple[int, int]:
    chosen: list[int] = []
    for wanted, role in ((client_port, "client"), (controller_port, "controller")):
        what = f"{role} port asked for local cluster {name}"
        if wanted is not None:
            if wanted in taken or wanted in chosen:
                raise LocalKafkaError(f"port {wanted} is given to two local cluster listeners ({what})")
            _require_free(wanted, what, HOST)
            chosen.append(wanted)
            continue
        previous = None
        if recorded is not None:
            previous = recorded.client_port if role == "client" else recorded.controller_port
        if previous is not None and previous not in taken and previous not in chosen \
                and port_is_free(previous):
            chosen.append(previous)
        else:
            if previous is not None:
                log.warning("local cluster %s: recorded %s port %s is busy; choosing another",
                            name, role, previous)
            chosen.append(find_free_ports(1, taken | set(chosen))[0])
    taken.update(chosen)
    return chosen[0], chosen[1]


# --- starting ----------------------------------------------------------------------------------


def _write_configs(cluster: LocalCluster) -> None:
    cluster.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    cluster.log_dir.mkdir(mode=0o700, exist_ok=True)
    _write_private(cluster.config_file, server_properties(cluster))
    _write_private(cluster.log4j_file, log4j2_properties(cluster))


def _format(cluster: LocalCluster, libs: Path, java: str) -> None:
    """Format into a scratch folder and rename it into place: an interrupted format never
    leaves a data folder that looks usable."""
    scratch = cluster.home / "data.formatting"
    if scratch.exists():
        _remove_tree(scratch, cluster.home)
    if cluster.data_dir.exists():
        _remove_tree(cluster.data_dir, cluster.home)
    scratch_props = cluster.home / "format.properties"
    _write_private(
        scratch_props,
        server_properties(cluster).replace(f"log.dirs={cluster.data_dir}", f"log.dirs={scratch}"),
    )
    # The admin password goes through an argument file, not argv, where any local user could
    # read it from /proc while the format runs.
    args_file = cluster.home / "format.args"
    _write_private(args_file, "\n".join([
        "format", "--config", str(scratch_props), "--cluster-id", cluster.cluster_id, "--standalone",
        "--add-scram", f"SCRAM-SHA-512=[name={cluster.admin_username},password={cluster.admin_password}]",
    ]) + "\n")
    try:
        proc = subprocess.run(
            [java, "-Xmx128m", "-cp", str(libs / "*"), "kafka.tools.StorageTool", f"@{args_file}"],
            cwd=cluster.home, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=120, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LocalKafkaError(f"formatting local cluster {cluster.name} took over 120s") from exc
    finally:
        args_file.unlink(missing_ok=True)
        scratch_props.unlink(missing_ok=True)
    # The tool prints the SCRAM record (salted keys); keep that out of shared terminals.
    _write_private(cluster.log_dir / "format.log", proc.stdout + proc.stderr)
    if proc.returncode != 0 or not data_dir_matches(scratch, cluster.cluster_id):
        reason = _first_error(proc.stdout + "\n" + proc.stderr) or f"exit code {proc.returncode}"
        raise LocalKafkaError(
            f"formatting local cluster {cluster.name} (Kafka {cluster.kafka_version}) failed: {reason} "
            f"(full output in {cluster.log_dir / 'format.log'})"
        )
    os.rename(scratch, cluster.data_dir)


def _start(cluster: LocalCluster, libs: Path, java: str, heap_mb: int) -> LocalCluster:
    argv = [
        java,
        *jvm_options(heap_mb),
        f"-Dlog4j2.configurationFile={cluster.log4j_file}",
        f"-Dkafka.logs.dir={cluster.log_dir}",
        # The JVM runs in the caller's folder; keep crash reports with the cluster's logs.
        f"-XX:ErrorFile={cluster.log_dir}/hs_err_pid%p.log",
        # Lets `ps`/`pgrep` tell which local cluster a JVM belongs to.
        f"-Dtopicdesk.local.cluster={cluster.name}",
        "-cp",
        str(libs / "*"),
        "kafka.Kafka",
        str(cluster.config_file),
    ]
    jvm_log = cluster.log_dir / "jvm.log"
    marker = f"{RUN_MARKER}{cluster.name} at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n"
    for log_file in (jvm_log, cluster.log_dir / "server.log"):
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(marker)
    pid = _spawn_detached(argv, jvm_log)
    started = replace(cluster, pid=pid)
    save_state(started)
    return started


def probe_cluster_id(cluster: LocalCluster, timeout: float = 5.0) -> str | None:
    """The cluster id the broker reports to the admin user, or None if it does not answer yet.

    Raises LocalKafkaError when the broker answers but rejects the admin credentials: waiting
    longer would not help.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    auth_errors: list[str] = []

    def on_error(err: KafkaError) -> None:
        if err.code() == KafkaError._AUTHENTICATION:
            auth_errors.append(err.str())

    conf: dict[str, Any] = {
        **cluster.client_config(),
        # Connection-refused noise while the JVM starts is expected; failures are reported by us.
        "log_level": 0,
        "error_cb": on_error,
    }
    admin = AdminClient(conf)
    try:
        result = admin.describe_cluster(request_timeout=timeout).result(timeout=timeout + 1)
    except (KafkaException, TimeoutError, RuntimeError):
        admin.poll(0)
        if auth_errors:
            raise LocalKafkaError(
                f"local cluster {cluster.name} at {cluster.bootstrap} rejects the admin credentials "
                f"recorded in {cluster.state_file}: {auth_errors[0]}"
            ) from None
        return None
    return str(result.cluster_id)


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_ready(cluster: LocalCluster, deadline: float) -> None:
    """Return once the cluster's own JVM answers describe_cluster as admin with its cluster id."""
    while True:
        if not is_running(cluster):
            port = bind_failure_port(cluster)
            if port is not None:
                raise PortInUseError(
                    port,
                    f"local cluster {cluster.name} could not listen on port {port} of {cluster.host}: "
                    f"it is already in use (logs in {cluster.log_dir})",
                )
            raise LocalKafkaError(
                f"local cluster {cluster.name} stopped while starting: {failure_summary(cluster)}"
            )
        if cluster.pid is not None and owns_listener(cluster.pid, cluster.client_port):
            remaining = max(1.0, min(5.0, deadline - time.monotonic()))
            got = probe_cluster_id(cluster, timeout=remaining)
            if got == cluster.cluster_id:
                return
            if got is not None:
                raise LocalKafkaError(
                    f"local cluster {cluster.name} at {cluster.bootstrap} reports cluster id {got}, not "
                    f"the recorded {cluster.cluster_id}; its data folder {cluster.data_dir} was replaced"
                )
        if time.monotonic() >= deadline:
            raise LocalKafkaError(
                f"local cluster {cluster.name} did not answer at {cluster.bootstrap} in time: "
                f"{failure_summary(cluster)}"
            )
        time.sleep(0.25)


_BIND_RE = re.compile(r"failed to bind to [^:\s]+:(\d+)", re.IGNORECASE)


RUN_MARKER = "--- topicdesk: starting "


def _this_run_logs(cluster: LocalCluster) -> str:
    texts = []
    for name in ("server.log", "jvm.log"):
        with suppress(OSError):
            text = _tail(cluster.log_dir / name)
            # Both files are appended to across starts; only lines after the last start count.
            texts.append(text.rsplit(RUN_MARKER, 1)[-1])
    return "\n".join(texts)


def bind_failure_port(cluster: LocalCluster) -> int | None:
    """The port the last start failed to bind, if that is why it stopped."""
    text = _this_run_logs(cluster)
    bind = _BIND_RE.search(text)
    if bind:
        return int(bind.group(1))
    if "Address already in use" in text:
        return cluster.client_port
    return None


def failure_summary(cluster: LocalCluster, max_lines: int = 3) -> str:
    """A one-line digest of why a JVM failed, from its logs, without Java stack frames."""
    joined = _this_run_logs(cluster)
    where = f"(logs in {cluster.log_dir})"
    port = bind_failure_port(cluster)
    if port is not None:
        return f"port {port} on {cluster.host} is already in use {where}"
    if "UnsupportedClassVersionError" in joined:
        return f"Kafka {cluster.kafka_version} needs Java 17 or newer {where}"
    error = _first_error(joined, max_lines)
    return f"{error or 'no error in the logs'} {where}"


def _tail(path: Path, max_bytes: int = 64 * 1024) -> str:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - max_bytes))
        return fh.read().decode(errors="replace")


def _first_error(text: str, max_lines: int = 3) -> str:
    picked: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("at ", "...", "Caused by: java.lang.reflect")):
            continue
        if any(tag in line for tag in (" ERROR ", " FATAL ", "Exception", "Error:", "error:")):
            line = re.sub(r"^\[[^\]]+\]\s*", "", line)
            if line not in picked:
                picked.append(line)
    return " | ".join(picked[-max_lines:])[:800]


# --- public operations -------------------------------------------------------------------------


def _names(clusters: int | Sequence[str]) -> list[str]:
    if isinstance(clusters, int):
        if clusters < 1:
            raise LocalKafkaError("the number of local clusters must be at least 1")
        return [f"local-{i}" for i in range(1, clusters + 1)]
    names = list(clusters)
    if not names:
        raise LocalKafkaError("no local cluster names given")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LocalKafkaError(f"local cluster names given twice: {', '.join(dupes)}")
    return names


def _port_list(ports: Sequence[int] | None, count: int, what: str) -> list[int | None]:
    if ports is None or len(ports) == 0:
        return [None] * count
    if len(ports) != count:
        raise LocalKafkaError(f"{len(ports)} {what} ports given for {count} local clusters")
    return list(ports)


def up(
    clusters: int | Sequence[str] = 1,
    state_dir: Path | None = None,
    *,
    client_ports: Sequence[int] | None = None,
    controller_ports: Sequence[int] | None = None,
    libs: Path | None = None,
    heap_mb: int = DEFAULT_HEAP_MB,
    timeout: float = DEFAULT_START_TIMEOUT,
    kafka_version: str = KAFKA_VERSION,
    ensure_libs: Callable[[str], Path] | None = None,
) -> list[LocalCluster]:
    """Get the given clusters running and answering; return them in the order asked.

    Idempotent: clusters already running are reused. If any cluster cannot be brought up, the
    ones this call started are stopped again and LocalKafkaError says why.
    """
    names = _names(clusters)
    cports = _port_list(client_ports, len(names), "client")
    kports = _port_list(controller_ports, len(names), "controller")
    explicit = [p for p in [*cports, *kports] if p is not None]
    repeated = sorted({p for p in explicit if explicit.count(p) > 1})
    if repeated:
        raise LocalKafkaError(f"port {repeated[0]} is given to two local cluster listeners")
    state_dir = (state_dir or default_state_dir()).absolute()
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(state_dir):
        # Ports recorded by other clusters of this folder stay theirs, even while stopped.
        taken = {p for c in recorded_clusters(state_dir) if c.name not in names
                 for p in (c.client_port, c.controller_port)}
        taken.update(p for p in [*cports, *kports] if p is not None)
        plans = []
        for name, cport, kport in zip(names, cports, kports, strict=True):
            taken.difference_update(p for p in (cport, kport) if p is not None)
            plans.append(plan_cluster(state_dir, name, client_port=cport, controller_port=kport,
                                      taken=taken, kafka_version=kafka_version))
        to_start = [p for p in plans if p.action != "reuse"]
        java = _java() if to_start else ""
        try:
            if to_start:
                if libs is None:
                    libs = (ensure_libs or ensure_kafka_libs)(kafka_version)
                for plan in to_start:
                    _write_configs(plan.cluster)
                    if plan.action == "format":
                        _format(plan.cluster, libs, java)
                    plan.cluster = _start(plan.cluster, libs, java, heap_mb)
            deadline = time.monotonic() + timeout
            for plan, cport, kport in zip(plans, cports, kports, strict=True):
                for attempt in range(_PORT_RETRIES + 1):
                    try:
                        wait_ready(plan.cluster, deadline)
                        break
                    except PortInUseError as exc:
                        # Ports picked here can be grabbed by another process between the
                        # check and the JVM's bind; explicitly asked ports are the caller's call.
                        if plan.action == "reuse" or exc.port in (cport, kport) or attempt == _PORT_RETRIES:
                            raise
                        assert libs is not None
                        plan.cluster = _restart_on_new_ports(plan.cluster, exc.port, cport, kport, taken,
                                                             libs, java, heap_mb)
        except BaseException:
            for plan in to_start:
                with suppress(LocalKafkaError):
                    stop_process(plan.cluster, timeout=10)
                    save_state(replace(plan.cluster, pid=None))
            raise
        return [p.cluster for p in plans]


_PORT_RETRIES = 3


def _restart_on_new_ports(
    cluster: LocalCluster,
    busy: int,
    client_port: int | None,
    controller_port: int | None,
    taken: set[int],
    libs: Path,
    java: str,
    heap_mb: int,
) -> LocalCluster:
    stop_process(cluster, timeout=10)
    taken.add(busy)
    fresh = find_free_ports(2, taken | {cluster.client_port, cluster.controller_port})
    moved = replace(
        cluster,
        pid=None,
        client_port=client_port if client_port is not None else fresh[0],
        controller_port=controller_port if controller_port is not None else fresh[1],
    )
    taken.update((moved.client_port, moved.controller_port))
    log.warning("local cluster %s: port %s was taken meanwhile; moving to %s/%s", cluster.name, busy,
                moved.client_port, moved.controller_port)
    # A formatted single-voter quorum tolerates a new controller port: the node elects itself.
    _write_configs(moved)
    return _start(moved, libs, java, heap_mb)


def down(
    state_dir: Path | None = None,
    names: Sequence[str] | None = None,
    *,
    purge: bool = False,
    timeout: float = DEFAULT_STOP_TIMEOUT,
) -> list[LocalCluster]:
    """Stop the recorded clusters (all, or `names`); with purge also delete their data and state.

    Returns the clusters that were running and are now stopped.
    """
    state_dir = (state_dir or default_state_dir()).absolute()
    if not state_dir.is_dir():
        return []
    stopped: list[LocalCluster] = []
    with _locked(state_dir):
        clusters = recorded_clusters(state_dir)
        if names is not None:
            unknown = sorted(set(names) - {c.name for c in clusters})
            if unknown:
                raise LocalKafkaError(f"no local cluster named {', '.join(unknown)} in {state_dir}")
            clusters = [c for c in clusters if c.name in names]
        for cluster in clusters:
            if is_running(cluster):
                stop_process(cluster, timeout=timeout)
                stopped.append(cluster)
            if purge:
                if cluster.home.exists():
                    _remove_tree(cluster.home, state_dir)
                cluster.state_file.unlink(missing_ok=True)
            elif cluster.pid is not None:
                save_state(replace(cluster, pid=None))
        if names is None:
            for pid in find_jvms(state_dir):
                _kill_orphan(pid, timeout=timeout)
    return stopped


def status(state_dir: Path | None = None, *, probe: bool = True) -> list[ClusterStatus]:
    state_dir = (state_dir or default_state_dir()).absolute()
    result = []
    for cluster in recorded_clusters(state_dir):
        running = is_running(cluster)
        ready = False
        if running and probe and _port_open(cluster.host, cluster.client_port):
            with suppress(LocalKafkaError):
                ready = probe_cluster_id(cluster, timeout=3.0) == cluster.cluster_id
        result.append(ClusterStatus(cluster=cluster, running=running, ready=ready))
    return result


def jvm_rss_bytes(pid: int) -> int | None:
    """Resident memory of a process from /proc (VmRSS), or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


__all__ = [
    "ClusterStatus",
    "LocalCluster",
    "data_dir_matches",
    "default_state_dir",
    "down",
    "find_jvms",
    "is_running",
    "jvm_rss_bytes",
    "log4j2_properties",
    "new_cluster_id",
    "plan_cluster",
    "port_is_free",
    "server_properties",
    "status",
    "up",
]

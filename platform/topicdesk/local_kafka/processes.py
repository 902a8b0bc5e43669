"""Ports and JVM processes of local clusters: free ports, listeners, spawning, signalling, reaping."""


from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from contextlib import suppress
from pathlib import Path

from topicdesk import ports
from topicdesk.local_kafka.distribution import KAFKA_VERSION
from topicdesk.local_kafka.errors import LocalKafkaError, PortInUseError
from topicdesk.local_kafka.model import DEFAULT_STOP_TIMEOUT, FIRST_PORT, HOST, LocalCluster

log = logging.getLogger(__name__)
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


def require_free(port: int, what: str, host: str) -> None:
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


def cmdline_of(pid: int) -> list[str] | None:
    """The argv of a live process, from /proc; None if there is no such process."""
    return _proc_cmdline(pid)


def reap(pid: int) -> None:
    """Collect `pid`'s exit status if it is a dead child of this process (no-op otherwise)."""
    _reap(pid)


def is_zombie(pid: int) -> bool:
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


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[-1].split()[1])


def _wait_reaped(pid: int, timeout: float = 10.0) -> None:
    """Reap a dying child until it is gone. A JVM's leader thread shows as a zombie while its other
    threads still exit, and waitpid cannot take it until they have; a process that is not our
    child is its parent's (or init's) to reap."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if _parent_of(pid) != os.getpid():
            return
        time.sleep(0.05)


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
    if is_zombie(pid):
        return False
    cmdline = _proc_cmdline(pid)
    if cmdline is None:
        return False
    return "kafka.Kafka" in cmdline and str(cluster.config_file) in cmdline


def reap_exit(cluster: LocalCluster) -> tuple[bool, int | None]:
    """(True, exit code) once the cluster's JVM has died and been reaped, (False, None) while it runs.

    The code follows subprocess: negative is the signal that killed it. A JVM this process did not
    start (reused from an earlier `up`) cannot be waited for: then only (True, None) is known.
    """
    pid = cluster.pid
    if pid is None or pid <= 0:
        return True, None
    try:
        waited, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not is_running(cluster), None
    if waited == 0:
        return False, None
    return True, os.waitstatus_to_exitcode(status)


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
        if cmdline[-1].startswith(prefix) and not is_zombie(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def kill_orphan(pid: int, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
    log.warning("stopping local Kafka JVM %s that no state file records", pid)
    terminate_group(pid, timeout)


def terminate_group(pid: int, timeout: float = DEFAULT_STOP_TIMEOUT) -> bool:
    """SIGTERM the process group led by `pid`, SIGKILL it after `timeout`; wait until it is gone
    and reaped. True if it had to be killed. The caller has checked that `pid` is its own JVM."""
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if _proc_cmdline(pid) is None or is_zombie(pid):
            _wait_reaped(pid)
            return False
        time.sleep(0.1)
    _signal_group(pid, signal.SIGKILL)
    for _ in range(100):
        _reap(pid)
        if _proc_cmdline(pid) is None or is_zombie(pid):
            _wait_reaped(pid)
            return True
        time.sleep(0.1)
    return True


def java_executable() -> str:
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


def spawn_detached(argv: list[str], log_file: Path) -> int:
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


def stop_nodes(views: list[LocalCluster], timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
    """Stop several nodes of one cluster together: SIGTERM to all, then SIGKILL what is left.

    One by one, the last nodes would wait out their controlled shutdown against a quorum that
    already lost its majority; signalled together, they all stop within a second or two.
    """
    alive = [v for v in views if v.pid is not None and is_running(v)]
    for view in alive:
        assert view.pid is not None
        _signal_group(view.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for view in alive:
        if _wait_dead(view, max(0.0, deadline - time.monotonic())):
            _reap(view.pid or 0)
            continue
        stop_process(view, timeout=0)


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

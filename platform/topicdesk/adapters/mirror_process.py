"""The process mirror engine: one dedicated MirrorMaker 2 JVM per mirror on this machine.

Each mirror has a folder `<state_dir>/mirrors/<mirror_id>/`:

    mm2.properties      the driver's configuration (mode 0600: it holds the SCRAM passwords)
    log4j.properties    or log4j2.properties on Kafka 4.x: logging into mm2.log
    mm2.log             MirrorMaker's log of the current start (the previous one is mm2.log.prev)
    mm2.out             the JVM's stdout/stderr (a crash before logging starts shows here)
    mm2.pid             the JVM's pid while it should run; removed by `stop`
    config.sha256       what the running JVM was started with (configuration, version, heap)

The JVM runs in its own session: it outlives the reconciler that started it (a reconciler killed
-9 leaves mirroring going) and is found again by the next one from the pid file, accepted only if
/proc/<pid>/cmdline is MirrorMaker's driver class with this folder's mm2.properties, so a pid
reused by another process is never signalled.

Readiness: MirrorMaker logs `WorkerSourceTask{id=MirrorSourceConnector-N} Source task finished
initialization and start` once a replication task has its partitions assigned and positioned
(Connect logs it after the task's start() returns, before its first poll). The mirror is
RUNNING from the first such line of the current start on, unless a task has logged `Task threw
an uncaught and unrecoverable exception` since (FAILED, with the log's last ERROR lines). The
checkpoint tasks are listed when they run but not waited for: MirrorMaker creates them only
once a moved group has committed on a mirrored topic, which the driver checks on the target.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from topicdesk.domain.mirror_config import DRIVER_CLASS, mm2_properties, properties_text
from topicdesk.local_kafka import processes
from topicdesk.local_kafka.distribution import ensure_mirror_libs
from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.local_kafka.versions import DEFAULT_VERSION, resolve_version, uses_log4j2
from topicdesk.services.mirror_port import MirrorSpec, MirrorState, MirrorStatus, TaskStatus

log = logging.getLogger(__name__)

ENGINE = "process"
DEFAULT_HEAP_MB = 384
STOP_TIMEOUT_SECONDS = 20.0
# A failed mirror (a task failed, or the JVM exited with errors) is started again at most this
# often; one that merely died (kill -9, no errors) is started again at once.
RESTART_BACKOFF_SECONDS = 30.0
# How much of the end of mm2.log a status reads: task lines of the current start are near its
# beginning but a long-running mirror's log rolls at LOG_MAX_MB, so readiness is also kept in a marker.
LOG_SCAN_BYTES = 4 * 1024 * 1024
LOG_MAX_MB = 20
ERROR_LINES = 5
ENDING_LINES = 10
MIRROR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TASK_STARTED = re.compile(r"WorkerSourceTask\{id=(?P<connector>Mirror\w+Connector)-(?P<task>\d+)\} "
                          r"Source task finished initialization and start")
TASK_FAILED = re.compile(r"WorkerSourceTask\{id=(?P<connector>Mirror\w+Connector)-(?P<task>\d+)\} "
                         r"Task threw an uncaught and unrecoverable exception")
LOG_LEVEL = re.compile(r"^\[[^\]]+\] (?P<level>[A-Z]+) ")


def mirror_jvm_options(heap_mb: int) -> list[str]:
    """The MirrorMaker JVM's flags: the serial collector, not the brokers' low-pause G1.

    A copy allocates ~5 KiB per 1 KiB record (Connect's SourceRecord, headers, offset maps, the
    fetched and the produced copy) and keeps little alive. G1 with a 20 ms pause goal keeps eden
    at ~20 MiB: 100 young collections and 4.4 s of pauses in a 20 s copy (JFR). The serial
    collector's young generation is a third of the heap and one thread collects it, so a JVM
    sharing 2 cores with brokers never waits for a descheduled GC worker: measured per record
    copied (docs/benchmarks.md P8) 20 us of CPU against 25 us (parallel) and 42 us (G1, 20 ms).
    A pause of tens of ms only delays a mirror whose lag is measured in seconds.
    """
    return [f"-Xms{heap_mb}m", f"-Xmx{heap_mb}m", "-XX:+UseSerialGC",
            # One that ran out of heap is useless; exiting makes `status` report it FAILED.
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"]


class ProcessMirrorEngine:
    """MirrorEngine running `org.apache.kafka.connect.mirror.MirrorMaker` per mirror (local clusters)."""

    name = ENGINE

    def __init__(self, state_dir: Path, kafka_version: str = DEFAULT_VERSION, java: str | None = None,
                 heap_mb: int = DEFAULT_HEAP_MB, *, libs: Callable[[str], Path] = ensure_mirror_libs,
                 stop_timeout: float = STOP_TIMEOUT_SECONDS,
                 restart_backoff: float = RESTART_BACKOFF_SECONDS,
                 jvm_options: Callable[[int], list[str]] = mirror_jvm_options) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.kafka_version = resolve_version(kafka_version)
        self.java = java
        self.heap_mb = heap_mb
        self.jvm_options = jvm_options
        self.stop_timeout = stop_timeout
        self.restart_backoff = restart_backoff
        self._libs = libs

    # --- the port ---------------------------------------------------------------------------

    def ensure_running(self, spec: MirrorSpec) -> MirrorStatus:
        folder = self._folder(spec.mirror_id)
        config = properties_text(mm2_properties(spec), header=(
            f"Written by topicdesk for mirror {spec.mirror_id}; rewritten on every start.\n"
            "Holds SCRAM passwords of both clusters: keep it private (mode 0600)."))
        wanted = self._config_hash(config)
        same = _read(folder / "config.sha256") == wanted
        pid = self._live_pid(folder)
        current = self.status(spec.mirror_id)
        if same and current.state is MirrorState.FAILED and self._started_within(folder, self.restart_backoff):
            # A task that fails on every start (an ACL missing, a wrong password) must not turn
            # into a JVM started on every reconcile pass.
            return current
        if pid is not None:
            if same and current.state is not MirrorState.FAILED:
                return current
            why = "its configuration changed" if not same else f"it failed: {current.detail}"
            log.info("restarting MirrorMaker of mirror %s (pid %s): %s", spec.mirror_id, pid, why)
            self._terminate(pid)
        elif current.state is not MirrorState.ABSENT:
            log.warning("MirrorMaker of mirror %s is not running (%s); starting it again", spec.mirror_id,
                        current.detail or "exited")
        try:
            new_pid = self._start(folder, config, wanted)
        except (OSError, LocalKafkaError) as exc:  # no Java, no jars, a full disk: a status, not a crashed pass
            log.warning("MirrorMaker of mirror %s did not start: %s", spec.mirror_id, exc)
            return MirrorStatus(spec.mirror_id, MirrorState.FAILED, ENGINE, detail=f"could not start: {exc}")
        return MirrorStatus(spec.mirror_id, MirrorState.STARTING, ENGINE,
                            detail=f"MirrorMaker {self.kafka_version} started (pid {new_pid}); "
                                   "waiting for its replication tasks")

    def status(self, mirror_id: str) -> MirrorStatus:
        folder = self._folder(mirror_id)
        if not (folder / "mm2.pid").exists():
            return MirrorStatus(mirror_id, MirrorState.ABSENT, ENGINE)
        pid = self._live_pid(folder)
        text = _tail(folder / "mm2.log", LOG_SCAN_BYTES)
        tasks = _tasks(text)
        errors = _error_lines(text)
        if pid is None:
            # It failed if it ended on errors (its last log lines, or anything on stdout: a JVM that
            # could not start); an error long before a kill -9 does not make it a failure.
            out = _error_lines(_tail(folder / "mm2.out", 64 * 1024), any_line=True)
            ended_on_errors = bool(_error_lines("\n".join(text.splitlines()[-ENDING_LINES:])))
            detail = "; ".join(errors or out) or "MirrorMaker exited"
            state = MirrorState.FAILED if ended_on_errors or out else MirrorState.STOPPED
            return MirrorStatus(mirror_id, state, ENGINE, detail=f"not running: {detail}"[:4000], tasks=tasks)
        failed = [t for t in tasks if t.state == "FAILED"]
        if failed:
            which = ", ".join(f"{t.connector}-{t.task}" for t in failed)
            return MirrorStatus(mirror_id, MirrorState.FAILED, ENGINE,
                                detail=f"task {which} failed: {'; '.join(errors)}"[:4000], tasks=tasks)
        ready = (folder / "ready").exists() and _read(folder / "ready") == str(pid)
        if not ready and any(t.connector == "MirrorSourceConnector" and t.state == "RUNNING" for t in tasks):
            _write_private(folder / "ready", str(pid))
            ready = True
        if ready:
            return MirrorStatus(mirror_id, MirrorState.RUNNING, ENGINE, detail=f"pid {pid}", tasks=tasks)
        return MirrorStatus(mirror_id, MirrorState.STARTING, ENGINE,
                            detail=f"pid {pid}: waiting for its replication tasks", tasks=tasks)

    def stop(self, mirror_id: str) -> MirrorStatus:
        folder = self._folder(mirror_id)
        pid = self._live_pid(folder)
        if pid is not None:
            self._terminate(pid)
        for name in ("mm2.pid", "ready"):
            with suppress(FileNotFoundError):
                (folder / name).unlink()
        return MirrorStatus(mirror_id, MirrorState.ABSENT, ENGINE)

    # --- the JVM ----------------------------------------------------------------------------

    def pid(self, mirror_id: str) -> int | None:
        """The live MirrorMaker JVM of `mirror_id`, if any (tests and `local` tooling)."""
        return self._live_pid(self._folder(mirror_id))

    def running_pids(self) -> list[int]:
        """Every live MirrorMaker JVM started under this engine's state dir, pid file or not."""
        root = str(self.state_dir / "mirrors") + os.sep
        found = []
        for entry in Path("/proc").glob("[0-9]*"):
            pid = int(entry.name)
            cmdline = processes.cmdline_of(pid)
            if cmdline and DRIVER_CLASS in cmdline and cmdline[-1].startswith(root) \
                    and not processes.is_zombie(pid):
                found.append(pid)
        return sorted(found)

    def _folder(self, mirror_id: str) -> Path:
        if not MIRROR_ID.match(mirror_id):
            raise ValueError(f"mirror id {mirror_id!r} must be 1-64 letters, digits, '.', '_' or '-'")
        return self.state_dir / "mirrors" / mirror_id

    @staticmethod
    def _started_within(folder: Path, seconds: float) -> bool:
        try:
            started = (folder / "mm2.pid").stat().st_mtime
        except FileNotFoundError:
            return False
        return time.time() - started < seconds

    def _config_hash(self, config: str) -> str:
        digest = hashlib.sha256()
        for part in (config, self.kafka_version, " ".join(self.jvm_options(self.heap_mb)), self.java or ""):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()

    def _live_pid(self, folder: Path) -> int | None:
        text = _read(folder / "mm2.pid")
        if not text or not text.isdigit():
            return None
        pid = int(text)
        processes.reap(pid)  # our own child killed meanwhile: collect it, or it looks alive
        cmdline = processes.cmdline_of(pid)
        if not cmdline or processes.is_zombie(pid):
            return None
        if DRIVER_CLASS not in cmdline or cmdline[-1] != str(folder / "mm2.properties"):
            log.warning("pid %s of %s is not our MirrorMaker (pid reused); ignoring it", pid, folder)
            return None
        return pid

    def _terminate(self, pid: int) -> None:
        if processes.terminate_group(pid, self.stop_timeout):
            log.warning("MirrorMaker pid %s ignored SIGTERM for %.0fs and was killed", pid, self.stop_timeout)

    def _start(self, folder: Path, config: str, config_hash: str) -> int:
        libs = self._libs(self.kafka_version)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(folder / "mm2.properties", config)
        log4j = folder / ("log4j2.properties" if uses_log4j2(self.kafka_version) else "log4j.properties")
        log4j.write_text(_log4j_config(self.kafka_version, folder / "mm2.log"))
        for name in ("mm2.log", "mm2.out"):
            if (folder / name).exists():
                (folder / name).replace(folder / f"{name}.prev")
        for rolled in folder.glob("mm2.log.[0-9]*"):
            rolled.unlink()
        (folder / "mm2.out").touch(mode=0o600)
        with suppress(FileNotFoundError):
            (folder / "ready").unlink()
        java = self.java or processes.java_executable()
        log_property = (f"-Dlog4j2.configurationFile={log4j}" if uses_log4j2(self.kafka_version)
                        else f"-Dlog4j.configuration=file:{log4j}")
        argv = [java, *self.jvm_options(self.heap_mb), log_property, f"-Dtopicdesk.mirror={folder.name}",
                "-cp", f"{libs}/*", DRIVER_CLASS, str(folder / "mm2.properties")]
        pid = processes.spawn_detached(argv, folder / "mm2.out")
        _await_exec(pid)
        _write_private(folder / "mm2.pid", str(pid))
        _write_private(folder / "config.sha256", config_hash)
        log.info("started MirrorMaker %s for mirror %s (pid %s, folder %s)", self.kafka_version, folder.name, pid,
                 folder)
        return pid


def _await_exec(pid: int, timeout: float = 5.0) -> None:
    """Wait until the new process shows its own argv: for a moment after spawning, /proc/<pid>/cmdline
    is empty, and a status asked then would take the mirror for dead and start a second JVM."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.reap(pid)
        cmdline = processes.cmdline_of(pid)
        if cmdline is None or cmdline or processes.is_zombie(pid):
            return
        time.sleep(0.01)


def _tasks(log_text: str) -> tuple[TaskStatus, ...]:
    states: dict[tuple[str, int], TaskStatus] = {}
    lines = log_text.splitlines()
    for i, line in enumerate(lines):
        started = TASK_STARTED.search(line)
        if started:
            key = (started["connector"], int(started["task"]))
            states[key] = TaskStatus(key[0], key[1], "RUNNING")
            continue
        failed = TASK_FAILED.search(line)
        if failed:
            key = (failed["connector"], int(failed["task"]))
            states[key] = TaskStatus(key[0], key[1], "FAILED", trace="\n".join(lines[i:i + 12]))
    return tuple(states[k] for k in sorted(states))


def _error_lines(text: str, *, any_line: bool = False) -> list[str]:
    """The last ERROR lines of a log (for mm2.out, which has no levels: its last lines)."""
    lines = text.splitlines()
    if any_line:
        picked = [ln.strip() for ln in lines if ln.strip()]
    else:
        picked = [ln.strip() for ln in lines if (m := LOG_LEVEL.match(ln)) and m["level"] in ("ERROR", "FATAL")]
    return [ln[:500] for ln in picked[-ERROR_LINES:]]


def _tail(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - limit))
            return handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically (a reader never sees half of it)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _log4j_config(version: str, log_file: Path) -> str:
    # The pattern's level after the date is what _error_lines and LOG_LEVEL read. Client and config
    # dumps and the per-second commit and scheduler lines are kept out: they would roll the log
    # within hours and bury the task lines.
    pattern = "[%d] %p %m (%c)%n"
    if uses_log4j2(version):
        return f"""# Written by topicdesk for a MirrorMaker 2 process (log4j2).
status = error
name = topicdesk-mirror
appender.mm2.type = RollingFile
appender.mm2.name = mm2
appender.mm2.fileName = {log_file}
appender.mm2.filePattern = {log_file}.%i
appender.mm2.layout.type = PatternLayout
appender.mm2.layout.pattern = {pattern}
appender.mm2.policies.type = Policies
appender.mm2.policies.size.type = SizeBasedTriggeringPolicy
appender.mm2.policies.size.size = {LOG_MAX_MB}MB
appender.mm2.strategy.type = DefaultRolloverStrategy
appender.mm2.strategy.max = 1
rootLogger.level = INFO
rootLogger.appenderRef.mm2.ref = mm2
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.commits.name = org.apache.kafka.connect.runtime.WorkerSourceTask
logger.commits.level = WARN
logger.scheduler.name = org.apache.kafka.connect.mirror.Scheduler
logger.scheduler.level = WARN
logger.plugins.name = org.apache.kafka.connect.runtime.isolation
logger.plugins.level = WARN
logger.appinfo.name = org.apache.kafka.common.utils.AppInfoParser
logger.appinfo.level = WARN
logger.metrics.name = org.apache.kafka.common.metrics
logger.metrics.level = WARN
"""
    return f"""# Written by topicdesk for a MirrorMaker 2 process (log4j 1.x / reload4j).
log4j.rootLogger=INFO, mm2
log4j.appender.mm2=org.apache.log4j.RollingFileAppender
log4j.appender.mm2.File={log_file}
log4j.appender.mm2.MaxFileSize={LOG_MAX_MB}MB
log4j.appender.mm2.MaxBackupIndex=1
log4j.appender.mm2.layout=org.apache.log4j.PatternLayout
log4j.appender.mm2.layout.ConversionPattern={pattern}
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.org.apache.kafka.common.config.AbstractConfig=WARN
log4j.logger.org.apache.kafka.connect.runtime.WorkerSourceTask=WARN
log4j.logger.org.apache.kafka.connect.mirror.Scheduler=WARN
log4j.logger.org.apache.kafka.connect.runtime.isolation=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
log4j.logger.org.apache.kafka.common.metrics=WARN
"""

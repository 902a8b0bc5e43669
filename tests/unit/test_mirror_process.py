"""The process mirror engine's lifecycle against a real stand-in process (tests/fakes.py
write_fake_mirrormaker): start, readiness, restart on change, death and failure, stop, and a pid
file pointing at someone else's process."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import write_fake_mirrormaker
from tests.kafka_clients import eventually
from topicdesk.adapters.mirror_factory import mirror_engine_from_env
from topicdesk.adapters.mirror_process import ProcessMirrorEngine, mirror_jvm_options
from topicdesk.config import ConfigError
from topicdesk.local_kafka import processes
from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.services.mirror_port import ClusterEndpoint, MirrorSpec, MirrorState

SPEC = MirrorSpec(mirror_id="mig-1", source=ClusterEndpoint("legacy", "127.0.0.1:1", "admin", "src-secret"),
                  target=ClusterEndpoint("team", "127.0.0.1:2", "admin", "tgt-secret"), topics=("a.b",))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[ProcessMirrorEngine]:
    engine = ProcessMirrorEngine(tmp_path / "state", java=str(write_fake_mirrormaker(tmp_path)),
                                 libs=lambda _version: tmp_path, stop_timeout=0.5)
    yield engine
    for pid in engine.running_pids():
        os.killpg(pid, signal.SIGKILL)


def behave(engine: ProcessMirrorEngine, mirror_id: str, behaviour: str) -> None:
    folder = engine.state_dir / "mirrors" / mirror_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fake-behaviour").write_text(behaviour)


def running(engine: ProcessMirrorEngine, mirror_id: str = "mig-1") -> MirrorState:
    return eventually(lambda: s.state if (s := engine.status(mirror_id)).state is MirrorState.RUNNING else None,
                      timeout=10, interval=0.1)


def test_start_ready_idempotent_and_private(engine: ProcessMirrorEngine) -> None:
    assert engine.status("mig-1").state is MirrorState.ABSENT
    started = engine.ensure_running(SPEC)
    assert started.state is MirrorState.STARTING
    assert started.engine == "process"
    running(engine)
    status = engine.status("mig-1")
    assert [(t.connector, t.task, t.state) for t in status.tasks] == [("MirrorSourceConnector", 0, "RUNNING")]
    pid = engine.pid("mig-1")
    assert engine.ensure_running(SPEC).state is MirrorState.RUNNING
    assert engine.pid("mig-1") == pid
    folder = engine.state_dir / "mirrors" / "mig-1"
    for name in ("mm2.properties", "mm2.pid", "config.sha256"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    assert "tgt-secret" in (folder / "mm2.properties").read_text()
    assert "secret" not in repr(status.as_dict())
    assert (folder / "log4j2.properties").exists()


def test_changed_configuration_restarts(engine: ProcessMirrorEngine) -> None:
    engine.ensure_running(SPEC)
    running(engine)
    first = engine.pid("mig-1")
    changed = MirrorSpec(**{**SPEC.__dict__, "topics": ("a.b", "c.d")})
    assert engine.ensure_running(changed).state is MirrorState.STARTING
    second = engine.pid("mig-1")
    assert second not in (None, first)
    assert first not in engine.running_pids()
    assert "c\\\\.d" in (engine.state_dir / "mirrors" / "mig-1" / "mm2.properties").read_text()


def test_the_jvm_runs_a_throughput_collector_and_its_flags_are_part_of_the_configuration(tmp_path: Path) -> None:
    java = str(write_fake_mirrormaker(tmp_path))
    engine = ProcessMirrorEngine(tmp_path / "state", java=java, libs=lambda _version: tmp_path, stop_timeout=0.5,
                                 heap_mb=300)
    try:
        engine.ensure_running(SPEC)
        running(engine)
        first = engine.pid("mig-1")
        assert first is not None
        argv = processes.cmdline_of(first) or []
        assert {"-Xms300m", "-Xmx300m", "-XX:+UseSerialGC"} <= set(argv)
        # The brokers' low-pause G1 shrinks eden to ~20 MiB and collects several times a second in a copy.
        assert not [a for a in argv if "G1" in a or "MaxGCPauseMillis" in a]
        other = ProcessMirrorEngine(engine.state_dir, java=java, libs=lambda _version: tmp_path, stop_timeout=0.5,
                                    heap_mb=300, jvm_options=lambda heap: [*mirror_jvm_options(heap), "-Dx=1"])
        assert other.ensure_running(SPEC).state is MirrorState.STARTING
        second = other.pid("mig-1")
        assert second not in (None, first)
        assert "-Dx=1" in (processes.cmdline_of(second or 0) or [])
    finally:
        for pid in engine.running_pids():
            os.killpg(pid, signal.SIGKILL)


def test_killed_process_is_reported_and_restarted(engine: ProcessMirrorEngine) -> None:
    engine.ensure_running(SPEC)
    running(engine)
    pid = engine.pid("mig-1")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    dead = eventually(lambda: s if (s := engine.status("mig-1")).state is not MirrorState.RUNNING else None,
                      timeout=5, interval=0.1)
    assert dead.state is MirrorState.STOPPED
    assert "not running" in dead.detail
    assert engine.ensure_running(SPEC).state is MirrorState.STARTING
    assert engine.pid("mig-1") not in (None, pid)
    running(engine)


def test_an_old_error_does_not_make_a_killed_mirror_failed(engine: ProcessMirrorEngine) -> None:
    behave(engine, "mig-1", "early-error")
    engine.ensure_running(SPEC)
    running(engine)
    pid = engine.pid("mig-1")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    dead = eventually(lambda: s if (s := engine.status("mig-1")).state is not MirrorState.RUNNING else None,
                      timeout=5, interval=0.1)
    assert dead.state is MirrorState.STOPPED
    assert engine.ensure_running(SPEC).state is MirrorState.STARTING  # no backoff for a killed one


def test_exit_with_errors_is_failed_with_the_log_lines(engine: ProcessMirrorEngine) -> None:
    behave(engine, "mig-1", "exits")
    engine.ensure_running(SPEC)
    failed = eventually(lambda: s if (s := engine.status("mig-1")).state is MirrorState.FAILED else None,
                        timeout=5, interval=0.1)
    assert "bad configuration" in failed.detail
    # Within the restart backoff the failed mirror is reported, not started again.
    engine.restart_backoff = 60
    again = engine.ensure_running(SPEC)
    assert again.state is MirrorState.FAILED
    assert "bad configuration" in again.detail
    engine.restart_backoff = 0
    behave(engine, "mig-1", "ready")
    assert engine.ensure_running(SPEC).state is MirrorState.STARTING
    running(engine)


def test_failed_task_is_failed_and_restarted(engine: ProcessMirrorEngine) -> None:
    behave(engine, "mig-1", "task-fails")
    engine.ensure_running(SPEC)
    failed = eventually(lambda: s if (s := engine.status("mig-1")).state is MirrorState.FAILED else None,
                        timeout=5, interval=0.1)
    assert "MirrorSourceConnector-0" in failed.detail
    assert "Not authorized" in failed.detail
    assert failed.tasks[0].state == "FAILED"
    first = engine.pid("mig-1")
    assert engine.ensure_running(SPEC).state is MirrorState.FAILED  # within the backoff
    assert engine.pid("mig-1") == first
    engine.restart_backoff = 0
    behave(engine, "mig-1", "ready")
    assert engine.ensure_running(SPEC).state is MirrorState.STARTING
    assert engine.pid("mig-1") not in (None, first)
    running(engine)


def test_starting_until_tasks_run(engine: ProcessMirrorEngine) -> None:
    behave(engine, "mig-1", "never-ready")
    engine.ensure_running(SPEC)
    assert engine.status("mig-1").state is MirrorState.STARTING


def test_stop_terminates_kills_when_ignored_and_is_idempotent(engine: ProcessMirrorEngine) -> None:
    behave(engine, "mig-1", "ignores-sigterm")
    engine.ensure_running(SPEC)
    running(engine)
    assert engine.stop("mig-1").state is MirrorState.ABSENT
    assert engine.running_pids() == []
    assert engine.status("mig-1").state is MirrorState.ABSENT
    assert engine.stop("mig-1").state is MirrorState.ABSENT
    assert engine.stop("never-started").state is MirrorState.ABSENT


def test_a_strangers_pid_is_never_signalled(engine: ProcessMirrorEngine) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        folder = engine.state_dir / "mirrors" / "mig-1"
        folder.mkdir(parents=True)
        (folder / "mm2.pid").write_text(str(stranger.pid))
        assert engine.pid("mig-1") is None
        assert engine.status("mig-1").state is MirrorState.STOPPED
        engine.stop("mig-1")
        assert stranger.poll() is None
        assert engine.ensure_running(SPEC).state is MirrorState.STARTING
        assert stranger.poll() is None
        assert engine.pid("mig-1") != stranger.pid
    finally:
        stranger.kill()
        stranger.wait()


def test_start_failure_is_a_status(tmp_path: Path) -> None:
    def no_libs(version: str) -> Path:
        raise LocalKafkaError(f"cannot fetch MirrorMaker {version}")
    engine = ProcessMirrorEngine(tmp_path, libs=no_libs)
    status = engine.ensure_running(SPEC)
    assert status.state is MirrorState.FAILED
    assert "cannot fetch MirrorMaker" in status.detail


def test_mirror_id_must_be_a_safe_name(engine: ProcessMirrorEngine) -> None:
    with pytest.raises(ValueError, match="mirror id"):
        engine.status("../etc")


def test_factory_reads_the_environment(tmp_path: Path) -> None:
    engine = mirror_engine_from_env({"TOPICDESK_MIRROR_STATE_DIR": str(tmp_path),
                                     "TOPICDESK_MIRROR_KAFKA_VERSION": "3.9"})
    assert isinstance(engine, ProcessMirrorEngine)
    assert engine.name == "process"
    assert engine.state_dir == tmp_path
    assert engine.kafka_version == "3.9.2"
    default = mirror_engine_from_env({"TOPICDESK_DATA_DIR": str(tmp_path / "data")})
    assert isinstance(default, ProcessMirrorEngine)
    assert default.state_dir == tmp_path / "data"
    assert default.kafka_version == "4.3.1"
    with pytest.raises(ConfigError, match="TOPICDESK_MIRROR_ENGINE"):
        mirror_engine_from_env({"TOPICDESK_MIRROR_ENGINE": "rsync"})
    with pytest.raises(ConfigError, match="TOPICDESK_MIRROR_KAFKA_VERSION"):
        mirror_engine_from_env({"TOPICDESK_MIRROR_KAFKA_VERSION": "2.8"})

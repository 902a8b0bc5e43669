"""The demo supervisor's restart policy and loop, with fake children and a fake clock (no processes)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.fakes import FakeChild, FakeClock
from topicdesk.local_kafka import cluster as lk
from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.supervisor import Backoff, BrokerChild, Supervisor, describe_exit


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap() -> None:
    policy = Backoff(initial=1, factor=2, cap=30)
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(10_000) == 30


def test_a_healthy_run_resets_the_count_and_a_short_one_raises_it() -> None:
    policy = Backoff(initial=1, factor=2, cap=30, healthy_after=60)
    assert policy.after_exit(0, ran_for=0.2) == (1, 1)
    assert policy.after_exit(4, ran_for=3) == (5, 16)
    assert policy.after_exit(4, ran_for=60) == (1, 1)
    assert policy.after_exit(9, ran_for=3600) == (1, 1)


@pytest.mark.parametrize("kwargs", [{"initial": 0}, {"initial": 5, "cap": 1}, {"factor": 0.5},
                                    {"healthy_after": 0}])
def test_a_policy_that_makes_no_sense_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="need"):
        Backoff(**kwargs)
    with pytest.raises(ValueError, match="from 1"):
        Backoff().delay(0)


def test_exit_descriptions_name_the_signal_or_the_code() -> None:
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(None).startswith("stopped")


def _supervisor(clock: FakeClock, lines: list[str]) -> Supervisor:
    return Supervisor(Backoff(initial=1, factor=2, cap=8, healthy_after=60), emit=lines.append, clock=clock)


def test_a_dead_child_is_restarted_after_its_delay_with_one_line_each_time() -> None:
    clock, lines = FakeClock(), list[str]()
    supervisor = _supervisor(clock, lines)
    child = FakeChild("the reconciler")
    assert supervisor.add(child) == 1001
    assert lines == ["started the reconciler (pid 1001)"]
    clock.advance(5)
    child.die(-signal.SIGKILL)
    supervisor.poll()
    assert len(lines) == 2
    assert lines[1].startswith("the reconciler (pid 1001) was killed by SIGKILL after 5.0 s; restarting in 1.0 s")
    assert lines[1].endswith("(failure 1)")
    assert supervisor.pid("the reconciler") is None
    clock.advance(0.5)
    supervisor.poll()
    assert child.starts == 1
    clock.advance(0.5)
    supervisor.poll()
    assert child.starts == 2
    assert lines[2] == "restarted the reconciler as pid 1002 (failure 1)"
    assert supervisor.pid("the reconciler") == 1002


def test_a_crash_loop_backs_off_to_the_cap_and_a_healthy_run_resets_it() -> None:
    clock, lines = FakeClock(), list[str]()
    supervisor = _supervisor(clock, lines)
    child = FakeChild("the portal")
    supervisor.add(child)
    delays = []
    for _ in range(6):
        child.die(1)
        supervisor.poll()
        delays.append(lines[-1].split("restarting in ")[1].split(" s")[0])
        clock.advance(100)  # far past the delay: the next poll restarts it
        supervisor.poll()
        clock.advance(0.1)
    assert delays == ["1.0", "2.0", "4.0", "8.0", "8.0", "8.0"]
    assert child.starts == 7
    clock.advance(60)
    child.die(1)
    supervisor.poll()
    assert "restarting in 1.0 s" in lines[-1]
    assert lines[-1].endswith("(failure 1)")


def test_one_child_crash_looping_leaves_the_others_alone() -> None:
    clock, lines = FakeClock(), list[str]()
    supervisor = _supervisor(clock, lines)
    broken, steady = FakeChild("the OpenID provider"), FakeChild("the broker of local cluster a", next_pid=2000)
    supervisor.add(broken)
    supervisor.add(steady, running=True)
    assert steady.starts == 0
    for _ in range(10):
        broken.die(2)
        supervisor.poll()
        clock.advance(10)
        supervisor.poll()
    assert broken.starts == 11
    assert (steady.starts, steady.stops) == (0, 0)
    assert not any("local cluster a" in line for line in lines)


def test_a_start_that_fails_is_retried_with_back_off() -> None:
    clock, lines = FakeClock(), list[str]()
    supervisor = _supervisor(clock, lines)
    child = FakeChild("the broker of local cluster b", fail_starts=2)
    supervisor.add(child)
    assert lines[-1].startswith("the broker of local cluster b could not be started (cannot start")
    assert "restarting in 1.0 s" in lines[-1]
    clock.advance(1)
    supervisor.poll()
    assert "restarting in 2.0 s" in lines[-1]
    clock.advance(1)
    supervisor.poll()
    assert child.starts == 2
    clock.advance(1)
    supervisor.poll()
    assert child.starts == 3
    assert lines[-1] == "restarted the broker of local cluster b as pid 1001 (failure 2)"


def test_stop_all_stops_every_child_last_started_first_and_cancels_restarts() -> None:
    clock, lines = FakeClock(), list[str]()
    supervisor = _supervisor(clock, lines)
    stopped: list[str] = []
    children = [FakeChild(name, stop_journal=stopped) for name in ("provider", "portal", "reconciler")]
    for child in children:
        supervisor.add(child)
    children[2].die(1)
    supervisor.poll()
    supervisor.stop_all()
    assert stopped == ["reconciler", "portal", "provider"]
    for _ in range(3):
        clock.advance(100)
        supervisor.poll()
    assert [c.starts for c in children] == [1, 1, 1]


def test_pid_of_an_unknown_child_is_an_error() -> None:
    with pytest.raises(KeyError):
        Supervisor().pid("nobody")


def test_a_broker_whose_data_folder_is_gone_is_not_restarted_on_a_fresh_one(tmp_path: Path) -> None:
    local = lk.LocalCluster(name="gone", cluster_id="abc", client_port=1, controller_port=2, admin_username="admin",
                            admin_password="x", controller_password="y", home=tmp_path / "gone",
                            state_file=tmp_path / "gone.json", pid=None)
    child = BrokerChild(local)
    assert child.name == "the broker of local cluster gone"
    with pytest.raises(LocalKafkaError, match="not its formatted data folder"):
        child.start()
    assert not local.data_dir.exists()
    assert child.exited() == (True, None)

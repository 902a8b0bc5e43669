"""Keeps the demo's processes running: a child that dies is restarted with capped exponential back-off.

`Backoff` is the restart policy (pure: failures and run time in, delay out). `Supervisor` polls its
children, one `poll()` at a time, and never blocks on one of them: a child that crash-loops is
retried at its own pace while the others keep running. Children are anything with a name, a pid,
`start`, `exited` and `stop`; `ProcessChild` wraps a command run with subprocess, and
`BrokerChild` a local Kafka cluster's JVM (restarted on its own config and data folder).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from topicdesk.local_kafka import cluster as lk
from topicdesk.local_kafka.errors import LocalKafkaError


@dataclass(frozen=True)
class Backoff:
    """Delay before restart number `failures` (1, 2, ...): initial * factor^(failures-1), at most `cap`.

    A child that ran for `healthy_after` seconds before dying counts as healthy: its next failure
    is the first again, so one crash a day restarts at once and only a crash loop backs off."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    healthy_after: float = 60.0

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.cap and self.factor >= 1 and self.healthy_after > 0):
            raise ValueError("need 0 < initial <= cap, factor >= 1 and healthy_after > 0")

    def delay(self, failures: int) -> float:
        if failures < 1:
            raise ValueError("failures counts from 1")
        # Capped before the power overflows a float (a child failing for weeks).
        exponent = min(failures - 1, 64)
        return float(min(self.cap, self.initial * self.factor**exponent))

    def after_exit(self, failures: int, ran_for: float) -> tuple[int, float]:
        """The new failure count and the delay before the next start, for a child that just died."""
        failures = 1 if ran_for >= self.healthy_after else failures + 1
        return failures, self.delay(failures)


def describe_exit(code: int | None) -> str:
    """Popen's convention: a negative code is the signal that killed the process."""
    if code is None:
        return "stopped (exit status unknown: not our child)"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Child(Protocol):
    name: str

    @property
    def pid(self) -> int | None: ...

    def start(self) -> int:
        """Start it; return its pid. Raises on a start that fails at once."""

    def exited(self) -> tuple[bool, int | None]:
        """(True, exit code or None when unknown) once it has died and been reaped; (False, None) while it runs."""

    def stop(self) -> None:
        """Stop it for good (SIGTERM, then SIGKILL); a no-op when it is not running."""


@dataclass
class ProcessChild:
    """A command run with subprocess; output to `log_path` (appended, across restarts) or inherited."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path | None = None
    stop_timeout: float = 10.0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> int:
        if self.log_path is None:
            self.process = subprocess.Popen(list(self.argv), env=dict(self.env))
        else:
            with self.log_path.open("ab") as log_file:
                self.process = subprocess.Popen(list(self.argv), env=dict(self.env), stdout=log_file,
                                                stderr=subprocess.STDOUT)
        return self.process.pid

    def exited(self) -> tuple[bool, int | None]:
        if self.process is None or self.process.poll() is None:
            return False, None
        return True, self.process.returncode

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class BrokerChild:
    """A local Kafka cluster's JVM. Started by `lk.up` before supervision (pass its pid to `add`)."""

    cluster: lk.LocalCluster
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or f"the broker of local cluster {self.cluster.name}"

    @property
    def pid(self) -> int | None:
        return self.cluster.pid

    def start(self) -> int:
        self.cluster = lk.restart(self.cluster)
        assert self.cluster.pid is not None
        return self.cluster.pid

    def exited(self) -> tuple[bool, int | None]:
        if self.cluster.pid is None:
            return True, None
        return lk.reap_exit(self.cluster)

    def stop(self) -> None:
        lk.stop_process(self.cluster)


@dataclass
class _Slot:
    child: Child
    started_at: float
    failures: int = 0
    # Set while the child is down: when to start it again.
    restart_at: float | None = None


class Supervisor:
    """Restarts children that die. Call `poll()` periodically (or `run()`); `stop_all()` at the end."""

    def __init__(self, backoff: Backoff | None = None, *, emit: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.backoff = backoff or Backoff()
        self._emit = emit
        self._clock = clock
        self._slots: list[_Slot] = []
        self._stopped = False

    def add(self, child: Child, *, running: bool = False) -> int | None:
        """Supervise `child`: start it now, or adopt it when it is `running` already."""
        slot = _Slot(child, started_at=self._clock())
        self._slots.append(slot)
        if running:
            return child.pid
        self._start(slot, first=True)
        return child.pid

    def pid(self, name: str) -> int | None:
        for slot in self._slots:
            if slot.child.name == name:
                return slot.child.pid if slot.restart_at is None else None
        raise KeyError(name)

    def poll(self) -> None:
        if self._stopped:
            return
        now = self._clock()
        for slot in self._slots:
            if slot.restart_at is None:
                done, code = slot.child.exited()
                if done:
                    self._schedule(slot, now, f"{slot.child.name} (pid {slot.child.pid}) {describe_exit(code)} "
                                              f"after {now - slot.started_at:.1f} s")
            elif now >= slot.restart_at:
                self._start(slot, first=False)

    def run(self, every: float = 0.5, until: Callable[[], bool] = lambda: False) -> None:
        while not until() and not self._stopped:
            self.poll()
            time.sleep(every)

    def stop_all(self) -> None:
        """Last started, first stopped: the server goes before the provider it authenticates with."""
        self._stopped = True
        for slot in reversed(self._slots):
            slot.restart_at = None
            slot.child.stop()

    def _start(self, slot: _Slot, *, first: bool) -> None:
        slot.started_at = self._clock()
        try:
            pid = slot.child.start()
        except (OSError, LocalKafkaError, subprocess.SubprocessError) as exc:
            # Counted like a crash: a start that cannot succeed backs off the same way.
            self._schedule(slot, slot.started_at, f"{slot.child.name} could not be started ({exc})")
            return
        slot.restart_at = None
        self._emit(f"started {slot.child.name} (pid {pid})" if first else
                   f"restarted {slot.child.name} as pid {pid} (failure {slot.failures})")

    def _schedule(self, slot: _Slot, now: float, what: str) -> None:
        slot.failures, delay = self.backoff.after_exit(slot.failures, now - slot.started_at)
        slot.restart_at = now + delay
        at = time.strftime("%H:%M:%S", time.localtime(time.time() + delay))
        self._emit(f"{what}; restarting in {delay:.1f} s at {at} (failure {slot.failures})")

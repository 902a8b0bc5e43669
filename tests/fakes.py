"""Hand-written fakes: the cluster port (an in-memory cluster, a recorder of port calls), a supervised child,
a webhook receiver."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from topicdesk.domain.acls import AclBinding
from topicdesk.domain.evidence import GroupUsage, TopicEvidence
from topicdesk.domain.model import ClientQuota, DesiredTopic
from topicdesk.domain.plan import ObservedState, ObservedTopic
from topicdesk.services.cluster_port import (
    ClusterPort,
    ClusterUnavailable,
    Outcome,
    OutcomeReason,
    QuotaAlteration,
    ScramCredential,
)
from topicdesk.services.executor import ApplySettings
from topicdesk.services.migration_probe import (
    GroupObservation,
    PartitionEnds,
    ProbeUnavailable,
    SampledRecord,
)
from topicdesk.services.mirror_port import MirrorSpec, MirrorState, MirrorStatus
from topicdesk.services.notify_worker import HttpAnswer
from topicdesk.services.reconcile import ReconcilerSettings

# Reconciling against FakeClusterPort: one attempt, no waits (it answers at once and reads back exactly).
FAST_RECONCILE = ReconcilerSettings(apply=ApplySettings(max_attempts=1, backoff_initial=0, readback_interval=0,
                                                        readback_timeout=0.5, readback_max_attempts=3))

MUTATING = frozenset(
    {
        "create_topics",
        "create_partitions",
        "alter_configs",
        "delete_topics",
        "create_acls",
        "delete_acls",
        "alter_quotas",
        "upsert_scram_users",
        "delete_scram_users",
    }
)


def _fail(reason: OutcomeReason, message: str, *, transient: bool = False) -> Outcome:
    return Outcome.failure(reason, message, transient=transient)


@dataclass
class _Topic:
    partitions: int
    replication_factor: int
    config: dict[str, str]


@dataclass
class FakeGroup:
    """A consumer group: its committed offsets per (topic, partition) and how many members it has."""

    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    members: int = 0

    @property
    def state(self) -> str:
        return "STABLE" if self.members else "EMPTY"


@dataclass
class FakeClusterPort:
    """An in-memory cluster that answers like Kafka does, per resource.

    `script(method, key, outcome, ...)` makes the next calls for that resource answer with the given
    outcomes instead (e.g. THROTTLED twice, then the real thing).
    `visible_after` delays new topics in describe() by that many describe calls (metadata lag).
    Evidence: `groups` (consumer groups and their commits), `end_offsets` per (topic, partition)
    and `last_write` per topic; `unreachable` makes the bulk reads raise ClusterUnavailable.
    """

    brokers: int = 1
    visible_after: int = 0
    topics: dict[str, _Topic] = field(default_factory=dict)
    acls: set[AclBinding] = field(default_factory=set)
    quotas: dict[str, dict[str, float]] = field(default_factory=dict)
    scram_users: dict[str, ScramCredential] = field(default_factory=dict)
    groups: dict[str, FakeGroup] = field(default_factory=dict)
    end_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    last_write: dict[str, datetime] = field(default_factory=dict)
    _scripts: dict[tuple[str, str], list[Outcome]] = field(default_factory=dict)
    _hidden: dict[str, int] = field(default_factory=dict)
    # Set: describe() raises ClusterUnavailable with it, as a cluster that cannot be reached does.
    unreachable: Outcome | None = None
    # Seconds every describe() takes (a slow cluster).
    describe_delay: float = 0.0
    # Called before every create_topics batch (e.g. to take the lease away mid-apply).
    before_create: Callable[[], None] | None = None

    def script(self, method: str, key: str, *outcomes: Outcome) -> None:
        self._scripts.setdefault((method, key), []).extend(outcomes)

    def _scripted(self, method: str, key: str) -> Outcome | None:
        queue = self._scripts.get((method, key))
        return queue.pop(0) if queue else None

    # -- reads ---------------------------------------------------------------------------------

    def _reachable(self) -> None:
        if self.unreachable is not None:
            raise ClusterUnavailable(self.unreachable)

    def usage_evidence(self, topic_names: Collection[str]) -> dict[str, TopicEvidence]:
        self._reachable()
        out: dict[str, TopicEvidence] = {}
        for name in sorted(set(topic_names)):
            topic = self.topics.get(name)
            if topic is None:
                out[name] = TopicEvidence(name, exists=False)
                continue
            ends = {p: self.end_offsets.get((name, p), 0) for p in range(topic.partitions)}
            usage = []
            for group_id, group in sorted(self.groups.items()):
                offsets = {p: o for (t, p), o in group.committed.items() if t == name}
                if offsets:
                    usage.append(GroupUsage(group_id, group.state, group.members, len(offsets),
                                            sum(max(0, ends.get(p, o) - o) for p, o in offsets.items()),
                                            sum(offsets.values())))
            out[name] = TopicEvidence(name, True, topic.partitions, ends, self.last_write.get(name), tuple(usage))
        return out

    def describe(self, topic_names: Collection[str] | None = None) -> ObservedState:
        if self.describe_delay:
            time.sleep(self.describe_delay)
        self._reachable()
        for name in list(self._hidden):
            self._hidden[name] -= 1
            if self._hidden[name] < 0:
                del self._hidden[name]
        names = self.topics.keys() if topic_names is None else set(topic_names) & self.topics.keys()
        return ObservedState(
            topics={
                n: ObservedTopic(n, self.topics[n].partitions, self.topics[n].replication_factor,
                                 dict(self.topics[n].config))
                for n in names
                if n not in self._hidden
            },
            acls=frozenset(self.acls),
            quotas={
                p: ClientQuota(
                    p,
                    producer_byte_rate=_int(v.get("producer_byte_rate")),
                    consumer_byte_rate=_int(v.get("consumer_byte_rate")),
                    request_percentage=v.get("request_percentage"),
                )
                for p, v in self.quotas.items()
                if v
            },
            scram_users=frozenset(self.scram_users),
        )

    # -- writes --------------------------------------------------------------------------------

    def create_topics(self, topics: Sequence[DesiredTopic]) -> dict[str, Outcome]:
        if self.before_create is not None:
            self.before_create()
        out: dict[str, Outcome] = {}
        for t in topics:
            if (o := self._scripted("create_topics", t.name)) is not None:
                out[t.name] = o
            elif t.name in self.topics:
                out[t.name] = _fail(OutcomeReason.ALREADY_EXISTS, f"Topic '{t.name}' already exists.")
            elif t.replication_factor > self.brokers:
                out[t.name] = _fail(
                    OutcomeReason.INVALID_REPLICATION_FACTOR,
                    f"Unable to replicate the partition {t.replication_factor} time(s): "
                    f"only {self.brokers} broker(s) are registered.",
                )
            elif t.partitions < 1:
                out[t.name] = _fail(OutcomeReason.INVALID_PARTITIONS, "Number of partitions must be larger than 0.")
            else:
                self.topics[t.name] = _Topic(t.partitions, t.replication_factor, dict(t.config))
                if self.visible_after:
                    self._hidden[t.name] = self.visible_after
                out[t.name] = Outcome.success()
        return out

    def create_partitions(self, totals: Mapping[str, int]) -> dict[str, Outcome]:
        out: dict[str, Outcome] = {}
        for name, total in totals.items():
            topic = self.topics.get(name)
            if (o := self._scripted("create_partitions", name)) is not None:
                out[name] = o
            elif topic is None:
                out[name] = _fail(OutcomeReason.NOT_FOUND, f"topic {name} does not exist", transient=True)
            elif total <= topic.partitions:
                out[name] = _fail(
                    OutcomeReason.INVALID_PARTITIONS,
                    f"Topic currently has {topic.partitions} partitions, which is higher than the requested {total}.",
                )
            else:
                topic.partitions = total
                out[name] = Outcome.success()
        return out

    def alter_configs(self, changes: Mapping[str, Mapping[str, str | None]]) -> dict[str, Outcome]:
        out: dict[str, Outcome] = {}
        for name, values in changes.items():
            topic = self.topics.get(name)
            if (o := self._scripted("alter_configs", name)) is not None:
                out[name] = o
            elif topic is None:
                out[name] = _fail(OutcomeReason.NOT_FOUND, f"topic {name} does not exist", transient=True)
            else:
                for k, v in values.items():
                    if v is None:
                        topic.config.pop(k, None)
                    else:
                        topic.config[k] = v
                out[name] = Outcome.success()
        return out

    def delete_topics(self, names: Sequence[str]) -> dict[str, Outcome]:
        out: dict[str, Outcome] = {}
        for name in names:
            if (o := self._scripted("delete_topics", name)) is not None:
                out[name] = o
            elif self.topics.pop(name, None) is None:
                out[name] = _fail(OutcomeReason.NOT_FOUND, "This server does not host this topic-partition.")
            else:
                out[name] = Outcome.success()
        return out

    def create_acls(self, bindings: Sequence[AclBinding]) -> dict[AclBinding, Outcome]:
        out: dict[AclBinding, Outcome] = {}
        for b in bindings:
            if (o := self._scripted("create_acls", b.key)) is not None:
                out[b] = o
            else:
                self.acls.add(b)
                out[b] = Outcome.success()
        return out

    def delete_acls(self, bindings: Sequence[AclBinding]) -> dict[AclBinding, Outcome]:
        out: dict[AclBinding, Outcome] = {}
        for b in bindings:
            if (o := self._scripted("delete_acls", b.key)) is not None:
                out[b] = o
            else:
                self.acls.discard(b)
                out[b] = Outcome.success()
        return out

    def alter_quotas(self, alterations: Sequence[QuotaAlteration]) -> dict[str, Outcome]:
        out: dict[str, Outcome] = {}
        for a in alterations:
            if (o := self._scripted("alter_quotas", a.principal)) is not None:
                out[a.principal] = o
                continue
            values = self.quotas.setdefault(a.principal, {})
            values.update(a.set_values)
            for k in a.remove:
                values.pop(k, None)
            if not values:
                del self.quotas[a.principal]
            out[a.principal] = Outcome.success()
        return out

    def upsert_scram_users(self, credentials: Sequence[ScramCredential]) -> dict[str, Outcome]:
        out: dict[str, Outcome] = {}
        for c in credentials:
            if (o := self._scripted("upsert_scram_users", c.principal)) is not None:
                out[c.principal] = o
            else:
                self.scram_users[c.principal] = c
                out[c.principal] = Outcome.success()
        return out

    def delete_scram_users(self, principals: Sequence[str]) -> dict[str, Outcome]:
        out: dict[str, Outcome] = {}
        for p in principals:
            if (o := self._scripted("delete_scram_users", p)) is not None:
                out[p] = o
            elif self.scram_users.pop(p, None) is None:
                out[p] = _fail(OutcomeReason.NOT_FOUND, "Attempt to delete a user credential that does not exist")
            else:
                out[p] = Outcome.success()
        return out


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class Call:
    method: str
    size: int  # number of resources in the call (topic names for describe; -1 = all topics)

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING


@dataclass
class RecordingClusterPort:
    """Wraps any ClusterPort and records each call with the size of its batch."""

    inner: ClusterPort
    calls: list[Call] = field(default_factory=list)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    @property
    def mutating_calls(self) -> list[Call]:
        return [c for c in self.calls if c.mutating]

    def reset(self) -> None:
        self.calls.clear()

    def describe(self, topic_names: Collection[str] | None = None) -> ObservedState:
        self.calls.append(Call("describe", -1 if topic_names is None else len(topic_names)))
        return self.inner.describe(topic_names)

    def usage_evidence(self, topic_names: Collection[str]) -> dict[str, TopicEvidence]:
        self.calls.append(Call("usage_evidence", len(topic_names)))
        return self.inner.usage_evidence(topic_names)

    def create_topics(self, topics: Sequence[DesiredTopic]) -> dict[str, Outcome]:
        self.calls.append(Call("create_topics", len(topics)))
        return self.inner.create_topics(topics)

    def create_partitions(self, totals: Mapping[str, int]) -> dict[str, Outcome]:
        self.calls.append(Call("create_partitions", len(totals)))
        return self.inner.create_partitions(totals)

    def alter_configs(self, changes: Mapping[str, Mapping[str, str | None]]) -> dict[str, Outcome]:
        self.calls.append(Call("alter_configs", len(changes)))
        return self.inner.alter_configs(changes)

    def delete_topics(self, names: Sequence[str]) -> dict[str, Outcome]:
        self.calls.append(Call("delete_topics", len(names)))
        return self.inner.delete_topics(names)

    def create_acls(self, bindings: Sequence[AclBinding]) -> dict[AclBinding, Outcome]:
        self.calls.append(Call("create_acls", len(bindings)))
        return self.inner.create_acls(bindings)

    def delete_acls(self, bindings: Sequence[AclBinding]) -> dict[AclBinding, Outcome]:
        self.calls.append(Call("delete_acls", len(bindings)))
        return self.inner.delete_acls(bindings)

    def alter_quotas(self, alterations: Sequence[QuotaAlteration]) -> dict[str, Outcome]:
        self.calls.append(Call("alter_quotas", len(alterations)))
        return self.inner.alter_quotas(alterations)

    def upsert_scram_users(self, credentials: Sequence[ScramCredential]) -> dict[str, Outcome]:
        self.calls.append(Call("upsert_scram_users", len(credentials)))
        return self.inner.upsert_scram_users(credentials)

    def delete_scram_users(self, principals: Sequence[str]) -> dict[str, Outcome]:
        self.calls.append(Call("delete_scram_users", len(principals)))
        return self.inner.delete_scram_users(principals)


@dataclass
class FakeChild:
    """A supervised child (topicdesk.supervisor.Child) without a process: tests make it die or fail to start."""

    name: str
    fail_starts: int = 0
    next_pid: int = 1000
    pid: int | None = None
    starts: int = 0
    stops: int = 0
    exit_code: int | None = None
    dead: bool = False
    # Shared between children to see the order they were stopped in.
    stop_journal: list[str] = field(default_factory=list)

    def start(self) -> int:
        self.starts += 1
        if self.fail_starts > 0:
            self.fail_starts -= 1
            raise OSError(f"cannot start {self.name}")
        self.next_pid += 1
        self.pid, self.dead, self.exit_code = self.next_pid, False, None
        return self.pid

    def die(self, code: int | None) -> None:
        self.dead, self.exit_code = True, code

    def exited(self) -> tuple[bool, int | None]:
        return self.dead, self.exit_code if self.dead else None

    def stop(self) -> None:
        self.stops += 1
        self.stop_journal.append(self.name)
        self.dead = True


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeWebhookReceiver:
    """The deliverer's HTTP POST, in memory: records every request and answers from a script
    (status codes, or exceptions such as requests.Timeout), then `default` once the script is used up."""

    script: list[int | Exception] = field(default_factory=list)
    default: int = 200
    received: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> HttpAnswer:
        self.received.append((url, body, dict(headers)))
        answer = self.script.pop(0) if self.script else self.default
        if isinstance(answer, Exception):
            raise answer
        return HttpAnswer(answer)


def resolve_to(*addresses: str) -> Callable[[str, int], list[str]]:
    """A resolver that answers these addresses for every host (no DNS in unit tests)."""
    return lambda _host, _port: list(addresses)


@dataclass
class FakeMigrationProbe:
    """The migration probe over a FakeClusterPort: records per partition live here (`records`, from
    `earliest`), groups are the port's FakeGroups. `unreachable` makes every read raise."""

    port: FakeClusterPort
    records: dict[tuple[str, int], list[SampledRecord]] = field(default_factory=dict)
    earliest: dict[tuple[str, int], int] = field(default_factory=dict)
    unreachable: str | None = None
    commits: list[tuple[str, dict[tuple[str, int], int]]] = field(default_factory=list)  # commit_offsets calls

    def _check(self) -> None:
        if self.unreachable is not None:
            raise ProbeUnavailable(self.unreachable)

    def write(self, topic: str, partition: int, *values: bytes) -> None:
        part = self.records.setdefault((topic, partition), [])
        for value in values:
            part.append(SampledRecord(None, value, (), 1_700_000_000_000 + len(part)))

    def partition_ends(self, topics: Collection[str]) -> dict[tuple[str, int], PartitionEnds]:
        self._check()
        out = {}
        for name in topics:
            topic = self.port.topics.get(name)
            for p in range(topic.partitions if topic else 0):
                start = self.earliest.get((name, p), 0)
                out[(name, p)] = PartitionEnds(start, start + len(self.records.get((name, p), [])))
        return out

    def groups(self, groups: Collection[str], topics: Collection[str]) -> dict[str, GroupObservation]:
        self._check()
        out = {}
        for name in groups:
            group = self.port.groups.get(name, FakeGroup())
            out[name] = GroupObservation(name, group.members, group.state,
                                         {k: v for k, v in group.committed.items() if k[0] in topics})
        return out

    def read_records(self, offsets: Mapping[tuple[str, int], Sequence[int]]
                     ) -> dict[tuple[str, int, int], SampledRecord]:
        self._check()
        out = {}
        for (topic, p), wanted in offsets.items():
            start, part = self.earliest.get((topic, p), 0), self.records.get((topic, p), [])
            for offset in wanted:
                if 0 <= offset - start < len(part):
                    out[(topic, p, offset)] = part[offset - start]
        return out

    def commit_offsets(self, group: str, offsets: Mapping[tuple[str, int], int]) -> None:
        self._check()
        self.commits.append((group, dict(offsets)))
        on_cluster = self.port.groups.setdefault(group, FakeGroup())
        if on_cluster.members:
            raise ProbeUnavailable(f"commit offsets of {group}: NON_EMPTY_GROUP")
        on_cluster.committed.update(offsets)

    def close(self) -> None:
        pass


@dataclass
class FakeMirrorEngine:
    """MirrorMaker on fakes: a running mirror copies every new source record to the target and the
    groups' commits (identity-translated: fresh targets) each time it is asked; `paused` stops the
    copying (lag builds up), `state` forces an answer (e.g. FAILED, UNREACHABLE). `translation_gap`
    makes the offset sync coarse like MirrorMaker's (a commit X arrives as X - gap); like MirrorMaker
    it never moves a target offset backwards."""

    probes: dict[str, FakeMigrationProbe]
    name: str = "fake"
    running: dict[str, MirrorSpec] = field(default_factory=dict)
    paused: bool = False
    state: MirrorState | None = None
    translation_gap: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)

    def _copy(self, spec: MirrorSpec) -> None:
        source, target = self.probes[spec.source.alias], self.probes[spec.target.alias]
        for (topic, p), records in source.records.items():
            if topic in spec.topics and (topic, p) in target.partition_ends([topic]):
                copied = target.records.setdefault((topic, p), [])
                copied.extend(records[len(copied):])
        for name in spec.groups:
            group = source.port.groups.get(name)
            if group is None:
                continue
            on_target = target.port.groups.setdefault(name, FakeGroup())
            if on_target.members == 0:  # MirrorMaker syncs offsets only of groups idle on the target
                for k, v in group.committed.items():
                    if k[0] in spec.topics:
                        on_target.committed[k] = max(on_target.committed.get(k, 0), v - self.translation_gap, 0)

    def ensure_running(self, spec: MirrorSpec) -> MirrorStatus:
        self.calls.append(("ensure_running", spec.mirror_id))
        if self.state is not None:
            return MirrorStatus(spec.mirror_id, self.state, self.name, "forced")
        self.running[spec.mirror_id] = spec
        if not self.paused:
            self._copy(spec)
        return MirrorStatus(spec.mirror_id, MirrorState.RUNNING, self.name)

    def status(self, mirror_id: str) -> MirrorStatus:
        if self.state is not None:
            return MirrorStatus(mirror_id, self.state, self.name, "forced")
        state = MirrorState.RUNNING if mirror_id in self.running else MirrorState.ABSENT
        return MirrorStatus(mirror_id, state, self.name)

    def stop(self, mirror_id: str) -> MirrorStatus:
        self.calls.append(("stop", mirror_id))
        if self.state is MirrorState.UNREACHABLE:
            return MirrorStatus(mirror_id, self.state, self.name, "forced")
        self.running.pop(mirror_id, None)
        return MirrorStatus(mirror_id, MirrorState.ABSENT, self.name)


FAKE_MIRRORMAKER = '''#!{python}
"""A stand-in for `java ... org.apache.kafka.connect.mirror.MirrorMaker <folder>/mm2.properties`:
logs what MirrorMaker logs at the moments the process engine reads, as its <folder>/fake-behaviour says."""
import pathlib, signal, sys, time

folder = pathlib.Path(sys.argv[-1]).parent
behaviour_file = folder / "fake-behaviour"
behaviour = behaviour_file.read_text().strip() if behaviour_file.exists() else "ready"
log = open(folder / "mm2.log", "a")

def line(level, message):
    log.write(f"[2026-12-01 12:00:00,000] {{level}} {{message}} (fake)\\n")
    log.flush()

line("INFO", "Kafka MirrorMaker initializing ...")
if behaviour == "exits":
    line("ERROR", "Stopping due to error: bad configuration")
    sys.exit(1)
if behaviour == "ignores-sigterm":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
time.sleep(0.2)
if behaviour == "early-error":
    line("ERROR", "Error querying for consumer group g on cluster target (transient)")
if behaviour != "never-ready":
    line("INFO", "WorkerSourceTask{{id=MirrorSourceConnector-0}} Source task finished initialization and start")
if behaviour == "task-fails":
    line("ERROR", "WorkerSourceTask{{id=MirrorSourceConnector-0}} Task threw an uncaught and unrecoverable "
                  "exception. Task is being killed and will not recover until manually restarted")
    line("ERROR", "org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized")
if behaviour == "early-error":
    for _ in range(12):
        line("INFO", "WorkerSourceTask{{id=MirrorSourceConnector-0}} Committing offsets")
while True:
    time.sleep(1)
'''


def write_fake_mirrormaker(folder: Path) -> Path:
    """An executable standing in for `java` in ProcessMirrorEngine (a real process, no JVM)."""
    path = folder / "fake-java"
    path.write_text(FAKE_MIRRORMAKER.format(python=sys.executable))
    path.chmod(0o755)
    return path

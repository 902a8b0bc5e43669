"""Apply a Plan through a ClusterPort: batched, retried, read back, with an Outcome per change.

* One port call per kind of change per batch (CreateTopics is split into chunks that stay under
  KRaft's 10,000-records-per-operation limit; so are ACL and partition batches).
* Idempotent: "already exists" counts as success for a create and "not found" for a delete; the
  read-back then decides whether what exists matches.
* Throttled and transient failures are retried with exponential back-off, for the failed resources
  only, a bounded number of times; permanent failures are recorded and the rest continue.
* Read-back: `port.describe` of the touched resources until every applied change shows, bounded.
* Refused changes are recorded with their reason and never sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from topicdesk.domain.acls import AclBinding, bindings_for
from topicdesk.domain.model import AccessGrant, ClientQuota, DesiredTopic, ServiceAccount
from topicdesk.domain.plan import (
    QUOTA_KEYS,
    Change,
    ChangeKind,
    ObservedState,
    ObservedTopic,
    Plan,
    quota_values,
    topic_key,
)
from topicdesk.domain.readback import mismatch
from topicdesk.services.cluster_port import (
    ClusterPort,
    ClusterUnavailable,
    Outcome,
    OutcomeReason,
    QuotaAlteration,
    ScramCredential,
)

# KRaft's QuorumController caps one user operation at 10,000 metadata records
# (MAX_RECORDS_PER_USER_OP; CreateTopics, CreatePartitions, CreateAcls/DeleteAcls and client quotas).
KRAFT_MAX_RECORDS_PER_OPERATION = 10_000

_T = TypeVar("_T")


@dataclass(frozen=True)
class ApplySettings:
    max_attempts: int = 5  # per change, for throttled/transient failures
    backoff_initial: float = 0.2  # seconds; doubles per attempt
    backoff_max: float = 5.0
    readback_timeout: float = 30.0  # seconds of read-back before a change counts as not confirmed
    readback_interval: float = 0.2  # seconds before the second read-back; grows 1.5x up to the max
    readback_interval_max: float = 2.0
    readback_max_attempts: int = 100  # bound even when the clock does not move
    # Conservative: 10% under KRaft's limit.
    max_records_per_call: int = KRAFT_MAX_RECORDS_PER_OPERATION * 9 // 10


def topic_records(topic: DesiredTopic) -> int:
    """Metadata records a CreateTopics of `topic` writes: TopicRecord + one per partition + one per config."""
    return 1 + topic.partitions + len(topic.config)


def chunk_by_weight(items: Sequence[_T], weight: Callable[[_T], int], budget: int) -> list[list[_T]]:
    """Consecutive chunks whose total weight stays within `budget` (an item heavier than the budget
    goes alone, and Kafka answers for it)."""
    chunks: list[list[_T]] = []
    current: list[_T] = []
    used = 0
    for item in items:
        w = weight(item)
        if current and used + w > budget:
            chunks.append(current)
            current, used = [], 0
        current.append(item)
        used += w
    if current:
        chunks.append(current)
    return chunks


def create_topic_chunks(
    topics: Sequence[DesiredTopic], settings: ApplySettings | None = None
) -> list[list[DesiredTopic]]:
    """The CreateTopics batches apply() sends for `topics` (in plan order)."""
    budget = (settings or ApplySettings()).max_records_per_call
    return chunk_by_weight(list(topics), topic_records, budget)


@dataclass(frozen=True)
class ChangeResult:
    change: Change
    outcome: Outcome
    attempts: int  # port calls that carried this change (0 for refused / never sent)


class ApplyStopped(Exception):
    """apply() was told to stop (the caller lost its lease, or is shutting down); nothing after
    the last finished call was sent."""


@dataclass
class ApplyReport:
    results: list[ChangeResult] = field(default_factory=list)
    readbacks: int = 0
    elapsed: float = 0.0
    # What the last successful read-back showed per topic it asked about (None: not on the cluster).
    observed_topics: dict[str, ObservedTopic | None] = field(default_factory=dict)
    _cache: tuple[int, dict[str, Outcome]] | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return all(r.outcome.ok for r in self.results)

    @property
    def failed(self) -> list[ChangeResult]:
        return [r for r in self.results if not r.outcome.ok]

    def outcomes(self) -> dict[str, Outcome]:
        """Per resource key, the worst outcome of its changes (permanent > transient > ok)."""
        return dict(self._table())

    def _table(self) -> dict[str, Outcome]:
        # Cached: the reconciler asks once per row, and a big apply has thousands of results.
        if self._cache is None or self._cache[0] != len(self.results):
            out: dict[str, Outcome] = {}
            for r in self.results:
                out[r.change.key] = _worst([out[r.change.key], r.outcome]) if r.change.key in out else r.outcome
            self._cache = (len(self.results), out)
        return self._cache[1]

    def outcome_for(self, keys: Iterable[str]) -> Outcome:
        """Combined outcome of several resource keys; keys without a change count as success."""
        table = self._table()
        return _worst([table[k] for k in keys if k in table])

    def topic_outcome(self, name: str) -> Outcome:
        return self.outcome_for([topic_key(name)])

    def grant_outcome(self, grant: AccessGrant) -> Outcome:
        return self.outcome_for(b.key for b in bindings_for(grant))


def _worst(outcomes: Sequence[Outcome]) -> Outcome:
    for o in outcomes:
        if o.permanent:
            return o
    for o in outcomes:
        if not o.ok:
            return o
    return outcomes[0] if len(outcomes) == 1 else Outcome.success()


# Order matters only where one change needs another, and for how soon read-back sees it: a broker
# makes metadata records visible only after it has created the logs of every topic ahead of them in
# the metadata log, so thousands of new partitions delay whatever is queued behind them by seconds
# (P1: quotas behind 3,000 partitions took 20 s to show). So credentials, ACL bindings (Kafka takes
# bindings for topics that do not exist yet) and quotas go first, then topics before their config or
# partitions, topic deletion last.
_ORDER: tuple[tuple[ChangeKind, ...], ...] = (
    (ChangeKind.UPSERT_SCRAM_USER,),
    (ChangeKind.CREATE_ACL,),
    (ChangeKind.SET_QUOTA, ChangeKind.REMOVE_QUOTA),  # one AlterClientQuotas call for both
    (ChangeKind.CREATE_TOPIC,),
    (ChangeKind.ADD_PARTITIONS,),
    (ChangeKind.ALTER_TOPIC_CONFIG,),
    (ChangeKind.DELETE_ACL,),
    (ChangeKind.DELETE_SCRAM_USER,),
    (ChangeKind.DELETE_TOPIC,),
)


def apply(
    plan: Plan,
    port: ClusterPort,
    *,
    settings: ApplySettings | None = None,
    passwords: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    should_stop: Callable[[], bool] = lambda: False,
) -> ApplyReport:
    """Apply `plan` and read it back. `passwords` (principal -> password) feeds upsert_scram_user
    changes; the password is never part of the plan. `should_stop` is asked before every call that
    writes to the cluster; when it says so, ApplyStopped is raised."""
    cfg = settings or ApplySettings()
    started = clock()
    report = ApplyReport()
    applied: list[ChangeResult] = []

    for change in plan.refused:
        report.results.append(
            ChangeResult(
                change,
                Outcome.failure(
                    OutcomeReason.REFUSED, f"{change.reason}: {change.message}", transient=False
                ),
                0,
            )
        )

    for kinds in _ORDER:
        changes = list(plan.of_kind(*kinds))
        if not changes:
            continue
        for result in _run_kind(changes, port, cfg, passwords or {}, sleep, should_stop):
            (applied if result.outcome.ok else report.results).append(result)

    report.results += _read_back(applied, port, cfg, sleep, clock, report)
    report.elapsed = clock() - started
    return report


def _run_kind(
    changes: list[Change],
    port: ClusterPort,
    cfg: ApplySettings,
    passwords: Mapping[str, str],
    sleep: Callable[[float], None],
    should_stop: Callable[[], bool] = lambda: False,
) -> list[ChangeResult]:
    results: list[ChangeResult] = []
    pending = changes
    if changes[0].kind is ChangeKind.UPSERT_SCRAM_USER:
        pending = []
        for c in changes:
            if _principal(c) in passwords:
                pending.append(c)
            else:
                results.append(
                    ChangeResult(
                        c,
                        Outcome.failure(
                            OutcomeReason.CREDENTIAL_UNAVAILABLE,
                            f"{_principal(c)} has no SCRAM credential on the cluster and its password "
                            "exists only when it is created or rotated; rotate the service account",
                            transient=False,
                        ),
                        0,
                    )
                )
    attempt = 0
    while pending:
        attempt += 1
        if should_stop():
            raise ApplyStopped(f"stopped before sending {len(pending)} {changes[0].kind} changes")
        got = _send(pending, port, cfg, passwords)
        retry: list[Change] = []
        throttled = False
        for change in pending:
            outcome = _normalise(change, got.get(change.key))
            if not outcome.ok and outcome.transient and attempt < cfg.max_attempts:
                retry.append(change)
                throttled |= outcome.reason is OutcomeReason.THROTTLED
            else:
                results.append(ChangeResult(change, outcome, attempt))
        if retry:
            delay = min(cfg.backoff_max, cfg.backoff_initial * 2 ** (attempt - 1))
            # KIP-599 throttling wants a longer pause than a lost connection.
            sleep(min(cfg.backoff_max, delay * 2) if throttled else delay)
        pending = retry
    return results


def _normalise(change: Change, outcome: Outcome | None) -> Outcome:
    if outcome is None:
        return Outcome.failure(OutcomeReason.UNKNOWN, "the cluster returned no result", transient=True)
    if outcome.ok:
        return outcome
    if change.kind is ChangeKind.CREATE_TOPIC and outcome.reason is OutcomeReason.ALREADY_EXISTS:
        return Outcome.success("already existed; read-back checks that it matches")
    if (
        change.kind in (ChangeKind.DELETE_TOPIC, ChangeKind.DELETE_SCRAM_USER)
        and outcome.reason is OutcomeReason.NOT_FOUND
    ):
        return Outcome.success("already gone")
    return outcome


def _send(
    changes: list[Change], port: ClusterPort, cfg: ApplySettings, passwords: Mapping[str, str]
) -> dict[str, Outcome]:
    """One port call per chunk of one kind; results re-keyed by change key."""
    kind = changes[0].kind
    out: dict[str, Outcome] = {}
    budget = cfg.max_records_per_call
    if kind is ChangeKind.CREATE_TOPIC:
        topics = [_expect(c.after, DesiredTopic) for c in changes]
        for chunk in chunk_by_weight(topics, topic_records, budget):
            out.update({topic_key(n): o for n, o in port.create_topics(chunk).items()})
    elif kind is ChangeKind.ADD_PARTITIONS:
        # (name, partitions added = records written, new total)
        adds = [(_topic(c), _expect(c.after, int) - _expect(c.before, int), _expect(c.after, int)) for c in changes]
        for part in chunk_by_weight(adds, lambda a: a[1], budget):
            totals = {name: total for name, _, total in part}
            out.update({topic_key(n): o for n, o in port.create_partitions(totals).items()})
    elif kind is ChangeKind.ALTER_TOPIC_CONFIG:
        configs = {_topic(c): _config(c.after) for c in changes}
        out.update({topic_key(n): o for n, o in port.alter_configs(configs).items()})
    elif kind is ChangeKind.DELETE_TOPIC:
        out.update({topic_key(n): o for n, o in port.delete_topics([_topic(c) for c in changes]).items()})
    elif kind in (ChangeKind.CREATE_ACL, ChangeKind.DELETE_ACL):
        bindings = [_expect(c.after if kind is ChangeKind.CREATE_ACL else c.before, AclBinding) for c in changes]
        call = port.create_acls if kind is ChangeKind.CREATE_ACL else port.delete_acls
        for acl_chunk in chunk_by_weight(bindings, lambda _: 1, budget):
            out.update({b.key: o for b, o in call(acl_chunk).items()})
    elif kind in (ChangeKind.SET_QUOTA, ChangeKind.REMOVE_QUOTA):
        alterations = [_quota_alteration(c) for c in changes]
        for q_chunk in chunk_by_weight(alterations, _quota_records, budget):
            out.update({f"quota:{p}": o for p, o in port.alter_quotas(q_chunk).items()})
    elif kind is ChangeKind.UPSERT_SCRAM_USER:
        creds = [
            ScramCredential(
                _principal(c), passwords[_principal(c)], _expect(c.after, ServiceAccount).iterations
            )
            for c in changes
        ]
        out.update({f"service_account:{p}": o for p, o in port.upsert_scram_users(creds).items()})
    elif kind is ChangeKind.DELETE_SCRAM_USER:
        principals = [_principal(c) for c in changes]
        out.update({f"service_account:{p}": o for p, o in port.delete_scram_users(principals).items()})
    else:  # pragma: no cover - REFUSED never reaches here
        raise ValueError(f"cannot send {kind}")
    return out


def _quota_records(alteration: QuotaAlteration) -> int:
    return max(1, len(alteration.set_values) + len(alteration.remove))  # a record per quota key


def _quota_alteration(change: Change) -> QuotaAlteration:
    before = change.before if isinstance(change.before, ClientQuota) else None
    have = quota_values(before)
    if change.kind is ChangeKind.REMOVE_QUOTA:
        return QuotaAlteration(principal=change.key.removeprefix("quota:"), remove=frozenset(have))
    quota = _expect(change.after, ClientQuota)
    want = quota_values(quota)
    return QuotaAlteration(
        principal=quota.principal,
        set_values=want,
        remove=frozenset(k for k in QUOTA_KEYS if k in have and k not in want),
    )


def _read_back(
    applied: list[ChangeResult],
    port: ClusterPort,
    cfg: ApplySettings,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    report: ApplyReport,
) -> list[ChangeResult]:
    if not applied:
        return []
    deadline = clock() + cfg.readback_timeout
    pending = applied
    confirmed: list[ChangeResult] = []
    last: dict[str, str] = {}
    interval = cfg.readback_interval
    for attempt in range(cfg.readback_max_attempts):
        if attempt:
            sleep(interval)
            interval = min(cfg.readback_interval_max, interval * 1.5)
        names = sorted({n for r in pending if (n := r.change.topic_name) is not None})
        try:
            observed: ObservedState | None = port.describe(names)
        except ClusterUnavailable as exc:
            observed = None
            last = {r.change.key: f"read-back failed: {exc.outcome.message}" for r in pending}
        report.readbacks += 1
        if observed is not None:
            report.observed_topics.update({n: observed.topics.get(n) for n in names})
            still: list[ChangeResult] = []
            for r in pending:
                problem = mismatch(r.change, observed)
                if problem is None:
                    confirmed.append(r)
                else:
                    last[r.change.key] = problem
                    still.append(r)
            pending = still
        if not pending or clock() >= deadline:
            break
    unconfirmed = [
        ChangeResult(
            r.change,
            Outcome.failure(
                OutcomeReason.NOT_CONFIRMED,
                f"applied but not confirmed by read-back: {last.get(r.change.key, 'no read-back')}",
                transient=True,
            ),
            r.attempts,
        )
        for r in pending
    ]
    return confirmed + unconfirmed


def _topic(change: Change) -> str:
    name = change.topic_name
    if name is None:
        raise ValueError(f"{change.kind} change without a topic key: {change.key}")
    return name


def _principal(change: Change) -> str:
    return change.key.partition(":")[2]


def _config(value: object) -> dict[str, str | None]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected config values, got {type(value).__name__}")
    return dict(value)


def _expect(value: object, kind: type[_T]) -> _T:
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value

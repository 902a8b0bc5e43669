"""One reconcile pass over one cluster: level-triggered, like a Kubernetes controller.

Per cluster, under a lease: read the dirty rows (generation ahead of observed_generation), describe
what the cluster has in a few bulk calls, plan (pure), apply in batches, read back, then record a
per-resource outcome and move the requests that waited on those generations. A crash anywhere
loses nothing: unobserved generations are simply reconciled again and apply is idempotent.
Moving the requests is services/settlement.py; the loop over clusters is services/reconcile_loop.py.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from topicdesk.adapters.audit_log import NewEvent, record_events
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import (
    AccessGrantRow,
    ClientQuotaRow,
    ClusterRow,
    RequestResourceRow,
    RequestRow,
    ServiceAccountRow,
    TopicRow,
    utcnow,
)
from topicdesk.domain.plan import Deletions, DesiredState, plan, quota_key, service_account_key
from topicdesk.services.cluster_port import ClusterPort, ClusterUnavailable, Outcome
from topicdesk.services.deletion import deletion_confirmed, start_final_deletions
from topicdesk.services.desired import (
    grant_value,
    load_rows,
    quota_value,
    resource_subject,
    resource_team,
    topic_value,
)
from topicdesk.services.drift import resolve_applied
from topicdesk.services.executor import ApplySettings, ApplyStopped, ChangeResult, apply
from topicdesk.services.expiry import expire_due_grants
from topicdesk.services.leases import LeaseKeeper, still_holds
from topicdesk.services.observations import store_observations
from topicdesk.services.outcomes import (
    ResourcePass,
    resource_pass,
)
from topicdesk.services.settlement import settle_requests

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ReconcilerSettings:
    # Short, because a heartbeat renews it every `heartbeat_seconds` (None: a third of the lease):
    # a dead reconciler's clusters are taken over ~lease_seconds after its last renewal.
    lease_seconds: float = 15.0
    heartbeat_seconds: float | None = None
    backoff_initial: float = 2.0
    backoff_max: float = 300.0
    # Bounds one pass, so a huge backlog is worked through in steps that each record progress.
    max_resources_per_pass: int = 5000
    apply: ApplySettings = field(default_factory=ApplySettings)


@dataclass
class PassReport:
    cluster: str
    claimed: bool
    resources: int = 0
    applied: int = 0
    failed: int = 0
    retrying: int = 0
    expired: int = 0  # grants whose expiry came, tombstoned at the start of the pass
    error: str | None = None
    # For the metrics: (resource kind, applied | retrying | failed) and (change kind, result) -> count.
    by_kind: Counter[tuple[str, str]] = field(default_factory=Counter)
    changes: Counter[tuple[str, str]] = field(default_factory=Counter)


# --- reading desired state --------------------------------------------------------------------------

def _dirty(table: Any, cluster: str, now: datetime) -> Any:
    return select(table).where(
        table.cluster == cluster,
        col(table.generation) > col(table.observed_generation),
        col(table.generation) != col(table.failed_generation),
        or_(col(table.not_before).is_(None), col(table.not_before) <= now),
    )


@dataclass
class _Work:
    topics: list[TopicRow]
    grants: list[AccessGrantRow]
    quotas: list[ClientQuotaRow]
    accounts: list[ServiceAccountRow]
    # Live grants sharing a topic with a revoked one: their ACLs must survive the revocation.
    neighbour_grants: list[AccessGrantRow]

    def rows(self) -> list[tuple[str, Any]]:
        return ([("topic", r) for r in self.topics] + [("access_grant", r) for r in self.grants]
                + [("client_quota", r) for r in self.quotas] + [("service_account", r) for r in self.accounts])

    def desired(self) -> DesiredState:
        live_grants = {grant_value(r) for r in self.grants if not r.deleted}
        live_grants |= {grant_value(r) for r in self.neighbour_grants}
        return DesiredState(
            topics=[topic_value(r) for r in self.topics if not r.deleted],
            grants=sorted(live_grants, key=lambda g: (g.topic, g.principal, g.access.value, g.group or "")),
            quotas=[quota_value(r) for r in self.quotas if not r.deleted],
            # Passwords are never stored: a missing SCRAM user is re-created only by rotation.
            service_accounts=[],
            deletions=Deletions(
                topics=frozenset(r.name for r in self.topics if r.deleted),
                grants=frozenset(grant_value(r) for r in self.grants if r.deleted),
                quotas=frozenset(r.principal for r in self.quotas if r.deleted),
                service_accounts=frozenset(r.principal for r in self.accounts if r.deleted),
            ),
            managed_config_keys={r.name: frozenset(r.managed_config_keys) | frozenset(r.config)
                                 for r in self.topics},
        )

    def topic_names(self) -> set[str]:
        names = {r.name for r in self.topics}
        names |= {r.topic for r in self.grants if r.pattern == "literal"}
        return names


def load_work(session: Session, cluster: str, limit: int) -> _Work:
    now = utcnow()
    topics = list(session.exec(_dirty(TopicRow, cluster, now).limit(limit)).all())
    grants = list(session.exec(_dirty(AccessGrantRow, cluster, now).limit(limit)).all())
    quotas = list(session.exec(_dirty(ClientQuotaRow, cluster, now).limit(limit)).all())
    accounts = list(session.exec(_dirty(ServiceAccountRow, cluster, now).limit(limit)).all())
    revoked_topics = {r.topic for r in grants if r.deleted}
    dirty_ids = {r.id for r in grants}
    neighbours: list[AccessGrantRow] = []
    if revoked_topics:
        neighbours = [r for r in session.exec(select(AccessGrantRow).where(
            AccessGrantRow.cluster == cluster, col(AccessGrantRow.topic).in_(revoked_topics),
            col(AccessGrantRow.deleted).is_(False))).all() if r.id not in dirty_ids]
    return _Work(topics, grants, quotas, accounts, neighbours)


# --- one pass ---------------------------------------------------------------------------------------

def reconcile_cluster(
    engine: Engine, cluster: ClusterRow, port: ClusterPort, *, holder: str, token: int,
    settings: ReconcilerSettings | None = None, sleep: Callable[[float], None] | None = None,
    keeper: LeaseKeeper | None = None, stop: Callable[[], bool] = lambda: False,
) -> PassReport:
    """One pass over a cluster's dirty rows. With a `keeper`, applying stops as soon as the lease
    is no longer certainly held (or `stop` says so); results are recorded only under the lease."""
    cfg = settings or ReconcilerSettings()
    report = PassReport(cluster.name, claimed=True)
    # Grants past their expiry become tombstones first, so this very pass removes their bindings.
    report.expired = expire_due_grants(engine, cluster.name, actor=f"reconciler:{holder}",
                                       limit=cfg.max_resources_per_pass)

    def should_stop() -> bool:
        return stop() or (keeper is not None and not keeper.holds(cluster.name, token))

    with unit_of_work(engine) as session:
        # Quarantines past their grace period become tombstones first, so this pass deletes them.
        record_events(session, start_final_deletions(session, cluster.name, utcnow()))
        work = load_work(session, cluster.name, cfg.max_resources_per_pass)
        rows = work.rows()
        if not rows:
            return report
        planned = {(kind, row.id): row.generation for kind, row in rows}
        _mark_applying(session, [(kind, row.id) for kind, row in rows], holder)
    report.resources = len(rows)
    desired = work.desired()
    described_at = utcnow()
    try:
        observed = port.describe(sorted(work.topic_names()))
        the_plan = plan(desired, observed)
        kwargs: dict[str, Any] = {"settings": cfg.apply, "should_stop": should_stop}
        if sleep is not None:
            kwargs["sleep"] = sleep
        applied = apply(the_plan, port, **kwargs)
    except ClusterUnavailable as exc:
        report.error = exc.outcome.message
        _record_unavailable(engine, rows, planned, exc.outcome, cfg, holder=holder, cluster=cluster.name,
                            token=token)
        report.retrying = len(rows)
        report.by_kind.update((kind, "retrying") for kind, _ in rows)
        return report
    except ApplyStopped as exc:
        # Whatever was sent is idempotent: the next holder plans again from what the cluster has.
        report.error = f"lease lost or stopping; results discarded ({exc})"
        return report
    changes_by_key: dict[str, list[dict[str, object]]] = {}
    for change in the_plan.changes:
        changes_by_key.setdefault(change.key, []).append(change.as_dict())
    results_by_key: dict[str, list[ChangeResult]] = {}
    for result in applied.results:
        results_by_key.setdefault(result.change.key, []).append(result)
        report.changes[(str(result.change.kind), _result_label(result.outcome))] += 1

    with unit_of_work(engine) as session:
        if not still_holds(session, cluster.name, holder, token):
            # Another reconciler took over (our lease expired mid-pass): it will redo this work.
            report.error = "lease lost; results discarded"
            return report
        now = utcnow()
        current = load_rows(session, [(kind, row.id) for kind, row in rows])
        touched: list[tuple[str, str]] = []
        passes: dict[tuple[str, str], ResourcePass] = {}
        matched: list[tuple[str, str]] = []
        events: list[NewEvent] = []
        for kind, stale in rows:
            row = current.get((kind, stale.id))
            if row is None:
                continue
            keys = _keys_of(kind, stale)
            key_results = [r for key in keys for r in results_by_key.get(key, [])]
            outcome = _combined([r.outcome for r in key_results])
            generation = planned[(kind, stale.id)]
            if outcome.ok:
                if row.generation == generation:
                    row.last_error = row.last_error_reason = row.not_before = None
                    row.attempts = 0
                # Observed up to what was planned, even if a newer generation arrived meanwhile.
                row.observed_generation = max(row.observed_generation, generation)
                row.applied_at = now
                matched.append((kind, row.id))
                report.applied += 1
                report.by_kind[(kind, "applied")] += 1
                if kind == "topic" and row.generation == generation and (
                        gone := deletion_confirmed(row, now, f"reconciler:{holder}")) is not None:
                    events.append(gone)
            elif outcome.permanent:
                row.failed_generation = generation
                row.last_error, row.last_error_reason = outcome.message[:2000], _reason(outcome)
                report.failed += 1
                report.by_kind[(kind, "failed")] += 1
            else:
                row.attempts += 1
                row.not_before = now + timedelta(seconds=_backoff(cfg, row.attempts))
                row.last_error, row.last_error_reason = outcome.message[:2000], _reason(outcome)
                report.retrying += 1
                report.by_kind[(kind, "retrying")] += 1
            touched.append((kind, row.id))
            passes[(kind, row.id)] = resource_pass(resource_subject(kind, stale), generation, key_results, outcome,
                                                   row.not_before)
            key_changes = [c for key in keys for c in changes_by_key.get(key, [])]
            if key_changes or not outcome.ok:
                events.append(NewEvent(actor=f"reconciler:{holder}", action=f"{kind}:apply",
                                       subject=resource_subject(kind, stale), team=resource_team(kind, stale),
                                       data={"generation": generation, "changes": key_changes,
                                             "outcome": outcome.as_dict()}))
        session.flush()
        events += settle_requests(session, touched, passes, actor=f"reconciler:{holder}")
        events += resolve_applied(session, cluster.name, matched, actor=f"reconciler:{holder}")
        seen = {name: observed.topics.get(name) for name in work.topic_names()}
        store_observations(session, cluster.name, {n: t for n, t in seen.items() if n not in applied.observed_topics},
                           described_at)
        store_observations(session, cluster.name, applied.observed_topics, now)
        # One append for the whole pass, last: the audit head is locked only for it and the commit.
        record_events(session, events)
    return report


def _backoff(cfg: ReconcilerSettings, attempts: int) -> float:
    return float(min(cfg.backoff_max, cfg.backoff_initial * 2 ** min(attempts - 1, 20)))


def _combined(outcomes: list[Outcome]) -> Outcome:
    """A resource's outcome from its changes': transient first (the resource is tried again, so
    what can still be applied is, even next to a refused change), then permanent, else success."""
    for outcome in outcomes:
        if not outcome.ok and outcome.transient:
            return outcome
    for outcome in outcomes:
        if outcome.permanent:
            return outcome
    return outcomes[0] if len(outcomes) == 1 else Outcome.success()


def _result_label(outcome: Outcome) -> str:
    return "applied" if outcome.ok else "transient" if outcome.transient else "permanent"


def _reason(outcome: Outcome) -> str:
    return str(outcome.reason) if outcome.reason is not None else "unknown"


def _keys_of(kind: str, row: Any) -> list[str]:
    from topicdesk.domain.acls import bindings_for
    from topicdesk.domain.plan import topic_key

    if kind == "topic":
        return [topic_key(row.name)]
    if kind == "access_grant":
        return [b.key for b in bindings_for(grant_value(row))]
    if kind == "client_quota":
        return [quota_key(row.principal)]
    return [service_account_key(row.principal)]


def _record_unavailable(engine: Engine, rows: list[tuple[str, Any]], planned: dict[tuple[str, str], int],
                        outcome: Outcome, cfg: ReconcilerSettings, *, holder: str, cluster: str,
                        token: int) -> None:
    with unit_of_work(engine) as session:
        if not still_holds(session, cluster, holder, token):
            return  # the new holder records its own attempts
        now = utcnow()
        current = load_rows(session, [(kind, row.id) for kind, row in rows])
        touched: list[tuple[str, str]] = []
        passes: dict[tuple[str, str], ResourcePass] = {}
        for kind, stale in rows:
            row = current.get((kind, stale.id))
            if row is None or row.generation != planned[(kind, stale.id)]:
                continue
            row.attempts += 1
            row.not_before = now + timedelta(seconds=_backoff(cfg, row.attempts))
            row.last_error, row.last_error_reason = outcome.message[:2000], _reason(outcome)
            touched.append((kind, row.id))
            passes[(kind, row.id)] = resource_pass(resource_subject(kind, stale), row.generation, [], outcome,
                                                   row.not_before)
        session.flush()
        record_events(session, settle_requests(session, touched, passes, actor=f"reconciler:{holder}"))


def _mark_applying(session: Session, resources: Iterable[tuple[str, str]], holder: str) -> None:
    """approved -> applying for the requests waiting on these resources, each with its audit event."""
    ids = [rid for _, rid in resources]
    if not ids:
        return
    request_ids = select(RequestResourceRow.request_id).where(col(RequestResourceRow.resource_id).in_(ids))
    started = session.exec(select(RequestRow.id, RequestRow.requester_team).where(
        col(RequestRow.id).in_(request_ids), col(RequestRow.status) == "approved")).all()
    if not started:
        return
    session.execute(update(RequestRow).where(col(RequestRow.id).in_([rid for rid, _ in started]),
                                             col(RequestRow.status) == "approved")
                    .values(status="applying", updated_at=utcnow()))
    record_events(session, [NewEvent(actor=f"reconciler:{holder}", action="request:applying",
                                     subject=f"request:{rid}", team=team, data={"status": "applying"})
                            for rid, team in started])

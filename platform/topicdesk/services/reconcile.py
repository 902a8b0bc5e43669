"""The reconciler: level-triggered, like a Kubernetes controller.

Per cluster, under a lease: read the dirty rows (generation ahead of observed_generation), describe
what the cluster has in a few bulk calls, plan (pure), apply in batches, read back, then record a
per-resource outcome and move the requests that waited on those generations. A crash anywhere
loses nothing: unobserved generations are simply reconciled again and apply is idempotent.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from topicdesk.adapters.audit_log import NewEvent, record_events
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import (
    RESOURCE_TABLES,
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
from topicdesk.services.cluster_port import ClusterPort, ClusterUnavailable, Outcome, close_port
from topicdesk.services.deletion import deletion_confirmed, start_final_deletions
from topicdesk.services.desired import grant_value, quota_value, resource_subject, resource_team, topic_value
from topicdesk.services.drift import resolve_applied, scan_cluster
from topicdesk.services.executor import ApplySettings, ApplyStopped, ChangeResult, apply
from topicdesk.services.expiry import expire_due_grants, seconds_until_next_pass
from topicdesk.services.leases import LeaseKeeper, claim_lease, ensure_leases, still_holds
from topicdesk.services.observations import store_observations
from topicdesk.services.outcomes import (
    ResourcePass,
    failure_message,
    is_partial,
    merge_outcomes,
    note_progress,
    pending_entry,
    resource_pass,
)
from topicdesk.services.stale import observe_usage

log = logging.getLogger(__name__)

# Called with the cluster row and optional adapter options (request_timeout).
PortFactory = Callable[..., ClusterPort]


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


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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

    with unit_of_work(engine) as session:
        if not still_holds(session, cluster.name, holder, token):
            # Another reconciler took over (our lease expired mid-pass): it will redo this work.
            report.error = "lease lost; results discarded"
            return report
        now = utcnow()
        current = _load_rows(session, [(kind, row.id) for kind, row in rows])
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
                if kind == "topic" and row.generation == generation and (
                        gone := deletion_confirmed(row, now, f"reconciler:{holder}")) is not None:
                    events.append(gone)
            elif outcome.permanent:
                row.failed_generation = generation
                row.last_error, row.last_error_reason = outcome.message[:2000], _reason(outcome)
                report.failed += 1
            else:
                row.attempts += 1
                row.not_before = now + timedelta(seconds=_backoff(cfg, row.attempts))
                row.last_error, row.last_error_reason = outcome.message[:2000], _reason(outcome)
                report.retrying += 1
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


def _load_rows(session: Session, keys: Iterable[tuple[str, str]], chunk: int = 900) -> dict[tuple[str, str], Any]:
    """Fresh copies of (kind, id) rows, one IN query per table and chunk instead of a get per row."""
    ids_by_kind: dict[str, list[str]] = {}
    for kind, row_id in keys:
        ids_by_kind.setdefault(kind, []).append(row_id)
    found: dict[tuple[str, str], Any] = {}
    for kind, ids in ids_by_kind.items():
        table = RESOURCE_TABLES[kind]
        for start in range(0, len(ids), chunk):
            for row in session.exec(select(table).where(col(table.id).in_(ids[start:start + chunk]))).all():
                found[(kind, row.id)] = row
    return found


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
        current = _load_rows(session, [(kind, row.id) for kind, row in rows])
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


def settle_requests(session: Session, resources: Iterable[tuple[str, str]],
                    passes: Mapping[tuple[str, str], ResourcePass] | None = None, *, actor: str = "reconciler",
                    chunk: int = 900) -> list[NewEvent]:
    """Requests whose every resource generation is observed become `applied`; any parked as a
    permanent failure makes the request `failed` with Kafka's reason and which parts were applied.
    Every open request touched gets this pass's per-change outcomes and retry progress (see
    services/outcomes.py). Returns the audit events."""
    ids = [rid for _, rid in resources]
    request_ids: set[str] = set()
    for start in range(0, len(ids), chunk):
        request_ids.update(session.exec(select(RequestResourceRow.request_id).where(
            col(RequestResourceRow.resource_id).in_(ids[start:start + chunk]))).all())
    if not request_ids:
        return []
    wanted = sorted(request_ids)
    open_requests: list[RequestRow] = []
    links: dict[str, list[RequestResourceRow]] = {}
    for start in range(0, len(wanted), chunk):
        part = wanted[start:start + chunk]
        open_requests += session.exec(select(RequestRow).where(
            col(RequestRow.id).in_(part), col(RequestRow.status).in_(["approved", "applying"]))
            .with_for_update()).all()
        for link in session.exec(select(RequestResourceRow).where(col(RequestResourceRow.request_id).in_(part))).all():
            links.setdefault(link.request_id, []).append(link)
    resources_needed = [(link.resource_kind, link.resource_id) for request in open_requests
                        for link in links.get(request.id, [])]
    rows = _load_rows(session, resources_needed)
    events: list[NewEvent] = []
    now = utcnow()
    by_resource = passes or {}
    for request in open_requests:
        done, failure = True, None
        mine = [p for link in links.get(request.id, [])
                if (p := by_resource.get((link.resource_kind, link.resource_id))) is not None]
        retry_event = note_progress(request, mine, actor) if mine else None
        for link in links.get(request.id, []):
            row = rows.get((link.resource_kind, link.resource_id))
            if row is None or row.observed_generation >= link.generation:
                continue
            done = False
            if row.failed_generation >= link.generation:
                failure = {"reason": row.last_error_reason or "failed", "message": row.last_error or ""}
        if failure is not None:
            reached = {str(e["resource"]) for e in request.outcomes or []}
            request.outcomes = merge_outcomes(request.outcomes, [
                pending_entry(resource_subject(link.resource_kind, row), link.generation)
                for link in links.get(request.id, [])
                if (row := rows.get((link.resource_kind, link.resource_id))) is not None
                and resource_subject(link.resource_kind, row) not in reached])
            failure["message"] = failure_message(failure["message"], request.outcomes)[:4000]
            request.status, request.error, request.updated_at = "failed", failure, now
            request.last_error = request.next_attempt_at = None
            events.append(NewEvent(actor="reconciler", action="request:failed", subject=f"request:{request.id}",
                                   team=request.requester_team,
                                   data={"error": failure, "partial": is_partial("failed", request.outcomes)}))
        elif done:
            request.status, request.applied_at, request.updated_at = "applied", now, now
            request.last_error = request.next_attempt_at = None
            events.append(NewEvent(actor="reconciler", action="request:applied", subject=f"request:{request.id}",
                                   team=request.requester_team, data={"status": "applied"}))
        elif retry_event is not None:
            request.updated_at = now
            events.append(retry_event)
    return events


# --- the loop ---------------------------------------------------------------------------------------

def run_once(
    engine: Engine, port_factory: PortFactory, *, holder: str | None = None,
    settings: ReconcilerSettings | None = None, clusters: Iterable[str] | None = None,
    keeper: LeaseKeeper | None = None, stop: Callable[[], bool] = lambda: False,
) -> list[PassReport]:
    """One pass over every cluster this process can claim. Without a `keeper` (run_forever passes
    its own) one heartbeats the leases for this call and releases them at the end."""
    cfg = settings or ReconcilerSettings()
    me = holder or default_holder()
    own_keeper = keeper is None
    leases = keeper or LeaseKeeper(engine, me, cfg.lease_seconds, every=cfg.heartbeat_seconds).start()
    try:
        return _pass_over_clusters(engine, port_factory, me, cfg, clusters, leases, stop)
    finally:
        if own_keeper:
            leases.stop(release=True)


def _pass_over_clusters(engine: Engine, port_factory: PortFactory, me: str, cfg: ReconcilerSettings,
                        clusters: Iterable[str] | None, keeper: LeaseKeeper,
                        stop: Callable[[], bool]) -> list[PassReport]:
    names = ensure_leases(engine)
    if clusters is not None:
        wanted = set(clusters)
        names = [n for n in names if n in wanted]
    reports = []
    for name in names:
        if stop():
            break
        token = claim_lease(engine, name, me, cfg.lease_seconds)
        if token is None:
            keeper.drop(name)
            reports.append(PassReport(name, claimed=False))
            continue
        keeper.hold(name, token)
        with unit_of_work(engine) as session:
            cluster = session.get(ClusterRow, name)
        if cluster is None:
            continue
        port: ClusterPort | None = None
        try:
            port = port_factory(cluster)
            reports.append(reconcile_cluster(engine, cluster, port, holder=me, token=token, settings=cfg,
                                             keeper=keeper, stop=stop))
        except Exception as exc:  # one broken cluster must not stop the others
            log.exception("reconciling cluster %s failed", name)
            reports.append(PassReport(name, claimed=True, error=f"{type(exc).__name__}: {exc}"))
        finally:
            close_port(port)
    return reports


def pending_work(engine: Engine) -> bool:
    with unit_of_work(engine) as session:
        now = utcnow()
        for table in RESOURCE_TABLES.values():
            query = select(table.id).where(
                col(table.generation) > col(table.observed_generation),
                col(table.generation) != col(table.failed_generation),
                or_(col(table.not_before).is_(None), col(table.not_before) <= now)).limit(1)
            if session.exec(query).first() is not None:
                return True
    return False

def run_forever(
    engine: Engine, port_factory: PortFactory, *, interval: float = 2.0, clusters: Iterable[str] | None = None,
    settings: ReconcilerSettings | None = None, stop: Callable[[], bool] = lambda: False,
    drift_interval: float = 300.0, sleep: Callable[[float], object] | None = None,
) -> None:
    """Pass after pass; a pass that found work is followed at once by the next one. Every
    `drift_interval` seconds the clusters this process holds are also scanned for drift, and their
    topics' usage evidence is gathered for the stale report (services/stale.py). The
    wait between passes ends early when a grant's expiry comes (services/expiry.py)."""
    import time

    cfg = settings or ReconcilerSettings()
    me = default_holder()
    wanted = list(clusters) if clusters is not None else None
    last_scan: dict[str, float] = {}
    # Leases are renewed by heartbeat between and during passes; handed back when the loop ends
    # (SIGTERM/SIGINT in the CLI), so another reconciler takes over without waiting for expiry.
    keeper = LeaseKeeper(engine, me, cfg.lease_seconds, every=cfg.heartbeat_seconds).start()
    try:
        while not stop():
            reports = run_once(engine, port_factory, holder=me, settings=cfg, clusters=wanted, keeper=keeper,
                               stop=stop)
            for report in reports:
                if report.resources or report.error:
                    log.info("reconcile %s: %s", report.cluster, report)
            now = time.monotonic()
            for report in reports:
                if report.claimed and now - last_scan.get(report.cluster, -drift_interval) >= drift_interval:
                    last_scan[report.cluster] = now
                    scan_drift(engine, port_factory, report.cluster)
                    observe_usage(engine, port_factory, report.cluster)
            if not any(r.resources for r in reports) or not pending_work(engine):
                pause = seconds_until_next_pass(engine, interval, wanted)
                (sleep or partial(_nap, stop=stop))(pause)
    finally:
        keeper.stop(release=True)


def _nap(seconds: float, stop: Callable[[], bool]) -> None:
    """Sleep, but wake within 0.1 s of `stop`: a shutdown should not wait out the poll interval."""
    import time

    deadline = time.monotonic() + seconds
    while not stop() and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(0.1, left))


def scan_drift(engine: Engine, port_factory: PortFactory, cluster_name: str) -> None:
    with unit_of_work(engine) as session:
        cluster = session.get(ClusterRow, cluster_name)
    if cluster is None:
        return
    port: ClusterPort | None = None
    try:
        port = port_factory(cluster)
        scan = scan_cluster(engine, cluster_name, port)
        if scan.items or scan.unmanaged_topics:
            log.info("drift on %s: %d drifted, %d unmanaged topics", cluster_name, len(scan.items),
                     len(scan.unmanaged_topics))
    except Exception:  # a failed scan is retried at the next interval; reconciling goes on
        log.exception("drift scan of %s failed", cluster_name)
    finally:
        close_port(port)

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
from topicdesk.services.desired import grant_value, quota_value, resource_subject, resource_team, topic_value
from topicdesk.services.drift import resolve_applied, scan_cluster
from topicdesk.services.executor import ApplySettings, apply
from topicdesk.services.leases import claim_lease, ensure_leases, still_holds

log = logging.getLogger(__name__)

# Called with the cluster row and optional adapter options (request_timeout).
PortFactory = Callable[..., ClusterPort]


@dataclass(frozen=True)
class ReconcilerSettings:
    lease_seconds: float = 60.0
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
) -> PassReport:
    cfg = settings or ReconcilerSettings()
    report = PassReport(cluster.name, claimed=True)
    with unit_of_work(engine) as session:
        work = load_work(session, cluster.name, cfg.max_resources_per_pass)
        rows = work.rows()
        if not rows:
            return report
        planned = {(kind, row.id): row.generation for kind, row in rows}
        _mark_applying(session, [(kind, row.id) for kind, row in rows])
    report.resources = len(rows)
    desired = work.desired()
    try:
        observed = port.describe(sorted(work.topic_names()))
        the_plan = plan(desired, observed)
        kwargs: dict[str, Any] = {"settings": cfg.apply}
        if sleep is not None:
            kwargs["sleep"] = sleep
        applied = apply(the_plan, port, **kwargs)
    except ClusterUnavailable as exc:
        report.error = exc.outcome.message
        _record_unavailable(engine, rows, planned, exc.outcome, cfg)
        report.retrying = len(rows)
        return report
    changes_by_key: dict[str, list[dict[str, object]]] = {}
    for change in the_plan.changes:
        changes_by_key.setdefault(change.key, []).append(change.as_dict())

    outcomes = applied.outcomes()  # once: per-key lookups below, not a rebuild per resource
    with unit_of_work(engine) as session:
        if not still_holds(session, cluster.name, holder, token):
            # Another reconciler took over (our lease expired mid-pass): it will redo this work.
            report.error = "lease lost; results discarded"
            return report
        now = utcnow()
        current = _load_rows(session, [(kind, row.id) for kind, row in rows])
        touched: list[tuple[str, str]] = []
        matched: list[tuple[str, str]] = []
        events: list[NewEvent] = []
        for kind, stale in rows:
            row = current.get((kind, stale.id))
            if row is None:
                continue
            keys = _keys_of(kind, stale)
            outcome = _combined([outcomes[k] for k in keys if k in outcomes])
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
            elif outcome.permanent:
                row.failed_generation = generation
                row.last_error, row.last_error_reason = outcome.message[:2000], _reason(outcome)
                report.failed += 1
            else:
                row.attempts += 1
                delay = min(cfg.backoff_max, cfg.backoff_initial * 2 ** min(row.attempts - 1, 20))
                row.not_before = now + timedelta(seconds=delay)
                row.last_error, row.last_error_reason = outcome.message[:2000], _reason(outcome)
                report.retrying += 1
            touched.append((kind, row.id))
            key_changes = [c for key in keys for c in changes_by_key.get(key, [])]
            if key_changes or not outcome.ok:
                events.append(NewEvent(actor=f"reconciler:{holder}", action=f"{kind}:apply",
                                       subject=resource_subject(kind, stale), team=resource_team(kind, stale),
                                       data={"generation": generation, "changes": key_changes,
                                             "outcome": outcome.as_dict()}))
        session.flush()
        events += settle_requests(session, touched)
        events += resolve_applied(session, cluster.name, matched, actor=f"reconciler:{holder}")
        # One append for the whole pass, last: the audit head is locked only for it and the commit.
        record_events(session, events)
    return report


def _combined(outcomes: list[Outcome]) -> Outcome:
    """The worst of a resource's outcomes: permanent failure, then transient, else success."""
    for outcome in outcomes:
        if outcome.permanent:
            return outcome
    for outcome in outcomes:
        if not outcome.ok:
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
                        outcome: Outcome, cfg: ReconcilerSettings) -> None:
    with unit_of_work(engine) as session:
        now = utcnow()
        for kind, stale in rows:
            row = session.get(RESOURCE_TABLES[kind], stale.id)
            if row is None or row.generation != planned[(kind, stale.id)]:
                continue
            row.attempts += 1
            delay = min(cfg.backoff_max, cfg.backoff_initial * 2 ** min(row.attempts - 1, 20))
            row.not_before = now + timedelta(seconds=delay)
            row.last_error, row.last_error_reason = outcome.message[:2000], _reason(outcome)
            session.add(row)


def _mark_applying(session: Session, resources: Iterable[tuple[str, str]]) -> None:
    ids = [rid for _, rid in resources]
    if not ids:
        return
    request_ids = select(RequestResourceRow.request_id).where(col(RequestResourceRow.resource_id).in_(ids))
    session.execute(update(RequestRow).where(col(RequestRow.id).in_(request_ids),
                                             col(RequestRow.status) == "approved")
                    .values(status="applying", updated_at=utcnow()))


def settle_requests(session: Session, resources: Iterable[tuple[str, str]], chunk: int = 900) -> list[NewEvent]:
    """Requests whose every resource generation is observed become `applied`; any parked as a
    permanent failure makes the request `failed` with Kafka's reason. Returns their audit events."""
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
    for request in open_requests:
        done, failure = True, None
        for link in links.get(request.id, []):
            row = rows.get((link.resource_kind, link.resource_id))
            if row is None or row.observed_generation >= link.generation:
                continue
            done = False
            if row.failed_generation >= link.generation:
                failure = {"reason": row.last_error_reason or "failed", "message": row.last_error or ""}
        if failure is not None:
            request.status, request.error, request.updated_at = "failed", failure, now
            events.append(NewEvent(actor="reconciler", action="request:failed", subject=f"request:{request.id}",
                                   team=request.requester_team, data={"error": failure}))
        elif done:
            request.status, request.applied_at, request.updated_at = "applied", now, now
            events.append(NewEvent(actor="reconciler", action="request:applied", subject=f"request:{request.id}",
                                   team=request.requester_team, data={"status": "applied"}))
    return events


# --- the loop ---------------------------------------------------------------------------------------

def run_once(
    engine: Engine, port_factory: PortFactory, *, holder: str | None = None,
    settings: ReconcilerSettings | None = None, clusters: Iterable[str] | None = None,
) -> list[PassReport]:
    cfg = settings or ReconcilerSettings()
    me = holder or default_holder()
    names = ensure_leases(engine)
    if clusters is not None:
        wanted = set(clusters)
        names = [n for n in names if n in wanted]
    reports = []
    for name in names:
        token = claim_lease(engine, name, me, cfg.lease_seconds)
        if token is None:
            reports.append(PassReport(name, claimed=False))
            continue
        with unit_of_work(engine) as session:
            cluster = session.get(ClusterRow, name)
        if cluster is None:
            continue
        port: ClusterPort | None = None
        try:
            port = port_factory(cluster)
            reports.append(reconcile_cluster(engine, cluster, port, holder=me, token=token, settings=cfg))
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
    drift_interval: float = 300.0,
) -> None:
    """Pass after pass; a pass that found work is followed at once by the next one. Every
    `drift_interval` seconds the clusters this process holds are also scanned for drift."""
    import time

    me = default_holder()
    wanted = list(clusters) if clusters is not None else None
    last_scan: dict[str, float] = {}
    while not stop():
        reports = run_once(engine, port_factory, holder=me, settings=settings, clusters=wanted)
        for report in reports:
            if report.resources or report.error:
                log.info("reconcile %s: %s", report.cluster, report)
        now = time.monotonic()
        for report in reports:
            if report.claimed and now - last_scan.get(report.cluster, -drift_interval) >= drift_interval:
                last_scan[report.cluster] = now
                scan_drift(engine, port_factory, report.cluster)
        if not any(r.resources for r in reports) or not pending_work(engine):
            time.sleep(interval)


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

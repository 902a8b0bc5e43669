"""The numbers the scrape-time gauges report, read from the database in a few grouped queries
(observability/collector.py turns them into metric families)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import and_, case, func, or_
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import (
    RESOURCE_TABLES,
    AuditInboxRow,
    ClusterLeaseRow,
    ClusterRow,
    DriftItemRow,
    DriftReportRow,
    RequestRow,
    utcnow,
)


@dataclass
class Snapshot:
    requests: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, status) -> n
    approvals_waiting: dict[str, int] = field(default_factory=dict)  # kind -> n
    oldest_approval_at: datetime | None = None
    # (cluster, resource kind, state) -> n; state: pending (waiting for the reconciler) or failed (parked)
    resources: dict[tuple[str, str, str], int] = field(default_factory=dict)
    drift_items: dict[tuple[str, str], int] = field(default_factory=dict)  # (cluster, drift kind) -> n
    last_scan_at: dict[str, datetime] = field(default_factory=dict)
    clusters: list[str] = field(default_factory=list)
    lease_holders: dict[str, str] = field(default_factory=dict)  # cluster -> holder, unexpired leases only
    audit_unchained: int = 0
    oldest_unchained_at: datetime | None = None


def aware(moment: datetime | None) -> datetime | None:
    # SQLite hands datetimes back without their zone; they were written in UTC.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def read_snapshot(engine: Engine) -> Snapshot:
    snap = Snapshot()
    now = utcnow()
    with unit_of_work(engine) as session:
        for kind, status, count in session.exec(
                select(RequestRow.kind, RequestRow.status, func.count()).group_by(
                    col(RequestRow.kind), col(RequestRow.status))).all():
            snap.requests[(kind, status)] = count
        waiting = col(RequestRow.status) == "pending_approval"
        for kind, count in session.exec(select(RequestRow.kind, func.count()).where(waiting)
                                        .group_by(col(RequestRow.kind))).all():
            snap.approvals_waiting[kind] = count
        snap.oldest_approval_at = aware(session.exec(select(func.min(RequestRow.created_at)).where(waiting)).one())
        for kind, table in RESOURCE_TABLES.items():
            parked = col(table.failed_generation) == col(table.generation)
            dirty = and_(col(table.generation) > col(table.observed_generation), ~parked)
            for cluster, pending, failed in session.exec(select(
                    table.cluster, func.sum(case((dirty, 1), else_=0)),
                    func.sum(case((and_(parked, col(table.generation) > col(table.observed_generation)), 1),
                                  else_=0))).group_by(col(table.cluster))).all():
                snap.resources[(cluster, kind, "pending")] = int(pending or 0)
                snap.resources[(cluster, kind, "failed")] = int(failed or 0)
        for cluster, kind, count in session.exec(
                select(DriftItemRow.cluster, DriftItemRow.kind, func.count()).where(
                    or_(col(DriftItemRow.ignored_until).is_(None), col(DriftItemRow.ignored_until) <= now))
                .group_by(col(DriftItemRow.cluster), col(DriftItemRow.kind))).all():
            snap.drift_items[(cluster, kind)] = count
        for cluster, scanned_at in session.exec(select(DriftReportRow.cluster, DriftReportRow.scanned_at)).all():
            snap.last_scan_at[cluster] = aware(scanned_at) or now
        snap.clusters = list(session.exec(select(ClusterRow.name).order_by(col(ClusterRow.name))).all())
        for cluster, holder in session.exec(select(ClusterLeaseRow.cluster, ClusterLeaseRow.holder).where(
                col(ClusterLeaseRow.holder).is_not(None), col(ClusterLeaseRow.expires_at) > now)).all():
            snap.lease_holders[cluster] = holder or ""
        count, oldest = session.exec(select(func.count(), func.min(AuditInboxRow.occurred_at))).one()
        snap.audit_unchained, snap.oldest_unchained_at = int(count or 0), aware(oldest)
    return snap

"""Cluster leases: one reconciler at a time applies to a cluster.

A lease has a holder, an expiry and a fencing token that moves whenever the holder changes, so a
reconciler that lost its lease mid-pass (it stalled past the expiry and another took over) sees
that before it records results, and discards them.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import ClusterLeaseRow, ClusterRow, utcnow


def ensure_leases(engine: Engine) -> list[str]:
    with unit_of_work(engine) as session:
        clusters = list(session.exec(select(ClusterRow.name)).all())
        existing = set(session.exec(select(ClusterLeaseRow.cluster)).all())
        for name in clusters:
            if name not in existing:
                session.add(ClusterLeaseRow(cluster=name))
    return sorted(clusters)


def claim_lease(engine: Engine, cluster: str, holder: str, seconds: float) -> int | None:
    """Take or renew the cluster's lease; returns the fencing token, or None if another holds it."""
    with unit_of_work(engine) as session:
        now = utcnow()
        claimable = or_(col(ClusterLeaseRow.holder).is_(None), col(ClusterLeaseRow.holder) == holder,
                        col(ClusterLeaseRow.expires_at) < now)
        query = select(ClusterLeaseRow).where(ClusterLeaseRow.cluster == cluster, claimable)
        if session.get_bind().dialect.name == "postgresql":
            # Reconcilers skip clusters another one is claiming right now instead of queueing behind it.
            query = query.with_for_update(skip_locked=True)
        lease = session.exec(query).first()
        if lease is None:
            return None
        if lease.holder != holder:
            lease.fencing_token += 1
        lease.holder = holder
        lease.expires_at = now + timedelta(seconds=seconds)
        session.add(lease)
        return lease.fencing_token


def still_holds(session: Session, cluster: str, holder: str, token: int) -> bool:
    lease = session.exec(select(ClusterLeaseRow).where(ClusterLeaseRow.cluster == cluster)
                         .with_for_update()).first()
    return lease is not None and lease.holder == holder and lease.fencing_token == token


def release_lease(engine: Engine, cluster: str, holder: str) -> None:
    with unit_of_work(engine) as session:
        session.execute(update(ClusterLeaseRow)
                        .where(col(ClusterLeaseRow.cluster) == cluster, col(ClusterLeaseRow.holder) == holder)
                        .values(holder=None, expires_at=None))

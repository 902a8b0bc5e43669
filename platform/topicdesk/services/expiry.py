"""Time-bound access: expired grants become tombstones; who sees which grants end soon.

Expiry is level-triggered like everything the reconciler does. Each pass over a cluster first
turns its live grants with `expires_at <= now` into tombstones with a new generation, in one
transaction with an `access_grant:expire` audit event per grant. The same pass then reconciles
them as any revoked grant: bindings another live grant still needs stay, the rest are deleted,
read back and recorded. A crash after the sweep leaves tombstones the next pass reconciles; a
crash before it leaves live expired grants the next pass sweeps. Nothing is lost either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from topicdesk.adapters.audit_log import NewEvent, record_events
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.request_store import bump
from topicdesk.adapters.tables import AccessGrantRow, ClusterRow, TopicRow, utcnow
from topicdesk.domain.expiry import rfc3339
from topicdesk.domain.identity import Identity
from topicdesk.services.desired import resource_subject
from topicdesk.services.queries import grant_view

MAX_WITHIN_DAYS = 366
# Wake a little after the moment, so that the grant is due when the pass looks.
_WAKE_MARGIN = 0.05


def expire_due_grants(engine: Engine, cluster: str, *, actor: str, now: datetime | None = None,
                      limit: int = 5000) -> int:
    """Tombstone the cluster's live grants whose expiry has come; returns how many."""
    moment = now or utcnow()
    with unit_of_work(engine) as session:
        # Locked rows: a renewal committed meanwhile moved expires_at, and PostgreSQL re-checks
        # the condition on the locked row, so a renewed grant is not expired.
        due = session.exec(select(AccessGrantRow).where(
            AccessGrantRow.cluster == cluster, col(AccessGrantRow.deleted).is_(False),
            col(AccessGrantRow.expires_at).is_not(None), col(AccessGrantRow.expires_at) <= moment)
            .order_by(col(AccessGrantRow.id)).limit(limit).with_for_update()).all()
        events = []
        for grant in due:
            grant.deleted = True
            bump(grant)
            session.add(grant)
            assert grant.expires_at is not None
            events.append(NewEvent(actor=actor, action="access_grant:expire",
                                   subject=resource_subject("access_grant", grant), team=grant.granted_team,
                                   data={"expires_at": rfc3339(grant.expires_at), "generation": grant.generation,
                                         "topic": grant.topic, "principal": grant.principal,
                                         "access": grant.access}))
        session.flush()
        record_events(session, events)
        return len(due)


def next_expiry(engine: Engine, clusters: Iterable[str] | None = None, now: datetime | None = None) -> datetime | None:
    """The soonest end of a live grant still ahead (those already due are the next pass's work)."""
    moment = now or utcnow()
    with unit_of_work(engine) as session:
        query = select(func.min(AccessGrantRow.expires_at)).where(
            col(AccessGrantRow.deleted).is_(False), col(AccessGrantRow.expires_at) > moment)
        if clusters is not None:
            query = query.where(col(AccessGrantRow.cluster).in_(list(clusters)))
        found: datetime | None = session.exec(query).one()
        return found


def seconds_until_next_pass(engine: Engine, interval: float, clusters: Iterable[str] | None = None) -> float:
    """The loop's sleep: the interval, cut short by the next grant expiry so that it does not linger."""
    now = utcnow()
    soonest = next_expiry(engine, clusters, now)
    if soonest is None:
        return interval
    return max(0.0, min(interval, (soonest - now).total_seconds() + _WAKE_MARGIN))


# --- expiring soon ----------------------------------------------------------------------------------

def list_expiring(session: Session, identity: Identity, *, within: timedelta, limit: int,
                  after: tuple[str, str] | None = None) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
    """Live grants ending within `within`, soonest first, for the teams on both sides of each:
    the consuming team (the principal's) and the owning team (the topic's owner; the cluster's
    owner for a prefixed grant or a topic Topicdesk does not manage). Platform admins see all."""
    now = utcnow()
    topic = TopicRow.__table__.alias("owning_topic")  # type: ignore[attr-defined]
    owner = func.coalesce(topic.c.owner_team, ClusterRow.owner_team)
    query = (
        select(AccessGrantRow, owner)
        .join(ClusterRow, col(ClusterRow.name) == col(AccessGrantRow.cluster))
        .outerjoin(topic, (topic.c.cluster == col(AccessGrantRow.cluster)) & (topic.c.name == col(AccessGrantRow.topic))
                   & (col(AccessGrantRow.pattern) == "literal") & topic.c.deleted.is_(False))
        .where(col(AccessGrantRow.deleted).is_(False), col(AccessGrantRow.expires_at).is_not(None),
               col(AccessGrantRow.expires_at) <= now + within)
    )
    if not identity.platform_admin:
        query = query.where(or_(col(AccessGrantRow.granted_team).in_(identity.teams), owner.in_(identity.teams)))
    if after is not None:
        moment = datetime.fromisoformat(after[0])
        query = query.where(or_(col(AccessGrantRow.expires_at) > moment,
                                (col(AccessGrantRow.expires_at) == moment) & (col(AccessGrantRow.id) > after[1])))
    rows = session.exec(query.order_by(col(AccessGrantRow.expires_at), col(AccessGrantRow.id)).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{**grant_view(grant), "cluster": grant.cluster, "owner_team": owning_team} for grant, owning_team in rows]
    last = rows[-1][0] if more and rows else None
    return items, ((last.expires_at.isoformat(), last.id) if last is not None and last.expires_at else None)

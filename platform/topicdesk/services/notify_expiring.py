"""`access.expiring`: announce each time-bound grant once before it ends (services/expiry.py ends it).

Level-triggered like the rest: every run finds the live grants ending within the window whose end
was not announced yet, and in one transaction records an `access_grant:expiring` audit event per
grant (the outbox turns those into notifications, adapters/notification_store.py) and remembers
the announced end. A renewal moves the end, so the new one is announced again when it nears.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from topicdesk.adapters.audit_log import NewEvent, record_events
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import (
    AccessGrantRow,
    ClusterRow,
    NotificationExpiryNoticeRow,
    TopicRow,
    utcnow,
)
from topicdesk.domain.expiry import rfc3339
from topicdesk.services.desired import resource_subject


def announce_expiring(engine: Engine, *, within: timedelta, now: datetime | None = None, limit: int = 1000) -> int:
    """Record `access_grant:expiring` for grants ending within `within` not announced yet; how many."""
    moment = now or utcnow()
    topic = TopicRow.__table__.alias("owning_topic")  # type: ignore[attr-defined]
    owner = func.coalesce(topic.c.owner_team, ClusterRow.owner_team)
    notice = NotificationExpiryNoticeRow
    with unit_of_work(engine) as session:
        due = session.exec(
            select(AccessGrantRow, owner)
            .join(ClusterRow, col(ClusterRow.name) == col(AccessGrantRow.cluster))
            .outerjoin(topic, (topic.c.cluster == col(AccessGrantRow.cluster))
                       & (topic.c.name == col(AccessGrantRow.topic)) & topic.c.deleted.is_(False))
            .outerjoin(notice, and_(col(notice.grant_id) == col(AccessGrantRow.id),
                                    col(notice.expires_at) == col(AccessGrantRow.expires_at)))
            .where(col(AccessGrantRow.deleted).is_(False), col(AccessGrantRow.expires_at) > moment,
                   col(AccessGrantRow.expires_at) <= moment + within, col(notice.grant_id).is_(None))
            .order_by(col(AccessGrantRow.expires_at)).limit(limit)).all()
        events = []
        for grant, owning_team in due:
            assert grant.expires_at is not None
            previous = session.get(notice, grant.id)
            if previous is not None:
                session.delete(previous)
                session.flush()
            session.add(notice(grant_id=grant.id, expires_at=grant.expires_at, announced_at=moment))
            events.append(NewEvent(
                actor="notifier", action="access_grant:expiring", subject=resource_subject("access_grant", grant),
                team=grant.granted_team,
                data={"cluster": grant.cluster, "topic": grant.topic, "principal": grant.principal,
                      "access": grant.access, "group": grant.group_id or None, "expires_at": rfc3339(grant.expires_at),
                      "owner_team": owning_team}))
        session.flush()
        record_events(session, events)
        return len(events)

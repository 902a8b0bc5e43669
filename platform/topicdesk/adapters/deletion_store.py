"""Persistence of the two deletion phases: quarantine (and its undo), then the final deletion.

A quarantine tombstones the topic's literal grants (the reconciler removes their ACL bindings, as
for a revocation) and keeps the topic row live with `lifecycle = quarantined`; the ids of the
suspended grants are kept on the topic so a restore revives exactly those. When the grace period
has passed, `start_final_deletions` turns the topic into an ordinary tombstone (`deleting`) with a
new generation: the reconciler then deletes it like any tombstone, level-triggered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from topicdesk.adapters.request_store import Link, bump, link
from topicdesk.adapters.tables import AccessGrantRow, ClusterRow, TopicRow
from topicdesk.domain.errors import Conflict
from topicdesk.domain.evidence import quarantine_seconds

ACTIVE, QUARANTINED, DELETING, DELETED = "active", "quarantined", "deleting", "deleted"


@dataclass(frozen=True)
class Quarantine:
    topic: TopicRow
    links: list[Link]
    grants: list[AccessGrantRow]


def lock_topic(session: Session, cluster: str, name: str) -> TopicRow | None:
    """The topic row of that name (live or tombstone: there is at most one), locked."""
    return session.exec(select(TopicRow).where(TopicRow.cluster == cluster, TopicRow.name == name)
                        .with_for_update()).first()


def quarantine(session: Session, cluster_name: str, name: str, *, request_id: str, requested_by: str,
               now: datetime) -> Quarantine:
    cluster = session.get(ClusterRow, cluster_name)
    topic = lock_topic(session, cluster_name, name)
    if cluster is None or topic is None or topic.deleted:
        raise Conflict(f"topic {name!r} no longer exists")
    if topic.lifecycle == QUARANTINED:
        raise Conflict(f"topic {name!r} is already quarantined until {topic.quarantined_until}")
    grants = list(session.exec(select(AccessGrantRow).where(
        AccessGrantRow.cluster == cluster_name, AccessGrantRow.topic == name, AccessGrantRow.pattern == "literal",
        col(AccessGrantRow.deleted).is_(False)).order_by(col(AccessGrantRow.id))).all())
    links: list[Link] = []
    for grant in grants:
        grant.deleted = True
        bump(grant)
        session.add(grant)
        links.append(link("access_grant", grant.id, grant.generation))
    topic.lifecycle = QUARANTINED
    topic.quarantined_until = now + timedelta(seconds=quarantine_seconds(cluster.environment,
                                                                          cluster.quarantine_seconds))
    topic.quarantined_grants = [grant.id for grant in grants]
    topic.deletion_request_id, topic.deleted_by, topic.deleted_at = request_id, requested_by, None
    bump(topic)
    session.add(topic)
    links.append(link("topic", topic.id, topic.generation))
    return Quarantine(topic, links, grants)


def restore(session: Session, topic: TopicRow) -> list[AccessGrantRow]:
    """Undo a quarantine on a locked topic row: its suspended grants come back with new generations."""
    ids = list(topic.quarantined_grants or [])
    grants = list(session.exec(select(AccessGrantRow).where(col(AccessGrantRow.id).in_(ids))).all()) if ids else []
    for grant in grants:
        if grant.deleted:
            grant.deleted = False
            bump(grant)
            session.add(grant)
    topic.lifecycle = ACTIVE
    topic.quarantined_until = None
    topic.quarantined_grants = None
    topic.deletion_request_id = topic.deleted_by = None
    bump(topic)
    session.add(topic)
    return grants


def start_final_deletions(session: Session, cluster: str, now: datetime) -> list[TopicRow]:
    """Quarantined topics of a cluster whose grace period has passed become tombstones (`deleting`)."""
    expired = list(session.exec(select(TopicRow).where(
        TopicRow.cluster == cluster, TopicRow.lifecycle == QUARANTINED,
        col(TopicRow.quarantined_until) <= now).with_for_update()).all())
    for topic in expired:
        topic.lifecycle = DELETING
        topic.deleted = True
        bump(topic)
        session.add(topic)
    return expired


def finish_deletion(topic: TopicRow, now: datetime) -> bool:
    """A tombstone the cluster confirmed gone is `deleted` (its page stays); True when it just became so."""
    if not topic.deleted or topic.lifecycle == DELETED:
        return False
    topic.lifecycle = DELETED
    topic.deleted_at = now
    return True

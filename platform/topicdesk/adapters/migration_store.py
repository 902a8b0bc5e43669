"""Rows of topic migrations: the target's topics a migration must not land on, the migration rows."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, and_, col, or_, select

from topicdesk.adapters.tables import ClusterRow, MigrationRow, TopicRow, new_id


def live_topic_names(session: Session, cluster: str, names: Collection[str] | None) -> set[str]:
    """Topics Topicdesk holds on `cluster` (not yet deleted), of `names` (None: all)."""
    query = select(TopicRow.name).where(TopicRow.cluster == cluster, col(TopicRow.deleted).is_(False))
    if names is not None:
        query = query.where(col(TopicRow.name).in_(sorted(names)))
    return set(session.exec(query).all())


def create_migration(session: Session, *, request_id: str, source: str, target: str, owner_team: str,
                     topics: Sequence[str], plan: dict[str, Any], step: str, history: list[dict[str, Any]],
                     now: datetime) -> MigrationRow:
    row = MigrationRow(id=new_id(), request_id=request_id, source_cluster=source, target_cluster=target,
                       owner_team=owner_team, topics=list(topics), plan=plan, step=step, history=history,
                       created_at=now, updated_at=now)
    session.add(row)
    return row


def visible_migrations(session: Session, teams: Collection[str] | None, *, limit: int,
                       after: MigrationRow | None = None) -> list[MigrationRow]:
    """Migrations owned by one of `teams` or moving off a cluster one of them owns (None: every
    migration, for platform admins), newest first, after the cursor's migration."""
    query = select(MigrationRow)
    if teams is not None:
        source_owned = select(ClusterRow.name).where(col(ClusterRow.owner_team).in_(sorted(teams)))
        query = query.where(or_(col(MigrationRow.owner_team).in_(sorted(teams)),
                                col(MigrationRow.source_cluster).in_(source_owned)))
    if after is not None:
        query = query.where(or_(col(MigrationRow.created_at) < after.created_at,
                                and_(col(MigrationRow.created_at) == after.created_at,
                                     col(MigrationRow.id) < after.id)))
    ordered = query.order_by(col(MigrationRow.created_at).desc(), col(MigrationRow.id).desc())
    return list(session.exec(ordered.limit(limit)).all())


def migration_by_id(session: Session, migration_id: str) -> MigrationRow | None:
    return session.get(MigrationRow, migration_id)


def migration_of_request(session: Session, request_id: str) -> MigrationRow | None:
    return session.exec(select(MigrationRow).where(MigrationRow.request_id == request_id)).first()

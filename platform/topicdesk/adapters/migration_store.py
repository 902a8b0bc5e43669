"""Rows of topic migrations: the target's topics a migration must not land on, the migration rows."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, and_, col, or_, select

from topicdesk.adapters.tables import (
    AccessGrantRow,
    ClusterRow,
    MigrationRow,
    ServiceAccountRow,
    TopicRow,
    new_id,
    utcnow,
)


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


def migration_ids_of_requests(session: Session, request_ids: Collection[str]) -> dict[str, str]:
    """Request id -> the id of the migration it started, for those of `request_ids` that started one."""
    if not request_ids:
        return {}
    rows = session.exec(select(MigrationRow.request_id, MigrationRow.id)
                        .where(col(MigrationRow.request_id).in_(sorted(request_ids)))).all()
    return dict(rows)


def unfinished_migrations(session: Session, target_clusters: Collection[str] | None) -> list[str]:
    """Ids of migrations the driver still has work on (finished_at is NULL: one indexed lookup),
    moving to one of `target_clusters` (None: any), oldest first."""
    query = select(MigrationRow.id).where(col(MigrationRow.finished_at).is_(None))
    if target_clusters is not None:
        query = query.where(col(MigrationRow.target_cluster).in_(sorted(target_clusters)))
    return list(session.exec(query.order_by(col(MigrationRow.created_at))).all())


def lock_migration(session: Session, migration_id: str) -> MigrationRow | None:
    """The row, locked for the rest of the transaction (PostgreSQL; SQLite serialises writers anyway)."""
    return session.exec(select(MigrationRow).where(MigrationRow.id == migration_id).with_for_update()).first()


def write_target_desired_state(session: Session, cluster: str, owner_team: str, topics: Sequence[dict[str, Any]],
                               grants: Sequence[tuple[str, str, str, str, str, str]]) -> dict[str, list[str]]:
    """The planned topics and grants as Topicdesk desired state on the target (rows the reconciler
    applies), where they are not yet: idempotent. `grants` are (topic, principal, access, group,
    group pattern, transactional id): a prefixed group stays prefixed. Returns what was written
    (topic names, grant keys)."""
    from topicdesk.adapters.request_store import grant_rows, live_topic, write_desired_state
    from topicdesk.adapters.submission_store import GRANT_UPSERTS

    written: dict[str, list[str]] = {"topics": [], "grants": []}
    for spec in topics:
        if live_topic(session, cluster, spec["name"]) is None:
            write_desired_state(session, "topic.create", cluster, dict(spec), owner_team)
            written["topics"].append(spec["name"])
    connection = session.connection()
    by_topic: dict[str, list[tuple[str, str, str, str, str]]] = {}
    for topic, principal, access, group, group_pattern, transactional_id in grants:
        by_topic.setdefault(topic, []).append((principal, access, group, group_pattern, transactional_id))
    rows: list[dict[str, Any]] = []
    for topic, wanted in sorted(by_topic.items()):
        live = {(g.principal, g.access, g.group_id, g.group_pattern, g.transactional_id) for g in session.exec(select(
            AccessGrantRow).where(AccessGrantRow.cluster == cluster, AccessGrantRow.topic == topic,
                                  AccessGrantRow.pattern == "literal", col(AccessGrantRow.deleted).is_(False)))}
        missing = sorted({w for w in wanted if w not in live})
        for principal, access, group, group_pattern, transactional_id in missing:
            [row] = grant_rows(cluster, topic, "literal", [(principal, access, group, transactional_id)])
            rows.append({**row, "group_pattern": group_pattern})
            written["grants"].append(f"{topic}:{principal}:{access}")
    if rows:
        # The submission path's upsert (a deleted grant comes back with a new generation), one statement.
        connection.execute(GRANT_UPSERTS[connection.dialect.name], rows)
    return written


def ensure_service_account(session: Session, cluster: str, principal: str, owner_team: str) -> bool:
    """A service_account row whose SCRAM credential the driver has just set (so observed); False
    when Topicdesk already had a live one."""
    row = session.exec(select(ServiceAccountRow).where(ServiceAccountRow.cluster == cluster,
                                                       ServiceAccountRow.principal == principal)).first()
    if row is not None and not row.deleted:
        return False
    if row is None:
        row = ServiceAccountRow(cluster=cluster, principal=principal, owner_team=owner_team)
    else:
        row.deleted = False
        row.generation += 1
    row.observed_generation = row.generation
    row.applied_at = utcnow()
    session.add(row)
    return True


# Steps at which a migration may hold DENY ACLs on its source (rolled_back: until the driver removed them).
DENY_STEPS = ("consumers_cut_over", "producers_cut_over", "source_quarantined", "done", "rolled_back")


# Steps at which a migration's mirror principal may hold its ACLs and internal topics on both
# clusters (services/migration_mirror.py): from the first mirroring pass until the clean-up, which
# the producers_cut_over step and a finished rollback or failure complete.
MIRROR_STEPS = ("mirroring", "consumers_cut_over", "producers_cut_over", "rolled_back", "failed")


def mirrors_on_cluster(session: Session, cluster: str) -> list[MigrationRow]:
    """Migrations from or to `cluster` whose mirror principal may still need its access there."""
    rows = session.exec(select(MigrationRow).where(
        or_(MigrationRow.source_cluster == cluster, MigrationRow.target_cluster == cluster),
        col(MigrationRow.step).in_(MIRROR_STEPS), col(MigrationRow.finished_at).is_(None))).all()
    return list(rows)


def topics_denied_by_migrations(session: Session, source_cluster: str) -> list[str]:
    """Topics of `source_cluster` on which migrations keep (or may still keep) their DENY ACLs."""
    rows = session.exec(select(MigrationRow.topics, MigrationRow.step, MigrationRow.finished_at).where(
        MigrationRow.source_cluster == source_cluster, col(MigrationRow.step).in_(DENY_STEPS))).all()
    return sorted({t for topics, step, finished in rows if not (step == "rolled_back" and finished is not None)
                   for t in topics})

"""Storing usage observations and reading what the stale report needs.

One gathering of evidence writes a row per topic (topic_usage) and per (topic, consumer group)
(group_commit_observation), as upserts of a whole batch in one statement per table and batch, on
SQLite and PostgreSQL alike (both speak INSERT ... ON CONFLICT DO UPDATE). The upsert is where
the history is kept: `first_seen_at` is written only by the insert, `changed_at` moves only when
the committed sum (or the partitions committed) differs from the stored one. A gathering older
than the stored one (a refresh and the reconciler racing) changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from topicdesk.adapters.tables import (
    AccessGrantRow,
    GroupCommitObservationRow,
    TopicRow,
    TopicUsageRow,
    table_of,
)
from topicdesk.domain.staleness import GroupCommits, TopicUsage

_USAGE, _COMMITS = table_of(TopicUsageRow), table_of(GroupCommitObservationRow)
# Rows per statement: 9 parameters a row stays far below SQLite's 32,766 bound parameters.
BATCH = 500
_ACTIVE = "active"


def _insert(connection: Connection, table: Any) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _batches(rows: Sequence[dict[str, Any]]) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start:start + BATCH]


def record_usage(connection: Connection, topics: Sequence[dict[str, Any]], groups: Sequence[dict[str, Any]]) -> None:
    """Upsert one gathering's rows (domain/staleness.py usage_rows)."""
    for chunk in _batches(topics):
        statement = _insert(connection, _USAGE).values(list(chunk))
        new = statement.excluded
        connection.execute(statement.on_conflict_do_update(
            index_elements=[_USAGE.c.cluster, _USAGE.c.topic],
            set_={"exists": new.exists, "partitions": new.partitions, "last_write_at": new.last_write_at,
                  "gathered_at": new.gathered_at},
            where=_USAGE.c.gathered_at <= new.gathered_at))
    for chunk in _batches(groups):
        statement = _insert(connection, _COMMITS).values(list(chunk))
        new = statement.excluded
        moved = or_(_COMMITS.c.committed_offsets.is_distinct_from(new.committed_offsets),
                    _COMMITS.c.committed_partitions != new.committed_partitions)
        connection.execute(statement.on_conflict_do_update(
            index_elements=[_COMMITS.c.cluster, _COMMITS.c.topic, _COMMITS.c.group_id],
            set_={"committed_offsets": new.committed_offsets, "committed_partitions": new.committed_partitions,
                  "lag": new.lag, "seen_at": new.seen_at,
                  "changed_at": case((moved, new.changed_at), else_=_COMMITS.c.changed_at)},
            where=_COMMITS.c.seen_at <= new.seen_at))


# --- reading ----------------------------------------------------------------------------------------

def managed_topic_names(session: Session, cluster: str) -> list[str]:
    """The cluster's live, active managed topics: what one gathering asks evidence for."""
    return list(session.exec(select(TopicRow.name).where(
        TopicRow.cluster == cluster, col(TopicRow.deleted).is_(False),
        TopicRow.lifecycle == _ACTIVE).order_by(col(TopicRow.name))).all())


@dataclass
class ReportInputs:
    topics: list[TopicRow]  # live, active managed topics of the clusters in scope
    # Live literal grants held by the teams or on their topics, each with the (live, active) topic it is on.
    grants: list[tuple[AccessGrantRow, TopicRow]]
    usage: dict[tuple[str, str], TopicUsage]  # (cluster, topic) -> last evidence
    commits: dict[tuple[str, str, str], GroupCommits]  # (cluster, topic, group) -> history


def _usage(row: TopicUsageRow) -> TopicUsage:
    return TopicUsage(row.cluster, row.topic, row.exists, row.partitions, row.last_write_at, row.gathered_at)


def _commits(row: GroupCommitObservationRow) -> GroupCommits:
    return GroupCommits(row.group_id, row.committed_offsets, row.committed_partitions, row.lag,
                        row.first_seen_at, row.changed_at, row.seen_at)


def report_inputs(session: Session, *, clusters: Sequence[str] | None, teams: Sequence[str] | None) -> ReportInputs:
    """Topics owned by `teams` and grants held by `teams` or on their topics (None: every team),
    with their stored observations; `clusters` None: every cluster."""
    topic_query = select(TopicRow).where(col(TopicRow.deleted).is_(False), TopicRow.lifecycle == _ACTIVE)
    grant_query = (select(AccessGrantRow, TopicRow)
                   .join(TopicRow, (col(TopicRow.cluster) == col(AccessGrantRow.cluster))
                         & (col(TopicRow.name) == col(AccessGrantRow.topic)))
                   .where(col(AccessGrantRow.deleted).is_(False), AccessGrantRow.pattern == "literal",
                          col(TopicRow.deleted).is_(False), TopicRow.lifecycle == _ACTIVE))
    if clusters is not None:
        topic_query = topic_query.where(col(TopicRow.cluster).in_(list(clusters)))
        grant_query = grant_query.where(col(AccessGrantRow.cluster).in_(list(clusters)))
    if teams is not None:
        topic_query = topic_query.where(col(TopicRow.owner_team).in_(list(teams)))
        grant_query = grant_query.where(or_(col(AccessGrantRow.granted_team).in_(list(teams)),
                                            col(TopicRow.owner_team).in_(list(teams))))
    topics = list(session.exec(topic_query.order_by(col(TopicRow.cluster), col(TopicRow.name))).all())
    pairs = session.exec(grant_query.order_by(col(AccessGrantRow.cluster), col(AccessGrantRow.topic),
                                              col(AccessGrantRow.principal), col(AccessGrantRow.id))).all()
    # Every grant on a topic of `teams` is in (owner_team matches): a stale topic lists them all.
    grants = [(grant, topic) for grant, topic in pairs]
    wanted = {(t.cluster, t.name) for t in topics} | {(g.cluster, g.topic) for g, _ in grants}
    usage: dict[tuple[str, str], TopicUsage] = {}
    commits: dict[tuple[str, str, str], GroupCommits] = {}
    by_cluster: dict[str, set[str]] = {}
    for cluster, topic in wanted:
        by_cluster.setdefault(cluster, set()).add(topic)
    for cluster, names in sorted(by_cluster.items()):
        ordered = sorted(names)
        for start in range(0, len(ordered), 900):
            part = ordered[start:start + 900]
            for row in session.exec(select(TopicUsageRow).where(
                    TopicUsageRow.cluster == cluster, col(TopicUsageRow.topic).in_(part))).all():
                usage[(row.cluster, row.topic)] = _usage(row)
            for commit in session.exec(select(GroupCommitObservationRow).where(
                    GroupCommitObservationRow.cluster == cluster,
                    col(GroupCommitObservationRow.topic).in_(part))).all():
                commits[(commit.cluster, commit.topic, commit.group_id)] = _commits(commit)
    return ReportInputs(topics, grants, usage, commits)

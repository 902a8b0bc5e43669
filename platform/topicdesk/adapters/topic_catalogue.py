"""The topic catalogue's page query (GET /api/v1/topics): one statement per page, whatever the size.

Rows come back as `TopicListing` values built from Core rows of only the columns the list shows, not
ORM objects (building 50 ORM instances cost more than the query), with each topic's drift mark
computed in the same statement. The page walks the (cluster, name) unique index in order and stops
after limit + 1 matches; see docs/benchmarks.md, P5.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import DateTime, and_, bindparam, false, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from topicdesk.adapters.drift_store import drifted_clause
from topicdesk.adapters.tables import TopicRow

_TOPIC = TopicRow.__table__  # type: ignore[attr-defined]


class TopicListing(NamedTuple):
    """One topic of a catalogue page: the TopicRow columns the topic view reads, and its drift mark.
    A tuple: 50 of them are built per page, from rows in this order."""

    id: str
    cluster: str
    name: str
    owner_team: str
    partitions: int
    replication_factor: int
    config: dict[str, str]
    description: str
    last_error: str | None
    managed_by: str | None
    lifecycle: str
    quarantined_until: datetime | None
    deletion_request_id: str | None
    deleted_by: str | None
    deleted_at: datetime | None
    generation: int
    observed_generation: int
    deleted: bool
    drifted: bool


# A topic as the views read it: an ORM row (one topic's page) or a catalogue listing.
TopicRecord = TopicRow | TopicListing
_NOW = bindparam("now", type_=DateTime())
# Built once: composing the drift mark's EXISTS costs about as much as running the page query.
# `deleted = false`, not `IS false`: an equality the planner can match against a partial index.
_PAGE = select(*(_TOPIC.c[name] for name in TopicListing._fields if name != "drifted"),
               drifted_clause("topic", _TOPIC.c.id, _NOW).label("drifted")).where(_TOPIC.c.deleted == false())
_ORDER = (_TOPIC.c.cluster, _TOPIC.c.name)
# The catalogue's first page, unfiltered: the page most asked for, composed once too.
_FIRST_PAGE = _PAGE.order_by(*_ORDER).limit(bindparam("limit"))

# What GET /api/v1/topics?status= filters on (tombstoned topics are not listed).
TOPIC_STATUSES = ("applied", "drifted", "pending", "error")


def _status_clause(status: str) -> ColumnElement[bool]:
    reconciled = _TOPIC.c.observed_generation >= _TOPIC.c.generation
    drifted = drifted_clause("topic", _TOPIC.c.id, _NOW)
    return {
        "applied": and_(reconciled, ~drifted),
        "drifted": and_(reconciled, drifted),
        "pending": and_(~reconciled, _TOPIC.c.last_error.is_(None)),
        "error": and_(~reconciled, _TOPIC.c.last_error.is_not(None)),
    }[status]


def topic_page(
    connection: Connection, *, now: datetime, limit: int, after: tuple[str, str] | None, cluster: str | None,
    team: str | None, q: str | None, status: str | None,
) -> list[TopicListing]:
    """Up to limit + 1 live topics in (cluster, name) order after the cursor."""
    if not (cluster or team or status or q or after):
        rows: Sequence[tuple[Any, ...]] = connection.execute(_FIRST_PAGE, {"now": now, "limit": limit + 1}).all()
        return [TopicListing._make(row) for row in rows]
    query = _PAGE
    if cluster:
        query = query.where(_TOPIC.c.cluster == cluster)
    if team:
        query = query.where(_TOPIC.c.owner_team == team)
    if status:
        query = query.where(_status_clause(status))
    if q:
        like = f"%{q.lower()}%"
        query = query.where(or_(func.lower(_TOPIC.c.name).like(like), func.lower(_TOPIC.c.description).like(like)))
    if after is not None:
        query = query.where(or_(_TOPIC.c.cluster > after[0],
                                and_(_TOPIC.c.cluster == after[0], _TOPIC.c.name > after[1])))
    query = query.order_by(*_ORDER).limit(limit + 1)
    # fetchall, then positional construction: iterating the result row by row cost more than the query.
    rows = connection.execute(query, {"now": now}).all()
    return [TopicListing._make(row) for row in rows]

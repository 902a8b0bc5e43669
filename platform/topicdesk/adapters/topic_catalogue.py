"""The topic catalogue's page query (GET /api/v1/topics): one statement per page, whatever the size.

Rows come back as `TopicListing` values built from Core rows of only the columns the list shows, not
ORM objects (building 50 ORM instances cost more than the query), with each topic's drift mark
computed in the same statement. The page walks the (cluster, name) unique index in order and stops
after limit + 1 matches; see docs/benchmarks.md, P5.

A search (`q`) is a case-insensitive substring match over name and description, served by an index
where the database has one (revision 0016, adapters/topic_search.py); the matches, their order and
the pages are exactly the scan's.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ARRAY,
    DateTime,
    String,
    Text,
    TypeDecorator,
    and_,
    any_,
    bindparam,
    false,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.elements import ColumnElement

from topicdesk.adapters.db import PLAN_PER_CALL
from topicdesk.adapters.drift_store import drifted_clause, drifted_mark
from topicdesk.adapters.precompiled import Precompiled
from topicdesk.adapters.tables import TopicRow
from topicdesk.adapters.topic_search import search_term

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


class _ConfigJSON(TypeDecorator[dict[str, str]]):
    """A topic's config as the catalogue reads it: the JSON text decoded once per distinct text (a
    catalogue holds few distinct configs; json.loads per row was a tenth of the first page's query
    time), each row given its own copy."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> dict[str, str] | None:
        if isinstance(value, str):
            return dict(_decoded_config(value))
        return cast("dict[str, str] | None", value)


@functools.lru_cache(maxsize=4096)
def _decoded_config(text: str) -> dict[str, str]:
    decoded: dict[str, str] = json.loads(text)
    return decoded


def _listing_column(name: str) -> ColumnElement[Any]:
    column_ = _TOPIC.c[name]
    # Read as text on PostgreSQL too: psycopg would decode every row's JSON itself (51 json.loads
    # per page, a fifth of the page's CPU there).
    return type_coerce(sql_cast(column_, Text), _ConfigJSON).label(name) if name == "config" else column_


# Built once: composing the drift mark costs about as much as running the page query.
# `deleted = false`, not `IS false`: an equality the planner can match against a partial index.
_LISTING = select(*(_listing_column(name) for name in TopicListing._fields if name != "drifted"),
                  drifted_mark("topic", _TOPIC.c.id, _NOW).label("drifted"))
_PAGE = _LISTING.where(_TOPIC.c.deleted == false())
_ORDER = (_TOPIC.c.cluster, _TOPIC.c.name)
# The catalogue's first page, unfiltered: the page most asked for, compiled once per dialect too.
_FIRST_PAGE = Precompiled(_PAGE.order_by(*_ORDER).limit(bindparam("limit")))

# A search (adapters/topic_search.py): the LIKE, and on SQLite the index's candidates by rowid.
_LIKE = bindparam("like", type_=String())
_SCAN = or_(func.lower(_TOPIC.c.name).like(_LIKE), func.lower(_TOPIC.c.description).like(_LIKE))
_CANDIDATE = literal_column("topic.rowid").in_(
    select(literal_column("value")).select_from(func.json_each(bindparam("rowids", type_=String()))))
# The first page of a search, without other filters: what the portal's search box asks; compiled once.
_FIRST_SCAN_PAGE = Precompiled(_PAGE.where(_SCAN).order_by(*_ORDER).limit(bindparam("limit")))
_FIRST_INDEXED_PAGE = Precompiled(_PAGE.where(_CANDIDATE, _SCAN).order_by(*_ORDER).limit(bindparam("limit")))
# On PostgreSQL (see _searched_page): a search's ids, planned per call, then the page of those ids.
_PLANNED_PER_CALL = {PLAN_PER_CALL: True}
_FIRST_SEARCH_IDS = Precompiled(select(_TOPIC.c.id).where(_TOPIC.c.deleted == false(), _SCAN)
                                .order_by(*_ORDER).limit(bindparam("limit")))
# Not filtered again on `deleted`: a topic deleted since its id was found keeps its place on the page
# (in its deleted state), so the page's length still says whether another page follows.
_PAGE_OF_IDS = Precompiled(_LISTING.where(_TOPIC.c.id == any_(bindparam("ids", type_=ARRAY(String()))))
                           .order_by(*_ORDER))

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
    params: dict[str, Any] = {"now": now, "limit": limit + 1}
    term = None
    if q:
        term = search_term(connection, q)
        if term is None:  # the index has no candidate
            return []
        params.update(like=term.like, rowids=term.rowids)
    unfiltered = not (cluster or team or status or after)
    if term is None and unfiltered:
        return _listings(_FIRST_PAGE.rows(connection, params))
    clauses: list[ColumnElement[bool]] = []
    if cluster:
        clauses.append(_TOPIC.c.cluster == cluster)
    if team:
        clauses.append(_TOPIC.c.owner_team == team)
    if status:
        clauses.append(_status_clause(status))
    if term is not None:
        clauses += [_SCAN] if term.rowids is None else [_CANDIDATE, _SCAN]
    if after is not None:
        clauses.append(or_(_TOPIC.c.cluster > after[0],
                           and_(_TOPIC.c.cluster == after[0], _TOPIC.c.name > after[1])))
    if term is not None and connection.dialect.name == "postgresql":
        return _searched_page(connection, params, clauses, unfiltered)
    if unfiltered and term is not None:  # a search's first page, on SQLite
        return _listings((_FIRST_SCAN_PAGE if term.rowids is None else _FIRST_INDEXED_PAGE).rows(connection, params))
    return _listings(connection.execute(_PAGE.where(*clauses).order_by(*_ORDER).limit(bindparam("limit")),
                                        params).all())


def _searched_page(connection: Connection, params: dict[str, Any], clauses: list[ColumnElement[bool]],
                   unfiltered: bool) -> list[TopicListing]:
    """A search on PostgreSQL: the page's ids first, in a small statement planned for its term (the
    trigram indexes serve a rare term, the (cluster, name) walk a common one; one statement text
    serves every term, and a plan PostgreSQL made generic walked every row for a rare one), then
    those rows and their drift marks in a prepared statement. Planning the whole page for each
    term cost more than running it (0.23-0.27 ms of planning against 0.06-0.08 for the ids; docs/benchmarks.md, P5)."""
    found: Sequence[Sequence[Any]]
    if unfiltered:
        found = _FIRST_SEARCH_IDS.rows(connection, params, _PLANNED_PER_CALL)
    else:
        query = select(_TOPIC.c.id).where(_TOPIC.c.deleted == false(), *clauses)
        found = connection.execute(query.order_by(*_ORDER).limit(bindparam("limit")), params,
                                   execution_options=_PLANNED_PER_CALL).all()
    if not found:
        return []
    return _listings(_PAGE_OF_IDS.rows(connection, {"now": params["now"], "ids": [row[0] for row in found]}))


def _listings(rows: Sequence[Sequence[Any]]) -> list[TopicListing]:
    # fetchall, then positional construction: iterating the result row by row cost more than the query.
    return [TopicListing._make(row) for row in rows]

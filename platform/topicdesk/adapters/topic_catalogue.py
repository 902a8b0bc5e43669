"""The topic catalogue's page query (GET /api/v1/topics): one statement per page, whatever the size.

Rows come back as `TopicListing` values built from Core rows of only the columns the list shows, not
ORM objects (building 50 ORM instances cost more than the query), with each topic's drift mark
computed in the same statement. The page walks the (cluster, name) unique index in order and stops
after limit + 1 matches; see docs/benchmarks.md, P5.

A search (`q`) is a case-insensitive substring match over name and description, served by an index
where the database has one (revision 0016): on PostgreSQL the same LIKE, which the planner answers
from pg_trgm GIN indexes; on SQLite a LIKE on the FTS5 trigram table `topic_search`, whose rowids
pick the topic rows. Either way the matches, order and pages are exactly the scan's.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    DateTime,
    Select,
    Text,
    TypeDecorator,
    and_,
    bindparam,
    column,
    false,
    func,
    literal_column,
    or_,
    select,
    table,
    type_coerce,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.elements import ColumnElement

from topicdesk.adapters.drift_store import drifted_clause
from topicdesk.adapters.precompiled import Precompiled
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


class _ConfigJSON(TypeDecorator[dict[str, str]]):
    """A topic's config as the catalogue reads it: the JSON text decoded once per distinct text (a
    catalogue holds few distinct configs; json.loads per row was a tenth of the first page's query
    time), each row given its own copy. PostgreSQL's driver hands over the dict itself."""

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
    return type_coerce(column_, _ConfigJSON).label(name) if name == "config" else column_


# Built once: composing the drift mark's EXISTS costs about as much as running the page query.
# `deleted = false`, not `IS false`: an equality the planner can match against a partial index.
_PAGE = select(*(_listing_column(name) for name in TopicListing._fields if name != "drifted"),
               drifted_clause("topic", _TOPIC.c.id, _NOW).label("drifted")).where(_TOPIC.c.deleted == false())
_ORDER = (_TOPIC.c.cluster, _TOPIC.c.name)
# The catalogue's first page, unfiltered: the page most asked for, compiled once per dialect too.
_FIRST_PAGE = Precompiled(_PAGE.order_by(*_ORDER).limit(bindparam("limit")))

# The search index's objects (revision 0016), by name: on SQLite the FTS5 table and the shadow tables
# FTS5 keeps; on PostgreSQL the trigram indexes. They are not models (migrations/env.py skips them).
SEARCH_INDEX_OBJECTS = frozenset({
    "topic_search", "topic_search_data", "topic_search_idx", "topic_search_docsize", "topic_search_config",
    "ix_topic_search_name", "ix_topic_search_description",
})
_SEARCH = table("topic_search", column("rowid"), column("name"), column("description"))
_TOPIC_ROWID: ColumnElement[Any] = literal_column("topic.rowid")
# The trigram index can only look up runs of 3+ characters between the pattern's wildcards; a term
# without one (1-2 characters, mostly) keeps the scan.
_TRIGRAM_RUN = re.compile(r"[^%_]{3,}")
_MATCH = literal_column("topic_search").op("MATCH")(bindparam("match"))
_COMMON_TERM_CANDIDATES = 1000
_CANDIDATE_PROBE = select(func.count()).select_from(
    select(literal_column("1")).select_from(_SEARCH).where(_MATCH).limit(_COMMON_TERM_CANDIDATES).subquery())
_HAS_SEARCH_TABLE: Select[Any] = select(literal_column("1")).select_from(table("sqlite_master")).where(
    literal_column("type") == "table", literal_column("name") == "topic_search")

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
        return [TopicListing._make(row) for row in _FIRST_PAGE.rows(connection, {"now": now, "limit": limit + 1})]
    query = _PAGE
    if cluster:
        query = query.where(_TOPIC.c.cluster == cluster)
    if team:
        query = query.where(_TOPIC.c.owner_team == team)
    if status:
        query = query.where(_status_clause(status))
    if q:
        query = query.where(_search_clause(connection, q))
    if after is not None:
        query = query.where(or_(_TOPIC.c.cluster > after[0],
                                and_(_TOPIC.c.cluster == after[0], _TOPIC.c.name > after[1])))
    query = query.order_by(*_ORDER).limit(limit + 1)
    # fetchall, then positional construction: iterating the result row by row cost more than the query.
    rows = connection.execute(query, {"now": now}).all()
    return [TopicListing._make(row) for row in rows]


def _search_clause(connection: Connection, q: str) -> ColumnElement[bool]:
    """What a search matches: `%` and `_` in the term stay LIKE wildcards, as they always were."""
    like = f"%{q.lower()}%"
    scan = or_(func.lower(_TOPIC.c.name).like(like), func.lower(_TOPIC.c.description).like(like))
    # A NUL ends SQLite's LIKE pattern early, and an FTS5 query string too: such a term keeps the scan.
    runs = _TRIGRAM_RUN.findall(like) if "\x00" not in like else []
    if connection.dialect.name != "sqlite" or not runs or connection.execute(_HAS_SEARCH_TABLE).first() is None:
        # PostgreSQL's planner answers these very expressions from the trigram indexes when it has them.
        return scan
    # The trigram index names the candidates: rows holding every literal run of the pattern (in
    # either column; case folded, so a superset of LIKE's ASCII-only folding); the LIKE then decides
    # on the row itself. A MATCH, not a LIKE on topic_search: FTS5 would re-read each candidate's text
    # through the content table, which cost 3x the MATCH for a term in 10% of the topics.
    match = " AND ".join('"' + run.replace('"', '""') + '"' for run in runs)
    # SQLite's planner cannot tell a rare term from a common one. A common term fills the page after
    # a few hundred rows of the (cluster, name) walk, sooner than the index lists its thousands of
    # candidates; a rare one makes that walk read every row. So count candidates, up to a bound.
    if connection.execute(_CANDIDATE_PROBE, {"match": match}).scalar_one() >= _COMMON_TERM_CANDIDATES:
        return scan
    candidates = select(_SEARCH.c.rowid).where(literal_column("topic_search").op("MATCH")(match))
    return and_(_TOPIC_ROWID.in_(candidates), scan)

"""The catalogue search's index (revision 0016) and the candidates it names for a term.

A search (`q`) is `lower(name) LIKE '%term%' OR lower(description) LIKE '%term%'`, the term
lower-cased here: `%` and `_` in a term stay LIKE wildcards, as they always were. On PostgreSQL
that LIKE is the whole story: the planner answers those very expressions from the pg_trgm GIN
indexes when it has them. On SQLite the FTS5 trigram table `topic_search` names candidate rows
first (see `candidates`); the LIKE then decides on each, so the matches are exactly the scan's.
See docs/architecture.md, "The topic catalogue".
"""

from __future__ import annotations

import json
import re
import weakref
from typing import NamedTuple

from sqlalchemy import bindparam, column, literal_column, select, table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from topicdesk.adapters.precompiled import Precompiled

# The index's objects by name: on SQLite the FTS5 table and the shadow tables FTS5 keeps; on
# PostgreSQL the trigram indexes. They are not models (migrations/env.py skips them).
SEARCH_INDEX_OBJECTS = frozenset({
    "topic_search", "topic_search_data", "topic_search_idx", "topic_search_docsize", "topic_search_config",
    "ix_topic_search_name", "ix_topic_search_description",
})
# The trigram index can only look up runs of 3+ characters between the pattern's wildcards; a term
# without one (1-2 characters, mostly) keeps the scan.
_TRIGRAM_RUN = re.compile(r"[^%_]{3,}")
# At this many candidates a term is common: the (cluster, name) walk fills a page sooner than the
# index lists them all (docs/benchmarks.md, P5).
COMMON_TERM_CANDIDATES = 1000

_SEARCH = table("topic_search", column("rowid"))
_CANDIDATES = Precompiled(select(_SEARCH.c.rowid).where(
    literal_column("topic_search").op("MATCH")(bindparam("match"))).limit(COMMON_TERM_CANDIDATES))
_HAS_INDEX = Precompiled(select(literal_column("1")).select_from(table("sqlite_master")).where(
    literal_column("type") == "table", literal_column("name") == "topic_search"))
# Engines whose database was seen with the index: looked up until found, then trusted. A lookup of
# candidates that finds the table gone (a downgrade under a running server) forgets the engine.
_INDEXED: weakref.WeakSet[Engine] = weakref.WeakSet()


class SearchTerm(NamedTuple):
    like: str  # the LIKE pattern
    # A JSON array of the topic rowids that can match, None: no index answers (scan every topic).
    rowids: str | None


def search_term(connection: Connection, q: str) -> SearchTerm | None:
    """The term's pattern and, where the index serves it, its candidates; None when none can match."""
    like = f"%{q.lower()}%"
    # A NUL ends SQLite's LIKE pattern early, and an FTS5 query string too: such a term keeps the scan.
    runs = _TRIGRAM_RUN.findall(like) if "\x00" not in like else []
    if connection.dialect.name != "sqlite" or not runs or not _has_index(connection):
        return SearchTerm(like, None)
    # Rows holding every literal run of the pattern, in either column, case folded (a superset of
    # LIKE's ASCII-only folding). A MATCH, not a LIKE on topic_search: FTS5 would re-read each
    # candidate's text through the content table (3x the MATCH for a term in 10% of the topics).
    match = " AND ".join('"' + run.replace('"', '""') + '"' for run in runs)
    # SQLite's planner cannot tell a rare term from a common one, so the candidates are listed up to
    # a bound, once, and handed to the page query as a JSON array (one statement text for any number).
    try:
        rowids = [row[0] for row in _CANDIDATES.rows(connection, {"match": match})]
    except OperationalError as error:  # SQLite keeps the transaction going after a failed statement
        if "no such table" not in str(error.orig):
            raise
        _INDEXED.discard(connection.engine)
        return SearchTerm(like, None)
    if not rowids:
        return None
    if len(rowids) >= COMMON_TERM_CANDIDATES:
        return SearchTerm(like, None)
    return SearchTerm(like, json.dumps(rowids))


def _has_index(connection: Connection) -> bool:
    if connection.engine in _INDEXED:
        return True
    if _HAS_INDEX.rows(connection, {}):
        _INDEXED.add(connection.engine)
        return True
    return False

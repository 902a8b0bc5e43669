"""Bulk upsert of topic observations: one statement per batch, whatever the number of topics.

PostgreSQL: INSERT ... SELECT FROM json_to_recordset(:rows) ON CONFLICT DO UPDATE (one fixed
statement, see json_rows.py). SQLite: INSERT ... ON CONFLICT DO UPDATE through executemany.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from topicdesk.adapters.json_rows import columns, json_rows, rows_of
from topicdesk.adapters.tables import TopicObservationRow, table_of

_OBSERVATIONS = table_of(TopicObservationRow)
_KEY = ["cluster", "name"]


@functools.cache
def _upserts() -> tuple[Any, Any]:
    names = [c.name for c in columns(_OBSERVATIONS)]
    pg = postgresql.insert(_OBSERVATIONS).from_select(names, rows_of(_OBSERVATIONS, "rows"))
    pg = pg.on_conflict_do_update(index_elements=_KEY, set_={
        "observed": pg.excluded.observed, "observed_at": pg.excluded.observed_at})
    lite = sqlite.insert(_OBSERVATIONS)
    lite = lite.on_conflict_do_update(index_elements=_KEY, set_={
        "observed": lite.excluded.observed, "observed_at": lite.excluded.observed_at})
    return pg, lite


def upsert_topic_observations(connection: Connection, rows: Sequence[dict[str, Any]], chunk: int = 5000) -> None:
    """rows: {cluster, name, observed, observed_at}; newer rows replace what is stored."""
    pg, lite = _upserts()
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        if connection.dialect.name == "postgresql":
            connection.execute(pg, {"rows": json_rows(part)})
        else:
            connection.execute(lite, list(part))

"""Sending many rows of a table to PostgreSQL as one JSON parameter.

`INSERT INTO t SELECT * FROM json_to_recordset(:rows) AS x(<t's columns and types>)` is one fixed
statement for any number of rows: PostgreSQL and psycopg prepare and cache it once. A multi-row
VALUES list is a new statement text for every row count (parsed again each time), and
executemany sends a statement per row.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Select, String, Table, bindparam, cast, column, func, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection


def columns(table: Table) -> list[Column[Any]]:
    # Every column but an auto-assigned row id.
    return [c for c in table.columns if not (c.primary_key and c.autoincrement is True)]


def rows_of(table: Table, parameter: str) -> Select[Any]:
    """SELECT * FROM json_to_recordset(:parameter) AS x(<table's columns with their types>)."""
    wanted = columns(table)
    rows = (func.json_to_recordset(cast(bindparam(parameter, type_=String), postgresql.JSON))
            .table_valued(*(column(c.name, c.type) for c in wanted), name=f"{parameter}_rows")
            .render_derived(with_types=True))
    return select(*(rows.c[c.name] for c in wanted))


def insert_rows(table: Table, parameter: str) -> Any:
    return insert(table).from_select([c.name for c in columns(table)], rows_of(table, parameter))


def json_rows(rows: Sequence[dict[str, Any]]) -> str:
    """The parameter for rows_of / insert_rows."""
    return json.dumps(rows, default=_json_value, separators=(",", ":"))


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


@functools.cache
def _inserts(table: Table) -> tuple[Any, Any]:
    return insert(table), insert_rows(table, "rows")


def insert_many(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows into a table in one statement on PostgreSQL (one JSON parameter), else executemany."""
    if not rows:
        return
    plain, from_json = _inserts(table)
    if connection.dialect.name == "postgresql":
        connection.execute(from_json, {"rows": json_rows(rows)})
    else:
        connection.execute(plain, rows)

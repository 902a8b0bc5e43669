"""A fixed statement compiled once per dialect and run as its SQL text.

For a hot read whose statement never changes (the catalogue's first page): `connection.execute` walks
the statement for its cache key and wraps every row in a Row with per-column processing on each
call, which cost about as much as SQLite running the query (docs/benchmarks.md, P5). Here the SQL
text, its parameter order and the columns' result processors are worked out once; each call binds
the values, runs the text through the same connection (events and transactions as usual) and
decodes only the columns whose type needs it, skipping NULLs. Result processors are asked without
the driver's column type code (execute() passes it): fine for the text, number, boolean, timestamp
and JSON columns used here; a type whose decoding depends on it does not belong in such a statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect

_Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    compiled: Any  # SQLCompiler: construct_params fills in the statement's own literal binds
    positions: tuple[str, ...] | None  # positional paramstyles: the bind names in order
    names: Mapping[str, str]  # named paramstyles: bind name -> its name in the SQL text, where quoted
    binds: tuple[tuple[str, _Processor], ...]  # bind name -> the bind type's processor
    decoders: tuple[tuple[int, _Processor], ...]  # column index -> the column type's result processor


class Precompiled:
    def __init__(self, statement: Select[Any]) -> None:
        self._statement = statement
        # Keyed by what shapes the SQL text and its parameters: the dialect, its driver, the paramstyle.
        self._by_dialect: dict[tuple[str, str, str], _Compiled | None] = {}

    def rows(self, connection: Connection, params: Mapping[str, Any],
             options: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """The statement's rows for `params`; `options`: execution options for this call."""
        dialect = connection.dialect
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        compiled = self._by_dialect[key] if key in self._by_dialect else self._compile(dialect, key)
        if compiled is None:  # a statement this dialect renders per call (post-compile binds)
            return [tuple(row) for row in connection.execute(self._statement, params, execution_options=options).all()]
        values = compiled.compiled.construct_params(params, escape_names=False)
        for name, processor in compiled.binds:
            if values[name] is not None:
                values[name] = processor(values[name])
        arguments: Sequence[Any] | Mapping[str, Any] = (
            tuple(values[name] for name in compiled.positions) if compiled.positions is not None
            else {compiled.names.get(name, name): value for name, value in values.items()})
        result = connection.exec_driver_sql(compiled.sql, arguments, execution_options=options)
        try:
            raw: Sequence[tuple[Any, ...]] = result.cursor.fetchall()
        finally:
            result.close()
        if not compiled.decoders:
            return list(raw)
        decoded = []
        for row in raw:
            cells = list(row)
            for index, processor in compiled.decoders:
                if cells[index] is not None:
                    cells[index] = processor(cells[index])
            decoded.append(tuple(cells))
        return decoded

    def _compile(self, dialect: Dialect, key: tuple[str, str, str]) -> _Compiled | None:
        compiled: Any = self._statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            self._by_dialect[key] = None
            return None
        binds = []
        for name, bind in compiled.binds.items():
            # The dialect's own type (SQLite's DATETIME text format, ...), as execute() would use.
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                binds.append((name, processor))
        decoders = []
        for index, column in enumerate(self._statement.selected_columns):
            processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if processor is not None:
                decoders.append((index, processor))
        result = _Compiled(sql=compiled.string, compiled=compiled,
                           positions=tuple(compiled.positiontup) if compiled.positional else None,
                           names=dict(compiled.escaped_bind_names), binds=tuple(binds), decoders=tuple(decoders))
        self._by_dialect[key] = result
        return result

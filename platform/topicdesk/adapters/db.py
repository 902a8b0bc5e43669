"""SQLModel engine and sessions for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, create_engine


def make_engine(database_url: str, *, echo: bool = False) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            database_url,
            echo=echo,
            # Flask serves requests on several threads; each gets its own connection from the pool.
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    engine = create_engine(database_url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
    event.listen(engine, "do_execute", _postgresql_plan_per_call)
    return engine


# Execution option of a statement whose best plan depends on its values (a search's pattern).
PLAN_PER_CALL = "topicdesk_plan_per_call"


def _postgresql_plan_per_call(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    # psycopg prepares a statement text it has run a few times, and PostgreSQL then settles on a
    # generic plan, blind to the values: a search for a rare term walked every row with the plan
    # made for a common one (docs/benchmarks.md, P5). Unprepared, each call is planned for its
    # values, with no extra round trip (a SET LOCAL plan_cache_mode was one).
    if context is None or not context.execution_options.get(PLAN_PER_CALL, False):
        return False
    cursor.execute(statement, parameters, prepare=False)
    return True


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when a transaction begins (see below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the portal read while the reconciler writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Execution option of a connection that only reads (read_connection).
_READ_ONLY = "topicdesk_read_only"


def _sqlite_begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads and then writes fails with "database is locked" when
    # another writer got in between (busy_timeout does not help there). Taking the write lock at
    # BEGIN makes concurrent units of work queue up instead; transactions stay short. A read-only
    # connection takes no write lock: under WAL it reads a snapshot beside the writer.
    read_only = connection.get_execution_options().get(_READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


# session.info key: {name: callable} to run once the unit of work has committed and released its
# connection (e.g. chaining the audit events it recorded).
AFTER_COMMIT = "topicdesk.after_commit"


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends normally, rolled back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        hooks = session.info.pop(AFTER_COMMIT, None)
    if hooks:
        for hook in hooks.values():
            hook()


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A plain connection for reads, its transaction committed, not rolled back, at the end.

    psycopg drops every prepared statement of a connection when it sees a ROLLBACK (the same
    object may have been dropped and created again), and closing a connection with an open
    transaction rolls it back. One such read among the requests a pooled connection serves then
    makes PostgreSQL plan every statement again (bench P6: 0.5-0.9 ms of planning per request).
    Committing a transaction that only read is as cheap and keeps them. On SQLite it begins
    deferred: a read does not queue behind, or block, the writers.
    """
    with engine.connect() as connection:
        connection.execution_options(**{_READ_ONLY: True})
        yield connection
        connection.commit()


def database_reachable(engine: Engine) -> tuple[bool, str]:
    try:
        with read_connection(engine) as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return False, type(exc).__name__
    return True, "ok"

"""A read on SQLite neither waits for nor blocks a writer: read_connection begins deferred (WAL
gives it a snapshot), units of work begin IMMEDIATE and queue for the write lock."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from topicdesk import migrations
from topicdesk.adapters.db import make_engine, read_connection, unit_of_work
from topicdesk.adapters.tables import TeamRow


def test_a_read_connection_reads_while_a_unit_of_work_holds_the_write_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'reads.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    try:
        with unit_of_work(engine) as session:
            session.add(TeamRow(name="payments", display_name="Payments"))
        with unit_of_work(engine) as writer:
            writer.add(TeamRow(name="billing", display_name="Billing"))
            writer.flush()  # the writer holds the write lock from BEGIN IMMEDIATE until commit
            started = time.monotonic()
            with read_connection(engine) as connection:
                names = connection.execute(text("SELECT name FROM team ORDER BY name")).scalars().all()
            # busy_timeout is 30 s: a read that took the write lock would wait that long, then fail.
            assert time.monotonic() - started < 5
            assert names == ["payments"]  # the snapshot before the writer's commit
        with read_connection(engine) as connection:
            assert connection.execute(text("SELECT count(*) FROM team")).scalar() == 2
    finally:
        engine.dispose()

"""PostgreSQL keeps the prepared statements of pooled connections across the portal's reads.

psycopg prepares a statement after a few executions on one connection and drops all of them at a
ROLLBACK. A read that ended by rolling back (the topic list did) made PostgreSQL plan every
statement of every request again; reads now commit (adapters/db.py read_connection). This is
PostgreSQL's and psycopg's behaviour, so it runs on PostgreSQL only.
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import text

from tests.support import add_offline_cluster, member_client
from topicdesk import migrations
from topicdesk.adapters.db import make_engine
from topicdesk.local_postgres import LocalPostgres


def test_topic_list_reads_keep_the_connections_prepared_statements(postgres_server: LocalPostgres,
                                                                     tmp_path: Path) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    url = postgres_server.url(name)
    migrations.upgrade(url)
    engine = make_engine(url)
    try:
        add_offline_cluster(engine)
        client, token = member_client(engine, url, tmp_path)
        for _ in range(12):
            response = client.get("/api/v1/topics", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200

        # Every pooled connection at once (the pool keeps up to 10): what any of them still has prepared.
        with ExitStack() as stack:
            connections = [stack.enter_context(engine.connect()) for _ in range(10)]
            prepared = {row[0] for connection in connections
                        for row in connection.execute(text("SELECT statement FROM pg_prepared_statements"))}
        # Before, the list's closing ROLLBACK dropped it (and everything else) right after psycopg prepared it.
        assert any("FROM topic" in statement for statement in prepared), prepared
    finally:
        engine.dispose()


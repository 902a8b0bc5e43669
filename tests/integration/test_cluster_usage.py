"""The cluster usage counters (cluster_usage, kept by triggers on topic) against the sums they replace,
on both backends: after every kind of write to `topic`, from submissions to direct row deletes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, delete, insert, inspect, text, update
from sqlalchemy.engine import Engine

from tests.support import add_offline_cluster
from topicdesk import migrations
from topicdesk.adapters import request_store as store
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import TopicRow, table_of
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.services.tokens import create_token

DEV, STAGING = "payments-dev", "payments-staging"
TOPICS = table_of(TopicRow)

_RECOMPUTED = text(
    "SELECT cluster, SUM(partitions), SUM(partitions * replication_factor), COUNT(expected_bytes_per_second)"
    " FROM topic WHERE NOT deleted GROUP BY cluster")
_COUNTED = text("SELECT cluster, SUM(partitions), SUM(replicas), SUM(rated_topics) FROM cluster_usage GROUP BY cluster")


def usage(engine: Engine) -> tuple[dict[str, tuple[int, int, int]], dict[str, tuple[int, int, int]]]:
    """(counters, recomputed sums) per cluster; a cluster whose counters are all zero has no live topic."""
    with engine.connect() as connection:
        counted = {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in connection.execute(_COUNTED)}
        recomputed = {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in connection.execute(_RECOMPUTED)}
    return {cluster: sums for cluster, sums in counted.items() if sums != (0, 0, 0)}, recomputed


def assert_exact(engine: Engine) -> dict[str, tuple[int, int, int]]:
    counted, recomputed = usage(engine)
    assert counted == recomputed
    return counted


def topic(cluster: str, name: str, partitions: int = 3, rf: int = 3, rate: int | None = None, **more: Any
          ) -> dict[str, Any]:
    return store.row_values(TopicRow, cluster=cluster, name=name, owner_team="payments", partitions=partitions,
                            replication_factor=rf, expected_bytes_per_second=rate, **more)


def seed_clusters(engine: Engine) -> None:
    for name, environment in ((DEV, "dev"), (STAGING, "staging")):
        add_offline_cluster(engine, name, environment=environment, broker_count=9)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    seed_clusters(engine)
    yield engine
    engine.dispose()


def test_counters_follow_every_write_to_topic(engine: Engine, database_url: str, tmp_path: Path) -> None:
    # Submissions through the API: on PostgreSQL the one-statement CTE, on SQLite one insert per table.
    app = create_app(Settings.from_env({"DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(tmp_path)}),
                     engine=engine)
    token = create_token(engine, team="payments", name="member", role=Role.MEMBER, actor="test").token
    for n, rate in ((1, None), (2, 1024), (3, None)):
        spec: dict[str, Any] = {"name": f"payments.orders-{n}", "partitions": 2 * n, "replication_factor": 3,
                                "producers": ["User:payments.writer"]}
        if rate:
            spec["expected_throughput"] = {"bytes_per_second": rate}
        response = app.test_client().post("/api/v1/requests", json={"kind": "topic.create", "cluster": DEV,
                                                                     "spec": spec},
                                          headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.json
        assert (response.json or {})["status"] == "approved"
    assert assert_exact(engine) == {DEV: (12, 36, 1)}

    with engine.begin() as connection:
        # A bulk insert (an import, a seed), live and already deleted rows mixed.
        connection.execute(insert(TOPICS), [topic(STAGING, f"payments.bulk-{n}", partitions=n + 1, rf=2,
                                                  deleted=n % 3 == 0) for n in range(9)])
    assert_exact(engine)
    with engine.begin() as connection:
        # A partition increase, a replication-factor change, a rate declared and one dropped.
        connection.execute(update(TOPICS).where(TOPICS.c.name == "payments.orders-1").values(partitions=12))
        connection.execute(update(TOPICS).where(TOPICS.c.name == "payments.bulk-1").values(replication_factor=3))
        connection.execute(update(TOPICS).where(TOPICS.c.name == "payments.orders-3").values(
            expected_bytes_per_second=2048))
        connection.execute(update(TOPICS).where(TOPICS.c.name == "payments.orders-2").values(
            expected_bytes_per_second=None))
        # Updates that touch no counted column change nothing (the reconciler's bookkeeping).
        connection.execute(update(TOPICS).values(observed_generation=TOPICS.c.generation, attempts=0))
        connection.execute(update(TOPICS).where(TOPICS.c.cluster == DEV).values(partitions=TOPICS.c.partitions))
    assert assert_exact(engine)[DEV] == (12 + 4 + 6, 66, 1)

    with engine.begin() as connection:
        # The deletion's tombstone (soft delete), a restore, and a row moved to the other cluster.
        connection.execute(update(TOPICS).where(TOPICS.c.name == "payments.orders-2").values(deleted=True))
        connection.execute(update(TOPICS).where(TOPICS.c.name == "payments.bulk-3").values(deleted=False))
        connection.execute(update(TOPICS).where(TOPICS.c.name == "payments.bulk-4").values(cluster=DEV))
    assert_exact(engine)

    # A topic.create replacing a tombstone: the tombstone's row is deleted, the new one inserted.
    with unit_of_work(engine) as session:
        tombstone = session.connection().execute(
            text("SELECT id FROM topic WHERE name = 'payments.orders-2'")).scalar_one()
        links = store.write_desired_state(session, "topic.create", DEV, {
            "name": "payments.orders-2", "partitions": 7, "replication_factor": 2}, "payments", tombstone=tombstone)
        assert links[0]["resource_kind"] == "topic"
    assert_exact(engine)
    # A topic.update through the ORM (the approval path), partitions and rate together.
    with unit_of_work(engine) as session:
        store.write_desired_state(session, "topic.update", DEV, {
            "name": "payments.orders-2", "partitions": 9, "expected_throughput": {"bytes_per_second": 10}},
            "payments")
    assert_exact(engine)

    with engine.begin() as connection:
        # Direct deletes: the confirmed tombstone's row removed, and live rows removed outright.
        connection.execute(delete(TOPICS).where(TOPICS.c.name == "payments.bulk-0"))
        connection.execute(delete(TOPICS).where(TOPICS.c.cluster == STAGING))
    counted = assert_exact(engine)
    assert STAGING not in counted

    # What the hot paths read is the counters: submission context and the request page's budgets.
    with unit_of_work(engine) as session:
        # The rated topics still count against the disk budget: bytes/s x 7 days x RF.
        expected = {"partitions": counted[DEV][0], "replicas": counted[DEV][1],
                    "disk_bytes": (2048 * 3 + 10 * 2) * 604800}
        assert store.cluster_usage(session, DEV) == expected
        context = store.load_context(session, DEV, None)
        assert context is not None
        assert context.usage == expected
        assert store.cluster_usage(session, STAGING) == {"partitions": 0, "replicas": 0, "disk_bytes": 0}


def test_counters_stay_exact_with_concurrent_writers(engine: Engine) -> None:
    """Several connections writing one cluster's topics: on PostgreSQL in overlapping transactions, from
    different backends and so into different counter rows (SQLite has one writer at a time)."""
    overlap = engine.dialect.name == "postgresql"
    connections = [engine.connect() for _ in range(4)]
    try:
        for n, connection in enumerate(connections):
            connection.begin()
            connection.execute(insert(TOPICS), [topic(DEV, f"payments.c{n}-{i}", partitions=i + 1) for i in range(5)])
            if not overlap:
                connection.commit()
        for connection in connections:
            if overlap:
                connection.commit()
        # Each connection grows another's topics and deletes one of its own.
        for n, connection in enumerate(connections):
            with connection.begin():
                connection.execute(update(TOPICS).where(TOPICS.c.name.like(f"payments.c{(n + 1) % 4}-%"))
                                   .values(partitions=TOPICS.c.partitions + 1))
                connection.execute(update(TOPICS).where(TOPICS.c.name == f"payments.c{n}-0").values(deleted=True))
    finally:
        for connection in connections:
            connection.close()
    # 4 x (1+2+3+4+5 partitions, +5 for the growth), less each connection's first topic (2 partitions
    # after the growth; c0-0 grew after it was deleted, which counts nothing either way).
    live = 4 * 20 - 4 * 2
    assert assert_exact(engine)[DEV] == (live, 3 * live, 0)
    with engine.connect() as connection:
        slots = connection.execute(text("SELECT COUNT(*) FROM cluster_usage WHERE cluster = :c"),
                                   {"c": DEV}).scalar_one()
    assert slots > 1 if overlap else slots == 1


def test_migration_backfills_and_installs_the_triggers(database_url: str) -> None:
    migrations.upgrade(database_url, "0014")
    engine = make_engine(database_url)
    try:
        seed_clusters(engine)
        # The table as it was then (later revisions may add columns).
        then = Table("topic", MetaData(), autoload_with=engine)
        with engine.begin() as connection:
            connection.execute(insert(then), [
                {key: value for key, value in topic(DEV, f"payments.old-{n}", partitions=n + 1, rate=n or None,
                                                    deleted=n == 4).items() if key in then.c}
                for n in range(6)])
        migrations.upgrade(database_url)
        assert assert_exact(engine) == {DEV: (1 + 2 + 3 + 4 + 6, 3 * 16, 4)}
        assert installed_triggers(engine) == {"topic_usage_insert", "topic_usage_delete", "topic_usage_update"}
        # The indexes the unique keys already give are gone.
        indexes = {index["name"] for table in ("topic", "access_grant") for index in inspect(engine).get_indexes(table)}
        assert not {"ix_topic_cluster", "ix_access_grant_cluster"} & indexes

        migrations.downgrade(database_url, "0014")
        assert installed_triggers(engine) == set()
        assert "cluster_usage" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def installed_triggers(engine: Engine) -> set[str]:
    query = ("SELECT tgname FROM pg_trigger WHERE tgrelid = 'topic'::regclass AND NOT tgisinternal"
             if engine.dialect.name == "postgresql" else
             "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'topic'")
    with engine.connect() as connection:
        names = {row[0] for row in connection.execute(text(query))}
    # Ours only (other revisions have their own triggers on topic); topic_usage_truncate is PostgreSQL's
    # extra, as TRUNCATE fires no row trigger.
    return {name for name in names if name.startswith("topic_usage_")} - {"topic_usage_truncate"}

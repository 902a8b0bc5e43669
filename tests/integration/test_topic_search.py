"""The catalogue search (GET /api/v1/topics?q=) served by its index (revision 0016) on both databases:
the same matches, order and pages as the plain scan for every kind of term, the index kept in step
with inserts, updates and deletes, and the index really used."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, event, insert, text, update
from sqlalchemy.engine import Connection, Engine

from topicdesk import migrations
from topicdesk.adapters.db import make_engine
from topicdesk.adapters.tables import ClusterRow, TeamRow, TopicRow, utcnow
from topicdesk.adapters.topic_catalogue import topic_page
from topicdesk.adapters.topic_search import SEARCH_INDEX_OBJECTS
from topicdesk.local_postgres import LocalPostgres

TOPIC = TopicRow.__table__  # type: ignore[attr-defined]
CLUSTERS = ("payments-dev", "ingest-prod")

# Names and descriptions with what a term can trip on: case, accents and other non-ASCII letters,
# LIKE's wildcards, quotes, FTS5 query syntax, whitespace, a NUL-free but odd mix.
TOPICS = [
    ("payments.orders.v1", "Orders placed by customers"),
    ("payments.ORDERS_archive", "Old ORDERS, kept for audit"),
    ("payments.order-events", "École: événements de commande"),
    ("payments.école.v1", "ÉCOLE upper case accents"),
    ("payments.straße", "Straße und STRASSE, über Ümlaute"),
    ("payments.100%_done", "percent % and underscore _ in the name"),
    ("payments.a_b", "axb is not a_b, unless _ is a wildcard"),
    ("payments.quote\"d", "a \"double\" and a 'single' quote"),
    ("payments.fts-syntax", "NEAR(a b) AND OR NOT * ^ : { } + - col:term"),
    ("payments.emoji", "events 🚀🚀🚀 rocket"),
    ("payments.cjk", "注文イベント 注文"),
    ("payments.back\\slash", "a back\\slash and tabs\tand  double  spaces"),
    ("payments.empty-description", ""),
    ("payments.rde-before-ord", "rde ord: trigrams of 'orders' in the wrong order"),
    ("payments.ordinal", "ord in the name"),
]

TERMS = [
    "orders", "ORDERS", "Orders", "order", "ord", "or", "o", "rde%ord", "ord%rde", "%", "%%", "_", "__", "___",
    "a_b", "a%b", "100%", "%_", "_done", "0%_d", "école", "ÉCOLE", "École", "cole", "éco", "straße", "STRASSE",
    "strasse", "über", "Über", "ü", "ümlaute", "\"", "\"d", "quote\"d", "'single'", "'", "NEAR(a", "AND OR",
    "col:term", "*", "^ :", "{ }", "🚀", "🚀🚀", "🚀🚀🚀", "注文", "注文イベ", "back\\slash", "\\", "\t", "  double",
    "double  spaces", "s  d", "payments.", "payments.orders.v1", "nothing-matches-this", "x" * 300, "e", "ev",
    "eve", "events", "é", "ée", "mande", "wrong order",
]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    seed(engine)
    yield engine
    engine.dispose()


def seed(engine: Engine) -> None:
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(insert(TeamRow.__table__),  # type: ignore[attr-defined]
                           [{"name": t, "display_name": t, "created_at": now} for t in ("payments", "ingest")])
        connection.execute(insert(ClusterRow.__table__), [  # type: ignore[attr-defined]
            {"name": c, "environment": c.split("-")[1], "owner_team": c.split("-")[0],
             "bootstrap_servers": "127.0.0.1:1", "admin_secret_ref": "file:/nonexistent", "broker_count": 3,
             "partition_budget": 1000, "disk_budget_bytes": 1024**4, "tags": [], "drift_mode": "enforce",
             "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512", "created_at": now}
            for c in CLUSTERS])
        connection.execute(insert(TOPIC), [topic_row(cluster, name, description)
                                           for cluster in CLUSTERS for name, description in TOPICS])
        # A tombstone matches nothing: the catalogue lists live topics only.
        connection.execute(insert(TOPIC), [{**topic_row(CLUSTERS[0], "payments.orders.deleted", "orders"),
                                            "deleted": True, "lifecycle": "deleting"}])


def topic_row(cluster: str, name: str, description: str) -> dict[str, Any]:
    now = utcnow()
    return {"id": uuid.uuid4().hex, "cluster": cluster, "name": name, "owner_team": cluster.split("-")[0],
            "partitions": 1, "replication_factor": 1, "config": {}, "managed_config_keys": [],
            "description": description, "generation": 1, "observed_generation": 1, "failed_generation": 0,
            "deleted": False, "attempts": 0, "lifecycle": "active", "created_at": now, "updated_at": now}


def scanned(connection: Connection, term: str) -> list[tuple[str, str]]:
    """Today's meaning of a search, spelled out as the plain scan it always was."""
    if connection.dialect.name == "postgresql":  # no index may answer this one
        connection.execute(text("SET LOCAL enable_bitmapscan = off"))
    like = f"%{term.lower()}%"
    rows = connection.execute(text(
        "SELECT cluster, name FROM topic WHERE deleted = :deleted AND (lower(name) LIKE :like "
        "OR lower(description) LIKE :like) ORDER BY cluster, name"), {"like": like, "deleted": False}).all()
    return [(row.cluster, row.name) for row in rows]


def searched(connection: Connection, term: str, limit: int = 2) -> list[tuple[str, str]]:
    """Every page of the catalogue's search, walked by cursor."""
    if connection.dialect.name == "postgresql":  # the trigram indexes answer, not a scan or the btree walk
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        connection.execute(text("SET LOCAL enable_indexscan = off"))
    found: list[tuple[str, str]] = []
    after = None
    while True:
        rows = topic_page(connection, now=utcnow(), limit=limit, after=after, cluster=None, team=None, q=term,
                          status=None)
        found += [(row.cluster, row.name) for row in rows[:limit]]
        if len(rows) <= limit:
            return found
        after = (rows[limit - 1].cluster, rows[limit - 1].name)


def assert_same_as_scan(engine: Engine, terms: list[str]) -> int:
    matched = 0
    for term in terms:
        with engine.begin() as connection:
            expected = scanned(connection, term)
        with engine.begin() as connection:
            assert searched(connection, term) == expected, term
        matched += bool(expected)
    return matched


def test_every_term_finds_what_the_scan_finds_in_the_same_order_and_pages(engine: Engine) -> None:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    matched = assert_same_as_scan(engine, TERMS)
    assert matched > len(TERMS) // 2  # the terms exercise matches, not just misses
    if engine.dialect.name == "sqlite":
        # Terms with a run of 3+ literal characters went through the trigram table: its candidates,
        # then the page of those.
        assert any("topic_search MATCH" in s for s in statements)
        assert any("json_each" in s and "ORDER BY topic.cluster" in s for s in statements)


def test_random_terms_find_what_the_scan_finds(engine: Engine) -> None:
    # Substrings of the names and descriptions, cut anywhere, some with a letter swapped for a
    # wildcard or its case changed: terms that match, nearly match, and straddle word boundaries.
    chooser = random.Random(13)
    texts = [text_ for topic in TOPICS for text_ in topic if text_]
    terms = []
    for _ in range(150):
        source = chooser.choice(texts)
        start = chooser.randrange(len(source))
        term = list(source[start:start + chooser.randint(1, 12)])
        for _ in range(chooser.randint(0, 2)):
            at = chooser.randrange(len(term))
            term[at] = chooser.choice(["%", "_", term[at].upper(), term[at].lower(), "x"])
        terms.append("".join(term))
    assert assert_same_as_scan(engine, terms) > 50


def test_the_index_follows_inserts_updates_and_deletes(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(insert(TOPIC), [topic_row(CLUSTERS[1], "ingest.fresh-arrival", "brand new Zebra feed")])
        connection.execute(update(TOPIC).where(TOPIC.c.name == "payments.orders.v1")
                           .values(description="renamed Wombat stream"))
        connection.execute(update(TOPIC).where(TOPIC.c.name == "payments.emoji").values(name="payments.giraffe"))
        connection.execute(update(TOPIC).where(TOPIC.c.name == "payments.cjk").values(partitions=3))
        connection.execute(delete(TOPIC).where(TOPIC.c.name == "payments.ordinal"))
    terms = ["zebra", "fresh-arr", "wombat", "placed by", "giraffe", "emoji", "注文", "ordinal", "orders", "ord"]
    assert assert_same_as_scan(engine, terms) >= 6
    with engine.begin() as connection:
        assert searched(connection, "wombat") == [(c, "payments.orders.v1") for c in sorted(CLUSTERS)]
        assert searched(connection, "ordinal") == []


def test_a_common_term_and_a_rare_one_among_many_topics(engine: Engine) -> None:
    # More candidates than the probe's bound: the page comes from the (cluster, name) walk instead.
    with engine.begin() as connection:
        connection.execute(insert(TOPIC), [topic_row(CLUSTERS[n % 2], f"bulk.orders-{n:05d}", f"bulk stream {n}")
                                           for n in range(1200)])
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with engine.begin() as connection:
        first = topic_page(connection, now=utcnow(), limit=50, after=None, cluster=None, team=None, q="Orders",
                           status=None)
    with engine.begin() as connection:
        assert [(r.cluster, r.name) for r in first] == scanned(connection, "Orders")[:51]
    with engine.begin() as connection:
        assert searched(connection, "-00042", limit=50) == scanned(connection, "-00042")
    if engine.dialect.name == "sqlite":
        pages = [s for s in statements if "ORDER BY topic.cluster" in s]
        assert "json_each" not in pages[0]
        assert "json_each" in pages[1]


def test_the_search_index_exists_at_head(engine: Engine) -> None:
    """The model/migration check skips these objects (migrations/env.py), so this test sees them."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            names = set(connection.execute(text("SELECT name FROM sqlite_master")).scalars())
            assert {"topic_search", "topic_search_insert", "topic_search_update", "topic_search_delete"} <= names
        else:
            names = set(connection.execute(text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'topic'")).scalars())
            assert {"ix_topic_search_name", "ix_topic_search_description"} <= names
            connection.execute(text("SET LOCAL enable_seqscan = off"))  # 31 rows: a scan is cheaper
            plan = "\n".join(connection.execute(text(
                "EXPLAIN SELECT id FROM topic WHERE lower(description) LIKE '%wombat%'")).scalars())
            assert "ix_topic_search_description" in plan, plan
    assert names & SEARCH_INDEX_OBJECTS


def test_a_database_without_the_index_scans(engine: Engine, database_url: str) -> None:
    """Downgraded under a running server (or never indexed: no pg_trgm, no FTS5 trigram): the same
    results from the scan, with no error."""
    terms = ["orders", "école", "-0", "payments.orders.v1", "nothing-matches-this"]
    assert assert_same_as_scan(engine, terms) == 3  # with the index, and the engine has seen it
    migrations.downgrade(database_url, "0014")
    with engine.connect() as connection:
        assert not set(connection.execute(text(
            "SELECT name FROM sqlite_master" if engine.dialect.name == "sqlite" else
            "SELECT indexname FROM pg_indexes WHERE tablename = 'topic'")).scalars()) & SEARCH_INDEX_OBJECTS
    assert assert_same_as_scan(engine, terms) == 3
    migrations.upgrade(database_url)  # and back: the revision indexes the rows already there
    assert assert_same_as_scan(engine, terms + TERMS[:20]) >= 3 + 10


def test_postgresql_without_pg_trgm_still_migrates_and_searches(postgres_server: LocalPostgres) -> None:
    """A role that may not create extensions (no CREATE on the database): revision 0016 rolls back
    its savepoint, the rest of the migration commits, and search scans."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    admin = make_engine(postgres_server.url(name))
    role = f"r_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN"))
        connection.execute(text(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}"))
    admin.dispose()
    url = postgres_server.url(name).replace(f"{postgres_server.user}@", f"{role}@")
    migrations.upgrade(url)
    command.check(migrations.alembic_config(url))  # the model/migration check passes without the index
    engine = make_engine(url)
    with engine.begin() as connection:
        assert not set(connection.execute(text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'topic'")).scalars()) & SEARCH_INDEX_OBJECTS
        assert connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first() is None
    seed(engine)
    assert assert_same_as_scan(engine, ["orders", "école", "a_b", "nothing-matches-this"]) == 3
    engine.dispose()


def test_a_search_on_postgresql_is_planned_for_its_own_term(engine: Engine) -> None:
    """One statement text serves every term; a generic plan made for a common term walked every
    row for a rare one (24 ms against 3 at 10,000 topics, bench P5). Each search plans for its term:
    it is never a prepared statement (whose plan PostgreSQL makes generic after five calls), while
    the catalogue's unfiltered first page, whose best plan does not depend on values, stays one."""
    postgresql = engine.dialect.name == "postgresql"

    def page(q: str | None, cluster: str | None = None) -> list[tuple[str, str]]:
        rows = topic_page(connection, now=utcnow(), limit=50, after=None, cluster=cluster, team=None, q=q,
                          status=None)
        return [(r.cluster, r.name) for r in rows]

    with engine.connect() as connection:
        for _ in range(12):  # past psycopg's prepare threshold (5) and PostgreSQL's five custom plans
            found = page("orders")
            page("nothing-matches-this")
            page(None)
            page("orders", cluster=CLUSTERS[0])
        prepared = connection.execute(text("SELECT statement FROM pg_prepared_statements")).scalars().all() \
            if postgresql else []
        connection.commit()
    with engine.begin() as connection:
        assert found == scanned(connection, "orders")[:50]
    if postgresql:
        assert [s for s in prepared if " LIKE " in s] == []
        assert [s for s in prepared if "FROM topic" in s], prepared  # other statements are still prepared

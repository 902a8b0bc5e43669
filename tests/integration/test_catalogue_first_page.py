"""The catalogue's first page, compiled once per dialect and run as SQL text (adapters/precompiled.py),
gives exactly the rows SQLAlchemy's own execution of the same statement gives, on both databases:
timestamps bound and read in the dialect's format, JSON, booleans and drift marks decoded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, event, insert, text, update
from sqlalchemy.engine import Engine

from tests.integration.test_topic_search import CLUSTERS, TOPIC, topic_row
from tests.integration.test_topic_search import engine as search_engine  # noqa: F401  (the seeded database)
from topicdesk.adapters.db import read_connection
from topicdesk.adapters.tables import DriftItemRow, DriftLinkRow, utcnow
from topicdesk.adapters.topic_catalogue import _ORDER, _PAGE, TopicListing, topic_page

DRIFT_ITEM = DriftItemRow.__table__  # type: ignore[attr-defined]
DRIFT_LINK = DriftLinkRow.__table__  # type: ignore[attr-defined]


@pytest.fixture
def engine(search_engine: Engine) -> Engine:  # noqa: F811
    now = utcnow()
    rows = [{**topic_row(CLUSTERS[0], f"payments.first-{n:02d}", f"topic {n}"),
             "config": {"retention.ms": str(n * 1000)} if n % 3 else {"cleanup.policy": "compact", "x": "é"},
             "quarantined_until": now + timedelta(days=n) if n % 4 == 0 else None,
             "lifecycle": "quarantined" if n % 4 == 0 else "active",
             "last_error": "boom" if n == 5 else None, "generation": 2 if n % 5 == 0 else 1}
            for n in range(12)]
    drift = []
    for n, ignored_until in ((1, None), (2, now + timedelta(hours=1)), (3, now - timedelta(hours=1))):
        drift.append((rows[n]["id"], f"item{n}", ignored_until))
    with search_engine.begin() as connection:
        connection.execute(insert(DRIFT_ITEM), [
            {"cluster": CLUSTERS[0], "id": item, "kind": "config_differs", "key": f"{topic}/x", "team": "payments",
             "subject": f"topic:{topic}", "message": "differs", "first_seen_at": now, "last_seen_at": now,
             "ignored_until": ignored_until} for topic, item, ignored_until in drift])
        connection.execute(insert(DRIFT_LINK), [{"cluster": CLUSTERS[0], "item_id": item, "resource_kind": "topic",
                                                 "resource_id": topic} for topic, item, _ in drift])
        connection.execute(insert(TOPIC), rows)
    return search_engine


def test_the_first_page_is_what_execute_returns(engine: Engine) -> None:
    statement = _PAGE.order_by(*_ORDER).limit(bindparam("limit"))
    now = utcnow()
    for limit in (1, 7, 50):
        with engine.connect() as connection:
            expected = [TopicListing._make(row) for row in
                        connection.execute(statement, {"now": now, "limit": limit + 1}).all()]
            got = topic_page(connection, now=now, limit=limit, after=None, cluster=None, team=None, q=None,
                             status=None)
        assert got == expected
        assert [type(value) for value in got[0]] == [type(value) for value in expected[0]]
    marks = {row.name: row.drifted for row in got}
    # Drift marks: an open item, one ignored until later (not drifted), one whose ignore has run out.
    assert [marks[f"payments.first-{n:02d}"] for n in (0, 1, 2, 3)] == [False, True, False, True]
    quarantined = next(row for row in got if row.name == "payments.first-04")
    assert quarantined.quarantined_until is not None
    assert quarantined.quarantined_until.utcoffset() == timedelta(0)
    assert next(row for row in got if row.name == "payments.first-00").config == {"cleanup.policy": "compact",
                                                                                    "x": "é"}


def test_the_drift_mark_is_looked_up_row_by_row(engine: Engine) -> None:
    """With many open items, the page's drift marks are 50 index lookups. Selected as an EXISTS,
    PostgreSQL hashed every open item first (1.7 ms at 1,000 items against 0.1, bench P5)."""
    now = utcnow()
    items = [f"bulk{n:04d}" for n in range(1500)]
    with engine.begin() as connection:
        connection.execute(insert(DRIFT_ITEM), [
            {"cluster": CLUSTERS[1], "id": item, "kind": "config_differs", "key": f"{item}/x", "team": "ingest",
             "subject": f"topic:{item}", "message": "differs", "first_seen_at": now, "last_seen_at": now,
             "ignored_until": None} for item in items])
        connection.execute(insert(DRIFT_LINK), [{"cluster": CLUSTERS[1], "item_id": item, "resource_kind": "topic",
                                                 "resource_id": item} for item in items])
        connection.execute(text("ANALYZE"))
    statement = _PAGE.order_by(*_ORDER).limit(51).params(now=now)
    with engine.connect() as connection:
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        if engine.dialect.name == "postgresql":
            plan = "\n".join(connection.execute(text(f"EXPLAIN {compiled}")).scalars())
            assert "Seq Scan on drift_link" not in plan, plan
            assert "hashed" not in plan.lower(), plan
            assert "Index Scan using ix_drift_link_resource_id on drift_link" in plan, plan
        else:
            plan = "\n".join(str(row[-1]) for row in connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert "SCAN drift_link" not in plan, plan
            assert "drift_link USING INDEX ix_drift_link_resource_id" in plan, plan


def test_a_search_with_filters_and_a_cursor_is_the_filtered_list_narrowed(engine: Engine) -> None:
    """Every filter and the cursor combine with a search as they do without one (on PostgreSQL a
    search reads its page's ids first, then the page)."""
    now = utcnow()

    def walk(q: str | None, cluster: str | None, status: str | None) -> list[TopicListing]:
        found, after = [], None
        with engine.connect() as connection:
            while True:
                rows = topic_page(connection, now=now, limit=3, after=after, cluster=cluster, team=None, q=q,
                                  status=status)
                found += rows[:3]
                if len(rows) <= 3:
                    return found
                after = (rows[2].cluster, rows[2].name)

    compared = 0
    for status in (None, "applied", "drifted", "pending", "error"):
        for cluster in (None, CLUSTERS[0]):
            listed = walk(None, cluster, status)
            for q in ("first", "TOPIC 1", "orders", "nothing-matches-this"):
                term = q.lower()
                expected = [row for row in listed if term in row.name.lower() or term in row.description.lower()]
                assert walk(q, cluster, status) == expected, (q, cluster, status)
                compared += len(expected)
    assert compared > 50


def test_a_topic_deleted_while_a_search_reads_keeps_the_page_whole(engine: Engine) -> None:
    """On PostgreSQL a search reads its page's ids, then their rows, in two statements (each with its
    own snapshot). A topic deleted in between stays on the page, marked deleted: a page one short
    would tell the caller there is no next page."""
    fired: list[bool] = []

    def delete_one(_connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if fired or "FROM topic" not in statement or " LIKE " not in statement:
            return
        fired.append(True)
        with engine.begin() as other:
            other.execute(update(TOPIC).where(TOPIC.c.name == "payments.first-01").values(deleted=True))

    event.listen(engine, "after_cursor_execute", delete_one)
    try:
        with read_connection(engine) as connection:  # as the API reads
            rows = topic_page(connection, now=utcnow(), limit=5, after=None, cluster=None, team=None, q="first",
                              status=None)
    finally:
        event.remove(engine, "after_cursor_execute", delete_one)
    assert fired
    assert [row.name for row in rows] == [f"payments.first-{n:02d}" for n in range(6)]
    with read_connection(engine) as connection:  # and the next read no longer lists it
        rows = topic_page(connection, now=utcnow(), limit=5, after=None, cluster=None, team=None, q="first",
                          status=None)
    assert "payments.first-01" not in [row.name for row in rows]

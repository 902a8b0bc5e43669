"""The topic catalogue's page query (adapters/topic_catalogue.py) behind GET /api/v1/topics, on SQLite."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from tests.support import desk_engine
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import DriftItemRow, DriftLinkRow, TopicRow, utcnow
from topicdesk.services import queries


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = desk_engine(tmp_path, clusters={"c1": "payments", "c2": "ingest"})
    with unit_of_work(engine) as session:
        for n in range(7):
            session.add(TopicRow(cluster="c1", name=f"payments.orders-{n}", owner_team="payments", partitions=1,
                                 replication_factor=1, description="Orders placed" if n % 2 else "",
                                 generation=1, observed_generation=1))
        session.add(TopicRow(cluster="c2", name="ingest.Clicks", owner_team="ingest", partitions=1,
                             replication_factor=1, description="raw ORDERS feed", generation=2,
                             observed_generation=1))
        session.add(TopicRow(cluster="c2", name="ingest.failing", owner_team="ingest", partitions=1,
                             replication_factor=1, generation=2, observed_generation=1, last_error="boom"))
        session.add(TopicRow(cluster="c1", name="payments.gone", owner_team="payments", partitions=1,
                             replication_factor=1, deleted=True))
    return engine


def page(engine: Engine, **filters: Any) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
    args: dict[str, Any] = {"limit": 50, "after": None, "cluster": None, "team": None, "q": None, **filters}
    with engine.connect() as connection:
        return queries.list_topics(connection, **args)


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


def test_pages_walk_cluster_then_name_order_without_tombstones(engine: Engine) -> None:
    seen, after = [], None
    while True:
        items, after = page(engine, limit=3, after=after)
        seen += [(item["cluster"], item["name"]) for item in items]
        if after is None:
            break
    assert seen == sorted(seen)
    assert len(seen) == 9
    assert ("c1", "payments.gone") not in seen


def test_the_view_has_every_field_of_a_topic(engine: Engine) -> None:
    items, _ = page(engine, cluster="c1", limit=1)
    assert items == [{
        "cluster": "c1", "name": "payments.orders-0", "owner_team": "payments", "partitions": 1,
        "replication_factor": 1, "config": {}, "description": "", "status": "applied", "last_error": None,
        "managed_by": None, "lifecycle": "active", "quarantined_until": None, "deletion_request_id": None,
        "deleted_by": None, "deleted_at": None}]


def test_search_matches_name_or_description_in_any_case(engine: Engine) -> None:
    assert names(page(engine, q="ORDERS")[0]) == [f"payments.orders-{n}" for n in range(7)] + ["ingest.Clicks"]
    assert names(page(engine, q="clicks")[0]) == ["ingest.Clicks"]
    assert names(page(engine, q="placed", team="payments")[0]) == ["payments.orders-1", "payments.orders-3",
                                                                   "payments.orders-5"]
    assert page(engine, q="nothing")[0] == []


def test_status_filter_and_drift_mark_come_from_the_same_query(engine: Engine) -> None:
    now = utcnow()
    with unit_of_work(engine) as session:
        topic = session.exec(select(TopicRow).where(TopicRow.name == "payments.orders-2")).one()
        ignored = session.exec(select(TopicRow).where(TopicRow.name == "payments.orders-4")).one()
        for item_id, row, until in (("i1", topic, None), ("i2", ignored, now + timedelta(days=1))):
            session.add(DriftItemRow(cluster="c1", id=item_id, kind="config_differs", key=row.id, team="payments",
                                     subject=f"topic:{row.name}", ignored_until=until))
            session.add(DriftLinkRow(cluster="c1", item_id=item_id, resource_kind="topic", resource_id=row.id))
    statuses = {item["name"]: item["status"] for item in page(engine)[0]}
    assert statuses["payments.orders-2"] == "drifted"
    assert statuses["payments.orders-4"] == "applied"  # its drift is ignored
    assert (statuses["ingest.Clicks"], statuses["ingest.failing"]) == ("pending", "error")
    assert names(page(engine, status="drifted")[0]) == ["payments.orders-2"]
    assert names(page(engine, status="pending")[0]) == ["ingest.Clicks"]
    assert names(page(engine, status="error")[0]) == ["ingest.failing"]
    assert "payments.orders-2" not in names(page(engine, status="applied")[0])
    assert len(page(engine, status="applied")[0]) == 6

"""Current -> new of requests and their impact: the pure diff, and the API's request views before and
after approval (approvers judge differences; once approved, the page keeps what it was)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FAST_RECONCILE as FAST
from tests.fakes import FakeClusterPort
from tests.support import Desk, build_desk
from topicdesk.domain.identity import Role
from topicdesk.domain.request_changes import request_changes, request_impact
from topicdesk.services.reconcile_loop import run_once

TOPIC = "payments.orders"
CURRENT = {"partitions": 3, "replication_factor": 1, "config": {"max.message.bytes": "1048576"},
           "description": "Orders", "expected_bytes_per_second": 1000}


def test_a_topic_update_lists_each_changed_field_with_its_current_value() -> None:
    spec = {"name": TOPIC, "partitions": 6, "description": "Orders",
            "config": {"max.message.bytes": "16777216", "retention.ms": "86400000", "segment.ms": None}}
    assert request_changes("topic.update", spec, CURRENT) == [
        {"field": "partitions", "current": 3, "new": 6},
        {"field": "config.max.message.bytes", "current": "1048576", "new": "16777216"},
        {"field": "config.retention.ms", "current": None, "new": "86400000"},
    ]


def test_a_quota_change_shows_the_rates_it_replaces_and_a_creation_has_no_current_values() -> None:
    quota = {"producer_byte_rate": 5 * 2**20, "consumer_byte_rate": None, "request_percentage": None}
    spec = {"principal": "User:payments.app", "producer_byte_rate": 50 * 2**20, "consumer_byte_rate": None}
    assert request_changes("quota.set", spec, quota=quota) == [
        {"field": "producer_byte_rate", "current": 5 * 2**20, "new": 50 * 2**20}]
    assert request_changes("quota.set", spec) == [{"field": "producer_byte_rate", "current": None, "new": 50 * 2**20}]
    created = request_changes("topic.create", {"name": TOPIC, "partitions": 2, "replication_factor": 1}, CURRENT)
    assert created == [{"field": "partitions", "current": None, "new": 2},
                       {"field": "replication_factor", "current": None, "new": 1}]
    assert request_changes("topic.delete", {"name": TOPIC}, CURRENT) == [{"field": "topic", "current": TOPIC,
                                                                          "new": None}]


def test_the_impact_names_the_consumers_and_the_budgets_after_the_change() -> None:
    grants: list[dict[str, Any]] = [
        {"principal": "User:ingest.reader", "access": "consume", "group": "ingest.g", "team": "ingest"},
        {"principal": "User:payments.app", "access": "produce", "group": None, "team": "payments"}]
    impact = request_impact("topic.update", {"name": TOPIC, "partitions": 6, "config": {"retention.ms": "1000"}},
                            CURRENT, grants, {"replicas": 10, "disk_bytes": 5_000_000},
                            {"partition_budget": 100, "disk_budget_bytes": None})
    assert impact is not None
    assert impact["consumers"] == [{"principal": "User:ingest.reader", "group": "ingest.g", "team": "ingest"}]
    assert impact["consuming_teams"] == ["ingest"]
    assert impact["partition_replicas"] == {"used": 10, "after": 13, "budget": 100}
    # 1000 B/s x 7 days (default retention) -> 1000 B/s x 1 s.
    assert impact["disk_bytes"] == {"used": 5_000_000, "after": 5_000_000 - 1000 * 604_800 + 1000, "budget": None}
    assert request_impact("quota.set", {"principal": "User:x"}, None, [], {}, {}) is None


class World(Desk):
    def submit(self, who: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        response = self.call(who, "POST", "/api/v1/requests", {"kind": kind, "cluster": "payments-dev", "spec": spec})
        assert response.status_code == 201, response.json
        body: dict[str, Any] = response.json
        return body

    def get(self, who: str, path: str) -> Any:
        response = self.call(who, "GET", path)
        assert response.status_code == 200, response.json
        return response.json


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = build_desk(tmp_path, FakeClusterPort(), clusters={"payments-dev": "payments"}, kind=World,
                   tokens={"member": ("payments", Role.MEMBER), "admin": ("platform", Role.ADMIN)})
    w.submit("member", "topic.create", {"name": TOPIC, "partitions": 2, "replication_factor": 1,
                                        "config": {"max.message.bytes": "1048576"},
                                        "consumers": [{"principal": "User:payments.app", "group": "payments.app"}]})
    run_once(w.engine, lambda _cluster, **_options: w.port, settings=FAST)
    yield w
    w.engine.dispose()


def test_the_inbox_shows_current_to_new_and_the_request_keeps_it_after_approval(world: World) -> None:
    pending = world.submit("member", "topic.update", {"name": TOPIC, "config": {"max.message.bytes": "16777216"}})
    assert pending["status"] == "pending_approval"
    expected = [{"field": "config.max.message.bytes", "current": "1048576", "new": "16777216"}]
    [item] = world.get("admin", "/api/v1/requests?awaiting_me=true")["items"]
    assert item["changes"] == expected
    assert item["impact"]["consumers"] == [{"principal": "User:payments.app", "group": "payments.app",
                                            "team": "payments"}]
    assert world.get("member", f"/api/v1/requests/{pending['id']}")["changes"] == expected

    assert world.call("admin", "POST", f"/api/v1/requests/{pending['id']}/approve", {}).status_code == 200
    # Desired state now holds the new value; the page still shows what the approval changed.
    view = world.get("member", f"/api/v1/requests/{pending['id']}")
    assert view["status"] == "approved"
    assert view["changes"] == expected
    assert world.get("member", f"/api/v1/clusters/payments-dev/topics/{TOPIC}")["config"]["max.message.bytes"] == \
        "16777216"


def test_an_auto_approved_change_keeps_its_current_values_too(world: World) -> None:
    done = world.submit("member", "topic.update", {"name": TOPIC, "partitions": 4})
    assert done["status"] == "approved"
    view = world.get("member", f"/api/v1/requests/{done['id']}")
    assert view["changes"] == [{"field": "partitions", "current": 2, "new": 4}]
    assert view["impact"]["partition_replicas"]["after"] == view["impact"]["partition_replicas"]["used"] + 2


def test_the_topic_page_offers_the_config_keys_the_policies_allow(world: World) -> None:
    keys = world.get("member", f"/api/v1/clusters/payments-dev/topics/{TOPIC}")["editable_config_keys"]
    assert "retention.ms" in keys
    assert "max.message.bytes" in keys
    assert "unclean.leader.election.enable" not in keys

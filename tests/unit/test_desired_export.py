"""GET /api/v1/desired-state: what a team holds as a file, sorted, in JSON or YAML, that re-applies as
in sync (in-memory cluster port; tests/integration/test_desired_export.py does it on real Kafka)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeClusterPort
from tests.support import Desk, build_desk
from topicdesk.adapters.desired_file_format import dump_yaml, parse_desired_file
from topicdesk.domain.identity import Role
from topicdesk.services.reconcile_loop import run_once

FILE: dict[str, Any] = {
    "version": 1, "cluster": "payments-dev", "team": "payments",
    "topics": [
        {"name": "payments.b", "partitions": 6, "replication_factor": 1,
         "config": {"retention.ms": "86400000", "cleanup.policy": "compact"}, "description": "on",
         "producers": ["User:payments.w2", "User:payments.w1"],
         "consumers": [{"principal": "User:payments.r", "group": "payments.z"},
                       {"principal": "User:payments.r", "group": "payments.a"}]},
        {"name": "payments.a", "partitions": 3, "replication_factor": 1},
    ],
    "grants": [{"topic": "payments.a", "principal": "User:payments.tx", "access": "produce",
                "transactional_id": "payments.tx-1"}],
    "quotas": [{"principal": "User:payments.w1", "producer_byte_rate": 1048576, "request_percentage": 12.5}],
}


class World(Desk):
    port: FakeClusterPort


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = build_desk(tmp_path, FakeClusterPort(), clusters={"payments-dev": "payments", "ingest-dev": "ingest"},
                       kind=World, tokens={"payments": ("payments", Role.MEMBER), "ingest": ("ingest", Role.MEMBER),
                                           "admin": ("platform", Role.ADMIN)})
    yield world
    world.engine.dispose()


def _body(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.json
    return body


def test_an_export_is_sorted_validates_and_re_applies_as_in_sync(world: World) -> None:
    applied = _body(world.call("payments", "POST", "/api/v1/desired-state", FILE))
    assert all(c["outcome"] == "auto_approved" and c["status"] == "approved" for c in applied["changes"]), applied
    run_once(world.engine, lambda _c, **_o: world.port)

    exported = world.call("payments", "GET", "/api/v1/desired-state?cluster=payments-dev")
    assert exported.mimetype == "application/json"
    assert exported.headers["Vary"] == "Accept"
    file = _body(exported)
    assert file == {
        "version": 1, "cluster": "payments-dev", "team": "payments",
        "topics": [
            {"name": "payments.a", "partitions": 3, "replication_factor": 1},
            {"name": "payments.b", "partitions": 6, "replication_factor": 1,
             "config": {"cleanup.policy": "compact", "retention.ms": "86400000"}, "description": "on",
             "producers": ["User:payments.w1", "User:payments.w2"],
             "consumers": [{"principal": "User:payments.r", "group": "payments.a"},
                           {"principal": "User:payments.r", "group": "payments.z"}]},
        ],
        "grants": [{"topic": "payments.a", "principal": "User:payments.tx", "access": "produce",
                    "transactional_id": "payments.tx-1"}],
        "quotas": [{"principal": "User:payments.w1", "producer_byte_rate": 1048576, "request_percentage": 12.5}],
    }
    assert parse_desired_file(exported.get_data(), "application/json") == file
    # Stable: the same bytes every time.
    assert world.call("payments", "GET", "/api/v1/desired-state?cluster=payments-dev").get_data() == \
        exported.get_data()

    as_yaml = world.call("payments", "GET", "/api/v1/desired-state?cluster=payments-dev",
                         Accept="application/yaml")
    assert as_yaml.status_code == 200
    assert as_yaml.mimetype == "application/yaml"
    text = as_yaml.get_data(as_text=True)
    assert text.startswith("# Desired state of team payments on cluster payments-dev, exported from Topicdesk.\n"
                           "# source: http://localhost/api/v1/desired-state?cluster=payments-dev\n# exported at: ")
    assert "description: \"on\"" in text  # quoted, or YAML 1.1 readers would see true
    assert parse_desired_file(as_yaml.get_data(), "application/yaml") == file
    assert world.call("payments", "GET", "/api/v1/desired-state?cluster=payments-dev&format=yaml").get_data() \
        .split(b"\nversion: 1\n")[1] == as_yaml.get_data().split(b"\nversion: 1\n")[1]

    for body, content_type in ((exported.get_data(), "application/json"), (as_yaml.get_data(), "application/yaml")):
        plan = _body(world.call("payments", "POST", "/api/v1/desired-state?dry_run=true", body,
                                **{"Content-Type": content_type}))
        assert plan["in_sync"] is True, plan
        assert plan["changes"] == []


def test_time_bound_grants_and_quarantined_topics_are_left_out(world: World) -> None:
    assert _body(world.call("payments", "POST", "/api/v1/desired-state", FILE))["changes"]
    run_once(world.engine, lambda _c, **_o: world.port)
    timed = world.call("payments", "POST", "/api/v1/requests", {"kind": "access.grant", "cluster": "payments-dev",
                       "spec": {"topic": "payments.b", "principal": "User:payments.temp", "access": "consume",
                                "group": "payments.temp", "duration": "P7D"}})
    assert timed.status_code == 201, timed.json
    assert timed.json["status"] in ("approved", "applied"), timed.json
    # The file manages payments.a, so the file deletes it (a portal delete is refused with 409).
    without_a = {**FILE, "topics": [t for t in FILE["topics"] if t["name"] != "payments.a"],
                 "grants": [g for g in FILE["grants"] if g["topic"] != "payments.a"]}
    deleted = world.call("payments", "POST", "/api/v1/desired-state?allow_destroy=true", without_a)
    assert deleted.status_code == 200, [c.get("error") for c in deleted.json["changes"]]
    # One change: the delete quarantines the topic's grants itself (no revoke beside it).
    assert [c["request"]["kind"] for c in _body(deleted)["changes"]] == ["topic.delete"]
    run_once(world.engine, lambda _c, **_o: world.port)

    file = _body(world.call("payments", "GET", "/api/v1/desired-state?cluster=payments-dev"))
    assert [t["name"] for t in file["topics"]] == ["payments.b"]
    assert "User:payments.temp" not in json.dumps(file)
    assert file["grants"] == []  # the transactional grant was on the quarantined topic: suspended
    text = world.call("payments", "GET", "/api/v1/desired-state?cluster=payments-dev&format=yaml").get_data(
        as_text=True)
    assert "# Not exported: time-bound grants" in text
    assert "#   User:payments.temp consume payments.b (group payments.temp)" in text


def test_who_may_export_which_team(world: World) -> None:
    assert world.call("payments", "POST", "/api/v1/desired-state", FILE).status_code == 200
    # Another team's holdings: 404, as for its other things; admins export any team.
    other = world.call("ingest", "GET", "/api/v1/desired-state?cluster=payments-dev&team=payments")
    assert other.status_code == 404
    assert other.mimetype == "application/problem+json"
    admin = _body(world.call("admin", "GET", "/api/v1/desired-state?cluster=payments-dev&team=payments"))
    assert [t["name"] for t in admin["topics"]] == ["payments.a", "payments.b"]
    # The caller's own team by default: on a cluster it does not own, only its grants and quotas.
    ingest = _body(world.call("ingest", "GET", "/api/v1/desired-state?cluster=payments-dev"))
    assert ingest == {"version": 1, "cluster": "payments-dev", "team": "ingest", "topics": [], "grants": [],
                      "quotas": []}
    assert world.call("payments", "GET", "/api/v1/desired-state?cluster=nowhere").status_code == 404
    assert world.call("admin", "GET", "/api/v1/desired-state?cluster=payments-dev&team=nobody").status_code == 404
    missing = world.call("payments", "GET", "/api/v1/desired-state")
    assert missing.status_code == 422
    assert [e["path"] for e in missing.json["errors"]] == ["/query/cluster"]
    bad = world.call("payments", "GET", "/api/v1/desired-state?cluster=payments-dev&format=xml")
    assert [e["path"] for e in bad.json["errors"]] == ["/query/format"]


@pytest.mark.parametrize("text", ["on", "off", "yes", "0755", "1e3", "1_000", "12:30", "null", "~", "true", "12",
                                  "2027-01-01", "a: b", "- x", "#x", "line one\nline two", " padded ", ""])
def test_yaml_output_reads_back_as_the_same_strings(text: str) -> None:
    file = {"version": 1, "cluster": "payments-dev", "team": "payments",
            "topics": [{"name": "payments.a", "partitions": 1, "replication_factor": 1, "description": text}]}
    assert parse_desired_file(dump_yaml(file, ["a header"]).encode(), "application/yaml") == file

"""Export on real Kafka, on SQLite and PostgreSQL: files applied (YAML), reconciled onto local KRaft
clusters, exported, and the export planned again as in sync; what the export says is what Kafka has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_request_workflow import Api, build_api, observed
from topicdesk.adapters.desired_file_format import parse_desired_file
from topicdesk.local_kafka.cluster import LocalCluster

SOURCE = "acme/payments-topics:kafka/payments-dev.yaml"


@pytest.fixture
def api(database_url: str, kafka_clusters: list[LocalCluster], tmp_path: Path) -> Iterator[Api]:
    built = build_api(database_url, kafka_clusters, tmp_path)
    yield built
    built.engine.dispose()


def _send(api: Api, who: str, method: str, path: str, body: bytes | None = None,
          content_type: str = "application/yaml", **headers: str) -> Any:
    return api.client().open(path, method=method, data=body, content_type=content_type if body else None,
                             headers={"Authorization": f"Bearer {api.tokens[who]}", **headers})


def _apply(api: Api, file: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
    query = f"?source={SOURCE}" + ("&dry_run=true" if dry_run else "")
    response = _send(api, "payments-member", "POST", f"/api/v1/desired-state{query}",
                     yaml.safe_dump(file, sort_keys=False).encode())
    assert response.status_code in (200, 202), response.get_data(as_text=True)
    body: dict[str, Any] = response.json
    return body


def _submitted_ids(result: dict[str, Any]) -> list[str]:
    return [change["request_id"] for change in result["changes"]]


def test_an_export_matches_kafka_and_re_applies_as_in_sync(api: Api) -> None:
    prefix, run = api.prefix, api.prefix.split(".", 1)[1]
    writer, reader, tx = f"User:{prefix}.writer", f"User:{prefix}.reader", f"User:{prefix}.tx"
    clicks = f"ingest.{run}.clicks"
    ingest_topic = api.submit("ingest-member", "topic.create",
                              {"name": clicks, "partitions": 1, "replication_factor": 1}, cluster=api.ingest_cluster)
    api.reconcile_until("ingest-member", ingest_topic["id"])

    own_file: dict[str, Any] = {
        "version": 1, "cluster": api.payments_cluster, "team": "payments",
        "topics": [
            {"name": f"{prefix}.orders", "partitions": 3, "replication_factor": 1,
             "config": {"retention.ms": "86400000", "cleanup.policy": "delete"}, "description": "Orders placed",
             "producers": [writer], "consumers": [{"principal": reader, "group": f"{prefix}.readers"}]},
            {"name": f"{prefix}.customers", "partitions": 1, "replication_factor": 1,
             "config": {"cleanup.policy": "compact"}},
        ],
        "grants": [{"topic": f"{prefix}.orders", "principal": tx, "access": "produce",
                    "transactional_id": f"{prefix}.tx"}],
        "quotas": [{"principal": writer, "producer_byte_rate": 1048576}],
    }
    applied = _apply(api, own_file)
    assert [c["status"] for c in applied["changes"]] == ["approved"] * 4, applied
    for request_id in _submitted_ids(applied):
        api.reconcile_until("payments-member", request_id)

    # A grant on another team's topic comes from the consuming team's file; its owners approve it.
    other_file: dict[str, Any] = {"version": 1, "cluster": api.ingest_cluster, "team": "payments",
                  "grants": [{"topic": clicks, "principal": reader, "access": "consume", "group": f"{prefix}.clicks"}]}
    asked = _apply(api, other_file)
    assert [c["status"] for c in asked["changes"]] == ["pending_approval"], asked
    grant_id = _submitted_ids(asked)[0]
    approved = api.call("ingest-owner", "POST", f"/api/v1/requests/{grant_id}/approve", {})
    assert approved.status_code == 200, approved.json
    api.reconcile_until("payments-member", grant_id)

    exported = _send(api, "payments-member", "GET", f"/api/v1/desired-state?cluster={api.payments_cluster}",
                     Accept="application/yaml")
    assert exported.status_code == 200, exported.get_data(as_text=True)
    assert exported.mimetype == "application/yaml"
    assert exported.get_data(as_text=True).startswith("# Desired state of team payments on cluster ")
    file = parse_desired_file(exported.get_data(), "application/yaml")
    as_json = _send(api, "payments-member", "GET", f"/api/v1/desired-state?cluster={api.payments_cluster}")
    assert as_json.json == file
    assert [t["name"] for t in file["topics"]] == sorted(t["name"] for t in own_file["topics"])
    assert file["grants"] == own_file["grants"]
    assert file["quotas"] == own_file["quotas"]

    # What the export declares is what the cluster has (read back from Kafka, not from our rows).
    state = observed(api, f"{prefix}.orders")
    orders = next(t for t in file["topics"] if t["name"] == f"{prefix}.orders")
    assert state.topics[orders["name"]].partitions == orders["partitions"]
    for key, value in orders["config"].items():
        assert state.topics[orders["name"]].config[key] == value
    principals = {b.principal for b in state.acls if b.resource_name in (orders["name"], f"{prefix}.tx")}
    assert {*orders["producers"], *(c["principal"] for c in orders["consumers"]), tx} <= principals

    for body, content_type in ((exported.get_data(), "application/yaml"), (as_json.get_data(), "application/json")):
        plan = _send(api, "payments-member", "POST", f"/api/v1/desired-state?dry_run=true&source={SOURCE}", body,
                     content_type)
        assert plan.status_code == 200, plan.get_data(as_text=True)
        assert plan.json["in_sync"] is True, plan.json
        assert plan.json["changes"] == []

    # On a cluster the team does not own, its file holds only its grants (and quotas).
    elsewhere = _send(api, "payments-member", "GET",
                      f"/api/v1/desired-state?cluster={api.ingest_cluster}&format=yaml")
    other = parse_desired_file(elsewhere.get_data(), "application/yaml")
    assert other == {**other_file, "topics": [], "quotas": []}
    # Planned from the same source that applied it (another source would have to adopt the grant).
    plan = _send(api, "payments-member", "POST", f"/api/v1/desired-state?dry_run=true&source={SOURCE}",
                 elsewhere.get_data())
    assert plan.json["in_sync"] is True, plan.json

"""Deletion on evidence with quarantine and undo, on real Kafka: real clients are denied while the data
stays, a restore lets them back in, the reconciler deletes the topic after grace, and evidence of a
committed consumer group routes the deletion to the consuming team."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from tests.integration.test_request_workflow import Api, build_api, topic_spec
from tests.kafka_clients import as_user, consume_one, eventually, produce_one
from topicdesk.bootstrap import kafka_port_for
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services.reconcile_loop import run_once


@pytest.fixture
def api(database_url: str, kafka_clusters: list[LocalCluster], tmp_path: Path) -> Iterator[Api]:
    built = build_api(database_url, kafka_clusters, tmp_path)
    yield built
    built.engine.dispose()


def _account(api: Api, who: str, name: str) -> dict[str, Any]:
    response = api.call(who, "POST", f"/api/v1/clusters/{api.payments_cluster}/service-accounts", {"name": name})
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json
    return body


def _end_offsets(admin: AdminClient, topic: str, partitions: int) -> dict[int, int]:
    spec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    futures = admin.list_offsets({TopicPartition(topic, p): spec for p in range(partitions)}, request_timeout=10)
    return {tp.partition: f.result(timeout=15).offset for tp, f in futures.items()}


def _exists(admin: AdminClient, topic: str) -> bool:
    return topic in admin.list_topics(timeout=10).topics


def _approve(api: Api, request: dict[str, Any]) -> None:
    response = api.call("admin", "POST", f"/api/v1/requests/{request['id']}/approve", {"comment": "checked"})
    assert response.status_code == 200, response.json


def test_quarantine_denies_clients_keeps_data_restore_lets_them_back_and_grace_ends_in_deletion(
    api: Api, kafka_clusters: list[LocalCluster],
) -> None:
    local = kafka_clusters[0]
    writer = _account(api, "payments-owner", f"{api.prefix}.writer")
    reader = _account(api, "payments-owner", f"{api.prefix}.reader")
    group = f"{api.prefix}.readers"
    spec = topic_spec(api, "quarantined", producers=[writer["principal"]],
                      consumers=[{"principal": reader["principal"], "group": group}])
    api.reconcile_until("payments-member", api.submit("payments-member", "topic.create", spec)["id"])
    topic = spec["name"]
    producer = as_user(local, writer["principal"], writer["password"])
    assert eventually(lambda: produce_one(producer, topic, b"kept") is None or None) is True
    consumer = as_user(local, reader["principal"], reader["password"], **{"group.id": group})
    assert consume_one(consumer, topic) == b"kept"
    admin = AdminClient(local.client_config())
    before = _end_offsets(admin, topic, 3)
    assert sum(before.values()) == 1

    # Written just now: not auto-approved; a platform admin approves.
    deleted = api.submit("payments-owner", "topic.delete", {"name": topic})
    assert deleted["status"] == "pending_approval"
    assert "deletion.recent-writes" in [r["id"] for r in deleted["decision"]["rules"]]
    _approve(api, deleted)
    applied = api.reconcile_until("payments-owner", deleted["id"])
    assert any("quarantined until" in entry.get("note", "") for entry in applied["history"])
    denied = consume_one(consumer, topic)
    assert isinstance(denied, KafkaError)
    assert denied.code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)
    assert _exists(admin, topic)
    assert _end_offsets(admin, topic, 3) == before  # the data is still there
    page = api.call("ingest-member", "GET", f"/api/v1/clusters/{api.payments_cluster}/topics/{topic}").json
    assert page["status"] == "quarantined"

    restored = api.call("payments-owner", "POST", f"/api/v1/clusters/{api.payments_cluster}/topics/{topic}/restore")
    assert restored.status_code == 200, restored.json

    def reads_again() -> bytes | None:
        run_once(api.engine, kafka_port_for)
        value = consume_one(consumer, topic, timeout=5)
        return value if isinstance(value, bytes) else None

    assert eventually(reads_again, timeout=60, interval=0.5) == b"kept"

    # A 2 s grace on this cluster: after it the reconciler deletes the topic for good.
    patched = api.call("admin", "PATCH", f"/api/v1/clusters/{api.payments_cluster}", {"quarantine_seconds": 2})
    assert patched.status_code == 200, patched.json
    again = api.submit("payments-owner", "topic.delete", {"name": topic})
    _approve(api, again)
    api.reconcile_until("payments-owner", again["id"])
    assert _exists(admin, topic)

    def gone() -> bool | None:
        run_once(api.engine, kafka_port_for)
        return True if not _exists(AdminClient(local.client_config()), topic) else None

    started = time.monotonic()
    assert eventually(gone, timeout=60, interval=0.5) is True
    assert time.monotonic() - started >= 1.0  # not before the grace period
    page = api.call("payments-member", "GET", f"/api/v1/clusters/{api.payments_cluster}/topics/{topic}")
    assert page.status_code == 200
    assert page.json["status"] == "deleted"
    assert page.json["deletion"]["approved_by"]
    assert page.json["deletion"]["request_id"] == again["id"]


def test_evidence_of_a_committed_group_routes_to_the_consuming_team_and_an_unused_topic_is_auto_approved(
    api: Api, kafka_clusters: list[LocalCluster],
) -> None:
    local = kafka_clusters[0]
    spec = topic_spec(api, "evidence")
    api.reconcile_until("payments-member", api.submit("payments-member", "topic.create", spec)["id"])
    topic = spec["name"]
    dry = api.call("payments-member", "POST", "/api/v1/requests?dry_run=true",
                   {"kind": "topic.delete", "cluster": api.payments_cluster, "spec": {"name": topic}})
    assert dry.status_code == 200, dry.json
    assert dry.json["decision"]["outcome"] == "auto_approved", dry.json
    assert dry.json["decision"]["evidence"]["exists"] is True
    assert dry.json["decision"]["evidence"]["last_write_at"] is None

    group = f"ingest.{api.prefix[9:]}.analytics"
    committer = Consumer({**local.client_config(), "group.id": group, "enable.auto.commit": False})
    try:
        committer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    finally:
        committer.close()

    routed = api.submit("payments-member", "topic.delete", {"name": topic})
    assert routed["status"] == "pending_approval"
    assert routed["decision"]["approvers"] == ["team:ingest", "role:platform_admin"]
    groups = routed["decision"]["evidence"]["consumer_groups"]
    assert [(g["group"], g["team"], g["committed_partitions"]) for g in groups] == [(group, "ingest", 1)]
    assert api.call("ingest-owner", "GET", f"/api/v1/requests/{routed['id']}").status_code == 200
    approved = api.call("ingest-owner", "POST", f"/api/v1/requests/{routed['id']}/approve", {"comment": "moved"})
    assert approved.status_code == 200, approved.json

"""The v1 API from submit to applied on real Kafka, through the reconciler, for every request kind."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from tests.kafka_clients import eventually
from tests.support import register_cluster
from topicdesk import migrations
from topicdesk.adapters.audit_log import sequence
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import AccessGrantRow, AuditEventRow, RequestRow, TopicRow
from topicdesk.app import create_app
from topicdesk.bootstrap import kafka_port_for
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.local_postgres import LocalPostgres
from topicdesk.services.reconcile_loop import run_once
from topicdesk.services.tokens import create_token


@dataclass
class Api:
    app: Flask
    engine: Engine
    payments_cluster: str
    ingest_cluster: str
    tokens: dict[str, str]
    prefix: str

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def call(self, who: str, method: str, path: str, body: Any = None, **headers: str) -> Any:
        kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {self.tokens[who]}", **headers}}
        if body is not None:
            kwargs["data"] = body if isinstance(body, (bytes, str)) else json.dumps(body)
            kwargs["content_type"] = "application/json"
        return self.client().open(path, method=method, **kwargs)

    def submit(self, who: str, kind: str, spec: dict[str, Any], cluster: str | None = None,
               **extra: Any) -> dict[str, Any]:
        response = self.call(who, "POST", "/api/v1/requests",
                             {"kind": kind, "cluster": cluster or self.payments_cluster, "spec": spec, **extra})
        assert response.status_code == 201, response.json
        body: dict[str, Any] = response.json
        return body

    def get(self, who: str, request_id: str) -> dict[str, Any]:
        response = self.call(who, "GET", f"/api/v1/requests/{request_id}")
        assert response.status_code == 200, response.json
        body: dict[str, Any] = response.json
        return body

    def reconcile_until(self, who: str, request_id: str, status: str = "applied") -> dict[str, Any]:
        def settled() -> dict[str, Any] | None:
            run_once(self.engine, kafka_port_for)
            current = self.get(who, request_id)
            return current if current["status"] == status else None

        return eventually(settled, timeout=60, interval=0.2)


def build_api(database_url: str, kafka_clusters: list[LocalCluster], data_dir: Path, **env: str) -> Api:
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    payments = register_cluster(engine, kafka_clusters[0], "payments", name="payments-dev")
    ingest = register_cluster(engine, kafka_clusters[1], "ingest", name="ingest-dev")
    tokens = {}
    for who, team, role in [("payments-member", "payments", Role.MEMBER), ("payments-owner", "payments", Role.OWNER),
                            ("ingest-member", "ingest", Role.MEMBER), ("ingest-owner", "ingest", Role.OWNER),
                            ("admin", "platform", Role.ADMIN)]:
        tokens[who] = create_token(engine, team=team, name=who, role=role, actor="test").token
    settings = Settings.from_env({"DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(data_dir), **env})
    app = create_app(settings, engine=engine)
    return Api(app, engine, payments, ingest, tokens, f"payments.w{uuid.uuid4().hex[:6]}")


@pytest.fixture
def api(database_url: str, kafka_clusters: list[LocalCluster], tmp_path: Path) -> Iterator[Api]:
    built = build_api(database_url, kafka_clusters, tmp_path)
    yield built
    built.engine.dispose()


def topic_spec(api: Api, suffix: str, **overrides: Any) -> dict[str, Any]:
    return {"name": f"{api.prefix}.{suffix}", "partitions": 3, "replication_factor": 1,
            "config": {"retention.ms": "86400000", "cleanup.policy": "delete"}, "description": "test topic",
            **overrides}


def observed(api: Api, topic: str) -> Any:
    from topicdesk.adapters.tables import ClusterRow

    with unit_of_work(api.engine) as session:
        cluster = session.get(ClusterRow, api.payments_cluster)
        assert cluster is not None
    return kafka_port_for(cluster).describe([topic])


def test_topic_create_update_delete_reach_applied_on_kafka(api: Api) -> None:
    spec = topic_spec(api, "orders", producers=[f"User:{api.prefix}.writer"],
                      consumers=[{"principal": f"User:{api.prefix}.reader", "group": f"{api.prefix}.g"}])
    created = api.submit("payments-member", "topic.create", spec, reason="new service")
    assert created["decision"]["outcome"] == "auto_approved"
    assert created["status"] == "approved"
    done = api.reconcile_until("payments-member", created["id"])
    assert done["applied_at"] is not None
    state = observed(api, spec["name"])
    assert state.topics[spec["name"]].partitions == 3
    assert state.topics[spec["name"]].config["retention.ms"] == "86400000"
    assert {b.operation.value for b in state.acls if b.resource_name == spec["name"]} == {"write", "describe", "read"}

    updated = api.submit("payments-member", "topic.update",
                         {"name": spec["name"], "partitions": 4, "config": {"retention.ms": "172800000"}})
    api.reconcile_until("payments-member", updated["id"])
    state = observed(api, spec["name"])
    assert state.topics[spec["name"]].partitions == 4
    assert state.topics[spec["name"]].config["retention.ms"] == "172800000"

    decrease = api.call("payments-member", "POST", "/api/v1/requests",
                        {"kind": "topic.update", "cluster": api.payments_cluster,
                         "spec": {"name": spec["name"], "partitions": 2}})
    assert decrease.status_code == 201
    assert decrease.json["status"] == "denied"
    assert any("partition" in r["message"].lower() for r in decrease.json["decision"]["rules"])

    topic_page = api.call("ingest-member", "GET", f"/api/v1/clusters/{api.payments_cluster}/topics/{spec['name']}")
    assert topic_page.status_code == 200
    assert topic_page.json["partitions"] == 4
    assert len(topic_page.json["history"]) == 3

    # Applied = quarantined: access removed, the topic (and its data) kept for the grace period.
    deleted = api.submit("payments-owner", "topic.delete", {"name": spec["name"]})
    api.reconcile_until("payments-owner", deleted["id"])
    assert spec["name"] in observed(api, spec["name"]).topics
    assert not [b for b in observed(api, spec["name"]).acls if b.resource_name == spec["name"]]


def test_cross_team_access_is_routed_to_the_owner_team_and_applied_after_approval(api: Api) -> None:
    spec = topic_spec(api, "payouts")
    api.reconcile_until("payments-member", api.submit("payments-member", "topic.create", spec)["id"])
    grant = {"topic": spec["name"], "principal": "User:ingest.payouts-reader", "access": "consume",
             "group": "ingest.payouts"}
    pending = api.submit("ingest-member", "access.grant", grant, reason="analytics")
    assert pending["status"] == "pending_approval"
    assert pending["decision"]["outcome"] == "needs_approval"
    assert pending["decision"]["approvers"] == ["team:payments"]

    inbox = api.call("payments-owner", "GET", "/api/v1/requests?awaiting_me=true").json["items"]
    assert pending["id"] in [item["id"] for item in inbox]
    assert api.call("ingest-member", "POST", f"/api/v1/requests/{pending['id']}/approve", {}).status_code == 403
    assert api.call("ingest-owner", "POST", f"/api/v1/requests/{pending['id']}/approve", {}).status_code == 403
    assert api.call("payments-member", "POST", f"/api/v1/requests/{pending['id']}/approve", {}).status_code == 403
    approved = api.call("payments-owner", "POST", f"/api/v1/requests/{pending['id']}/approve", {"comment": "ok"})
    assert approved.status_code == 200, approved.json
    assert approved.json["approvals"][0]["comment"] == "ok"
    api.reconcile_until("ingest-member", pending["id"])
    bindings = {(b.resource_type.value, b.operation.value) for b in observed(api, spec["name"]).acls
                if b.principal == "User:ingest.payouts-reader"}
    assert bindings == {("topic", "read"), ("topic", "describe"), ("group", "read")}

    revoked = api.submit("ingest-member", "access.revoke", grant)
    api.reconcile_until("ingest-member", revoked["id"])
    assert not [b for b in observed(api, spec["name"]).acls if b.principal == "User:ingest.payouts-reader"]


def test_quota_within_default_applies_and_above_default_needs_a_platform_admin(api: Api) -> None:
    principal = f"User:{api.prefix}.quota"
    small = api.submit("payments-owner", "quota.set", {"principal": principal, "producer_byte_rate": 1048576})
    assert small["decision"]["outcome"] == "auto_approved"
    api.reconcile_until("payments-owner", small["id"])
    assert observed(api, "x").quotas[principal].producer_byte_rate == 1048576

    big = api.submit("payments-owner", "quota.set", {"principal": principal, "producer_byte_rate": 104857600})
    assert big["status"] == "pending_approval"
    assert big["decision"]["approvers"] == ["role:platform_admin"]
    assert api.call("payments-owner", "POST", f"/api/v1/requests/{big['id']}/approve", {}).status_code == 403
    assert api.call("admin", "POST", f"/api/v1/requests/{big['id']}/approve", {}).status_code == 200
    api.reconcile_until("payments-owner", big["id"])
    assert observed(api, "x").quotas[principal].producer_byte_rate == 104857600


def test_denial_lists_every_rule_message_and_stores_no_desired_state(api: Api) -> None:
    spec = topic_spec(api, "huge", partitions=64, replication_factor=3, config={"retention.ms": "-1"})
    denied = api.submit("payments-member", "topic.create", spec)
    assert denied["status"] == "denied"
    assert denied["decision"]["outcome"] == "denied"
    deny_rules = [r for r in denied["decision"]["rules"] if r["effect"] == "deny"]
    assert len(deny_rules) >= 3, deny_rules
    assert all(r["message"] for r in deny_rules)
    with unit_of_work(api.engine) as session:
        assert session.exec(select(TopicRow).where(TopicRow.name == spec["name"])).first() is None


def test_rejection_reason_is_shown_to_the_requester_and_cancel_ends_a_request(api: Api) -> None:
    principal = f"User:{api.prefix}.big"
    big = api.submit("payments-owner", "quota.set", {"principal": principal, "consumer_byte_rate": 209715200})
    assert api.call("admin", "POST", f"/api/v1/requests/{big['id']}/reject", {}).status_code == 422
    rejected = api.call("admin", "POST", f"/api/v1/requests/{big['id']}/reject", {"reason": "use two consumers"})
    assert rejected.status_code == 200
    seen = api.get("payments-owner", big["id"])
    assert (seen["status"], seen["rejection_reason"]) == ("rejected", "use two consumers")
    assert [(h["status"], h["by"]) for h in seen["history"]] == [
        ("pending_approval", "token:payments/payments-owner"), ("rejected", "token:platform/admin")]

    other = api.submit("payments-owner", "quota.set", {"principal": principal, "consumer_byte_rate": 209715200})
    assert api.call("payments-owner", "POST", f"/api/v1/requests/{other['id']}/cancel").status_code == 200
    assert api.get("payments-owner", other["id"])["status"] == "cancelled"
    late = api.call("admin", "POST", f"/api/v1/requests/{other['id']}/approve", {})
    assert late.status_code == 409
    assert late.mimetype == "application/problem+json"


def test_other_teams_requests_answer_404(api: Api) -> None:
    mine = api.submit("payments-owner", "quota.set", {"principal": f"User:{api.prefix}.q", "consumer_byte_rate": 1})
    assert api.call("ingest-member", "GET", f"/api/v1/requests/{mine['id']}").status_code == 404
    assert api.call("ingest-owner", "POST", f"/api/v1/requests/{mine['id']}/cancel").status_code == 404


BAD_BODIES: list[tuple[str, bytes | str | dict[str, Any], int, list[str]]] = [
    ("malformed json", b'{"kind": "topic.create",', 400, []),
    ("not an object", "[1, 2]", 422, [""]),
    ("unknown kind", {"kind": "topic.rename", "cluster": "payments-dev", "spec": {}}, 422, ["/kind"]),
    ("unknown top-level field", {"kind": "topic.delete", "cluster": "payments-dev", "spec": {"name": "payments.a"},
                                 "colour": "red"}, 422, ["/colour"]),
    ("wrong types", {"kind": "topic.create", "cluster": "payments-dev",
                     "spec": {"name": 5, "partitions": "six", "replication_factor": 1.5}}, 422,
     ["/spec/name", "/spec/partitions", "/spec/replication_factor"]),
    ("illegal name and zero partitions", {"kind": "topic.create", "cluster": "payments-dev",
                                          "spec": {"name": "payments/oops!", "partitions": 0,
                                                   "replication_factor": 1}}, 422,
     ["/spec/name", "/spec/partitions"]),
    ("name too long", {"kind": "topic.create", "cluster": "payments-dev",
                       "spec": {"name": "payments." + "a" * 250, "partitions": 1, "replication_factor": 1}}, 422,
     ["/spec/name"]),
    ("negative and absurd partitions", {"kind": "topic.update", "cluster": "payments-dev",
                                        "spec": {"name": "payments.a", "partitions": -3}}, 422, ["/spec/partitions"]),
    ("absurd partitions", {"kind": "topic.create", "cluster": "payments-dev",
                           "spec": {"name": "payments.a", "partitions": 10**12, "replication_factor": 1}}, 422,
     ["/spec/partitions"]),
    ("unknown config key", {"kind": "topic.create", "cluster": "payments-dev",
                            "spec": {"name": "payments.a", "partitions": 1, "replication_factor": 1,
                                     "config": {"log.flush.everything": "true"}}}, 422, ["/spec/config"]),
    ("unknown cluster", {"kind": "topic.delete", "cluster": "nowhere", "spec": {"name": "payments.a"}}, 422,
     ["/cluster"]),
]


@pytest.mark.parametrize(("label", "body", "status", "paths"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_gets_a_problem_listing_every_error_and_stores_nothing(
    api: Api, label: str, body: Any, status: int, paths: list[str],
) -> None:
    response = api.call("payments-member", "POST", "/api/v1/requests", body)
    assert response.status_code == status, (label, response.json)
    assert response.mimetype == "application/problem+json"
    problem = response.json
    assert {"type", "title", "status", "detail"} <= problem.keys()
    found = [e["path"] for e in problem.get("errors", [])]
    for path in paths:
        assert any(f == path or f.startswith(path + "/") for f in found), (label, found)
    with unit_of_work(api.engine) as session:
        assert session.exec(select(func.count()).select_from(RequestRow)).one() == 0


def test_ten_megabyte_body_is_refused_before_parsing(api: Api) -> None:
    response = api.call("payments-member", "POST", "/api/v1/requests", b"{" + b" " * 10_000_000 + b"}")
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def test_idempotency_key_replays_the_same_answer_and_refuses_another_body(api: Api) -> None:
    body = {"kind": "quota.set", "cluster": api.payments_cluster,
            "spec": {"principal": f"User:{api.prefix}.idem", "consumer_byte_rate": 1024}}
    first = api.call("payments-owner", "POST", "/api/v1/requests", body, **{"Idempotency-Key": "k-1"})
    again = api.call("payments-owner", "POST", "/api/v1/requests", body, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json == again.json
    other = api.call("payments-owner", "POST", "/api/v1/requests",
                     {**body, "reason": "changed"}, **{"Idempotency-Key": "k-1"})
    assert other.status_code == 422
    with unit_of_work(api.engine) as session:
        assert session.exec(select(func.count()).select_from(RequestRow)).one() == 1


def test_dry_run_decides_and_stores_nothing(api: Api) -> None:
    response = api.call("payments-member", "POST", "/api/v1/requests?dry_run=true",
                        {"kind": "topic.create", "cluster": api.payments_cluster, "spec": topic_spec(api, "dry")})
    assert response.status_code == 200
    assert response.json["decision"]["outcome"] == "auto_approved"
    with unit_of_work(api.engine) as session:
        assert session.exec(select(func.count()).select_from(RequestRow)).one() == 0


def test_fifty_concurrent_approvals_on_postgresql_make_one_transition_one_event_one_apply(
    postgres_server: LocalPostgres, kafka_clusters: list[LocalCluster], tmp_path: Path,
) -> None:
    database = f"race_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(database)
    # The owner's 50 approvals would otherwise meet the write rate limit first.
    api = build_api(postgres_server.url(database), kafka_clusters, tmp_path, TOPICDESK_WRITE_BURST="100")
    spec = topic_spec(api, "race")
    api.reconcile_until("payments-member", api.submit("payments-member", "topic.create", spec)["id"])
    pending = api.submit("ingest-member", "access.grant", {"topic": spec["name"], "principal": "User:ingest.race",
                                                           "access": "consume", "group": "ingest.race"})
    statuses: list[int] = []
    barrier = threading.Barrier(50)

    def approve() -> None:
        client = api.client()
        barrier.wait()
        response = client.post(f"/api/v1/requests/{pending['id']}/approve", json={},
                               headers={"Authorization": f"Bearer {api.tokens['payments-owner']}"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=approve) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 49
    sequence(api.engine)  # chain what waits in the audit inbox
    with unit_of_work(api.engine) as session:
        events = session.exec(select(func.count()).select_from(AuditEventRow).where(
            AuditEventRow.action == "request:approve", AuditEventRow.subject == f"request:{pending['id']}")).one()
        grants = session.exec(select(AccessGrantRow).where(AccessGrantRow.principal == "User:ingest.race")).all()
    assert events == 1
    assert len(grants) == 1
    assert grants[0].generation == 1
    done = api.reconcile_until("ingest-member", pending["id"])
    assert len(done["approvals"]) == 1
    sequence(api.engine)
    with unit_of_work(api.engine) as session:
        applies = session.exec(select(func.count()).select_from(AuditEventRow).where(
            AuditEventRow.action == "access_grant:apply",
            col(AuditEventRow.subject).contains("User:ingest.race"))).one()
    assert applies == 1
    api.engine.dispose()

"""What a submission writes, on both backends, without Kafka: desired-state rows and their generations,
the request/resource links the reconciler waits for, the audit chain, and the token cache's revocation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from tests.support import seed_teams
from topicdesk import migrations
from topicdesk.adapters.audit_log import sequence, verify
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import (
    AccessGrantRow,
    ApiTokenRow,
    AuditEventRow,
    ClientQuotaRow,
    ClusterRow,
    RequestResourceRow,
    RequestRow,
    TopicRow,
    utcnow,
)
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.errors import Conflict
from topicdesk.domain.identity import Identity, Role
from topicdesk.services import tokens
from topicdesk.services.request_views import request_view
from topicdesk.services.requests import RequestDeps, submit_request
from topicdesk.services.tokens import create_token

CLUSTER = "payments-dev"
WRITER, READER = "User:payments.writer", "User:payments.reader"


@dataclass
class Desk:
    engine: Engine
    client: FlaskClient
    tokens: dict[str, str]

    def post(self, who: str, path: str, body: Any = None) -> Any:
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def submit(self, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        response = self.post("member", "/api/v1/requests", {"kind": kind, "cluster": CLUSTER, "spec": spec})
        assert response.status_code == 201, response.json
        body: dict[str, Any] = response.json
        return body

    def links(self, request_id: str) -> set[tuple[str, str, int]]:
        with unit_of_work(self.engine) as session:
            rows = session.exec(select(RequestResourceRow).where(RequestResourceRow.request_id == request_id)).all()
            return {(r.resource_kind, r.resource_id, r.generation) for r in rows}

    def grants(self) -> dict[str, AccessGrantRow]:
        with unit_of_work(self.engine) as session:
            return {g.principal: g for g in session.exec(select(AccessGrantRow)).all()}


@pytest.fixture
def desk(database_url: str, tmp_path: Path) -> Iterator[Desk]:
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    seed_teams(engine)
    with unit_of_work(engine) as session:
        session.add(ClusterRow(name=CLUSTER, environment="dev", owner_team="payments", bootstrap_servers="127.0.0.1:1",
                               admin_secret_ref="file:/nonexistent", broker_count=3))
    issued = {who: create_token(engine, team="payments", name=who, role=role, actor="test").token
              for who, role in (("member", Role.MEMBER), ("owner", Role.OWNER))}
    settings = Settings.from_env({"DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(tmp_path)})
    yield Desk(engine, create_app(settings, engine=engine).test_client(), issued)
    tokens.TOKEN_CACHE.clear()
    engine.dispose()


def test_topic_create_writes_topic_grants_links_and_two_chained_events(desk: Desk) -> None:
    created = desk.submit("topic.create", {
        "name": "payments.orders", "partitions": 3, "replication_factor": 1, "config": {"retention.ms": "86400000"},
        "producers": [WRITER], "consumers": [{"principal": READER, "group": "payments.readers"}]})
    assert created["status"] == "approved"
    assert created["created_at"] == created["updated_at"]
    grants = desk.grants()
    assert {(g.access, g.group_id, g.generation, g.deleted, g.granted_team) for g in grants.values()} == {
        ("produce", "", 1, False, "payments"), ("consume", "payments.readers", 1, False, "payments")}
    with unit_of_work(desk.engine) as session:
        topic = session.exec(select(TopicRow)).one()
        assert (topic.partitions, topic.config, topic.managed_config_keys, topic.generation) == (
            3, {"retention.ms": "86400000"}, ["retention.ms"], 1)
        assert verify(session).ok
        assert verify(session).events > 2  # token:create events, then request:submit and request:auto_approve
    assert desk.links(created["id"]) == {("topic", topic.id, 1), ("access_grant", grants[WRITER].id, 1),
                                         ("access_grant", grants[READER].id, 1)}

    # A grant that is already there changes nothing: no link, applied at once.
    again = desk.submit("access.grant", {"topic": "payments.orders", "principal": WRITER, "access": "produce"})
    assert again["status"] == "applied"
    assert again["applied_at"] is not None
    assert desk.links(again["id"]) == set()

    # A grant deleted but not yet gone from the cluster (a tombstone) comes back with a new generation.
    with unit_of_work(desk.engine) as session:
        session.execute(update(AccessGrantRow).where(col(AccessGrantRow.principal) == WRITER).values(deleted=True))
    revived = desk.submit("access.grant", {"topic": "payments.orders", "principal": WRITER, "access": "produce"})
    assert revived["status"] == "approved"
    writer = desk.grants()[WRITER]
    assert (writer.id, writer.generation, writer.deleted) == (grants[WRITER].id, 2, False)
    assert desk.links(revived["id"]) == {("access_grant", writer.id, 2)}

    # A topic.create over a deleted topic's tombstone replaces the row.
    with unit_of_work(desk.engine) as session:
        session.execute(update(TopicRow).values(deleted=True))
    recreated = desk.submit("topic.create", {"name": "payments.orders", "partitions": 6, "replication_factor": 1})
    with unit_of_work(desk.engine) as session:
        replacement = session.exec(select(TopicRow)).one()
        assert verify(session).ok
    assert (replacement.partitions, replacement.deleted, replacement.generation) == (6, False, 1)
    assert replacement.id != topic.id
    assert desk.links(recreated["id"]) == {("topic", replacement.id, 1)}
    # The live topic is refused.
    duplicate = desk.post("member", "/api/v1/requests", {"kind": "topic.create", "cluster": CLUSTER, "spec": {
        "name": "payments.orders", "partitions": 1, "replication_factor": 1}})
    assert duplicate.status_code == 409


def test_topic_create_stores_every_column_and_links_only_grants_it_changed(desk: Desk) -> None:
    """The one-statement store (PostgreSQL) and the per-table one (SQLite) write the same rows."""
    # Grants may exist before their topic: one live (left alone), one deleted (revived).
    live = desk.submit("access.grant", {"topic": "payments.events", "principal": WRITER, "access": "produce"})
    tombstone = desk.submit("access.grant", {"topic": "payments.events", "principal": READER, "access": "consume",
                                             "group": "payments.readers"})
    assert (live["status"], tombstone["status"]) == ("approved", "approved")
    with unit_of_work(desk.engine) as session:
        session.execute(update(AccessGrantRow).where(col(AccessGrantRow.principal) == READER).values(deleted=True))
    before = desk.grants()
    contract = {"format": "avro", "subject": "payments.events-value", "schema": '{"type": "string", "x": "ü"}'}
    body = {"kind": "topic.create", "cluster": CLUSTER, "reason": "new service", "spec": {
        "name": "payments.events", "partitions": 2, "replication_factor": 1, "description": "Payment events",
        "config": {"retention.ms": "3600000", "cleanup.policy": "delete"}, "data_contract": contract,
        "expected_throughput": {"bytes_per_second": 1000}, "producers": [WRITER],
        "consumers": [{"principal": READER, "group": "payments.readers"}]}}
    headers = {"Authorization": f"Bearer {desk.tokens['member']}", "Idempotency-Key": "create-events"}
    response = desk.client.post("/api/v1/requests", json=body, headers=headers)
    assert response.status_code == 201, response.json
    created = cast(dict[str, Any], response.json)
    replay = desk.client.post("/api/v1/requests", json=body, headers=headers)
    assert (replay.status_code, replay.json) == (201, created)

    after = desk.grants()
    assert (after[WRITER].generation, after[WRITER].updated_at) == (1, before[WRITER].updated_at)
    assert (after[READER].id, after[READER].generation, after[READER].deleted) == (before[READER].id, 2, False)
    with unit_of_work(desk.engine) as session:
        topic = session.exec(select(TopicRow)).one()
        stored = session.get(RequestRow, created["id"])
    assert topic.model_dump(exclude={"id", "created_at", "updated_at"}) == {
        "cluster": CLUSTER, "name": "payments.events", "owner_team": "payments", "partitions": 2,
        "replication_factor": 1, "config": {"retention.ms": "3600000", "cleanup.policy": "delete"},
        "managed_config_keys": ["cleanup.policy", "retention.ms"], "description": "Payment events",
        "data_contract": contract, "expected_bytes_per_second": 1000, "generation": 1, "observed_generation": 0,
        "failed_generation": 0, "deleted": False, "last_error": None, "last_error_reason": None, "attempts": 0,
        "not_before": None, "applied_at": None, "lifecycle": "active", "quarantined_until": None,
        "quarantined_grants": None, "deletion_request_id": None, "deleted_by": None, "deleted_at": None,
        "managed_by": None}
    assert topic.created_at == topic.updated_at
    assert stored is not None
    assert request_view(stored) == created
    assert (stored.spec, stored.reason, stored.approvers, stored.approvals) == (body["spec"], "new service", [], [])
    assert desk.links(created["id"]) == {("topic", topic.id, 1), ("access_grant", after[READER].id, 2)}
    # Its events, in order, once chained; the request page shows them even before.
    page = cast(dict[str, Any], desk.client.get(f"/api/v1/requests/{created['id']}", headers={
        "Authorization": f"Bearer {desk.tokens['member']}"}).json)
    history = page["history"]
    assert [h["status"] for h in history] == ["approved"]
    sequence(desk.engine)
    with unit_of_work(desk.engine) as session:
        events = session.exec(select(AuditEventRow).where(AuditEventRow.subject == f"request:{created['id']}")
                              .order_by(col(AuditEventRow.seq))).all()
        assert verify(session).ok
    assert [(e.action, e.actor, e.team) for e in events] == [
        ("request:submit", "token:payments/member", "payments"), ("request:auto_approve", "policy", "payments")]
    assert events[0].data["spec"] == body["spec"]


# PostgreSQL only: SQLite serialises writers from BEGIN (IMMEDIATE), so this interleaving cannot happen there.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_topic_created_by_a_concurrent_request_is_a_409_and_nothing_is_stored(desk: Desk) -> None:
    """Another request stores the same topic between this one's checks and its write."""
    deps: RequestDeps = desk.client.application.extensions["topicdesk.request_deps"]
    spec = {"name": "payments.raced", "partitions": 1, "replication_factor": 1, "producers": [WRITER]}
    rival = Identity("rival@example.com", {"payments": Role.MEMBER})

    def evaluate_while_a_rival_stores(document: dict[str, Any]) -> Any:
        decision = deps.evaluate(document)
        submit_request(deps, rival, {"kind": "topic.create", "cluster": CLUSTER, "spec": spec})
        return decision

    racing = replace(deps, evaluate=evaluate_while_a_rival_stores)
    me = Identity("me@example.com", {"payments": Role.MEMBER})
    with pytest.raises(Conflict, match="at the same moment"):
        submit_request(racing, me, {"kind": "topic.create", "cluster": CLUSTER, "spec": spec})
    with unit_of_work(desk.engine) as session:
        requests = session.exec(select(RequestRow)).all()
        assert [r.requested_by for r in requests] == ["rival@example.com"]
        assert len(session.exec(select(TopicRow)).all()) == 1
        assert len(session.exec(select(AccessGrantRow)).all()) == 1


def test_quota_set_inserts_then_bumps_and_keeps_unnamed_quotas(desk: Desk) -> None:
    first = desk.submit("quota.set", {"principal": WRITER, "producer_byte_rate": 1024})
    second = desk.submit("quota.set", {"principal": WRITER, "consumer_byte_rate": 2048})
    with unit_of_work(desk.engine) as session:
        quota = session.exec(select(ClientQuotaRow)).one()
    assert (quota.producer_byte_rate, quota.consumer_byte_rate) == (1024, 2048)
    assert (quota.generation, quota.deleted) == (2, False)
    assert desk.links(first["id"]) == {("client_quota", quota.id, 1)}
    assert desk.links(second["id"]) == {("client_quota", quota.id, 2)}
    cleared = desk.submit("quota.set", {"principal": WRITER, "producer_byte_rate": None, "consumer_byte_rate": None})
    with unit_of_work(desk.engine) as session:
        quota = session.exec(select(ClientQuotaRow)).one()
    assert (quota.generation, quota.deleted) == (3, True)
    assert desk.links(cleared["id"]) == {("client_quota", quota.id, 3)}


def test_usage_counts_live_topics_and_expected_throughput(desk: Desk) -> None:
    desk.submit("topic.create", {"name": "payments.a", "partitions": 3, "replication_factor": 1})
    desk.submit("topic.create", {"name": "payments.b", "partitions": 2, "replication_factor": 1,
                                 "config": {"retention.ms": "86400000"},
                                 "expected_throughput": {"bytes_per_second": 1000}})
    clusters = desk.client.get("/api/v1/clusters", headers={"Authorization": f"Bearer {desk.tokens['member']}"})
    capacity = clusters.get_json()["items"][0]["capacity"]
    assert (capacity["partitions_used"], capacity["disk_bytes_used"]) == (5, 1000 * 86400)
    dry = desk.post("member", "/api/v1/requests?dry_run=true", {"kind": "topic.create", "cluster": CLUSTER, "spec": {
        "name": "payments.c", "partitions": 1, "replication_factor": 1}})
    assert dry.status_code == 200, dry.json
    unknown = desk.post("member", "/api/v1/requests", {"kind": "topic.create", "cluster": "nowhere", "spec": {
        "name": "payments.c", "partitions": 1, "replication_factor": 1}})
    assert unknown.status_code == 422
    assert unknown.json["errors"] == [{"path": "/cluster", "message": "no cluster named 'nowhere'"}]


def test_a_token_revoked_through_the_api_is_refused_at_once(desk: Desk) -> None:
    assert desk.post("member", "/api/v1/requests?dry_run=true", {}).status_code == 422  # authenticated (cached)
    assert len(tokens.TOKEN_CACHE) >= 1
    member_id = desk.tokens["member"].split("_")[1]
    assert desk.client.delete(f"/api/v1/teams/payments/tokens/{member_id}",
                              headers={"Authorization": f"Bearer {desk.tokens['owner']}"}).status_code == 204
    refused = desk.post("member", "/api/v1/requests?dry_run=true", {})
    assert refused.status_code == 401
    assert "revoked" in refused.json["detail"]


def test_a_revocation_by_another_process_takes_effect_within_the_cache_ttl(
    desk: Desk, monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(tokens, "TOKEN_CACHE", tokens.ValidatedTokenCache(clock=lambda: now[0]))
    assert desk.post("member", "/api/v1/requests?dry_run=true", {}).status_code == 422
    member_id = desk.tokens["member"].split("_")[1]
    with unit_of_work(desk.engine) as session:  # as the CLI in another process would
        session.execute(update(ApiTokenRow).where(col(ApiTokenRow.id) == member_id).values(revoked_at=utcnow()))
    assert desk.post("member", "/api/v1/requests?dry_run=true", {}).status_code == 422  # still cached
    now[0] += tokens.TOKEN_CACHE_SECONDS
    assert desk.post("member", "/api/v1/requests?dry_run=true", {}).status_code == 401

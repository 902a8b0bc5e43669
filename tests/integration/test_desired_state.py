"""Desired-state files through the HTTP API on both backends: a file manages exactly what it
declares (managed_by rows), destructive changes wait for allow_destroy, portal changes to file-managed
resources are 409 (admins override, audited), and re-applies are idempotent with request ids.

The Kafka effect of these rows is the CLI's integration tests' (a real serve, reconciler and cluster);
here the rows the reconciler would act on are read back from the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from tests.fakes import FakeClusterPort
from tests.support import seed_teams
from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import (
    AccessGrantRow,
    AuditEventRow,
    AuditInboxRow,
    ClientQuotaRow,
    ClusterRow,
    RequestRow,
    TopicRow,
)
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.schemas import default_schemas
from topicdesk.services.tokens import create_token

CLUSTER = "payments-dev"
SOURCE = "acme/payments-topics:kafka/payments-dev.yaml"
RESULT_SCHEMA = "https://topicdesk.dev/schemas/desired-state-result.json"
READER = "User:payments.reader"


@dataclass
class Desk:
    engine: Engine
    client: FlaskClient
    tokens: dict[str, str]

    def call(self, who: str, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def apply(self, file: dict[str, Any], query: str = "", status: int | None = None) -> dict[str, Any]:
        response = self.call("member", f"/api/v1/desired-state?source={SOURCE}{query}", file)
        if status is not None:
            assert response.status_code == status, response.json
        body: dict[str, Any] = response.json
        assert default_schemas().errors(RESULT_SCHEMA, body) == []
        return body

    def submit(self, who: str, kind: str, spec: dict[str, Any], query: str = "") -> Any:
        return self.call(who, f"/api/v1/requests{query}", {"kind": kind, "cluster": CLUSTER, "spec": spec})

    def topic(self, name: str) -> TopicRow:
        with unit_of_work(self.engine) as session:
            row = session.exec(select(TopicRow).where(TopicRow.cluster == CLUSTER, TopicRow.name == name)).one()
            session.expunge(row)
            return row

    def grants(self, topic: str) -> dict[tuple[str, str], AccessGrantRow]:
        with unit_of_work(self.engine) as session:
            rows = session.exec(select(AccessGrantRow).where(AccessGrantRow.topic == topic)).all()
            for row in rows:
                session.expunge(row)
            return {(r.principal, r.access): r for r in rows}

    def request_count(self) -> int:
        with unit_of_work(self.engine) as session:
            return len(session.exec(select(RequestRow.id)).all())


@pytest.fixture
def desk(database_url: str, tmp_path: Path) -> Iterator[Desk]:
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    seed_teams(engine)
    with unit_of_work(engine) as session:
        session.add(ClusterRow(name=CLUSTER, environment="dev", owner_team="payments", bootstrap_servers="127.0.0.1:1",
                               admin_secret_ref="file:/nonexistent"))
    tokens = {who: create_token(engine, team=team, name=who, role=role, actor="test").token
              for who, team, role in (("member", "payments", Role.MEMBER), ("admin", "platform", Role.ADMIN))}
    port = FakeClusterPort()
    settings = Settings.from_env({"DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(tmp_path),
                                  "TOPICDESK_TOPIC_LIVE_READ_SECONDS": "0"})
    app = create_app(settings, engine=engine, port_factory=lambda _c, **_o: port)
    yield Desk(engine, app.test_client(), tokens)
    engine.dispose()


def file_of(*topics: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"version": 1, "cluster": CLUSTER, "team": "payments", "topics": list(topics), **more}


FILE_TOPIC = {"name": "payments.orders", "partitions": 3, "replication_factor": 1,
              "config": {"retention.ms": "86400000"}, "producers": ["User:payments.writer"]}
PORTAL_TOPIC = {"name": "payments.portal", "partitions": 3, "replication_factor": 1,
                "config": {"retention.ms": "3600000", "cleanup.policy": "delete"},
                "consumers": [{"principal": READER, "group": "payments.portal-readers"}]}


def test_a_file_manages_only_what_it_declares(desk: Desk) -> None:
    made = desk.submit("member", "topic.create", PORTAL_TOPIC)
    assert made.status_code == 201, made.json

    # A topics-only file that does not declare the portal topic: its topic, config and grant stay as they are.
    result = desk.apply(file_of(FILE_TOPIC), status=200)
    assert [(c["action"], c["resource"]["key"], c["outcome"]) for c in result["changes"]] == [
        ("create", "topic:payments.orders", "auto_approved")]
    assert result["source"] == SOURCE
    assert desk.topic("payments.orders").managed_by == SOURCE
    assert desk.grants("payments.orders")[("User:payments.writer", "produce")].managed_by == SOURCE
    portal = desk.topic("payments.portal")
    assert (portal.managed_by, portal.config, portal.generation) == (None, PORTAL_TOPIC["config"], 1)
    assert [(g.deleted, g.managed_by) for g in desk.grants("payments.portal").values()] == [(False, None)]

    # Re-applying the same file is in sync: 200, no change listed, nothing stored.
    before = desk.request_count()
    again = desk.apply(file_of(FILE_TOPIC), status=200)
    assert (again["in_sync"], again["changes"], again["summary"]["in_sync"]) == (True, [], 2)
    assert desk.request_count() == before

    # Declaring the portal topic without its config and grants adopts it; the config reset is
    # destructive and skipped (409 so that CI fails), and the undeclared portal grant is not touched.
    declared = {k: v for k, v in PORTAL_TOPIC.items() if k not in ("config", "consumers")}
    adopted = desk.client.post(f"/api/v1/desired-state?source={SOURCE}", json=file_of(FILE_TOPIC, declared),
                               headers={"Authorization": f"Bearer {desk.tokens['member']}"})
    assert adopted.status_code == 409
    assert adopted.mimetype == "application/problem+json"
    body: dict[str, Any] = adopted.get_json()
    assert body["type"] == "https://topicdesk.dev/problems/desired-state-not-applied"
    assert "1 skipped destructive" in body["detail"]
    assert [(c["action"], c["destructive"], c["outcome"]) for c in body["changes"]] == [
        ("adopt", False, "auto_approved"), ("update", True, "skipped_destructive")]
    assert [d["field"] for d in body["changes"][1]["diff"]] == ["config.cleanup.policy", "config.retention.ms"]
    portal = desk.topic("payments.portal")
    assert (portal.managed_by, portal.config) == (SOURCE, PORTAL_TOPIC["config"])
    assert [(g.deleted, g.managed_by) for g in desk.grants("payments.portal").values()] == [(False, None)]
    page: dict[str, Any] = desk.client.get(f"/api/v1/clusters/{CLUSTER}/topics/payments.portal",
                                           headers={"Authorization": f"Bearer {desk.tokens['member']}"}).get_json()
    assert page["managed_by"] == SOURCE
    assert [g["managed_by"] for g in page["access_grants"]] == [None]


def test_a_removed_grant_is_destructive_and_revoked_only_with_allow_destroy(desk: Desk) -> None:
    with_reader = {**FILE_TOPIC, "consumers": [{"principal": READER, "group": "payments.readers"}]}
    desk.apply(file_of(with_reader), status=200)
    assert desk.grants("payments.orders")[(READER, "consume")].managed_by == SOURCE

    plan = desk.apply(file_of(FILE_TOPIC), "&dry_run=true", status=200)
    assert [(c["action"], c["resource"]["type"], c["destructive"], c["outcome"], c["request"]["kind"])
            for c in plan["changes"]] == [("delete", "access_grant", True, "skipped_destructive", "access.revoke")]

    skipped = desk.apply(file_of(FILE_TOPIC), status=409)
    assert skipped["summary"]["skipped_destructive"] == 1
    assert desk.grants("payments.orders")[(READER, "consume")].deleted is False

    revoked = desk.apply(file_of(FILE_TOPIC), "&allow_destroy=true", status=200)
    assert [(c["outcome"], c["status"]) for c in revoked["changes"]] == [("auto_approved", "approved")]
    grant = desk.grants("payments.orders")[(READER, "consume")]
    assert grant.deleted is True
    assert grant.generation == 2  # a tombstone the reconciler removes the ACLs of
    # prune is the older name and means the same; now there is nothing left to destroy.
    assert desk.apply(file_of(FILE_TOPIC), "&prune=true", status=200)["in_sync"] is True


def test_portal_changes_to_a_file_managed_topic_are_409_unless_an_admin_overrides(desk: Desk) -> None:
    desk.apply(file_of(FILE_TOPIC), status=200)
    change = {"name": "payments.orders", "config": {"retention.ms": "3600000"}}

    refused = desk.submit("member", "topic.update", change)
    assert refused.status_code == 409
    assert refused.json["detail"] == (f"managed by desired-state file {SOURCE}; change the file, or a platform "
                                      "admin overrides with ?override_managed_by=true")
    assert desk.submit("member", "topic.update", change, "?dry_run=true").status_code == 409
    assert desk.submit("member", "topic.delete", {"name": "payments.orders"}).status_code == 409
    assert desk.submit("member", "access.revoke", {"topic": "payments.orders", "principal": "User:payments.writer",
                                                   "access": "produce"}).status_code == 409
    assert desk.submit("member", "topic.update", change, "?override_managed_by=true").status_code == 403
    # A new grant on the file's topic changes nothing the file manages: other teams ask through the portal.
    assert desk.submit("member", "access.grant", {"topic": "payments.orders", "principal": READER,
                                                  "access": "consume", "group": "payments.r"}).status_code == 201
    assert desk.topic("payments.orders").config == {"retention.ms": "86400000"}

    overridden = desk.submit("admin", "topic.update", change, "?override_managed_by=true")
    assert overridden.status_code == 201, overridden.json
    assert desk.topic("payments.orders").config == {"retention.ms": "3600000"}
    assert desk.topic("payments.orders").managed_by == SOURCE  # still the file's: its next apply reverts it
    subject = f"request:{overridden.json['id']}"
    with unit_of_work(desk.engine) as session:
        waiting = session.exec(select(AuditInboxRow).where(AuditInboxRow.subject == subject)).all()
        chained = session.exec(select(AuditEventRow).where(AuditEventRow.subject == subject)).all()
        submits = [e.data for e in waiting if e.action == "request:submit"]
        submits += [e.data for e in chained if e.action == "request:submit"]
    assert [d["override_managed_by"] for d in submits] == [{"managed_by": SOURCE}]

    # The file's own apply passes the check: its next run puts its value back.
    reverted = desk.apply(file_of(FILE_TOPIC), status=200)
    assert [(c["action"], c["outcome"]) for c in reverted["changes"]] == [("update", "auto_approved")]
    assert desk.topic("payments.orders").config == {"retention.ms": "86400000"}


def test_denied_and_waiting_changes_are_not_asked_twice(desk: Desk) -> None:
    too_big = {"name": "payments.big", "partitions": 60, "replication_factor": 1}
    quota = {"principal": "User:payments.writer", "producer_byte_rate": 52428800}
    file = file_of(FILE_TOPIC, too_big, quotas=[quota])

    first = desk.apply(file, status=409)
    outcomes = {c["resource"]["key"]: c for c in first["changes"]}
    denied, waiting = outcomes["topic:payments.big"], outcomes["quota:User:payments.writer"]
    assert (denied["outcome"], denied["status"]) == ("denied", "denied")
    assert [r["id"] for r in denied["reasons"]] == ["topic-bounds.partitions-dev"]
    assert (waiting["outcome"], waiting["approvers"]) == ("awaiting_approval", ["role:platform_admin"])
    assert first["summary"] | {"in_sync": 0} == {
        "changes": 3, "in_sync": 0, "submitted": 3, "planned": 0, "auto_approved": 1, "awaiting_approval": 1,
        "denied": 1, "skipped_destructive": 0, "already_requested": 0, "previously_denied": 0, "errors": 0}

    stored = desk.request_count()
    for query in ("&dry_run=true", ""):
        again = desk.apply(file, query)
        outcomes = {c["resource"]["key"]: c for c in again["changes"]}
        previously = outcomes["topic:payments.big"]
        assert (previously["outcome"], previously["request_id"], previously["status"]) == (
            "previously_denied", denied["request_id"], "denied")
        assert previously["reasons"] == denied["reasons"]
        already = outcomes["quota:User:payments.writer"]
        assert (already["outcome"], already["request_id"], already["request_url"], already["approvers"]) == (
            "already_requested", waiting["request_id"], f"/api/v1/requests/{waiting['request_id']}",
            ["role:platform_admin"])
        assert "topic:payments.orders" not in outcomes  # created by the first apply: in sync
    assert desk.request_count() == stored

    # Without the denied topic, only a wait is left: 202.
    waiting_only = desk.apply(file_of(FILE_TOPIC, quotas=[quota]), status=202)
    assert [c["outcome"] for c in waiting_only["changes"]] == ["already_requested"]
    with unit_of_work(desk.engine) as session:
        sources = set(session.exec(select(RequestRow.source).where(col(RequestRow.kind) != "x")).all())
        assert not session.exec(select(ClientQuotaRow)).all()  # the quota waits for its approval
    assert sources == {SOURCE}

"""Deletion on evidence, with quarantine and undo, through the API and the reconciler on an in-memory
cluster: evidence -> evaluation document -> decision, the quarantine plan, restore, final deletion."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from tests.fakes import FAST_RECONCILE as FAST
from tests.fakes import FakeClusterPort, FakeGroup, RecordingClusterPort
from tests.support import Desk, build_desk
from topicdesk.adapters.audit_log import sequence
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import AuditEventRow, ClusterRow, TopicRow
from topicdesk.domain.acls import bindings_for
from topicdesk.domain.identity import Role
from topicdesk.domain.model import Access, AccessGrant, DesiredTopic
from topicdesk.domain.plan import ChangeKind, Deletions, DesiredState, ObservedState, ObservedTopic, plan
from topicdesk.services.cluster_port import Outcome, OutcomeReason
from topicdesk.services.reconcile_loop import run_once

TOPIC = "payments.orders"
READER = AccessGrant(principal="User:ingest.reader", topic=TOPIC, access=Access.CONSUME, group="ingest.g")


class World(Desk):
    port: RecordingClusterPort

    @property
    def fake(self) -> FakeClusterPort:
        """The in-memory cluster behind the recording port."""
        fake = self.port.inner
        assert isinstance(fake, FakeClusterPort)
        return fake

    def submit(self, who: str, kind: str, spec: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        response = self.call(who, "POST", "/api/v1/requests" + ("?dry_run=true" if dry_run else ""),
                             {"kind": kind, "cluster": "payments-dev", "spec": spec})
        assert response.status_code == (200 if dry_run else 201), response.json
        body: dict[str, Any] = response.json
        return body

    def reconcile(self) -> None:
        run_once(self.engine, lambda _cluster, **_options: self.port, settings=FAST)

    def topic_page(self) -> dict[str, Any]:
        response = self.call("member", "GET", f"/api/v1/clusters/payments-dev/topics/{TOPIC}")
        assert response.status_code == 200, response.json
        body: dict[str, Any] = response.json
        return body

    def request(self, request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.call("member", "GET", f"/api/v1/requests/{request_id}").json
        return body


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = build_desk(tmp_path, RecordingClusterPort(FakeClusterPort()), clusters={"payments-dev": "payments"},
                   kind=World, tokens={"member": ("payments", Role.MEMBER), "owner": ("payments", Role.OWNER),
                                       "ingest-owner": ("ingest", Role.OWNER), "admin": ("platform", Role.ADMIN)})
    created = w.submit("member", "topic.create", {"name": TOPIC, "partitions": 2, "replication_factor": 1,
                                                  "consumers": [{"principal": "User:payments.app",
                                                                 "group": "payments.app"}]})
    assert created["status"] == "approved"
    w.reconcile()
    yield w
    w.engine.dispose()


def _delete_dry_run(w: World) -> dict[str, Any]:
    decision: dict[str, Any] = w.submit("member", "topic.delete", {"name": TOPIC}, dry_run=True)["decision"]
    return decision


def _blocking(decision: dict[str, Any]) -> set[str]:
    return {r["id"] for r in decision["rules"] if r["effect"] != "warn"}


def test_an_unused_topic_on_dev_is_auto_approved_on_evidence_gathered_in_one_bulk_call(world: World) -> None:
    world.port.reset()
    decision = _delete_dry_run(world)
    assert decision["outcome"] == "auto_approved", decision
    assert [c.method for c in world.port.calls] == ["usage_evidence"]
    evidence = decision["evidence"]
    assert evidence["available"] is True
    assert evidence["exists"] is True
    assert evidence["consumer_groups"] == []
    assert evidence["affected_teams"] == []


def test_a_group_of_another_team_that_committed_routes_to_that_teams_owners(world: World) -> None:
    world.fake.groups["ingest.analytics"] = FakeGroup(committed={(TOPIC, 0): 5}, members=0)
    decision = _delete_dry_run(world)
    assert decision["outcome"] == "needs_approval"
    assert decision["approvers"] == ["team:ingest", "role:platform_admin"]
    assert _blocking(decision) == {"deletion.used-by-other-teams"}
    group = decision["evidence"]["consumer_groups"][0]
    assert group == {"group": "ingest.analytics", "team": "ingest", "state": "EMPTY", "members": 0,
                     "committed_partitions": 1, "lag": 0}

    pending = world.submit("member", "topic.delete", {"name": TOPIC})
    assert pending["status"] == "pending_approval"
    assert world.call("owner", "POST", f"/api/v1/requests/{pending['id']}/approve", {}).status_code == 403
    approved = world.call("ingest-owner", "POST", f"/api/v1/requests/{pending['id']}/approve", {"comment": "ok"})
    assert approved.status_code == 200, approved.json


def test_active_consumers_and_recent_writes_are_not_auto_approved(world: World) -> None:
    world.fake.groups["payments.app"] = FakeGroup(committed={(TOPIC, 0): 1, (TOPIC, 1): 1}, members=2)
    world.fake.last_write[TOPIC] = datetime.now(UTC) - timedelta(days=1)
    decision = _delete_dry_run(world)
    assert decision["outcome"] == "needs_approval"
    assert _blocking(decision) == {"deletion.active-consumers", "deletion.recent-writes"}
    assert decision["approvers"] == ["team:payments", "role:platform_admin"]
    assert decision["evidence"]["active_groups"] == ["payments.app"]


def test_an_unreachable_cluster_gives_unavailable_evidence_not_an_error(world: World) -> None:
    world.fake.unreachable = Outcome.failure(OutcomeReason.UNAVAILABLE, "Failed to connect to the cluster",
                                             transient=True)
    decision = _delete_dry_run(world)
    assert decision["outcome"] == "needs_approval"
    assert _blocking(decision) == {"deletion.evidence-unavailable"}
    assert decision["evidence"]["available"] is False
    assert "Failed to connect" in decision["evidence"]["error"]


def test_quarantine_removes_access_keeps_the_topic_and_restore_brings_access_back(world: World) -> None:
    bindings = frozenset(bindings_for(AccessGrant(principal="User:payments.app", topic=TOPIC,
                                                  access=Access.CONSUME, group="payments.app")))
    assert bindings <= world.fake.acls
    deleted = world.submit("member", "topic.delete", {"name": TOPIC})
    assert deleted["status"] == "approved"
    page = world.topic_page()
    assert page["status"] == "quarantined"
    assert page["deletion"]["requested_by"] == deleted["requested_by"]
    until = datetime.fromisoformat(page["quarantined_until"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < until - datetime.now(UTC) <= timedelta(hours=1)  # dev default
    assert [g["principal"] for g in page["quarantined_grants"]] == ["User:payments.app"]

    world.port.reset()
    world.reconcile()
    assert not bindings & world.fake.acls
    assert TOPIC in world.fake.topics  # the data stays
    assert [c.method for c in world.port.mutating_calls] == ["delete_acls"]
    request = world.request(deleted["id"])
    assert request["status"] == "applied"
    approval = next(h for h in request["history"] if h["status"] == "approved")
    assert "quarantined until" in approval["note"]
    # Nothing else changes a quarantined topic.
    update = world.call("member", "POST", "/api/v1/requests", {"kind": "topic.update", "cluster": "payments-dev",
                                                               "spec": {"name": TOPIC, "partitions": 3}})
    assert update.status_code == 409
    assert "quarantined" in update.json["detail"]

    assert world.call("member", "POST", f"/api/v1/clusters/payments-dev/topics/{TOPIC}/restore").status_code == 403
    restored = world.call("owner", "POST", f"/api/v1/clusters/payments-dev/topics/{TOPIC}/restore")
    assert restored.status_code == 200, restored.json
    assert restored.json["lifecycle"] == "active"
    world.reconcile()
    assert bindings <= world.fake.acls
    assert world.topic_page()["status"] == "applied"
    again = world.call("owner", "POST", f"/api/v1/clusters/payments-dev/topics/{TOPIC}/restore")
    assert again.status_code == 409
    sequence(world.engine)
    with unit_of_work(world.engine) as session:
        actions = [e.action for e in session.exec(select(AuditEventRow).where(
            AuditEventRow.subject == f"topic:payments-dev/{TOPIC}")).all()]
    assert "topic:quarantine" in actions
    assert "topic:restore" in actions


def test_after_the_grace_period_the_reconciler_deletes_the_topic_and_its_page_stays(world: World) -> None:
    patched = world.call("admin", "PATCH", "/api/v1/clusters/payments-dev", {"quarantine_seconds": 0})
    assert patched.status_code == 200, patched.json
    assert patched.json["effective_quarantine_seconds"] == 0
    deleted = world.submit("member", "topic.delete", {"name": TOPIC})
    world.reconcile()  # grace 0: ACLs removed and the final deletion started in one pass or two
    world.reconcile()
    assert TOPIC not in world.fake.topics
    page = world.topic_page()
    assert page["status"] == "deleted"
    assert page["lifecycle"] == "deleted"
    assert page["deleted_at"] is not None
    assert page["deletion"]["request_id"] == deleted["id"]
    assert page["deletion"]["decided_by"] == "policy"
    assert deleted["id"] in [r["id"] for r in page["history"]]
    assert world.call("owner", "POST", f"/api/v1/clusters/payments-dev/topics/{TOPIC}/restore").status_code == 409
    sequence(world.engine)
    with unit_of_work(world.engine) as session:
        actions = [e.action for e in session.exec(select(AuditEventRow).where(
            AuditEventRow.subject == f"topic:payments-dev/{TOPIC}")).all()]
    assert actions.count("topic:delete") == 1
    # The name is free again.
    recreated = world.submit("member", "topic.create", {"name": TOPIC, "partitions": 1, "replication_factor": 1})
    assert recreated["status"] == "approved"
    world.reconcile()
    assert world.topic_page()["status"] == "applied"


def test_bad_grace_periods_are_refused(world: World) -> None:
    response = world.call("admin", "PATCH", "/api/v1/clusters/payments-dev", {"quarantine_seconds": -1})
    assert response.status_code == 422
    assert world.call("owner", "PATCH", "/api/v1/clusters/payments-dev", {"quarantine_seconds": 5}).status_code == 403
    with unit_of_work(world.engine) as session:
        cluster = session.get(ClusterRow, "payments-dev")
        assert cluster is not None
        assert cluster.quarantine_seconds is None


def test_the_quarantine_plan_removes_bindings_and_keeps_the_topic() -> None:
    topic = DesiredTopic(name=TOPIC, partitions=2, replication_factor=1)
    observed = ObservedState(topics={TOPIC: ObservedTopic(TOPIC, 2, 1)}, acls=frozenset(bindings_for(READER)))
    quarantined = plan(DesiredState(topics=[topic], deletions=Deletions(grants=frozenset({READER}))), observed)
    assert {c.kind for c in quarantined.changes} == {ChangeKind.DELETE_ACL}
    assert {c.before for c in quarantined.changes} == set(bindings_for(READER))
    final = plan(DesiredState(deletions=Deletions(topics=frozenset({TOPIC}))),
                 ObservedState(topics={TOPIC: ObservedTopic(TOPIC, 2, 1)}))
    assert [c.kind for c in final.changes] == [ChangeKind.DELETE_TOPIC]


def test_the_topic_row_keeps_the_phase_across_a_crash(world: World) -> None:
    """Level-triggered: the final deletion is data on the row, found again by the next pass."""
    world.submit("member", "topic.delete", {"name": TOPIC})
    with unit_of_work(world.engine) as session:
        row = session.exec(select(TopicRow).where(TopicRow.name == TOPIC)).one()
        row.quarantined_until = datetime.now(UTC) - timedelta(seconds=1)
        session.add(row)
    world.fake.script("delete_topics", TOPIC, _unavailable())
    world.reconcile()
    assert TOPIC in world.fake.topics
    assert world.topic_page()["status"] == "deleting"
    with unit_of_work(world.engine) as session:
        row = session.exec(select(TopicRow).where(TopicRow.name == TOPIC)).one()
        row.not_before = None
        session.add(row)
    world.reconcile()
    assert TOPIC not in world.fake.topics
    assert world.topic_page()["status"] == "deleted"


def _unavailable() -> Outcome:
    return Outcome.failure(OutcomeReason.UNAVAILABLE, "broker down", transient=True)

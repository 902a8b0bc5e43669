"""Drift with an in-memory cluster: enforce and report modes, the triage rules (who may, bad input,
what adopt asks for), ignores and their expiry, statuses and audit events, through the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from tests import support
from tests.fakes import FAST_RECONCILE as FAST
from tests.fakes import FakeClusterPort
from tests.support import build_desk
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import (
    AccessGrantRow,
    AuditEventRow,
    ClientQuotaRow,
    DriftItemRow,
    TopicRow,
)
from topicdesk.domain.acls import AclBinding, AclOperation, ResourceType
from topicdesk.domain.drift_triage import adopt_requests, item_id
from topicdesk.domain.errors import Conflict
from topicdesk.domain.identity import Role
from topicdesk.domain.model import Access, AccessGrant, PatternType
from topicdesk.services.drift import scan_cluster
from topicdesk.services.reconcile_loop import run_once

TOPIC, OTHER = "payments.orders", "payments.refunds"
WRITER, READER = "User:payments.writer", "User:ingest.reader"
RETENTION = "3600000"


class Desk(support.Desk):
    port: FakeClusterPort

    def reconcile(self) -> int:
        return sum(r.resources for r in run_once(self.engine, lambda _c, **_o: self.port, settings=FAST))

    def scan(self) -> list[dict[str, object]]:
        return scan_cluster(self.engine, "c1", self.port).items

    def items(self) -> dict[str, dict[str, Any]]:
        response = self.call("admin", "GET", "/api/v1/clusters/c1/drift")
        assert response.status_code == 200, response.json
        return {item["kind"]: item for item in response.json["items"]}

    def triage(self, who: str, kind: str, body: dict[str, Any], key: str = f"topic:{TOPIC}") -> Any:
        return self.call(who, "POST", f"/api/v1/clusters/c1/drift/{item_id(kind, key)}/triage", body)

    def topic(self, name: str = TOPIC) -> dict[str, Any]:
        response = self.call("member", "GET", f"/api/v1/clusters/c1/topics/{name}")
        assert response.status_code == 200, response.json
        body: dict[str, Any] = response.json
        return body

    def listed(self, status: str) -> list[str]:
        response = self.call("member", "GET", f"/api/v1/topics?status={status}")
        assert response.status_code == 200, response.json
        return [t["name"] for t in response.json["items"]]

    def drift_events(self) -> list[tuple[str, str]]:
        with unit_of_work(self.engine) as session:
            rows = session.exec(select(AuditEventRow).where(col(AuditEventRow.action).startswith("drift:"))
                                .order_by(col(AuditEventRow.seq))).all()
            return [(r.action, str(r.data["kind"])) for r in rows]


def _read_binding() -> AclBinding:
    return AclBinding(ResourceType.TOPIC, TOPIC, PatternType.LITERAL, READER, AclOperation.READ)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    world = build_desk(tmp_path, FakeClusterPort(), kind=Desk, tokens={
        "owner": ("payments", Role.OWNER), "member": ("payments", Role.MEMBER),
        "ingest-owner": ("ingest", Role.OWNER), "admin": ("platform", Role.ADMIN)})
    with unit_of_work(world.engine) as session:
        session.add(TopicRow(cluster="c1", name=TOPIC, owner_team="payments", partitions=2, replication_factor=1,
                             config={"retention.ms": RETENTION}, managed_config_keys=["retention.ms"]))
        session.add(TopicRow(cluster="c1", name=OTHER, owner_team="payments", partitions=1, replication_factor=1))
        session.add(AccessGrantRow(cluster="c1", topic=TOPIC, principal=READER, access="consume",
                                   group_id="ingest.g", granted_team="ingest"))
        session.add(AccessGrantRow(cluster="c1", topic=TOPIC, principal=WRITER, access="produce",
                                   granted_team="payments"))
        session.add(ClientQuotaRow(cluster="c1", principal=WRITER, owner_team="payments",
                                   producer_byte_rate=1048576))
    assert world.reconcile() == 5
    assert world.scan() == []
    yield world
    world.engine.dispose()


def _out_of_band(port: FakeClusterPort) -> None:
    """Changes made behind Topicdesk's back: a managed config, an ACL, a quota, a whole topic, plus an
    override and a binding Topicdesk never set."""
    port.topics[TOPIC].config["retention.ms"] = "1"
    port.topics[TOPIC].config["segment.ms"] = "60000"
    port.acls.discard(_read_binding())
    port.acls.add(AclBinding(ResourceType.TOPIC, TOPIC, PatternType.LITERAL, "User:someone.else", AclOperation.READ))
    port.quotas[WRITER]["producer_byte_rate"] = 5.0
    del port.topics[OTHER]


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.json
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.json
    return body


def test_enforce_puts_managed_resources_back_and_leaves_what_it_does_not_manage(desk: Desk) -> None:
    _out_of_band(desk.port)
    kinds = sorted(str(i["kind"]) for i in desk.scan())
    assert kinds == ["acl_extra", "acl_missing", "config_differs", "config_unmanaged", "quota_differs",
                     "topic_missing"]
    assert {k: v["state"] for k, v in desk.items().items()} == {
        "acl_extra": "open", "config_unmanaged": "open", "acl_missing": "reverting", "config_differs": "reverting",
        "quota_differs": "reverting", "topic_missing": "reverting"}
    # A second scan before the reconciler ran finds the same: nothing is audited twice.
    desk.scan()
    assert desk.reconcile() == 4  # the topic, the re-created one, the consume grant, the quota
    assert desk.port.topics[TOPIC].config == {"retention.ms": RETENTION, "segment.ms": "60000"}
    assert _read_binding() in desk.port.acls
    assert desk.port.quotas[WRITER] == {"producer_byte_rate": 1048576.0}
    assert OTHER in desk.port.topics
    # What Topicdesk does not manage stays, reported.
    assert sorted(desk.items()) == ["acl_extra", "config_unmanaged"]
    assert len([b for b in desk.port.acls if b.principal == "User:someone.else"]) == 1
    events = desk.drift_events()
    for kind in ("acl_missing", "config_differs", "quota_differs", "topic_missing"):
        assert [a for a, k in events if k == kind] == ["drift:found", "drift:revert", "drift:resolved"], kind
    for kind in ("acl_extra", "config_unmanaged"):
        assert [a for a, k in events if k == kind] == ["drift:found"], kind
    # The next scan still sees the unmanaged ones, and audits nothing new.
    desk.scan()
    assert desk.drift_events() == events
    assert desk.reconcile() == 0


def test_pending_work_is_not_drift(desk: Desk) -> None:
    with unit_of_work(desk.engine) as session:
        session.add(TopicRow(cluster="c1", name="payments.new", owner_team="payments", partitions=1,
                             replication_factor=1))
    assert [i["kind"] for i in desk.scan()] == ["topic_missing"]  # the scan says what it saw ...
    assert desk.items() == {}  # ... but a topic not yet created is the reconciler's work, not drift
    assert desk.drift_events() == []


def test_report_mode_reports_and_shows_drifted_until_a_triaged_revert(desk: Desk) -> None:
    changed = desk.call("admin", "PATCH", "/api/v1/clusters/c1", {"drift_mode": "report"})
    assert changed.status_code == 200, changed.json
    assert [c["drift_mode"] for c in desk.call("member", "GET", "/api/v1/clusters").json["items"]] == ["report"]
    assert desk.call("admin", "PATCH", "/api/v1/clusters/c1", {"drift_mode": "fix"}).status_code == 422
    _out_of_band(desk.port)
    desk.scan()
    assert desk.reconcile() == 0
    assert desk.port.topics[TOPIC].config["retention.ms"] == "1"
    assert {v["state"] for v in desk.items().values()} == {"open"}
    topic = desk.topic()
    assert topic["status"] == "drifted"
    assert {g["principal"]: g["status"] for g in topic["access_grants"]} == {READER: "drifted", WRITER: "applied"}
    assert sorted(d["kind"] for d in topic["drift"]) == ["acl_extra", "acl_missing", "config_differs",
                                                         "config_unmanaged"]
    assert desk.listed("drifted") == [TOPIC, OTHER]  # OTHER was deleted out of band
    assert desk.listed("applied") == desk.listed("pending") == []
    assert _problem(desk.call("member", "GET", "/api/v1/topics?status=weird"), 422)["errors"][0]["path"] == \
        "/query/status"

    assert desk.triage("owner", "config_differs", {"action": "revert", "reason": "no"}).status_code == 200
    assert desk.triage("ingest-owner", "acl_missing", {"action": "revert"},
                       key=_read_binding().key).status_code == 200
    assert desk.reconcile() == 2
    assert desk.port.topics[TOPIC].config["retention.ms"] == RETENTION
    assert _read_binding() in desk.port.acls
    topic = desk.topic()
    assert {g["principal"]: g["status"] for g in topic["access_grants"]} == {READER: "applied", WRITER: "applied"}
    assert sorted(d["kind"] for d in topic["drift"]) == ["acl_extra", "config_unmanaged"]
    assert topic["status"] == "drifted"
    actions = [a for a, k in desk.drift_events() if k == "config_differs"]
    assert actions == ["drift:found", "drift:revert", "drift:resolved"]


def test_ignored_difference_is_not_drift_until_it_expires_or_changes(desk: Desk) -> None:
    desk.call("admin", "PATCH", "/api/v1/clusters/c1", {"drift_mode": "report"})
    desk.port.topics[TOPIC].config["retention.ms"] = "1"
    desk.scan()
    assert desk.topic()["status"] == "drifted"
    soon = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    ignored = desk.triage("owner", "config_differs", {"action": "ignore", "reason": "load test", "expires_at": soon})
    assert ignored.status_code == 200, ignored.json
    assert ignored.json["item"]["state"] == "ignored"
    assert ignored.json["item"]["ignore"]["reason"] == "load test"
    assert desk.topic()["status"] == "applied"
    assert desk.listed("applied") == [TOPIC, OTHER]
    assert desk.listed("drifted") == []
    # Not enforced either, and a scan does not undo the ignore.
    desk.call("admin", "PATCH", "/api/v1/clusters/c1", {"drift_mode": "enforce"})
    desk.scan()
    assert desk.reconcile() == 0
    assert desk.port.topics[TOPIC].config["retention.ms"] == "1"
    assert desk.items()["config_differs"]["state"] == "ignored"
    with unit_of_work(desk.engine) as session:
        event = session.exec(select(AuditEventRow).where(AuditEventRow.action == "drift:ignore")).one()
        assert (event.data["reason"], event.team, event.actor) == ("load test", "payments", "token:payments/owner")
        assert event.data["expires_at"].startswith(soon[:19])
        # Time passes: the ignore expires.
        session.execute(update(DriftItemRow).values(ignored_until=datetime.now(UTC) - timedelta(seconds=1)))
    assert desk.topic()["status"] == "drifted"
    assert desk.listed("drifted") == [TOPIC]
    desk.scan()
    assert desk.drift_events()[-2:] == [("drift:found", "config_differs"), ("drift:revert", "config_differs")]
    assert desk.reconcile() == 1
    assert desk.port.topics[TOPIC].config["retention.ms"] == RETENTION
    assert desk.topic()["status"] == "applied"

    # A new value on the cluster ends an ignore at once.
    desk.call("admin", "PATCH", "/api/v1/clusters/c1", {"drift_mode": "report"})
    desk.port.quotas[WRITER]["producer_byte_rate"] = 5.0
    desk.scan()
    quota = f"quota:{WRITER}"
    assert desk.triage("owner", "quota_differs", {"action": "ignore", "reason": "r", "expires_at": soon},
                       key=quota).status_code == 200
    desk.scan()
    assert desk.items()["quota_differs"]["state"] == "ignored"
    desk.port.quotas[WRITER]["producer_byte_rate"] = 6.0
    desk.scan()
    assert desk.items()["quota_differs"]["state"] == "open"
    assert desk.drift_events()[-1] == ("drift:found", "quota_differs")


def test_enforce_mode_reverts_before_anyone_could_ignore_so_ignoring_a_revert_under_way_is_refused(
    desk: Desk,
) -> None:
    desk.port.topics[TOPIC].config["retention.ms"] = "1"
    desk.scan()
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    refused = desk.triage("owner", "config_differs", {"action": "ignore", "reason": "r", "expires_at": later})
    assert "adopt it" in _problem(refused, 409)["detail"]
    assert desk.items()["config_differs"]["actions"] == ["revert", "adopt"]


def test_who_may_triage_and_what_bad_input_gets(desk: Desk) -> None:
    _out_of_band(desk.port)
    desk.port.quotas[READER] = {"consumer_byte_rate": 1024.0}  # on ingest's principal, by nobody's request
    desk.call("admin", "PATCH", "/api/v1/clusters/c1", {"drift_mode": "report"})
    desk.scan()
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    ignore = {"action": "ignore", "reason": "r", "expires_at": later}
    assert desk.items()["quota_extra"]["team"] == "ingest"
    _problem(desk.triage("owner", "quota_extra", ignore, key=f"quota:{READER}"), 403)
    assert desk.triage("ingest-owner", "quota_extra", ignore, key=f"quota:{READER}").status_code == 200
    assert "owners of team 'payments'" in _problem(desk.triage("member", "config_differs", ignore), 403)["detail"]
    _problem(desk.triage("ingest-owner", "config_differs", ignore), 403)
    # ACLs belong to the grantee's team: ingest's owners triage the consume grant's binding, payments' do not.
    _problem(desk.triage("owner", "acl_missing", ignore, key=_read_binding().key), 403)
    assert desk.triage("ingest-owner", "acl_missing", ignore, key=_read_binding().key).status_code == 200
    _problem(desk.call("owner", "POST", "/api/v1/clusters/c1/drift/nope/triage", ignore), 404)
    _problem(desk.call("owner", "POST", "/api/v1/clusters/c9/drift/nope/triage", ignore), 404)
    _problem(desk.call("owner", "GET", "/api/v1/clusters/c9/drift"), 404)
    bad = [
        ({"action": "delete"}, "/action"),
        ({"action": "ignore", "expires_at": later}, "/reason"),
        ({"action": "ignore", "reason": "r", "expires_at": "tomorrow"}, "/expires_at"),
        ({"action": "ignore", "reason": "r", "expires_at": "2020-01-01T00:00:00Z"}, "/expires_at"),
        ({"action": "ignore", "reason": "r", "expires_at": "2099-01-01T00:00:00"}, "/expires_at"),
        ({"action": "ignore", "reason": "r",
          "expires_at": (datetime.now(UTC) + timedelta(days=91)).isoformat()}, "/expires_at"),
        ({"action": "ignore", "reason": " ", "expires_at": later}, "/reason"),
        ({"action": "revert", "expires_at": later}, "/expires_at"),
        ({"action": "revert", "colour": "red"}, "/colour"),
    ]
    for body, path in bad:
        errors = _problem(desk.triage("owner", "config_differs", body), 422)["errors"]
        assert path in [e["path"] for e in errors], (body, errors)
    _problem(desk.call("owner", "POST", f"/api/v1/clusters/c1/drift/{item_id('config_differs', 'topic:' + TOPIC)}"
                                        "/triage"), 400)
    # Topicdesk never removes what it did not set, and an extra binding is no grant to adopt.
    assert "never removes" in _problem(desk.triage("owner", "config_unmanaged", {"action": "revert"}), 409)["detail"]
    extra = AclBinding(ResourceType.TOPIC, TOPIC, PatternType.LITERAL, "User:someone.else", AclOperation.READ)
    _problem(desk.triage("owner", "acl_extra", {"action": "adopt"}, key=extra.key), 409)
    assert desk.triage("admin", "config_differs", ignore).status_code == 200
    assert desk.triage("owner", "config_differs", {"action": "revert"}).status_code == 200


def test_adopt_submits_the_request_that_makes_desired_state_what_the_cluster_has(desk: Desk) -> None:
    desk.call("admin", "PATCH", "/api/v1/clusters/c1", {"drift_mode": "report"})
    _out_of_band(desk.port)
    desk.scan()
    adopted = desk.triage("owner", "config_differs", {"action": "adopt", "reason": "agreed"})
    assert adopted.status_code == 200, adopted.json
    [request] = adopted.json["requests"]
    assert (request["kind"], request["spec"], request["reason"]) == (
        "topic.update", {"name": TOPIC, "config": {"retention.ms": "1"}}, "agreed")
    assert adopted.json["item"]["state"] == "adopting"
    quota = desk.triage("owner", "quota_differs", {"action": "adopt"}, key=f"quota:{WRITER}").json["requests"]
    assert [(r["kind"], r["spec"]) for r in quota] == [
        ("quota.set", {"principal": WRITER, "producer_byte_rate": 5})]
    gone = desk.triage("owner", "topic_missing", {"action": "adopt"}, key=f"topic:{OTHER}").json["requests"]
    assert [(r["kind"], r["spec"]) for r in gone] == [("topic.delete", {"name": OTHER})]
    revoke = desk.triage("ingest-owner", "acl_missing", {"action": "adopt"}, key=_read_binding().key)
    assert [(r["kind"], r["spec"]) for r in revoke.json["requests"]] == [
        ("access.revoke", {"topic": TOPIC, "principal": READER, "access": "consume", "group": "ingest.g"})]
    unmanaged = desk.triage("owner", "config_unmanaged", {"action": "adopt"}).json["requests"]
    assert [r["spec"] for r in unmanaged] == [{"name": TOPIC, "config": {"segment.ms": "60000"}}]
    # The requests went through policy: approve what waits for an approver, as for any request.
    pending = [r["id"] for r in [request, *quota, *gone, *revoke.json["requests"], *unmanaged]]
    for request_id in pending:
        current = desk.call("admin", "GET", f"/api/v1/requests/{request_id}").json
        if current["status"] == "pending_approval":
            assert desk.call("admin", "POST", f"/api/v1/requests/{request_id}/approve", {}).status_code == 200
    while desk.reconcile():
        pass
    for request_id in pending:
        assert desk.call("admin", "GET", f"/api/v1/requests/{request_id}").json["status"] == "applied"
    desk.scan()
    # Desired state is now what the cluster has: only the extra binding remains.
    assert sorted(desk.items()) == ["acl_extra"]
    with unit_of_work(desk.engine) as session:
        topic = session.exec(select(TopicRow).where(TopicRow.name == TOPIC)).one()
        assert topic.config == {"retention.ms": "1", "segment.ms": "60000"}
    events = desk.drift_events()
    assert ("drift:adopt", "config_differs") in events
    assert ("drift:resolved", "config_differs") in events


def test_a_raised_partition_count_blocks_reverting_its_topic(desk: Desk) -> None:
    desk.port.topics[TOPIC].partitions = 4
    desk.port.topics[TOPIC].config["retention.ms"] = "1"
    desk.scan()
    assert desk.reconcile() == 0  # applying the topic would be refused: nothing is marked
    items = desk.items()
    assert items["partitions_differ"]["actions"] == ["adopt", "ignore"]
    assert items["config_differs"]["actions"] == ["adopt", "ignore"]
    assert "partition count" in _problem(desk.triage("owner", "config_differs", {"action": "revert"}), 409)["detail"]
    adopt = desk.triage("owner", "partitions_differ", {"action": "adopt"})
    assert [r["spec"] for r in adopt.json["requests"]] == [{"name": TOPIC, "partitions": 4}]
    # Applying the topic again (for the adopted count) applies its whole desired state: the config too.
    assert desk.reconcile() == 1
    assert desk.port.topics[TOPIC].config["retention.ms"] == RETENTION
    assert desk.items() == {}


def test_the_revert_a_scan_queued_survives_a_crash_before_the_reconciler_runs(desk: Desk, tmp_path: Path) -> None:
    desk.port.topics[TOPIC].config["retention.ms"] = "1"
    desk.scan()
    desk.engine.dispose()  # the process dies here
    restarted = make_engine(str(desk.engine.url))  # the same database file
    [report] = run_once(restarted, lambda _c, **_o: desk.port, settings=FAST)
    assert report.applied == 1
    assert desk.port.topics[TOPIC].config["retention.ms"] == RETENTION
    restarted.dispose()


@pytest.mark.parametrize(("kind", "key", "expected", "actual", "wanted"), [
    ("config_differs", "topic:t", {"retention.ms": "9", "segment.ms": None}, {"retention.ms": "1", "segment.ms": "5"},
     [("topic.update", {"name": "t", "config": {"retention.ms": "1", "segment.ms": "5"}})]),
    ("config_differs", "topic:t", {"retention.ms": "9"}, {"retention.ms": None},
     [("topic.update", {"name": "t", "config": {"retention.ms": None}})]),
    ("partitions_differ", "topic:t", 3, 6, [("topic.update", {"name": "t", "partitions": 6})]),
    ("replication_factor_differs", "topic:t", 3, 1, [("topic.update", {"name": "t", "replication_factor": 1})]),
    ("topic_missing", "topic:t", {"name": "t"}, None, [("topic.delete", {"name": "t"})]),
    ("quota_missing", "quota:User:a.b", {"producer_byte_rate": 10.0}, None,
     [("quota.set", {"principal": "User:a.b", "producer_byte_rate": None})]),
    ("quota_extra", "quota:User:a.b", None, {"consumer_byte_rate": 7.0, "request_percentage": 12.5},
     [("quota.set", {"principal": "User:a.b", "consumer_byte_rate": 7, "request_percentage": 12.5})]),
])
def test_adopt_requests(kind: str, key: str, expected: Any, actual: Any, wanted: list[tuple[str, Any]]) -> None:
    documents = adopt_requests("c1", kind, key, expected, actual)
    assert [(d["kind"], d["spec"]) for d in documents] == wanted
    assert {d["cluster"] for d in documents} == {"c1"}


def test_adopt_requests_revokes_every_grant_a_missing_binding_serves_and_refuses_the_rest() -> None:
    grants = [AccessGrant("User:a.r", "t", Access.CONSUME, group="a.g"),
              AccessGrant("User:a.r", "u", Access.CONSUME, pattern=PatternType.PREFIXED, group="a.g")]
    documents = adopt_requests("c1", "acl_missing", "acl:group:literal:a.g:User:a.r:*:read:allow", {}, None, grants)
    assert [d["spec"] for d in documents] == [
        {"topic": "t", "principal": "User:a.r", "access": "consume", "group": "a.g"},
        {"topic": "u", "principal": "User:a.r", "access": "consume", "pattern": "prefixed", "group": "a.g"}]
    refused: list[tuple[str, Any, Any]] = [("partitions_differ", 6, 3), ("acl_extra", None, {}),
                                           ("service_account_missing", {}, None), ("acl_missing", {}, None)]
    for kind, expected, actual in refused:
        with pytest.raises(Conflict):
            adopt_requests("c1", kind, "k", expected, actual)

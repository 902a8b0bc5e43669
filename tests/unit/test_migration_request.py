"""topic.migrate through the API on in-memory clusters: one port per cluster, so the source and the
target answer differently; every routed approver approves; an unreachable source denies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from tests.fakes import FakeClusterPort, FakeGroup
from tests.support import Desk, desk_engine
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import ClusterRow, MigrationRow
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.acls import bindings_for
from topicdesk.domain.identity import Role
from topicdesk.domain.model import Access, AccessGrant, DesiredTopic
from topicdesk.services.cluster_port import Outcome, OutcomeReason
from topicdesk.services.tokens import create_token

TOPIC = "payments.invoices.v1"


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Desk, dict[str, FakeClusterPort]]]:
    engine = desk_engine(tmp_path, clusters={"legacy": "ingest", "payments-dev": "payments"})
    with unit_of_work(engine) as session:
        legacy = session.get(ClusterRow, "legacy")
        assert legacy is not None
        legacy.broker_count = 3
    ports = {"legacy": FakeClusterPort(brokers=3), "payments-dev": FakeClusterPort()}
    ports["legacy"].create_topics([DesiredTopic(TOPIC, 4, 3, {"min.insync.replicas": "2"}),
                                   DesiredTopic("payments.refunds.v1", 2, 1, {})])
    reader = AccessGrant("User:billing.reader", TOPIC, Access.CONSUME, group="billing.readers")
    ports["legacy"].create_acls(sorted(bindings_for(reader)))
    ports["legacy"].groups["billing.readers"] = FakeGroup({(TOPIC, 0): 0}, members=1)
    tokens = {who: create_token(engine, team=team, name=who, role=role, actor="t").token
              for who, (team, role) in {"member": ("payments", Role.MEMBER), "owner": ("payments", Role.OWNER),
                                        "ingest-owner": ("ingest", Role.OWNER),
                                        "admin": ("platform", Role.ADMIN)}.items()}
    settings = Settings.from_env({"DATABASE_URL": str(engine.url), "TOPICDESK_DATA_DIR": str(tmp_path),
                                  "TOPICDESK_WRITE_BURST": "1000"})
    app = create_app(settings, engine=engine, port_factory=lambda cluster, **_options: ports[cluster.name])
    yield Desk(app, engine, ports["legacy"], tokens), ports
    engine.dispose()


def _submit(desk: Desk, spec: dict[str, Any], who: str = "member") -> dict[str, Any]:
    response = desk.call(who, "POST", "/api/v1/requests", {"kind": "topic.migrate", "cluster": "legacy", "spec": spec})
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json
    return body


def test_the_plan_adjusts_to_the_target_and_every_approver_must_approve(
    desk: tuple[Desk, dict[str, FakeClusterPort]],
) -> None:
    api, _ports = desk
    submitted = _submit(api, {"target_cluster": "payments-dev", "prefix": "payments."})
    assert submitted["status"] == "pending_approval", submitted["decision"]
    assert submitted["decision"]["approvers"] == ["team:ingest", "team:payments"]
    rules = [r["id"] for r in submitted["decision"]["rules"]]
    assert rules == ["migration.both-owners-approve", "migration.adjusted", "migration.consuming-teams"]
    plan = submitted["migration_plan"]
    invoices = plan["topics"][0]
    assert (invoices["name"], invoices["partitions"], invoices["replication_factor"]) == (TOPIC, 4, 1)
    assert invoices["config"] == {"min.insync.replicas": "1"}
    assert [t["name"] for t in plan["topics"]] == [TOPIC, "payments.refunds.v1"]
    assert plan["consumer_groups"][0]["group"] == "billing.readers"

    # The requester's team owner is one approver; the source's owner the other.
    first = api.call("owner", "POST", f"/api/v1/requests/{submitted['id']}/approve", {})
    assert first.status_code == 200, first.json
    assert first.json["status"] == "pending_approval"
    assert api.call("owner", "POST", f"/api/v1/requests/{submitted['id']}/approve", {}).status_code == 403
    with unit_of_work(api.engine) as session:
        assert session.exec(select(MigrationRow)).all() == []
    second = api.call("ingest-owner", "POST", f"/api/v1/requests/{submitted['id']}/approve", {})
    assert second.json["status"] == "approved", second.json
    [migration] = api.call("member", "GET", "/api/v1/migrations").json["items"]
    assert (migration["step"], migration["topics"]) == ("planned", [TOPIC, "payments.refunds.v1"])
    assert [s["status"] for s in migration["steps"]][:2] == ["current", "next"]
    # The request names the migration its last approval started: in the approval's answer, the request
    # and the list (the portal links to it without searching the migrations).
    assert (submitted["migration_id"], first.json["migration_id"]) == (None, None)
    assert second.json["migration_id"] == migration["id"]
    assert api.call("member", "GET", f"/api/v1/requests/{submitted['id']}").json["migration_id"] == migration["id"]
    [listed] = api.call("member", "GET", "/api/v1/requests?cluster=legacy").json["items"]
    assert listed["migration_id"] == migration["id"]


def test_the_target_policies_refuse_a_topic_and_the_migration_is_denied(
    desk: tuple[Desk, dict[str, FakeClusterPort]],
) -> None:
    api, ports = desk
    ports["legacy"].create_topics([DesiredTopic("payments.huge.v1", 60, 1, {})])
    denied = _submit(api, {"target_cluster": "payments-dev", "topics": ["payments.huge.v1"]})
    assert denied["status"] == "denied"
    assert "migration.target-refuses" in [r["id"] for r in denied["decision"]["rules"]]
    refusals = denied["migration_plan"]["topics"][0]["refusals"]
    assert refusals
    assert "48" in refusals[0]


def test_an_unreachable_source_denies_with_the_reason(desk: tuple[Desk, dict[str, FakeClusterPort]]) -> None:
    api, ports = desk
    ports["legacy"].unreachable = Outcome.failure(OutcomeReason.UNAVAILABLE, "legacy is down", transient=True)
    denied = _submit(api, {"target_cluster": "payments-dev", "topics": [TOPIC]})
    assert denied["status"] == "denied"
    assert [r["id"] for r in denied["decision"]["rules"]] == ["migration.snapshot-unavailable"]
    assert "legacy is down" in denied["decision"]["rules"][0]["message"]
    assert denied["migration_plan"] is None


def test_a_platform_admin_approves_for_every_team_still_waiting(
    desk: tuple[Desk, dict[str, FakeClusterPort]],
) -> None:
    """The target's owner asks (and may not approve their own request): a platform admin covers both teams,
    and whoever is covered no longer finds the request in their inbox."""
    api, _ports = desk
    submitted = _submit(api, {"target_cluster": "payments-dev", "topics": [TOPIC]}, who="owner")
    assert submitted["decision"]["approvers"] == ["team:ingest", "team:payments"]
    inbox = api.call("admin", "GET", "/api/v1/requests?awaiting_me=true").json["items"]
    assert [r["id"] for r in inbox] == [submitted["id"]]
    assert api.call("owner", "GET", "/api/v1/requests?awaiting_me=true").json["items"] == []
    assert api.call("owner", "POST", f"/api/v1/requests/{submitted['id']}/approve", {}).status_code == 403

    first = api.call("ingest-owner", "POST", f"/api/v1/requests/{submitted['id']}/approve", {})
    assert first.json["approvals"][0]["as"] == ["team:ingest"]
    assert api.call("ingest-owner", "GET", "/api/v1/requests?awaiting_me=true").json["items"] == []
    second = api.call("admin", "POST", f"/api/v1/requests/{submitted['id']}/approve", {})
    assert second.status_code == 200, second.json
    assert second.json["status"] == "approved"
    assert second.json["approvals"][1]["as"] == ["team:payments"]
    [migration] = api.call("owner", "GET", "/api/v1/migrations").json["items"]
    assert migration["request_id"] == submitted["id"]

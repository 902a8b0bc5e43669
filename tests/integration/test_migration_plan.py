"""topic.migrate on real Kafka: a "legacy" source (ingest-dev, owned by ingest) holds a payments topic
with data, ACLs and a consumer group, set up behind Topicdesk's back as on a monolith; the payments
team asks to move it to its own cluster. The plan is read from the clusters; both owners approve;
the migration starts at `planned`."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from sqlmodel import select

from tests.integration.test_request_workflow import Api, build_api
from tests.kafka_clients import consume_and_commit, eventually, produce_one
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import AuditEventRow, AuditInboxRow, MigrationRow
from topicdesk.local_kafka.cluster import LocalCluster


@pytest.fixture
def api(database_url: str, kafka_clusters: list[LocalCluster], tmp_path: Path) -> Iterator[Api]:
    built = build_api(database_url, kafka_clusters, tmp_path)
    yield built
    built.engine.dispose()


def _acl(resource: ResourceType, name: str, principal: str, operation: AclOperation) -> AclBinding:
    return AclBinding(resource, name, ResourcePatternType.LITERAL, principal, "*", operation,
                      AclPermissionType.ALLOW)


def _legacy_topic(local: LocalCluster, api: Api) -> dict[str, str]:
    """A topic on the source with 3 partitions, a retention override, data, grants and a group's commits."""
    topic, writer, reader = f"{api.prefix}.invoices", f"User:{api.prefix}.writer", f"User:{api.prefix}.reader"
    group = f"{api.prefix}.invoice-readers"
    admin = AdminClient(local.client_config())
    created = admin.create_topics([NewTopic(topic, 3, 1, config={"retention.ms": "86400000"})])
    created[topic].result(timeout=30)
    acls = admin.create_acls([_acl(ResourceType.TOPIC, topic, writer, AclOperation.WRITE),
                              _acl(ResourceType.TOPIC, topic, writer, AclOperation.DESCRIBE),
                              _acl(ResourceType.TOPIC, topic, reader, AclOperation.READ),
                              _acl(ResourceType.TOPIC, topic, reader, AclOperation.DESCRIBE),
                              _acl(ResourceType.GROUP, group, reader, AclOperation.READ)])
    for future in acls.values():
        future.result(timeout=30)
    def produced(value: bytes) -> bool | None:
        return produce_one(local.client_config(), topic, value) is None or None

    for n in range(5):
        assert eventually(partial(produced, f"r{n}".encode()))
    assert consume_and_commit({**local.client_config(), "group.id": group}, topic, count=2) == 2
    return {"topic": topic, "writer": writer, "reader": reader, "group": group}


def _migrate(api: Api, who: str, spec: dict[str, Any], dry_run: bool = False) -> Any:
    path = "/api/v1/requests" + ("?dry_run=true" if dry_run else "")
    return api.call(who, "POST", path, {"kind": "topic.migrate", "cluster": api.ingest_cluster, "spec": spec,
                                        "reason": "leave the monolith"})


def test_a_migration_is_planned_from_the_clusters_routed_to_both_owners_and_started_on_approval(
    api: Api, kafka_clusters: list[LocalCluster],
) -> None:
    legacy = _legacy_topic(kafka_clusters[1], api)
    spec = {"target_cluster": api.payments_cluster, "topics": [legacy["topic"]]}

    preview = _migrate(api, "payments-member", spec, dry_run=True)
    assert preview.status_code == 200, preview.json
    assert preview.json["migration_plan"]["topics"][0]["name"] == legacy["topic"]

    response = _migrate(api, "payments-member", spec)
    assert response.status_code == 201, response.json
    submitted = response.json
    assert submitted["status"] == "pending_approval", submitted["decision"]
    assert submitted["decision"]["approvers"] == ["team:ingest", "team:payments"]
    assert submitted["decision"]["approval"] == "every"
    plan = api.get("payments-member", submitted["id"])["migration_plan"]
    [topic] = plan["topics"]
    assert (topic["partitions"], topic["replication_factor"], topic["config"]) == (3, 1, {"retention.ms": "86400000"})
    assert topic["refused"] is False
    assert plan["conflicting_topics"] == []
    assert plan["missing_topics"] == []
    assert sorted((g["principal"], g["access"], g.get("group")) for g in plan["grants"]) == [
        (legacy["reader"], "consume", legacy["group"]), (legacy["writer"], "produce", None)]
    assert {(s["principal"], s["action"]) for s in plan["service_accounts"]} == {
        (legacy["reader"], "create_scram_credentials"), (legacy["writer"], "create_scram_credentials")}
    [group] = plan["consumer_groups"]
    assert (group["group"], group["topics"], group["discovered"]) == (legacy["group"], [legacy["topic"]], True)
    # Lag over the partitions the group committed on: of 5 records it read 2.
    assert 0 <= group["lag"] <= 3
    [change] = plan["team_changes"]
    assert change["team"] == "payments"
    assert change["consumer_groups"] == [legacy["group"]]
    assert change["change"][0].endswith(f"-> {kafka_clusters[0].bootstrap}")

    # The source's owners approve first: one of two; approving twice for the same team is refused.
    first = api.call("ingest-owner", "POST", f"/api/v1/requests/{submitted['id']}/approve", {"comment": "go"})
    assert first.status_code == 200, first.json
    assert first.json["status"] == "pending_approval"
    assert first.json["approvals"][0]["as"] == ["team:ingest"]
    again = api.call("ingest-owner", "POST", f"/api/v1/requests/{submitted['id']}/approve", {})
    assert again.status_code == 403, again.json
    assert api.call("ingest-member", "GET", "/api/v1/migrations").json["items"] == []

    second = api.call("payments-owner", "POST", f"/api/v1/requests/{submitted['id']}/approve", {})
    assert second.status_code == 200, second.json
    assert second.json["status"] == "approved"
    with unit_of_work(api.engine) as session:
        [row] = session.exec(select(MigrationRow).where(MigrationRow.request_id == submitted["id"])).all()
        assert (row.step, row.source_cluster, row.target_cluster, row.topics) == (
            "planned", api.ingest_cluster, api.payments_cluster, [legacy["topic"]])
        events = [*session.exec(select(AuditInboxRow.action).where(AuditInboxRow.subject == f"migration:{row.id}")),
                  *session.exec(select(AuditEventRow.action).where(AuditEventRow.subject == f"migration:{row.id}"))]
        assert events == ["migration:create"]
    listed = api.call("ingest-member", "GET", "/api/v1/migrations").json["items"]
    assert [m["id"] for m in listed] == [row.id]
    one = api.call("payments-member", "GET", f"/api/v1/migrations/{row.id}")
    assert one.status_code == 200
    assert one.json["step"] == "planned"
    assert one.json["can_roll_back"] is True
    assert one.json["next_steps"] == ["mirroring", "rolled_back", "failed"]
    assert one.json["plan"]["topics"][0]["name"] == legacy["topic"]
    assert api.call("admin", "GET", f"/api/v1/migrations/{row.id}").status_code == 200


def test_a_migration_is_denied_with_reasons_when_it_cannot_work(api: Api, kafka_clusters: list[LocalCluster]) -> None:
    legacy = _legacy_topic(kafka_clusters[1], api)
    missing = _migrate(api, "payments-member", {"target_cluster": api.payments_cluster,
                                                "topics": [legacy["topic"], f"{api.prefix}.nope"]})
    assert missing.json["status"] == "denied"
    assert "migration.topics-not-on-source" in [r["id"] for r in missing.json["decision"]["rules"]]

    not_owned = _migrate(api, "ingest-member", {"target_cluster": api.payments_cluster, "prefix": api.prefix})
    assert not_owned.status_code == 201
    assert "migration.target-not-owned" in [r["id"] for r in not_owned.json["decision"]["rules"]]

    # The target already has a topic of that name (here: made behind Topicdesk's back).
    admin = AdminClient(kafka_clusters[0].client_config())
    admin.create_topics([NewTopic(legacy["topic"], 1, 1)])[legacy["topic"]].result(timeout=30)
    conflict = _migrate(api, "payments-member", {"target_cluster": api.payments_cluster, "prefix": api.prefix})
    assert conflict.json["status"] == "denied"
    assert "migration.target-has-topic" in [r["id"] for r in conflict.json["decision"]["rules"]]
    assert conflict.json["migration_plan"]["conflicting_topics"] == [legacy["topic"]]

    same = _migrate(api, "payments-member", {"target_cluster": api.ingest_cluster, "topics": [legacy["topic"]]})
    assert same.status_code == 422
    assert same.json["errors"][0]["path"] == "/spec/target_cluster"

"""Drift on real Kafka, on both databases: out-of-band changes made with an independent admin client
are put back (enforce) or only reported (report), and triaged through the API (adopt, ignore)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourcePatternType,
    ResourceType,
)
from sqlalchemy import update
from sqlmodel import col, select

from tests.integration.test_request_workflow import Api, build_api
from tests.kafka_clients import as_user, consume_one, eventually, produce_one
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import AuditEventRow, ClusterRow, DriftItemRow, TopicRow
from topicdesk.bootstrap import kafka_port_for
from topicdesk.domain.drift_triage import item_id
from topicdesk.domain.identity import Identity, Role
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services.cluster_port import close_port
from topicdesk.services.drift import DriftScan, scan_cluster
from topicdesk.services.reconcile_loop import run_forever, run_once
from topicdesk.services.service_accounts import create_service_account

RETENTION, CHANGED = "3600000", "7200000"


class Scene:
    """A payments topic with a real producer and consumer, applied; an admin client of its own."""

    def __init__(self, api: Api, kafka: LocalCluster) -> None:
        self.api, self.kafka = api, kafka
        self.topic = f"{api.prefix}.ledger"
        self.group = f"{api.prefix}.readers"
        owner = Identity("alice@payments", {"payments": Role.OWNER})
        port = self.port()
        try:
            self.writer = create_service_account(api.engine, port, owner, api.payments_cluster, f"{api.prefix}.w")
            self.reader = create_service_account(api.engine, port, owner, api.payments_cluster, f"{api.prefix}.r")
        finally:
            close_port(port)
        created = api.submit("payments-member", "topic.create", {
            "name": self.topic, "partitions": 1, "replication_factor": 1, "config": {"retention.ms": RETENTION},
            "producers": [self.writer["principal"]],
            "consumers": [{"principal": self.reader["principal"], "group": self.group}]})
        api.reconcile_until("payments-member", created["id"])
        self.admin = AdminClient(kafka.client_config())
        producer = as_user(kafka, self.writer["principal"], self.writer["password"])
        assert eventually(lambda: produce_one(producer, self.topic, b"entry-1") is None or None) is True
        assert self.consume() == b"entry-1"
        self.read = AclBindingFilter(ResourceType.TOPIC, self.topic, ResourcePatternType.LITERAL,
                                     self.reader["principal"], "*", AclOperation.READ, AclPermissionType.ALLOW)

    def port(self) -> Any:
        with unit_of_work(self.api.engine) as session:
            cluster = session.get(ClusterRow, self.api.payments_cluster)
            assert cluster is not None
        return kafka_port_for(cluster)

    def consume(self) -> bytes | KafkaError:
        conf = as_user(self.kafka, self.reader["principal"], self.reader["password"], **{"group.id": self.group})
        return consume_one(conf, self.topic)

    # -- out of band, with an independent admin client -----------------------------------------------

    def change_retention(self) -> None:
        resource = ConfigResource(ResourceType.TOPIC, self.topic, incremental_configs=[
            ConfigEntry("retention.ms", CHANGED, incremental_operation=AlterConfigOpType.SET)])
        for future in self.admin.incremental_alter_configs([resource]).values():
            future.result(timeout=30)

    def delete_read_acl(self) -> None:
        for future in self.admin.delete_acls([self.read], request_timeout=30).values():
            future.result(timeout=30)

    # -- read back independently ------------------------------------------------------------------------

    def retention(self) -> str:
        resource = ConfigResource(ResourceType.TOPIC, self.topic)
        configs = self.admin.describe_configs([resource])[resource].result(timeout=30)
        return str(configs["retention.ms"].value)

    def read_acl_present(self) -> bool:
        return bool(self.admin.describe_acls(self.read, request_timeout=30).result(timeout=30))

    # -- Topicdesk ------------------------------------------------------------------------------------

    def scan_until(self, *kinds: str) -> DriftScan:
        """Scan until the scan sees these kinds on the topic (the brokers' metadata is eventually consistent)."""
        def scanned() -> DriftScan | None:
            port = self.port()
            try:
                scan = scan_cluster(self.api.engine, self.api.payments_cluster, port)
            finally:
                close_port(port)
            mine = sorted(str(i["kind"]) for i in scan.items if self.topic in str(i["key"]))
            return scan if mine == sorted(kinds) else None
        return eventually(scanned, timeout=30)

    def reconcile(self) -> None:
        while any(r.resources for r in run_once(self.api.engine, kafka_port_for,
                                                  clusters=[self.api.payments_cluster])):
            pass

    def page(self) -> dict[str, Any]:
        response = self.api.call("payments-member", "GET",
                                 f"/api/v1/clusters/{self.api.payments_cluster}/topics/{self.topic}")
        assert response.status_code == 200, response.json
        body: dict[str, Any] = response.json
        return body

    def statuses(self) -> tuple[str, str]:
        """The topic's status and the consume grant's."""
        page = self.page()
        [grant] = [g for g in page["access_grants"] if g["access"] == "consume"]
        return page["status"], grant["status"]

    def listed(self, status: str) -> list[str]:
        response = self.api.call("payments-member", "GET", f"/api/v1/topics?status={status}&q={self.api.prefix}")
        assert response.status_code == 200, response.json
        return [t["name"] for t in response.json["items"]]

    def triage(self, who: str, kind: str, key: str, body: dict[str, Any]) -> Any:
        response = self.api.call(who, "POST", f"/api/v1/clusters/{self.api.payments_cluster}/drift/"
                                              f"{item_id(kind, key)}/triage", body)
        assert response.status_code == 200, response.json
        return response.json

    def events(self) -> list[tuple[str, str]]:
        with unit_of_work(self.api.engine) as session:
            rows = session.exec(select(AuditEventRow).where(col(AuditEventRow.action).startswith("drift:"))
                                .order_by(col(AuditEventRow.seq))).all()
            return [(r.action, str(r.data["kind"])) for r in rows]

    def acl_key(self) -> str:
        return f"acl:topic:literal:{self.topic}:{self.reader['principal']}:*:read:allow"


@pytest.fixture
def scene(database_url: str, kafka_clusters: list[LocalCluster], tmp_path: Path) -> Iterator[Scene]:
    api = build_api(database_url, kafka_clusters, tmp_path)
    built = Scene(api, kafka_clusters[0])
    yield built
    api.engine.dispose()


def _report_mode(scene: Scene) -> None:
    changed = scene.api.call("admin", "PATCH", f"/api/v1/clusters/{scene.api.payments_cluster}",
                             {"drift_mode": "report"})
    assert changed.status_code == 200, changed.json
    assert changed.json["drift_mode"] == "report"


def test_enforce_puts_back_a_changed_config_and_a_deleted_acl(scene: Scene) -> None:
    scene.change_retention()
    scene.delete_read_acl()
    assert eventually(lambda: (scene.retention() == CHANGED and not scene.read_acl_present()) or None) is True
    scene.scan_until("acl_missing", "config_differs")
    scene.reconcile()
    # Read back with the independent client: both are as desired again, and the consumer reads again.
    assert eventually(lambda: scene.retention() == RETENTION or None) is True
    assert eventually(lambda: scene.read_acl_present() or None) is True
    assert eventually(lambda: scene.consume() == b"entry-1" or None) is True
    assert scene.statuses() == ("applied", "applied")
    assert scene.page()["drift"] == []
    for kind in ("acl_missing", "config_differs"):
        assert [a for a, k in scene.events() if k == kind] == ["drift:found", "drift:revert", "drift:resolved"]


def test_report_mode_leaves_both_as_they_are_and_shows_them_drifted(scene: Scene) -> None:
    _report_mode(scene)
    scene.change_retention()
    scene.delete_read_acl()
    scene.scan_until("acl_missing", "config_differs")
    scene.reconcile()
    assert scene.retention() == CHANGED
    assert not scene.read_acl_present()
    denied = scene.consume()
    assert isinstance(denied, KafkaError)
    assert denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert scene.statuses() == ("drifted", "drifted")
    assert scene.listed("drifted") == [scene.topic]
    assert scene.listed("applied") == []
    report = scene.api.call("payments-member", "GET", f"/api/v1/clusters/{scene.api.payments_cluster}/drift").json
    assert report["drift_mode"] == "report"
    mine = {i["kind"]: i for i in report["items"] if scene.topic in i["key"]}
    assert mine["config_differs"]["actual"] == {"retention.ms": CHANGED}
    assert {i["state"] for i in mine.values()} == {"open"}
    assert [a for a, _ in scene.events()] == ["drift:found", "drift:found"]


def test_adopt_makes_desired_state_what_the_cluster_has(scene: Scene) -> None:
    _report_mode(scene)
    scene.change_retention()
    scene.scan_until("config_differs")
    adopted = scene.triage("payments-owner", "config_differs", f"topic:{scene.topic}",
                           {"action": "adopt", "reason": "agreed in the incident review"})
    [request] = adopted["requests"]
    assert (request["kind"], request["spec"]) == ("topic.update", {"name": scene.topic,
                                                                   "config": {"retention.ms": CHANGED}})
    scene.api.reconcile_until("payments-owner", request["id"])
    with unit_of_work(scene.api.engine) as session:
        row = session.exec(select(TopicRow).where(TopicRow.name == scene.topic)).one()
        assert row.config == {"retention.ms": CHANGED}
    assert scene.retention() == CHANGED
    scene.scan_until()
    assert scene.statuses() == ("applied", "applied")
    assert [a for a, k in scene.events() if k == "config_differs"] == ["drift:found", "drift:adopt",
                                                                       "drift:resolved"]
    with unit_of_work(scene.api.engine) as session:
        adopt = session.exec(select(AuditEventRow).where(AuditEventRow.action == "drift:adopt")).one()
        assert (adopt.data["request"], adopt.actor, adopt.team) == (request["id"], "token:payments/payments-owner",
                                                                    "payments")


def test_ignore_takes_a_difference_out_of_drift_until_it_expires(scene: Scene) -> None:
    _report_mode(scene)
    scene.delete_read_acl()
    scene.scan_until("acl_missing")
    assert scene.statuses() == ("applied", "drifted")
    until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    scene.triage("payments-owner", "acl_missing", scene.acl_key(),
                 {"action": "ignore", "reason": "reader retired this week", "expires_at": until.isoformat()})
    assert scene.statuses() == ("applied", "applied")
    with unit_of_work(scene.api.engine) as session:
        event = session.exec(select(AuditEventRow).where(AuditEventRow.action == "drift:ignore")).one()
        assert event.data["reason"] == "reader retired this week"
        assert event.data["expires_at"] == until.isoformat().replace("+00:00", "Z")
        assert event.team == "payments"
    # Switched to enforce, the ignored difference is still left alone ...
    scene.api.call("admin", "PATCH", f"/api/v1/clusters/{scene.api.payments_cluster}", {"drift_mode": "enforce"})
    scene.scan_until("acl_missing")
    scene.reconcile()
    assert not scene.read_acl_present()
    # ... until the ignore expires: drifted again, and the next scan puts it back.
    with unit_of_work(scene.api.engine) as session:
        session.execute(update(DriftItemRow).values(ignored_until=datetime.now(UTC) - timedelta(minutes=1)))
    assert scene.statuses() == ("applied", "drifted")
    scene.scan_until("acl_missing")
    scene.reconcile()
    assert eventually(lambda: scene.read_acl_present() or None) is True
    assert scene.statuses() == ("applied", "applied")
    assert [a for a, k in scene.events() if k == "acl_missing"] == [
        "drift:found", "drift:ignore", "drift:found", "drift:revert", "drift:resolved"]


def test_the_reconciler_loop_puts_drift_back_within_its_drift_interval(scene: Scene) -> None:
    stop = threading.Event()
    loop = threading.Thread(target=run_forever, kwargs={
        "engine": scene.api.engine, "port_factory": kafka_port_for, "interval": 0.2, "drift_interval": 0.5,
        "clusters": [scene.api.payments_cluster], "stop": stop.is_set})
    loop.start()
    try:
        scene.change_retention()
        scene.delete_read_acl()
        assert eventually(lambda: (scene.retention() == RETENTION and scene.read_acl_present()) or None,
                          timeout=60) is True
    finally:
        stop.set()
        loop.join(timeout=60)
    assert not loop.is_alive()
    assert {k for a, k in scene.events() if a == "drift:revert"} == {"acl_missing", "config_differs"}

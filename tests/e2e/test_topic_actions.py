"""The topic page's day-2 actions in real headless Chromium against the real server, reconciler, OIDC
provider and Kafka, each effect read back from the cluster with an independent AdminClient or the
project's real clients:

 1. alice (payments owner) raises max.message.bytes in the config editor (current beside new); it needs
    a platform admin, and erin's inbox shows 1 MiB -> 16 MiB; after approval the broker reports 16 MiB;
    then alice adds partitions and the broker reports them;
 2. alice revokes the reader's grant from the grants table; the reader is then denied;
 3. a retention change made behind Topicdesk's back shows as drift in words with a drifted badge;
    alice reverts it in the portal and the broker reports the desired value again;
 4. an unused topic is deleted from the portal (type its name): quarantined, then gone from Kafka,
    and its page stays with who deleted it.
Screenshots: topic-edit, approvals-diff, topic-drift, topic-delete, topic-deleted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from confluent_kafka import KafkaError
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from playwright.sync_api import Page, expect

from tests.e2e.portal_fixtures import Portal, bearer
from tests.kafka_clients import as_user, consume_one, eventually, produce_one
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import ClusterRow
from topicdesk.bootstrap import kafka_port_for
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services.cluster_port import close_port
from topicdesk.services.drift import scan_cluster

pytestmark = pytest.mark.e2e

APPLIED_TIMEOUT_MS = 60_000
CLUSTER = "payments-dev"
TOPIC = "payments.orders.v1"
SCRATCH = "payments.scratch.v1"
WRITER = "User:payments.orders-writer"
READER = "User:payments.orders-reader"
ONE_MIB, SIXTEEN_MIB = 1024 * 1024, 16 * 1024 * 1024
# The portal's byte units (binary multiples: "MB" today, "MiB" once the IEC names land).
MIB_1, MIB_16 = re.compile(r"^1 Mi?B$"), re.compile(r"16 Mi?B")


@dataclass
class World:
    portal: Portal
    passwords: dict[str, str] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)

    def api(self, user: str, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.portal.base}{path}", json=body, timeout=30,
                                    headers=bearer(self.portal.stack.provider, user))
        assert response.status_code < 300, response.text
        return response.json()

    def wait_applied(self, request_id: str) -> None:
        def applied() -> bool:
            status = str(self.api("alice", "GET", f"/api/v1/requests/{request_id}")["status"])
            assert status not in ("failed", "denied", "rejected"), status
            return status == "applied"

        until(applied, timeout=60)

    @property
    def payments(self) -> LocalCluster:
        return self.portal.stack.clusters[CLUSTER]

    def alice(self) -> Page:
        if "alice" not in self.pages:
            self.pages["alice"] = self.portal.login("alice")
        return self.pages["alice"]


@pytest.fixture(scope="module")
def world(portal: Portal) -> World:
    """Through the API: two service accounts and two topics on payments-dev, applied; report mode, so a
    difference waits for triage, and a short quarantine, so a deletion finishes within the test."""
    w = World(portal)
    w.api("erin", "PATCH", f"/api/v1/clusters/{CLUSTER}", {"drift_mode": "report", "quarantine_seconds": 10})
    for principal in (WRITER, READER):
        created = w.api("alice", "POST", f"/api/v1/clusters/{CLUSTER}/service-accounts",
                        {"name": principal.removeprefix("User:")})
        w.passwords[principal] = created["password"]
    for name, extra in ((TOPIC, {"producers": [WRITER], "consumers": [{"principal": READER,
                                                                       "group": "payments.orders-reader"}]}),
                        (SCRATCH, {})):
        created = w.api("alice", "POST", "/api/v1/requests", {"kind": "topic.create", "cluster": CLUSTER, "spec": {
            "name": name, "partitions": 2, "replication_factor": 1,
            "config": {"max.message.bytes": str(ONE_MIB), "retention.ms": "604800000"}, **extra}})
        w.wait_applied(created["id"])
    return w


def topic_on_kafka(cluster: LocalCluster, name: str) -> tuple[int, dict[str, str]] | None:
    """Partition count and configs as the broker reports them; None when the topic is not there."""
    admin = AdminClient(cluster.client_config())
    metadata = admin.list_topics(timeout=30).topics.get(name)
    if metadata is None or metadata.error is not None:
        return None
    resource = ConfigResource(ResourceType.TOPIC, name)
    configs = admin.describe_configs([resource], request_timeout=30)[resource].result(timeout=30)
    return len(metadata.partitions), {key: entry.value for key, entry in configs.items()}


def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    """`eventually` takes any answer but None as done: a False must keep it polling."""
    eventually(lambda: True if condition() else None, timeout=timeout)


def kafka_until(cluster: LocalCluster, name: str, check: Callable[[tuple[int, dict[str, str]] | None], bool]) -> None:
    until(lambda: check(topic_on_kafka(cluster, name)), timeout=60)


def open_topic(page: Page, portal: Portal, name: str = TOPIC) -> None:
    page.goto(portal.url(f"/clusters/{CLUSTER}/topics/{name}"))
    page.reload()
    expect(page.get_by_test_id("page-title")).to_have_text(name)


def test_config_change_needs_an_admin_who_sees_current_to_new_then_partitions(world: World) -> None:
    portal, alice = world.portal, world.alice()
    open_topic(alice, portal)
    alice.get_by_test_id("action-config").click()
    row = alice.locator("[data-testid='config-row'][data-key='max.message.bytes']")
    expect(row.locator("td").first).to_have_text(MIB_1)
    alice.get_by_test_id("config-input-max.message.bytes").fill(str(SIXTEEN_MIB))
    expect(alice.get_by_test_id("edit-config").get_by_test_id("change-new")).to_contain_text(MIB_16)
    preview = alice.get_by_test_id("edit-config").get_by_test_id("policy-preview")
    expect(preview).to_have_attribute("data-outcome", "needs_approval")
    expect(preview.locator("[data-rule-id='config.max-message-bytes']")).to_be_visible()
    portal.screenshot(alice, "topic-edit")
    alice.get_by_test_id("edit-config-submit").click()
    expect(alice.get_by_test_id("request-status")).to_have_attribute("data-status", "pending_approval")
    request_id = alice.url.rsplit("/", 1)[1]
    # Only the changed key was sent.
    assert world.api("alice", "GET", f"/api/v1/requests/{request_id}")["spec"] == {
        "name": TOPIC, "config": {"max.message.bytes": str(SIXTEEN_MIB)}}

    erin = portal.login("erin", "/approvals")
    item = erin.locator(f"[data-testid='approval-item'][data-request-id='{request_id}']")
    change = item.locator("[data-testid='change-row'][data-field='config.max.message.bytes']")
    expect(change.get_by_test_id("change-current")).to_have_text(MIB_1)
    expect(change.get_by_test_id("change-new")).to_contain_text(MIB_16)
    expect(item.get_by_test_id("impact-consumers")).to_contain_text("payments.orders-reader")
    portal.screenshot(erin, "approvals-diff")
    item.get_by_test_id("approve-button").click()
    item.get_by_test_id("confirm-approve").click()
    expect(erin.get_by_test_id("approvals-done")).to_contain_text("approved")
    kafka_until(world.payments, TOPIC, lambda t: t is not None and t[1]["max.message.bytes"] == str(SIXTEEN_MIB))
    # The request page keeps what the approval changed, now that desired state holds the new value.
    alice.goto(portal.url(f"/requests/{request_id}"))
    expect(alice.get_by_test_id("request-status")).to_have_attribute("data-status", "applied",
                                                                     timeout=APPLIED_TIMEOUT_MS)
    expect(alice.get_by_test_id("request-changes").get_by_test_id("change-current")).to_have_text(MIB_1)

    open_topic(alice, portal)
    alice.get_by_test_id("action-partitions").click()
    alice.get_by_test_id("partitions-input").fill("4")
    expect(alice.get_by_test_id("add-partitions")).to_contain_text("per-key order")
    expect(alice.get_by_test_id("add-partitions").get_by_test_id("policy-preview")).to_have_attribute(
        "data-outcome", "auto_approved")
    alice.get_by_test_id("add-partitions-submit").click()
    expect(alice.get_by_test_id("request-status")).to_have_attribute("data-status", "applied",
                                                                     timeout=APPLIED_TIMEOUT_MS)
    kafka_until(world.payments, TOPIC, lambda t: t is not None and t[0] == 4)


def test_a_revoke_from_the_grants_table_denies_the_consumer(world: World) -> None:
    portal, alice = world.portal, world.alice()
    writer = as_user(world.payments, WRITER, world.passwords[WRITER])

    def delivered() -> bool:
        error = produce_one(writer, TOPIC, b"order-1")
        assert error is None, error
        return True

    eventually(delivered)
    reader = {**as_user(world.payments, READER, world.passwords[READER]), "group.id": "payments.orders-reader"}
    assert consume_one(reader, TOPIC) == b"order-1"

    open_topic(alice, portal)
    alice.locator(f"[data-testid='grant-row'][data-principal='{READER}']").get_by_test_id("revoke-open").click()
    panel = alice.get_by_test_id("revoke-panel")
    expect(panel.get_by_test_id("policy-preview")).to_have_attribute("data-state", "decided")
    panel.get_by_test_id("revoke-grant-submit").click()
    expect(alice.get_by_test_id("request-status")).to_have_attribute("data-status", "applied",
                                                                     timeout=APPLIED_TIMEOUT_MS)

    def denied() -> bool:
        outcome = consume_one({**reader, "group.id": "payments.orders-reader"}, TOPIC, timeout=8)
        return isinstance(outcome, KafkaError)

    until(denied)


def test_a_drift_in_words_is_reverted_from_the_topic_page(world: World) -> None:
    portal, alice = world.portal, world.alice()
    admin = AdminClient(world.payments.client_config())
    resource = ConfigResource(ResourceType.TOPIC, TOPIC, incremental_configs=[
        ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(timeout=30)
    with unit_of_work(portal.stack.engine) as session:
        row = session.get(ClusterRow, CLUSTER)
        assert row is not None
    port = kafka_port_for(row)
    try:
        scan_cluster(portal.stack.engine, CLUSTER, port)
    finally:
        close_port(port)

    open_topic(alice, portal)
    expect(alice.get_by_test_id("topic-status")).to_have_text("drifted")
    item = alice.locator("[data-testid='drift-item'][data-kind='config_differs']")
    expect(item).to_contain_text("Settings differ from what Topicdesk set")
    expect(item.get_by_test_id("drift-row")).to_contain_text("7 days")
    expect(item.get_by_test_id("drift-row")).to_contain_text("1 hour")
    expect(item).not_to_contain_text("config_differs")
    expect(alice.get_by_test_id("topic-state")).not_to_contain_text("The cluster has every change.")
    portal.screenshot(alice, "topic-drift")
    item.get_by_test_id("triage-revert").click()
    kafka_until(world.payments, TOPIC, lambda t: t is not None and t[1]["retention.ms"] == "604800000")


def test_an_unused_topic_is_deleted_from_its_page_which_stays(world: World) -> None:
    portal, alice = world.portal, world.alice()
    open_topic(alice, portal, SCRATCH)
    alice.get_by_test_id("action-delete").click()
    form = alice.get_by_test_id("delete-topic")
    expect(form.get_by_test_id("delete-topic-submit")).to_be_disabled()
    form.get_by_test_id("delete-confirm").fill(SCRATCH)
    expect(form.get_by_test_id("policy-preview")).to_have_attribute("data-outcome", "auto_approved")
    expect(form.get_by_test_id("delete-evidence")).to_contain_text("No consumer group")
    portal.screenshot(alice, "topic-delete")
    form.get_by_test_id("delete-topic-submit").click()
    expect(alice.get_by_test_id("request-status")).to_have_attribute("data-status", "applied",
                                                                     timeout=APPLIED_TIMEOUT_MS)
    # Quarantined first (data kept, restorable), then gone from Kafka once the 10 s grace is over.
    open_topic(alice, portal, SCRATCH)
    expect(alice.get_by_test_id("topic-status")).to_have_text("quarantined")
    expect(alice.get_by_test_id("restore-topic")).to_be_visible()
    assert topic_on_kafka(world.payments, SCRATCH) is not None
    kafka_until(world.payments, SCRATCH, lambda t: t is None)

    def deleted() -> bool:
        return bool(world.api("alice", "GET", f"/api/v1/clusters/{CLUSTER}/topics/{SCRATCH}")["status"] == "deleted")

    until(deleted)
    open_topic(alice, portal, SCRATCH)
    expect(alice.get_by_test_id("topic-status")).to_have_text("deleted")
    banner = alice.get_by_test_id("topic-lifecycle")
    expect(banner).to_contain_text("alice@example.com")
    expect(banner).to_contain_text("auto-approved by policy")
    expect(alice.get_by_test_id("topic-actions")).to_have_count(0)
    expect(alice.get_by_test_id("topic-history")).to_contain_text(f"Delete topic {SCRATCH}")
    portal.screenshot(alice, "topic-deleted")

"""Issue 15's portal story in real headless Chromium against the real server, reconciler (with the
cut-over driver and a MirrorMaker 2 process), OIDC provider and Kafka: a Kafka 3.9 "legacy-monolith"
owned by the platform team holds a payments topic with numbered records, a producer's grant and a
reader's grant with its consumer group (which committed half way through and is stopped), made on
Kafka behind Topicdesk's back and registered as applied, as the demo does.

1. alice (payments owner) opens the topic, chooses "Move to my team's cluster", sees the plan and the
   policy decision in the live preview and submits; the request waits for both owners;
2. erin (platform admin: she approves for the platform team and for payments) approves in Approvals;
3. alice follows the request to its migration: the page shows the mirror's lag falling to zero on the
   chart and per partition, the verification passing, and — after she presses "Producers switched" —
   every step done, and the consumer group ready on the target.
Read back from Kafka: the target (Kafka 4.3.1) has the topic with the source's partitions and every
record, and the group's commits at the same offsets as on the source; the producer's own account,
which wrote to the source before, is refused there afterwards.
Screenshots: migration-live, migration, migration-mobile, migrations.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from playwright.sync_api import Page, expect

from tests.e2e.portal_fixtures import MOBILE, Portal, PortalStack, bearer
from tests.kafka_clients import as_user, eventually, produce_one
from tests.support import register_cluster
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.kafka_cluster import KafkaCluster
from topicdesk.adapters.mirror_process import ProcessMirrorEngine
from topicdesk.adapters.tables import AccessGrantRow, ServiceAccountRow, TopicRow, utcnow
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services.cluster_port import ScramCredential

pytestmark = pytest.mark.e2e

SOURCE = "legacy-monolith"
TARGET = "payments-dev"
TOPIC = "payments.ledger.v1"
WRITER = "User:payments.ledger-writer"
WRITER_PASSWORD = "ledger-writer-e2e-password"
READER = "User:payments.ledger-reader"
READER_PASSWORD = "ledger-reader-e2e-password"
GROUP = "payments.ledger-readers"
PARTITIONS = 2
RECORDS = 3000
# MirrorMaker's start, the gates and the cut-over on a busy 2-core machine.
MIGRATION_TIMEOUT_S = 240


@dataclass
class Legacy:
    cluster: LocalCluster
    target: LocalCluster
    ends: dict[int, int]
    committed: dict[int, int]  # GROUP's commits on the source


def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    """`eventually` takes any answer but None as done: a False must keep it polling."""
    eventually(lambda: True if condition() else None, timeout=timeout)


def _acl(name: str, principal: str, operation: AclOperation,
         resource: ResourceType = ResourceType.TOPIC) -> AclBinding:
    return AclBinding(resource, name, ResourcePatternType.LITERAL, principal, "*", operation,
                      AclPermissionType.ALLOW)


def _committed(cluster: LocalCluster, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offsets, read back from the cluster (the admin is a super user)."""
    # Kept in a name until the answer is in: a client collected meanwhile never answers.
    admin = AdminClient(cluster.client_config())
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])]
    answer = admin.list_consumer_group_offsets(request)[group].result(30)
    return {tp.partition: tp.offset for tp in answer.topic_partitions if tp.offset >= 0}


def _commit_half_way(cluster: LocalCluster, ends: dict[int, int]) -> dict[int, int]:
    """GROUP read half of each partition, committed, and stopped: idle on the source, as a consumer
    that its team stopped for the move."""
    offsets = {p: end // 2 for p, end in ends.items()}
    consumer = Consumer({**cluster.client_config(), "group.id": GROUP, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(TOPIC, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()
    return offsets


def _end_offsets(cluster: LocalCluster, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({**cluster.client_config(), "group.id": "e2e-offsets-reader", "enable.auto.commit": False})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        consumer.close()


def _numbers_on(cluster: LocalCluster, topic: str, partitions: int, expected: int) -> set[int]:
    """Every record's number on the cluster's topic, read from the beginning without a group commit."""
    consumer = Consumer({**cluster.client_config(), "group.id": "e2e-migration-verifier", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    seen: set[int] = set()
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        deadline = time.monotonic() + 60
        while len(seen) < expected and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=1.0):
                value = message.value()
                if message.error() is None and value:
                    seen.add(int(json.loads(value)["n"]))
    finally:
        consumer.close()
    return seen


@pytest.fixture(scope="module")
def mirror_engines() -> Iterator[list[ProcessMirrorEngine]]:
    """Set up before the portal stack, so torn down after its reconciler stopped: a MirrorMaker JVM
    runs in its own session and would outlive the stack (a failed test leaves the mirror running)."""
    engines: list[ProcessMirrorEngine] = []
    yield engines
    for engine in engines:
        for folder in sorted((engine.state_dir / "mirrors").glob("*")):
            engine.stop(folder.name)
        assert engine.running_pids() == [], "MirrorMaker JVMs left running"


@pytest.fixture(scope="module")
def legacy(mirror_engines: list[ProcessMirrorEngine], portal_stack: PortalStack, legacy_cluster: LocalCluster
           ) -> Iterator[Legacy]:
    """legacy-monolith (Kafka 3.9, owned by platform) with TOPIC: made on Kafka directly, filled with
    RECORDS numbered records, the writer's ACLs, and registered as applied desired state."""
    # The reconciler's default engine: dedicated processes under TOPICDESK_DATA_DIR (adapters/mirror_factory.py).
    mirror_engines.append(ProcessMirrorEngine(portal_stack.logs["serve"].parent))
    register_cluster(portal_stack.engine, legacy_cluster, "platform", name=SOURCE)
    admin = AdminClient(legacy_cluster.client_config())
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(timeout=30)
    for future in admin.create_acls([_acl(TOPIC, WRITER, AclOperation.WRITE),
                                     _acl(TOPIC, WRITER, AclOperation.DESCRIBE),
                                     _acl(TOPIC, READER, AclOperation.READ),
                                     _acl(TOPIC, READER, AclOperation.DESCRIBE),
                                     _acl(GROUP, READER, AclOperation.READ, ResourceType.GROUP)]).values():
        future.result(timeout=30)
    with KafkaCluster(legacy_cluster.client_config(), request_timeout=30) as kafka:
        assert all(o.ok for o in kafka.upsert_scram_users([ScramCredential(WRITER, WRITER_PASSWORD),
                                                           ScramCredential(READER, READER_PASSWORD)]).values())
    producer = Producer({**legacy_cluster.client_config(), "acks": "all", "enable.idempotence": True, "linger.ms": 20})
    for n in range(RECORDS - 1):
        producer.produce(TOPIC, json.dumps({"n": n}).encode(), key=str(n).encode())
        if n % 500 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    # The last record by the producer's own account: it may write to the source before the migration.
    writer = as_user(legacy_cluster, WRITER, WRITER_PASSWORD)
    assert eventually(lambda: produce_one(writer, TOPIC, json.dumps({"n": RECORDS - 1}).encode()) is None or None)
    now = utcnow()
    with unit_of_work(portal_stack.engine) as session:
        session.add(TopicRow(cluster=SOURCE, name=TOPIC, owner_team="payments", partitions=PARTITIONS,
                             replication_factor=1, config={}, managed_config_keys=[],
                             description="The ledger, pre-Topicdesk", observed_generation=1, applied_at=now))
        session.add(AccessGrantRow(cluster=SOURCE, topic=TOPIC, principal=WRITER, access="produce", group_id="",
                                   granted_team="payments", observed_generation=1, applied_at=now))
        session.add(AccessGrantRow(cluster=SOURCE, topic=TOPIC, principal=READER, access="consume",
                                   group_id=GROUP, granted_team="payments", observed_generation=1, applied_at=now))
        for principal in (WRITER, READER):
            session.add(ServiceAccountRow(cluster=SOURCE, principal=principal, owner_team="payments",
                                          observed_generation=1, applied_at=now))
    ends = _end_offsets(legacy_cluster, TOPIC, PARTITIONS)
    assert sum(ends.values()) == RECORDS
    committed = _commit_half_way(legacy_cluster, ends)
    assert _committed(legacy_cluster, GROUP, TOPIC, PARTITIONS) == committed
    target = portal_stack.clusters[TARGET]
    yield Legacy(legacy_cluster, target, ends, committed)
    # Both clusters are shared by the session: leave no topic behind for the next module.
    for cluster in (legacy_cluster, target):
        for future in AdminClient(cluster.client_config()).delete_topics([TOPIC]).values():
            with contextlib.suppress(KafkaException):
                future.result(timeout=30)


def api(portal: Portal, user: str, path: str) -> Any:
    response = requests.get(f"{portal.base}{path}", timeout=30, headers=bearer(portal.stack.provider, user))
    assert response.status_code == 200, response.text
    return response.json()


def start_migration(portal: Portal) -> tuple[Page, str]:
    alice = portal.login("alice", f"/clusters/{SOURCE}/topics/{TOPIC}")
    expect(alice.get_by_test_id("page-title")).to_have_text(TOPIC)
    alice.get_by_test_id("migrate-open").click()
    form = alice.get_by_test_id("migrate-topic")
    expect(form.get_by_test_id("migrate-target")).to_have_value(TARGET)
    expect(form.get_by_test_id("migrate-topics")).to_have_value(TOPIC)
    form.get_by_test_id("migrate-reason").fill("leave the monolith")
    # The live dry run: routed to both owners, with the plan read from both clusters.
    expect(form.get_by_test_id("policy-preview")).to_have_attribute("data-outcome", "needs_approval")
    plan = form.get_by_test_id("migrate-plan")
    expect(plan).to_contain_text(f"From {SOURCE} to {TARGET}")
    expect(plan.locator("table tbody tr")).to_have_count(1)
    expect(plan).to_contain_text(WRITER)
    expect(plan).to_contain_text(GROUP)
    form.get_by_test_id("migrate-topic-submit").click()
    alice.wait_for_url("**/#/requests/*")
    expect(alice.get_by_test_id("request-status")).to_have_attribute("data-status", "pending_approval")
    return alice, alice.url.rsplit("/", 1)[-1]


def test_a_team_owner_moves_a_legacy_topic_and_watches_it_to_done(
    mirror_engines: list[ProcessMirrorEngine], portal: Portal, legacy: Legacy,
) -> None:
    alice, request_id = start_migration(portal)

    erin = portal.login("erin", "/approvals")
    item = erin.locator(f"[data-testid='approval-item'][data-request-id='{request_id}']")
    expect(item).to_contain_text(TOPIC)
    item.get_by_test_id("approve-button").click()
    item.get_by_test_id("confirm-approve").click()
    expect(erin.get_by_test_id("approvals-done")).to_contain_text("approved")

    # The approved request links to its migration.
    expect(alice.get_by_test_id("request-status")).to_have_attribute("data-status", "approved")
    alice.get_by_test_id("migration-link").get_by_role("link").click()
    alice.wait_for_url("**/#/migrations/*")
    migration_id = alice.url.rsplit("/", 1)[-1]
    expect(alice.get_by_test_id("page-title")).to_have_text(f"{SOURCE} → {TARGET}")
    expect(alice.get_by_test_id("migration-timeline-step")).to_have_count(6)

    # Mirroring: the chart and the partitions appear while the page refreshes itself.
    seen_totals: list[int] = []

    def mirrored() -> bool:
        body = api(portal, "alice", f"/api/v1/migrations/{migration_id}")
        assert body["step"] not in ("failed", "rolled_back"), body.get("last_error")
        if body.get("lag"):
            seen_totals.extend(sample["total"] for sample in body["lag"]["history"])
        return body["step"] == "producers_cut_over" and bool(body.get("verification"))

    expect(alice.get_by_test_id("lag-chart")).to_be_visible(timeout=MIGRATION_TIMEOUT_S * 1000)
    expect(alice.get_by_test_id("partition-lag-row")).to_have_count(PARTITIONS)
    # MirrorMaker's JVM takes a while to start its tasks on a busy machine.
    expect(alice.get_by_test_id("mirror-state")).to_have_attribute("data-state", "running",
                                                                    timeout=MIGRATION_TIMEOUT_S * 1000)
    portal.screenshot(alice, "migration-live")
    until(mirrored, timeout=MIGRATION_TIMEOUT_S)

    # Lag fell to zero: some measurement saw records behind, the page shows none now.
    assert max(seen_totals) > 0, seen_totals
    expect(alice.get_by_test_id("lag-total")).to_have_attribute("data-total", "0")
    for row in alice.get_by_test_id("partition-lag-row").all():
        expect(row).to_have_attribute("data-lag", "0")
    expect(alice.get_by_test_id("verification")).to_have_attribute("data-passed", "true")
    assert _end_offsets(legacy.target, TOPIC, PARTITIONS) == legacy.ends
    assert _numbers_on(legacy.target, TOPIC, PARTITIONS, RECORDS) == set(range(RECORDS))

    # The owner says producers switched (a producer now writes to the target); the rest completes.
    expect(alice.get_by_test_id("migration-step")).to_have_attribute("data-step", "producers_cut_over")
    alice.get_by_test_id("producers-switched").click()
    producer = Producer({**legacy.target.client_config(), "acks": "all"})
    producer.produce(TOPIC, json.dumps({"n": RECORDS}).encode())
    assert producer.flush(30) == 0
    expect(alice.get_by_test_id("migration-step")).to_have_attribute("data-step", "done",
                                                                      timeout=MIGRATION_TIMEOUT_S * 1000)
    expect(alice.get_by_test_id("migration-done")).to_be_visible()
    statuses = alice.get_by_test_id("migration-timeline-step").evaluate_all("els => els.map(e => e.dataset.status)")
    assert statuses == ["done"] * 6, statuses
    expect(alice.get_by_test_id("rollback-open")).to_have_count(0)
    # The group, stopped on the source, is ready on the target where it left off (exact offsets).
    group = alice.locator(f"[data-testid='group-row'][data-group='{GROUP}']")
    expect(group.get_by_test_id("group-ready")).to_have_text("yes")
    [moved] = api(portal, "alice", f"/api/v1/migrations/{migration_id}")["groups"]
    assert (moved["group"], moved["ready_on_target"], moved["translation"]) == (GROUP, True, "exact"), moved
    assert _committed(legacy.target, GROUP, TOPIC, PARTITIONS) == legacy.committed
    portal.screenshot(alice, "migration")

    # The source's producer lost its write access (quarantine); the target kept everything.
    refused = produce_one(as_user(legacy.cluster, WRITER, WRITER_PASSWORD), TOPIC, b"late")
    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused
    assert sum(_end_offsets(legacy.target, TOPIC, PARTITIONS).values()) == RECORDS + 1

    # 390 px: one column, nothing wider than the screen.
    alice.set_viewport_size(MOBILE)
    expect(alice.get_by_test_id("lag-chart")).to_be_visible()
    assert alice.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"]
    portal.screenshot(alice, "migration-mobile")

    alice.set_viewport_size({"width": 1280, "height": 900})
    alice.goto(portal.url("/migrations"))
    row = alice.locator(f"[data-testid='migration-row'][data-migration-id='{migration_id}']")
    expect(row).to_have_attribute("data-step", "done")
    expect(row).to_contain_text(f"{SOURCE} → {TARGET}")
    expect(row).to_contain_text(TOPIC)
    portal.screenshot(alice, "migrations")

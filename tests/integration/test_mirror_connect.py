"""MirrorMaker 2 on a real Kafka Connect cluster, driven through its REST API (adapters/mirror_connect.py).

Source: the shared Kafka 3.9 `legacy_cluster`; target: `kafka_clusters[0]` (Kafka 4.3.1), which the
local Connect worker (`connect_worker`, Kafka 4.3.1) is attached to, as a production Connect
cluster is to the cluster it writes into. Everything is read back from the clusters themselves.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest
import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    NewTopic,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from tests.kafka_clients import eventually
from topicdesk.adapters.kafka_cluster import KafkaCluster
from topicdesk.adapters.mirror_connect import ConnectMirrorEngine
from topicdesk.domain.acls import AclBinding
from topicdesk.domain.acls import AclOperation as Op
from topicdesk.domain.acls import ResourceType as AclResource
from topicdesk.domain.mirror_access import mirror_access, mirror_username
from topicdesk.domain.mirror_config import connector_names
from topicdesk.domain.model import PatternType
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.local_kafka.connect_worker import ConnectWorker
from topicdesk.local_kafka.processes import find_free_ports
from topicdesk.services.cluster_port import close_port
from topicdesk.services.mirror_port import ClusterEndpoint, MirrorSpec, MirrorState, MirrorStatus

pytestmark = pytest.mark.integration

PARTITIONS = 3
FIRST_BATCH = 240
SECOND_BATCH = 30


class RecordingSession(requests.Session):
    """A real HTTP session that remembers the calls it made (to prove an unchanged mirror is not re-put)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.calls.append((str(method), str(url)))
        return super().request(method, url, *args, **kwargs)


def endpoint(cluster: LocalCluster, password: str | None = None) -> ClusterEndpoint:
    return ClusterEndpoint(alias=cluster.name, bootstrap_servers=cluster.bootstrap, username=cluster.admin_username,
                           password=password if password is not None else cluster.admin_password)


def create_topic(cluster: LocalCluster, topic: str) -> None:
    admin = AdminClient(cluster.client_config())  # kept referenced until the future resolves
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)], operation_timeout=10)[topic].result(timeout=15)


def add_user(cluster: LocalCluster, user: str, password: str) -> None:
    admin = AdminClient(cluster.client_config())
    upsert = UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                                          password.encode())
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=15)


def produce_numbered(cluster: LocalCluster, topic: str, numbers: range) -> None:
    producer = Producer({**cluster.client_config(), "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    for n in numbers:
        producer.produce(topic, key=f"k{n}".encode(), value=f"record-{n}".encode(), partition=n % PARTITIONS,
                         headers=[("number", str(n).encode()), ("origin", b"legacy")])
    assert producer.flush(20) == 0


def read_all(cluster: LocalCluster, topic: str, expected: int, timeout: float = 45.0) -> dict[int, Any]:
    """number -> (partition, key, value, headers) of every record on `topic`, once `expected` arrived."""
    consumer = Consumer({**cluster.client_config(), "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    seen: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            headers = dict(msg.headers() or [])
            raw = headers["number"]
            assert isinstance(raw, bytes)
            number = int(raw)
            assert number not in seen, f"record {number} arrived twice"
            seen[number] = (msg.partition(), msg.key(), msg.value(), msg.headers())
    finally:
        consumer.close()
    return seen


def records_on(cluster: LocalCluster, topic: str) -> int:
    consumer = Consumer({**cluster.client_config(), "group.id": f"counter-{uuid.uuid4().hex[:8]}"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in range(PARTITIONS))
    finally:
        consumer.close()


def commit_on_source(cluster: LocalCluster, topic: str, group: str, offset: int) -> None:
    consumer = Consumer({**cluster.client_config(), "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, offset) for p in range(PARTITIONS)], asynchronous=False)
    finally:
        consumer.close()


def target_offsets(cluster: LocalCluster, topic: str, group: str) -> dict[int, int]:
    from confluent_kafka import ConsumerGroupTopicPartitions

    admin = AdminClient(cluster.client_config())
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTITIONS)])
    result = admin.list_consumer_group_offsets([request])[group].result(timeout=10)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def until(engine: ConnectMirrorEngine, spec: MirrorSpec, state: MirrorState, timeout: float = 60.0) -> MirrorStatus:
    seen: list[MirrorStatus] = []

    def check() -> MirrorStatus | None:
        status = engine.ensure_running(spec)
        seen.append(status)
        return status if status.state is state else None

    try:
        return eventually(check, timeout=timeout, interval=1.0)
    except AssertionError:
        raise AssertionError(f"mirror never {state}; last: {seen[-1:]}") from None


def test_mirrors_records_and_offsets_through_connect(legacy_cluster: LocalCluster, kafka_clusters: list[LocalCluster],
                                                      connect_worker: ConnectWorker) -> None:
    source, target = legacy_cluster, kafka_clusters[0]
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"legacy.orders.{suffix}", f"legacy.order-readers.{suffix}"
    for cluster in (source, target):
        create_topic(cluster, topic)
    produce_numbered(source, topic, range(FIRST_BATCH))
    # A caught-up consumer on the source: its position is the end of every partition.
    per_partition = FIRST_BATCH // PARTITIONS
    commit_on_source(source, topic, group, per_partition)
    spec = MirrorSpec(mirror_id=f"m{suffix}", source=endpoint(source), target=endpoint(target), topics=(topic,),
                      groups=(group,), internal_replication_factor=1)
    session = RecordingSession()
    engine = ConnectMirrorEngine(connect_worker.url, session=session)
    names = connector_names(spec.mirror_id)

    assert engine.status(spec.mirror_id).state is MirrorState.ABSENT
    running = until(engine, spec, MirrorState.RUNNING)
    assert {t.connector for t in running.tasks} == set(names.values())
    assert all(t.state == "RUNNING" for t in running.tasks)

    # Same topic name, partition, key, value and headers, every record exactly once.
    copied = read_all(target, topic, FIRST_BATCH)
    assert sorted(copied) == list(range(FIRST_BATCH))
    for n, (partition, key, value, headers) in copied.items():
        assert (partition, key, value) == (n % PARTITIONS, f"k{n}".encode(), f"record-{n}".encode())
        assert headers == [("number", str(n).encode()), ("origin", b"legacy")]

    # The group's offsets, translated by the checkpoint connector, committed on the target.
    def translated() -> dict[int, int] | None:
        offsets = target_offsets(target, topic, group)
        return offsets if all(v == per_partition for v in offsets.values()) else None

    assert eventually(translated, timeout=45, interval=1.0) == dict.fromkeys(range(PARTITIONS), per_partition)

    # An unchanged mirror is left alone: no PUT, no restart.
    session.calls.clear()
    assert engine.ensure_running(spec).state is MirrorState.RUNNING
    assert [m for m, _ in session.calls if m != "GET"] == []

    # A wrong source password: MirrorMaker finds no partitions, the mirror is reported FAILED.
    broken = replace(spec, source=endpoint(source, password="not-the-password"))
    failed = until(engine, broken, MirrorState.FAILED, timeout=45)
    assert names["source"] in failed.detail
    assert "source cluster" in failed.detail
    produce_numbered(source, topic, range(FIRST_BATCH, FIRST_BATCH + SECOND_BATCH))
    # The right one again: running, and what was written meanwhile arrives, nothing twice.
    until(engine, spec, MirrorState.RUNNING)
    copied = read_all(target, topic, FIRST_BATCH + SECOND_BATCH)
    assert sorted(copied) == list(range(FIRST_BATCH + SECOND_BATCH))

    stopped = engine.stop(spec.mirror_id)
    assert stopped.state is MirrorState.ABSENT
    assert not set(names.values()) & set(engine.connectors())
    assert engine.stop(spec.mirror_id).state is MirrorState.ABSENT  # stopping an absent mirror is no error
    assert engine.status(spec.mirror_id).state is MirrorState.ABSENT


def test_a_failed_task_is_reported_and_restarted(legacy_cluster: LocalCluster, kafka_clusters: list[LocalCluster],
                                                 connect_worker: ConnectWorker) -> None:
    """The connectors run as the migration's mirror principal on both clusters, with exactly the ACLs
    of domain/mirror_access.py for a Connect cluster (no super user), except WRITE on the migrated
    topic on the target at first: the source task fails (not authorized) and is reported FAILED with
    Connect's trace; once the ACL exists, ensure_running restarts the failed task (the spec is
    unchanged), the records arrive and the moved group's offsets are synced onto the target."""
    source, target = legacy_cluster, kafka_clusters[0]
    suffix = uuid.uuid4().hex[:8]
    topic, group, mirror_id = f"legacy.payments.{suffix}", f"legacy.payment-readers.{suffix}", f"f{suffix}"
    for cluster in (source, target):
        create_topic(cluster, topic)
    produce_numbered(source, topic, range(30))
    # Caught up (10 records per partition): MirrorMaker's own translation is exact at a synced tail.
    commit_on_source(source, topic, group, 10)
    access = mirror_access(mirror_id, source.name, [topic], [group], dedicated=False)
    user, password = mirror_username(mirror_id), f"pw-{suffix}"
    write = AclBinding(AclResource.TOPIC, topic, PatternType.LITERAL, access.principal, Op.WRITE)
    assert write in access.target

    def allow(cluster: LocalCluster, bindings: frozenset[AclBinding]) -> None:
        add_user(cluster, user, password)  # an upsert: the same credential again is no change
        port = KafkaCluster(cluster.client_config(), request_timeout=15)
        try:
            assert all(o.ok for o in port.create_acls(sorted(bindings)).values())
        finally:
            close_port(port)

    allow(source, access.source)
    allow(target, access.target - {write})

    def as_mirror(cluster: LocalCluster) -> ClusterEndpoint:
        return ClusterEndpoint(alias=cluster.name, bootstrap_servers=cluster.bootstrap, username=user,
                               password=password)

    spec = MirrorSpec(mirror_id=mirror_id, source=as_mirror(source), target=as_mirror(target), topics=(topic,),
                      groups=(group,), internal_replication_factor=1)
    session = RecordingSession()
    engine = ConnectMirrorEngine(connect_worker.url, session=session)
    source_connector = connector_names(spec.mirror_id)["source"]
    try:
        failed = until(engine, spec, MirrorState.FAILED)
        assert re.match(rf"{source_connector} task \d FAILED: ", failed.detail), failed.detail
        assert "TopicAuthorizationException" in failed.detail, failed.detail
        allow(target, frozenset({write}))
        # A restarted task shows RUNNING until it fails again: like the driver, keep ensuring until
        # the mirror runs and the records are there.
        seen: list[MirrorStatus] = []

        def healed() -> MirrorStatus | None:
            status = engine.ensure_running(spec)
            seen.append(status)
            return status if status.running and records_on(target, topic) == 30 else None

        try:
            eventually(healed, timeout=60, interval=1.0)
        except AssertionError:
            raise AssertionError(f"not healed; last: {seen[-1:]}") from None
        # Healed by restarting the failed task; each connector was put once, when it was created.
        assert sorted(u.rsplit("/", 2)[-2] for m, u in session.calls if m == "PUT") == sorted(
            connector_names(spec.mirror_id).values())
        assert any(m == "POST" and f"/connectors/{source_connector}/restart?includeTasks=true&onlyFailed=true" in u
                   for m, u in session.calls)
        assert sorted(read_all(target, topic, 30)) == list(range(30))
        # Group offset sync as the mirror principal: READ on the group and the topic on the target.
        synced: list[dict[int, int]] = []

        def offsets_synced() -> bool | None:
            synced.append(target_offsets(target, topic, group))
            return True if synced[-1] == dict.fromkeys(range(PARTITIONS), 10) else None

        try:
            eventually(offsets_synced, timeout=45, interval=1.0)
        except AssertionError:
            raise AssertionError(f"group offsets on the target: {synced[-1:]}") from None
        # The connectors created exactly this mirror's offset syncs and checkpoints topics.
        admin = AdminClient(target.client_config())
        assert set(access.target_internal_topics) <= set(admin.list_topics(timeout=10).topics)
    finally:
        assert engine.stop(spec.mirror_id).state is MirrorState.ABSENT


def test_an_engine_that_cannot_be_reached_is_unreachable(legacy_cluster: LocalCluster,
                                                          kafka_clusters: list[LocalCluster]) -> None:
    (port,) = find_free_ports(1, set(), start=28000)
    engine = ConnectMirrorEngine(f"http://127.0.0.1:{port}", timeout=2)
    spec = MirrorSpec(mirror_id="nowhere", source=endpoint(legacy_cluster), target=endpoint(kafka_clusters[0]),
                      topics=("legacy.x",))
    for status in (engine.ensure_running(spec), engine.status("nowhere"), engine.stop("nowhere")):
        assert status.state is MirrorState.UNREACHABLE
        assert f"127.0.0.1:{port}" in status.detail

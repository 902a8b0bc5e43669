"""The process mirror engine against real clusters: a dedicated MirrorMaker 2 (Kafka 4.3.1) copies
a topic from a Kafka 3.9 source to a 4.3.1 target as the migration's own mirror principal (no super
user, only the ACLs of domain/mirror_access.py), translates a group's offsets, is healed after
kill -9, and leaves no JVM behind; the clean-up revokes the principal and deletes its internal topics."""

from __future__ import annotations

import os
import signal
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from tests.kafka_clients import as_user, authenticates, eventually, produce_one
from topicdesk.adapters.kafka_cluster import KafkaCluster
from topicdesk.adapters.mirror_process import ProcessMirrorEngine
from topicdesk.domain.mirror_access import MirrorAccess, mirror_access, mirror_password, mirror_username
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services import migration_mirror
from topicdesk.services.cluster_port import ScramCredential, close_port
from topicdesk.services.mirror_port import ClusterEndpoint, MirrorSpec, MirrorState

PARTITIONS = 3
FIRST, SECOND = 600, 300

Record = tuple[int, bytes, bytes, tuple[tuple[str, bytes], ...]]


def password(cluster: LocalCluster, mirror_id: str) -> str:
    """As the driver derives it (adapters/migration_clients.py): keyed by the cluster's admin password."""
    return mirror_password(cluster.admin_password, cluster.name, mirror_id)


def endpoint(cluster: LocalCluster, mirror_id: str) -> ClusterEndpoint:
    """MirrorMaker's way in: the mirror principal, never the admin."""
    return ClusterEndpoint(cluster.name, cluster.bootstrap, mirror_username(mirror_id), password(cluster, mirror_id))


@pytest.fixture
def ports(legacy_cluster: LocalCluster, kafka_clusters: list[LocalCluster]) -> Iterator[dict[str, KafkaCluster]]:
    opened = {"source": KafkaCluster(legacy_cluster.client_config(), request_timeout=15),
              "target": KafkaCluster(kafka_clusters[0].client_config(), request_timeout=15)}
    yield opened
    for port in opened.values():
        close_port(port)


def grant(access: MirrorAccess, ports: dict[str, KafkaCluster], source: LocalCluster, target: LocalCluster,
          mirror_id: str) -> None:
    """What the driver's mirroring step does before the mirror starts (services/migration_mirror.py)."""
    credentials = {side: ScramCredential(access.principal, password(cluster, mirror_id))
                   for side, cluster in (("source", source), ("target", target))}
    granted = migration_mirror.grant(access, ports.__getitem__, credentials, refresh_password=False)
    assert not granted.errors, granted.errors
    assert granted.changed["source"]["acls"] == len(access.source)
    assert granted.changed["target"]["acls"] == len(access.target)


def code(error: KafkaError | None) -> int | None:
    return None if error is None else int(error.code())


def produce_error(conf: dict[str, Any], topic: str) -> KafkaError | None:
    """One record without idempotence (on the source an idempotent producer is refused even earlier,
    CLUSTER_AUTHORIZATION_FAILED: the principal may write nowhere there): its delivery error."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**conf, "enable.idempotence": False, "acks": "all", "message.timeout.ms": 8000})
    producer.produce(topic, b"not allowed", on_delivery=lambda err, _msg: outcome.append(err))
    assert producer.flush(15) == 0, "delivery report did not arrive"
    return outcome[0]


def first_record(conf: dict[str, Any], topic: str, seconds: float = 10.0) -> bytes | None:
    """Partition 0 of `topic` read by assignment (no group's rights involved): its first record, or
    None when none arrived within `seconds` (librdkafka does not report a fetch it may not make)."""
    consumer = Consumer({**conf, "group.id": f"unused-{uuid.uuid4().hex}", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                value = msg.value()
                assert isinstance(value, bytes)
                return value
        return None
    finally:
        consumer.close()


def metadata_error(conf: dict[str, Any], topic: str) -> int | None:
    """What a metadata request for `topic` answers this principal: None, or the topic's error code."""
    consumer = Consumer({**conf, "group.id": f"unused-{uuid.uuid4().hex}"})
    try:
        found = consumer.list_topics(topic, timeout=10).topics[topic]
        return None if found.error is None else int(found.error.code())
    finally:
        consumer.close()


def conf(cluster: LocalCluster, **extra: Any) -> dict[str, Any]:
    return {**cluster.client_config(), **extra}


def create_topic(cluster: LocalCluster, name: str) -> None:
    admin = AdminClient(conf(cluster))  # kept referenced: a collected client fails its futures
    for future in admin.create_topics([NewTopic(name, PARTITIONS, 1)]).values():
        future.result(15)


def produce(cluster: LocalCluster, topic: str, numbers: range) -> None:
    producer = Producer(conf(cluster, **{"enable.idempotence": True, "linger.ms": 5}))
    for n in numbers:
        producer.produce(topic, key=f"k{n}".encode(), value=f"record-{n}".encode() * 4, partition=n % PARTITIONS,
                         headers=[("n", str(n).encode()), ("origin", b"legacy")])
    assert producer.flush(30) == 0


def read_all(cluster: LocalCluster, topic: str, expected: int, timeout: float = 30.0) -> list[Record]:
    """Every record of `topic` (assigned from the beginning), once at least `expected` arrived."""
    def attempt() -> list[Record] | None:
        consumer = Consumer(conf(cluster, **{"group.id": f"reader-{uuid.uuid4().hex}", "enable.auto.commit": False}))
        try:
            ends = [consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1] for p in range(PARTITIONS)]
            if sum(ends) < expected:
                return None
            consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
            got: list[Record] = []
            while len(got) < sum(ends):
                batch = consumer.consume(500, 5)
                assert batch, f"read {len(got)} of {sum(ends)} records of {topic}"
                for m in batch:
                    assert m.error() is None, m.error()
                    key, value = m.key(), m.value()
                    assert isinstance(key, bytes)
                    assert isinstance(value, bytes)
                    partition = m.partition()
                    assert partition is not None
                    raw_headers = m.headers() or []
                    assert isinstance(raw_headers, list)
                    headers = tuple((h, v) for h, v in raw_headers if isinstance(v, bytes))
                    got.append((partition, key, value, headers))
            return got
        finally:
            consumer.close()
    return eventually(attempt, timeout=timeout, interval=1.0)


def expected_records(numbers: range) -> list[Record]:
    return [(n % PARTITIONS, f"k{n}".encode(), f"record-{n}".encode() * 4,
             (("n", str(n).encode()), ("origin", b"legacy"))) for n in numbers]


def consume_all_and_commit(cluster: LocalCluster, topic: str, group: str, count: int) -> None:
    consumer = Consumer(conf(cluster, **{"group.id": group, "auto.offset.reset": "earliest",
                                         "enable.auto.commit": False}))
    consumer.subscribe([topic])
    read = 0
    try:
        while read < count:
            batch = consumer.consume(500, 10)
            assert batch, f"group {group} read {read} of {count}"
            read += sum(1 for m in batch if m.error() is None)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()


def group_offsets(cluster: LocalCluster, group: str, topic: str) -> dict[int, int]:
    admin = AdminClient(conf(cluster))
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
    return {tp.partition: tp.offset for tp in result.topic_partitions if tp.topic == topic and tp.offset >= 0}


def topic_names(cluster: LocalCluster) -> set[str]:
    admin = AdminClient(conf(cluster))
    return set(admin.list_topics(timeout=10).topics)


@pytest.fixture
def mirror_engine(tmp_path: Path) -> Iterator[ProcessMirrorEngine]:
    engine = ProcessMirrorEngine(tmp_path / "state")
    yield engine
    left = engine.running_pids()
    for pid in left:  # a failed test must not leave a JVM running: stop it, then fail
        os.killpg(pid, signal.SIGKILL)
    assert not left, f"MirrorMaker JVMs left running: {left}"


def test_mirror_copies_translates_heals_and_stops(legacy_cluster: LocalCluster,
                                                  kafka_clusters: list[LocalCluster],
                                                  mirror_engine: ProcessMirrorEngine,
                                                  ports: dict[str, KafkaCluster]) -> None:
    source, target = legacy_cluster, kafka_clusters[0]
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"mig.orders.v1-{suffix}", f"billing.readers-{suffix}"
    # Matches `topic` if its dots were left unescaped in MirrorMaker's regex list.
    decoy = f"migXordersXv1-{suffix}"
    for cluster in (source, target):
        create_topic(cluster, topic)
    create_topic(source, decoy)
    produce(source, topic, range(FIRST))
    produce(source, decoy, range(10))
    consume_all_and_commit(source, topic, group, FIRST)
    committed = group_offsets(source, group, topic)
    assert sum(committed.values()) == FIRST

    mirror_id = f"it-{suffix}"
    access = mirror_access(mirror_id, source.name, [topic], [group])
    grant(access, ports, source, target, mirror_id)
    spec = MirrorSpec(mirror_id=mirror_id, source=endpoint(source, mirror_id), target=endpoint(target, mirror_id),
                      topics=(topic,), groups=(group,), internal_replication_factor=1)
    assert mirror_engine.status(spec.mirror_id).state is MirrorState.ABSENT
    first = mirror_engine.ensure_running(spec)
    assert first.state is MirrorState.STARTING, first
    running = eventually(lambda: s if (s := mirror_engine.status(spec.mirror_id)).running else None, timeout=90,
                         interval=1.0)
    assert any(t.connector == "MirrorSourceConnector" and t.state == "RUNNING" for t in running.tasks)
    # Level-triggered: asking again while it runs changes nothing.
    pid = mirror_engine.pid(spec.mirror_id)
    assert mirror_engine.ensure_running(spec).running
    assert mirror_engine.pid(spec.mirror_id) == pid

    # Every record, same partition, key, value and headers.
    assert sorted(read_all(target, topic, FIRST)) == sorted(expected_records(range(FIRST)))
    # The group read everything on the source: on the target it resumes exactly there.
    eventually(lambda: True if group_offsets(target, group, topic) == committed else None, timeout=30)
    assert decoy not in topic_names(target)

    folder = mirror_engine.state_dir / "mirrors" / spec.mirror_id
    assert stat.S_IMODE((folder / "mm2.properties").stat().st_mode) == 0o600
    for log_name in ("mm2.log", "mm2.out"):
        text = (folder / log_name).read_text()
        for secret in (source.admin_password, target.admin_password, spec.source.password, spec.target.password):
            assert secret not in text
        # Least privilege held: MirrorMaker asked for nothing it was not granted.
        assert "uthoriz" not in text, [line for line in text.splitlines() if "uthoriz" in line][:5]
    # MirrorMaker created exactly this mirror's internal topics on the target, none on the source.
    assert set(access.target_internal_topics) <= topic_names(target)
    assert not set(access.target_internal_topics) & topic_names(source)

    # kill -9: not running any more; ensure_running starts it again and nothing produced meanwhile is lost.
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: True if not mirror_engine.status(spec.mirror_id).running else None, timeout=10)
    dead = mirror_engine.status(spec.mirror_id)
    assert dead.state in (MirrorState.STOPPED, MirrorState.FAILED), dead
    produce(source, topic, range(FIRST, FIRST + SECOND))
    healed = mirror_engine.ensure_running(spec)
    assert healed.state is MirrorState.STARTING, healed
    assert mirror_engine.pid(spec.mirror_id) not in (None, pid)
    eventually(lambda: True if mirror_engine.status(spec.mirror_id).running else None, timeout=90, interval=1.0)
    records = read_all(target, topic, FIRST + SECOND)
    assert set(records) == set(expected_records(range(FIRST + SECOND)))
    duplicates = len(records) - len(set(records))
    # At least once: a kill after the worker's last offset flush copies nothing twice; before it,
    # at most what was copied since (here everything had long been flushed).
    assert duplicates <= FIRST, duplicates

    stopped = mirror_engine.stop(spec.mirror_id)
    assert stopped.state is MirrorState.ABSENT
    assert mirror_engine.status(spec.mirror_id).state is MirrorState.ABSENT
    assert mirror_engine.running_pids() == []
    assert mirror_engine.stop(spec.mirror_id).state is MirrorState.ABSENT

    # Stopped for good: the principal, its ACLs and its internal topics go; the user topics stay.
    revoked = migration_mirror.revoke(access, ports.__getitem__)
    assert not revoked.errors, revoked.errors
    assert sorted(revoked.changed["target"]["topics"]) == sorted(access.target_internal_topics)
    assert "topics" not in revoked.changed["source"]
    for side, cluster in (("source", source), ("target", target)):
        observed = ports[side].describe([])
        assert not [b for b in observed.acls if b.principal == access.principal]
        assert access.principal not in observed.scram_users
        assert authenticates(as_user(cluster, access.principal, password(cluster, mirror_id))) is not None
    eventually(lambda: True if not set(access.target_internal_topics) & topic_names(target) else None, timeout=30)
    assert topic in topic_names(target)
    assert {topic, decoy} <= topic_names(source)
    assert migration_mirror.revoke(access, ports.__getitem__).changed == {}  # level-triggered: nothing left


def test_the_mirror_principal_may_touch_only_the_migrated_topics(legacy_cluster: LocalCluster,
                                                                 kafka_clusters: list[LocalCluster],
                                                                 ports: dict[str, KafkaCluster]) -> None:
    """Real clients as the mirror principal: it reads the migrated topic on the source and writes it on
    the target; it may not write to the source, nor read or write a topic that is not migrated."""
    source, target = legacy_cluster, kafka_clusters[0]
    suffix = uuid.uuid4().hex[:8]
    migrated, other = f"mig.payments.v1-{suffix}", f"mig.payroll.v1-{suffix}"
    for cluster in (source, target):
        create_topic(cluster, migrated)
        create_topic(cluster, other)
        produce(cluster, other, range(3))
    produce(source, migrated, range(3))
    mirror_id = f"deny-{suffix}"
    access = mirror_access(mirror_id, source.name, [migrated], [f"readers-{suffix}"])
    grant(access, ports, source, target, mirror_id)
    try:
        on_source = as_user(source, access.principal, password(source, mirror_id))
        on_target = as_user(target, access.principal, password(target, mirror_id))
        assert first_record(on_source, migrated) is not None
        for conf, topic in ((on_source, migrated), (on_source, other), (on_target, other)):
            assert code(produce_error(conf, topic)) == KafkaError.TOPIC_AUTHORIZATION_FAILED, topic
        assert produce_one(on_target, migrated, b"the mirror writes here") is None
        for conf in (on_source, on_target):
            assert metadata_error(conf, other) == KafkaError.TOPIC_AUTHORIZATION_FAILED
            assert first_record(conf, other, seconds=5) is None
        # Derived per cluster: one cluster's mirror password does not open the other.
        assert password(source, mirror_id) != password(target, mirror_id)
    finally:
        assert not migration_mirror.revoke(access, ports.__getitem__).errors

"""The process mirror engine against real clusters: a dedicated MirrorMaker 2 (Kafka 4.3.1) copies
a topic from a Kafka 3.9 source to a 4.3.1 target, translates a group's offsets, is healed after
kill -9, and leaves no JVM behind."""

from __future__ import annotations

import os
import signal
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from tests.kafka_clients import eventually
from topicdesk.adapters.mirror_process import ProcessMirrorEngine
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services.mirror_port import ClusterEndpoint, MirrorSpec, MirrorState

PARTITIONS = 3
FIRST, SECOND = 600, 300

Record = tuple[int, bytes, bytes, tuple[tuple[str, bytes], ...]]


def endpoint(cluster: LocalCluster) -> ClusterEndpoint:
    return ClusterEndpoint(cluster.name, cluster.bootstrap, cluster.admin_username, cluster.admin_password)


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
                                                  mirror_engine: ProcessMirrorEngine) -> None:
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

    spec = MirrorSpec(mirror_id=f"it-{suffix}", source=endpoint(source), target=endpoint(target),
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
        assert source.admin_password not in text
        assert target.admin_password not in text

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

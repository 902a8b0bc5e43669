"""A 3-broker local cluster on Kafka 3.9: one KRaft quorum, RF 3 / min.insync.replicas 2, SCRAM and
enforced ACLs, acks=all writes that survive a broker being down, and nothing left after `down`.

One module-scoped cluster, so the module costs one start (the 3.9 jars come from Maven Central on
the very first run, then from the cache).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, TopicCollection, TopicPartition

# confluent_kafka.admin re-exports these without __all__, which strict mypy does not accept.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from tests.kafka_clients import as_user, consume_one, eventually, produce_one
from topicdesk import demo_legacy
from topicdesk.local_kafka import cluster as lk
from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.local_kafka.processes import stop_process

pytestmark = pytest.mark.integration

VERSION = "3.9.2"


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[lk.LocalCluster, Path]]:
    state_dir = tmp_path_factory.mktemp("local-kafka-multi")
    try:
        (cluster,) = lk.up(["legacy"], state_dir, brokers=3, kafka_version="3.9")
    except LocalKafkaError as exc:
        lk.down(state_dir)
        pytest.fail(f"a 3-broker Kafka {VERSION} cluster could not start: {exc.message}", pytrace=False)
    try:
        yield cluster, state_dir
    finally:
        lk.down(state_dir)


def _admin(cluster: lk.LocalCluster) -> AdminClient:
    return AdminClient(cluster.client_config())


def _acks_all(cluster: lk.LocalCluster, user: str, password: str) -> dict[str, object]:
    return as_user(cluster, user, password, acks="all")


def test_three_brokers_form_one_cluster_of_the_asked_release(legacy: tuple[lk.LocalCluster, Path]) -> None:
    cluster, state_dir = legacy
    client = _admin(cluster)
    described = client.describe_cluster(request_timeout=10).result(timeout=15)
    assert described.cluster_id == cluster.cluster_id
    assert sorted(n.id for n in described.nodes) == [1, 2, 3]
    assert cluster.kafka_version == VERSION
    # The running jars are 3.9's, read from the JVMs, not from our state.
    for view in cluster.views():
        cmdline = Path(f"/proc/{view.pid}/cmdline").read_bytes().split(b"\0")
        assert any(f"kafka-{VERSION}/libs".encode() in part for part in cmdline)
    state = json.loads(cluster.state_file.read_text())
    assert [(n["node_id"], n["pid"]) for n in state["nodes"]] == [(v.node_id, v.pid) for v in cluster.views()]
    assert len({p for n in state["nodes"] for p in (n["client_port"], n["controller_port"])}) == 6
    status = lk.status(state_dir)
    assert [(s.running, s.ready, s.running_nodes) for s in status] == [(True, True, (1, 2, 3))]


def test_rf3_min_isr2_topic_survives_a_broker_down_with_acl_enforced(
    legacy: tuple[lk.LocalCluster, Path],
) -> None:
    cluster, state_dir = legacy
    suffix = uuid.uuid4().hex[:6]
    topic, group = f"payments.ledger.{suffix}", f"ledger-readers-{suffix}"
    writer, stranger = f"writer-{suffix}", f"stranger-{suffix}"
    passwords = {writer: uuid.uuid4().hex, stranger: uuid.uuid4().hex}
    client = _admin(cluster)
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    for future in client.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(u, info, p.encode()) for u, p in passwords.items()]).values():
        future.result(timeout=30)
    new = NewTopic(topic, num_partitions=3, replication_factor=3, config={"min.insync.replicas": "2"})
    for future in client.create_topics([new], operation_timeout=30).values():
        future.result(timeout=60)
    acls = [AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{writer}", "*", op,
                       AclPermissionType.ALLOW)
            for op in (AclOperation.WRITE, AclOperation.READ, AclOperation.DESCRIBE)]
    acls.append(AclBinding(ResourceType.GROUP, group, ResourcePatternType.LITERAL, f"User:{writer}", "*",
                           AclOperation.READ, AclPermissionType.ALLOW))
    for future in client.create_acls(acls, request_timeout=30).values():
        future.result(timeout=30)

    # Read back from the cluster: three replicas per partition, min ISR 2.
    described = client.describe_topics(TopicCollection([topic]), request_timeout=10)[topic].result(timeout=15)
    assert [len(p.replicas) for p in described.partitions] == [3, 3, 3]
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = client.describe_configs([resource])[resource].result(timeout=15)
    assert configs["min.insync.replicas"].value == "2"

    allowed = _acks_all(cluster, writer, passwords[writer])
    eventually(lambda: True if produce_one(allowed, topic, b"ledger-1") is None else None)
    assert consume_one({**allowed, "group.id": group}, topic) == b"ledger-1"

    denied = produce_one(_acks_all(cluster, stranger, passwords[stranger]), topic, b"nope")
    assert denied is not None
    assert denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    # One broker down (not the first: clients bootstrap from all three anyway): 2 in-sync
    # replicas remain, so acks=all with min.insync.replicas 2 still succeeds.
    victim = cluster.node(3)
    stop_process(victim, timeout=20)
    assert lk.status(state_dir, probe=False)[0].running_nodes == (1, 2)
    eventually(lambda: True if produce_one(allowed, topic, b"ledger-2") is None else None, timeout=40)

    # And the node comes back on its own data folder (what the demo's supervisor does).
    back = lk.restart(dataclasses.replace(victim, pid=None))
    assert back.pid is not None
    assert back.pid != victim.pid
    recorded = lk.load_state(state_dir, "legacy")
    assert recorded is not None
    assert recorded.node(3).pid == back.pid
    assert recorded.node(1).pid == cluster.node(1).pid


def _end_offsets(cluster: lk.LocalCluster, topic: str) -> int:
    consumer = Consumer({**cluster.client_config(), "group.id": "probe", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()


def test_demo_legacy_seed_and_live_clients_work_on_the_3_9_cluster(
    legacy: tuple[lk.LocalCluster, Path], tmp_path: Path,
) -> None:
    cluster, _state_dir = legacy
    accounts_path = tmp_path / "accounts.json"
    accounts = demo_legacy.load_or_create_accounts(accounts_path)
    assert oct(accounts_path.stat().st_mode & 0o777) == "0o600"
    created = demo_legacy.prepare_kafka(cluster, accounts, records=200)
    assert sorted(created) == sorted(t.name for t in demo_legacy.LEGACY_TOPICS)
    assert demo_legacy.prepare_kafka(cluster, accounts, records=200) == []  # idempotent, no second fill
    live = demo_legacy.LIVE_TOPIC
    assert _end_offsets(cluster, live.name) == 200

    # A consumer of one team's topic may not read the other's.
    other = next(t for t in demo_legacy.LEGACY_TOPICS if t.team != live.team)
    denied = consume_one(as_user(cluster, live.consumer, accounts[live.consumer], **{"group.id": live.group}),
                         other.name)
    assert isinstance(denied, KafkaError)
    assert denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    base = [sys.executable, "-m", "topicdesk.demo_clients"]
    args = ["--state-file", str(cluster.state_file), "--accounts", str(accounts_path), "--rate", "50"]
    producer = subprocess.Popen([*base, "produce", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    consumer = subprocess.Popen([*base, "consume", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        eventually(lambda: True if _end_offsets(cluster, live.name) >= 300 else None, timeout=40)
        client = _admin(cluster)

        def committed() -> int | None:
            request = [ConsumerGroupTopicPartitions(live.group)]
            result = client.list_consumer_group_offsets(request)[live.group].result(timeout=10)
            total = sum(max(0, tp.offset) for tp in result.topic_partitions)
            return total if total >= 200 else None

        eventually(committed, timeout=40)
    finally:
        for proc in (producer, consumer):
            proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=20)[0].decode() for proc in (producer, consumer)]
    assert producer.returncode == 0, outputs[0]
    assert consumer.returncode == 0, outputs[1]
    assert "from n=200" in outputs[0]  # numbering continues after the seeded history
    # The live records are numbered on from the history, without gaps.
    values: list[int] = []
    admin_reader = Consumer({**cluster.client_config(), "group.id": "check", "auto.offset.reset": "earliest",
                             "enable.auto.commit": False})
    admin_reader.subscribe([live.name])
    total = _end_offsets(cluster, live.name)
    try:
        deadline = time.monotonic() + 30
        while len(values) < total and time.monotonic() < deadline:
            msg = admin_reader.poll(0.5)
            raw = msg.value() if msg is not None and msg.error() is None else None
            if raw:
                values.append(json.loads(raw)["n"])
    finally:
        admin_reader.close()
    assert sorted(values) == list(range(total))


def test_down_stops_every_node_and_leaves_no_jvm(legacy: tuple[lk.LocalCluster, Path]) -> None:
    _cluster, state_dir = legacy
    assert len(lk.find_jvms(state_dir)) == 3
    stopped = lk.down(state_dir)
    assert [c.name for c in stopped] == ["legacy"]
    assert lk.find_jvms(state_dir) == []
    recorded = lk.load_state(state_dir, "legacy")
    assert recorded is not None
    assert all(n.pid is None for n in recorded.nodes)

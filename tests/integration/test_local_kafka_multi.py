"""A 3-broker local cluster on Kafka 3.9: one KRaft quorum, RF 3 / min.insync.replicas 2, SCRAM and
enforced ACLs, acks=all writes that survive a broker being down, and nothing left after `down`.

One module-scoped cluster, so the module costs one start (the 3.9 jars come from Maven Central on
the very first run, then from the cache).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, TopicCollection

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


def test_down_stops_every_node_and_leaves_no_jvm(legacy: tuple[lk.LocalCluster, Path]) -> None:
    _cluster, state_dir = legacy
    assert len(lk.find_jvms(state_dir)) == 3
    stopped = lk.down(state_dir)
    assert [c.name for c in stopped] == ["legacy"]
    assert lk.find_jvms(state_dir) == []
    recorded = lk.load_state(state_dir, "legacy")
    assert recorded is not None
    assert all(n.pid is None for n in recorded.nodes)

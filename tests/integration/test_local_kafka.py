"""Local clusters behave like the producer-owned clusters Topicdesk manages: SASL, ACLs, quotas."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicCollection

# confluent_kafka.admin re-exports these without __all__, which strict mypy does not accept.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from tests import kafka_clients
from tests.kafka_clients import produce_one
from topicdesk.adapters import kafka_quotas as q
from topicdesk.local_kafka import cluster as lk
from topicdesk.local_kafka import processes
from topicdesk.local_kafka.distribution import ensure_kafka_libs
from topicdesk.local_kafka.errors import LocalKafkaError, PortInUseError

pytestmark = pytest.mark.integration

T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout: float = 20.0) -> T:
    return kafka_clients.eventually(check, timeout, retry_on=(KafkaException, q.ClientQuotaError))


def admin(cluster: lk.LocalCluster) -> AdminClient:
    # Callers keep the client in a variable until its futures resolve: a collected AdminClient
    # fails its pending futures with _DESTROY.
    return AdminClient(cluster.client_config())


def as_user(cluster: lk.LocalCluster, user: str, password: str, **extra: Any) -> dict[str, Any]:
    return {**cluster.client_config(), "sasl.username": user, "sasl.password": password, **extra}


def create_topic(cluster: lk.LocalCluster, name: str, partitions: int = 1) -> None:
    client = admin(cluster)
    futures = client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                                   operation_timeout=30)
    for future in futures.values():
        future.result(timeout=60)


def add_users(cluster: lk.LocalCluster, users: dict[str, str]) -> None:
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    client = admin(cluster)
    futures = client.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, info, password.encode()) for user, password in users.items()]
    )
    for future in futures.values():
        future.result(timeout=30)


def allow(cluster: lk.LocalCluster, principal: str, rtype: ResourceType, name: str,
          *operations: AclOperation) -> None:
    bindings = [
        AclBinding(rtype, name, ResourcePatternType.LITERAL, principal, "*", op, AclPermissionType.ALLOW)
        for op in operations
    ]
    client = admin(cluster)
    for future in client.create_acls(bindings, request_timeout=30).values():
        future.result(timeout=30)


def test_topic_created_on_local_cluster_is_described(kafka_cluster: lk.LocalCluster) -> None:
    topic = f"orders.created.{uuid.uuid4().hex[:6]}"
    create_topic(kafka_cluster, topic, partitions=3)

    client = admin(kafka_cluster)

    def described() -> int | None:
        futures = client.describe_topics(TopicCollection([topic]), request_timeout=10)
        return len(futures[topic].result(timeout=15).partitions)

    assert eventually(described) == 3


def test_acls_are_enforced_for_scram_users(kafka_cluster: lk.LocalCluster) -> None:
    suffix = uuid.uuid4().hex[:6]
    topic, group = f"payments.events.{suffix}", f"payments-readers-{suffix}"
    producer_user, consumer_user, stranger = f"alice-{suffix}", f"bob-{suffix}", f"mallory-{suffix}"
    passwords = {u: uuid.uuid4().hex for u in (producer_user, consumer_user, stranger)}
    add_users(kafka_cluster, passwords)
    create_topic(kafka_cluster, topic)
    producer_conf = as_user(kafka_cluster, producer_user, passwords[producer_user])

    # No ACL yet: the authenticated user is still refused (allow.everyone.if.no.acl.found=false).
    denied = produce_one(producer_conf, topic, b"too early")
    assert denied is not None
    assert denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    allow(kafka_cluster, f"User:{producer_user}", ResourceType.TOPIC, topic,
          AclOperation.WRITE, AclOperation.DESCRIBE)
    eventually(lambda: True if produce_one(producer_conf, topic, b"payment-1") is None else None)

    allow(kafka_cluster, f"User:{consumer_user}", ResourceType.TOPIC, topic, AclOperation.READ)
    allow(kafka_cluster, f"User:{consumer_user}", ResourceType.GROUP, group, AclOperation.READ)
    consumer = Consumer(as_user(kafka_cluster, consumer_user, passwords[consumer_user],
                                **{"group.id": group, "auto.offset.reset": "earliest"}))
    try:
        consumer.subscribe([topic])
        values: list[bytes] = []
        deadline = time.monotonic() + 45
        while b"payment-1" not in values and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            values.append(msg.value() or b"")
        assert b"payment-1" in values
    finally:
        consumer.close()

    stranger_conf = as_user(kafka_cluster, stranger, passwords[stranger],
                            **{"group.id": group, "auto.offset.reset": "earliest"})
    refused = produce_one(stranger_conf, topic, b"forged")
    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    intruder = Consumer(stranger_conf)
    try:
        intruder.subscribe([topic])
        deadline = time.monotonic() + 30
        error: KafkaError | None = None
        while error is None and time.monotonic() < deadline:
            msg = intruder.poll(1.0)
            if msg is not None:
                error = msg.error()
                assert error is not None, "a principal without ACLs received a message"
        assert error is not None
        assert error.code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)
    finally:
        intruder.close()


def test_client_quota_set_is_read_back_from_the_same_broker(kafka_cluster: lk.LocalCluster) -> None:
    user = f"quota-user-{uuid.uuid4().hex[:6]}"
    entity = {q.USER: user}
    only_user = [q.QuotaFilter(q.USER, q.MatchType.EXACT, user)]
    with q.open_admin(q.admin_config_from_confluent(kafka_cluster.client_config())) as qa:
        node = q.pick_node(qa)
        q.alter_client_quotas(qa, [q.QuotaAlteration(entity, {q.PRODUCER_BYTE_RATE: 1048576.0,
                                                               q.CONSUMER_BYTE_RATE: 2097152.0})],
                              node_id=node)

        def read_back() -> dict[str, float] | None:
            entries = q.describe_client_quotas(qa, only_user, node_id=node)
            return entries[0].values if entries else None

        values = eventually(read_back)
        assert values == {q.PRODUCER_BYTE_RATE: 1048576.0, q.CONSUMER_BYTE_RATE: 2097152.0}
        entries = q.describe_client_quotas(qa, only_user, node_id=node)
        assert [e.entity for e in entries] == [entity]

        q.alter_client_quotas(qa, [q.QuotaAlteration(entity, remove=[q.CONSUMER_BYTE_RATE])], node_id=node)
        eventually(lambda: True if read_back() == {q.PRODUCER_BYTE_RATE: 1048576.0} else None)


def test_client_quota_change_needs_cluster_alter_configs(kafka_cluster: lk.LocalCluster) -> None:
    user, password = f"no-quota-rights-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    add_users(kafka_cluster, {user: password})
    conf = q.admin_config_from_confluent(as_user(kafka_cluster, user, password))

    def refused() -> q.ClientQuotaError | None:
        with q.open_admin(conf) as qa:
            try:
                q.alter_client_quotas(qa, [q.QuotaAlteration({q.USER: user}, {q.PRODUCER_BYTE_RATE: 1.0})])
            except q.ClientQuotaError as exc:
                return exc
        raise AssertionError("a user without ACLs altered a client quota")

    # The SCRAM user may take a moment to reach the broker's credential cache.
    error = eventually(lambda: _quietly(refused))
    assert error.code == "CLUSTER_AUTHORIZATION_FAILED"


def _quietly(fn: Callable[[], T | None]) -> T | None:
    try:
        return fn()
    except Exception as exc:  # authentication may fail until the credential has propagated
        if isinstance(exc, AssertionError):
            raise
        return None


def test_two_clusters_run_at_once_with_distinct_identity(kafka_clusters: list[lk.LocalCluster]) -> None:
    first, second = kafka_clusters
    assert first.cluster_id != second.cluster_id
    assert len({first.client_port, first.controller_port, second.client_port, second.controller_port}) == 4
    for cluster in kafka_clusters:
        client = admin(cluster)
        described = client.describe_cluster(request_timeout=10).result(timeout=15)
        assert described.cluster_id == cluster.cluster_id
    statuses = {s.cluster.name: s for s in lk.status(first.state_file.parent)}
    assert all(statuses[c.name].ready for c in kafka_clusters)


def test_lifecycle_reuse_crash_restart_and_down(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    try:
        (started,) = lk.up(["life"], state_dir)
        assert started.origin == "formatted"
        assert started.pid is not None
        create_topic(started, "survives.crash")

        (again,) = lk.up(["life"], state_dir)
        assert (again.origin, again.pid) == ("reused", started.pid)

        # As if `up` was interrupted between starting the JVM and recording its pid.
        lk.save_state(dataclasses.replace(started, pid=None))
        (adopted,) = lk.up(["life"], state_dir)
        assert (adopted.origin, adopted.pid) == ("reused", started.pid)

        os.kill(started.pid, signal.SIGKILL)
        assert eventually(lambda: True if not lk.is_running(started) else None, timeout=10)
        (restarted,) = lk.up(["life"], state_dir)
        assert restarted.origin == "restarted"
        assert restarted.cluster_id == started.cluster_id
        assert restarted.pid != started.pid
        client = admin(restarted)
        topics = client.list_topics(timeout=15).topics
        assert "survives.crash" in topics
    finally:
        stopped = lk.down(state_dir)
    assert [c.name for c in stopped] == ["life"]
    for pid in (started.pid, restarted.pid):
        # Exited: gone, or a zombie until this test process (its parent) reaps it.
        assert pid is None or not Path(f"/proc/{pid}").exists() or processes.is_zombie(pid), (
            f"JVM {pid} is still there after down")
    assert lk.find_jvms(state_dir) == []
    assert not any(s.running for s in lk.status(state_dir, probe=False))


def test_down_stops_a_jvm_whose_state_file_is_gone(tmp_path: Path) -> None:
    (cluster,) = lk.up(["orphan"], tmp_path)
    cluster.state_file.unlink()
    assert lk.find_jvms(tmp_path) == [cluster.pid]
    assert lk.down(tmp_path) == []
    assert lk.find_jvms(tmp_path) == []
    assert not Path(f"/proc/{cluster.pid}").exists()


@pytest.fixture
def port_taken_after_check(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A port that is listened on, but that the free-port check reports free: the window between
    `up` checking a port and the JVM binding it, when another process can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        port = lk.find_free_ports(1, set(), start=19600)[0]
        sock.bind(("127.0.0.1", port))
        sock.listen()
        real = processes.port_is_free
        for module in (lk, processes):  # the planner and the port finder each ask
            monkeypatch.setattr(module, "port_is_free",
                                lambda p, host=lk.HOST: True if p == port else real(p, host))
        yield port


def test_auto_port_taken_before_the_jvm_binds_is_replaced(
    tmp_path: Path, port_taken_after_check: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "FIRST_PORT", port_taken_after_check)
    try:
        (cluster,) = lk.up(["moved"], tmp_path)
        assert port_taken_after_check not in (cluster.client_port, cluster.controller_port)
        client = admin(cluster)
        assert client.describe_cluster(request_timeout=10).result(timeout=15).cluster_id == cluster.cluster_id
        assert lk.load_state(tmp_path, "moved") == cluster
    finally:
        lk.down(tmp_path)


def test_explicit_port_taken_before_the_jvm_binds_is_named(tmp_path: Path, port_taken_after_check: int) -> None:
    with pytest.raises(PortInUseError) as caught:
        lk.up(["pinned"], tmp_path, client_ports=[port_taken_after_check])
    assert caught.value.port == port_taken_after_check
    assert f"port {port_taken_after_check} " in caught.value.message
    assert "Exception" not in caught.value.message
    assert lk.find_jvms(tmp_path) == []


def test_unreachable_maven_repository_leaves_cache_empty(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    settings = tmp_path / "settings.xml"
    settings.write_text(
        "<settings>"
        f"<localRepository>{tmp_path / 'empty-m2'}</localRepository>"
        "<mirrors><mirror><id>unreachable</id><mirrorOf>*</mirrorOf>"
        "<url>http://127.0.0.1:1/maven2</url></mirror></mirrors>"
        "</settings>"
    )
    with pytest.raises(LocalKafkaError) as caught:
        ensure_kafka_libs("4.3.1", cache_root=cache, maven_settings=settings)
    message = caught.value.message
    assert "Kafka 4.3.1" in message
    assert "kafka_2.13:4.3.1" in message
    assert str(cache / "kafka-4.3.1" / "libs") in message
    assert "127.0.0.1:1" in message
    assert "\n" not in message
    assert list(cache.iterdir()) == []

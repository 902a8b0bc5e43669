"""Issue 15's Show: a topic moves from a Kafka 3.9 cluster to a 4.3.1 one with a live producer and a
consumer group, driven by a `topicdesk reconcile` subprocess with dedicated MirrorMaker 2 processes.

The reconciler is killed (-9) once mid-migration and the MirrorMaker JVM once (its pid file); the
migration still converges to done: every record number is consumed, the group starts on the target
only once its row shows exact offsets there (ready_on_target), so duplicates per partition stay
within one poll batch (here none: it commits synchronously before closing), the verification
passed, the source is quarantined and Kafka's own tools show the target as planned. A second,
smaller migration is rolled back from mirroring: the mirror stops, no DENY ACL is left, consumers
read on the source again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
    _ConsumerGroupTopicPartitions,
)
from flask import Flask

from tests.kafka_clients import as_user, authenticates, eventually
from tests.support import register_cluster, seed_teams
from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.kafka_cluster import KafkaCluster
from topicdesk.adapters.tables import MigrationRow
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.domain.mirror_access import mirror_password, mirror_principal
from topicdesk.domain.mirror_config import internal_topic_names
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.local_kafka.distribution import ensure_tools_libs, libs_dir
from topicdesk.services.cluster_port import close_port
from topicdesk.services.tokens import create_token

REPO = Path(__file__).resolve().parents[2]
BATCH = 200  # the test consumer's records per consume(): what it may re-read at most per partition
PARTITIONS = 3


@dataclass
class Desk:
    app: Flask
    tokens: dict[str, str]

    def call(self, who: str, method: str, path: str, body: Any = None) -> Any:
        import json

        kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {self.tokens[who]}"}}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return self.app.test_client().open(path, method=method, **kwargs)

    def migration(self, migration_id: str) -> dict[str, Any]:
        response = self.call("payments-owner", "GET", f"/api/v1/migrations/{migration_id}")
        assert response.status_code == 200, response.json
        body: dict[str, Any] = response.json
        return body


@dataclass
class Reconciler:
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _sasl(local: LocalCluster, user: str, password: str) -> dict[str, Any]:
    return {**local.client_config(), "sasl.username": user, "sasl.password": password}


@dataclass(eq=False)  # a thread: hashed by identity
class LiveProducer(threading.Thread):
    """An idempotent producer of numbered records (value = the number, key = number % partitions) to
    the source; switched to the target on `switch_to`. A record the source refuses (writes denied)
    is sent again on the target, so every number is delivered exactly somewhere."""

    topic: str
    conf: dict[str, Any]
    delivered: set[int] = field(default_factory=set)
    refused: set[int] = field(default_factory=set)
    hold: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    target_conf: dict[str, Any] | None = None
    on_target: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True)
        self._lock = threading.Lock()

    def switch_to(self, conf: dict[str, Any]) -> None:
        self.target_conf = conf

    def _report(self, err: KafkaError | None, msg: Any) -> None:
        number = int(msg.value())
        with self._lock:
            if err is None:
                self.delivered.add(number)
            else:
                self.refused.add(number)
                self.errors.append(err.name())

    def _send(self, producer: Producer, number: int) -> None:
        try:
            producer.produce(self.topic, str(number).encode(), key=str(number % PARTITIONS).encode(),
                             on_delivery=self._report)
        except KafkaException as exc:  # librdkafka already knows the topic refuses us (writes denied)
            with self._lock:
                self.refused.add(number)
                self.errors.append(exc.args[0].name())
        except BufferError:
            producer.poll(0.5)
            self._send(producer, number)

    def run(self) -> None:
        number, switched = 0, False
        producer = Producer({**self.conf, "enable.idempotence": True, "linger.ms": 5, "message.timeout.ms": 10000})
        while not self.done.is_set():
            if self.target_conf is not None and not switched:
                producer.flush(15)
                producer = Producer({**self.target_conf, "enable.idempotence": True, "linger.ms": 5})
                switched = True
                with self._lock:
                    again, self.refused = sorted(self.refused), set()
                for n in again:
                    self._send(producer, n)
            if self.hold.is_set():
                producer.poll(0.05)
                continue
            for _ in range(2):
                self._send(producer, number)
                number += 1
                if switched:
                    self.on_target += 1
            producer.poll(0.05)
        producer.flush(15)


@dataclass(eq=False)
class GroupConsumer(threading.Thread):
    """A consumer group member reading and committing each batch synchronously; `move_to` commits,
    stops it on the source, waits until the group shows ready on the target, and continues there
    with the same group id."""

    topic: str
    group: str
    conf: dict[str, Any]
    seen: list[tuple[int, int]] = field(default_factory=list)  # (partition, number)
    done: threading.Event = field(default_factory=threading.Event)
    target_conf: dict[str, Any] | None = None
    moved: threading.Event = field(default_factory=threading.Event)
    wait_translated: Callable[[dict[int, int]], None] | None = None

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True)

    def move_to(self, conf: dict[str, Any], wait_translated: Callable[[dict[int, int]], None]) -> None:
        self.wait_translated = wait_translated
        self.target_conf = conf

    def _consumer(self, conf: dict[str, Any]) -> Consumer:
        consumer = Consumer({**conf, "group.id": self.group, "auto.offset.reset": "earliest",
                             "enable.auto.commit": False, "session.timeout.ms": 6000})
        consumer.subscribe([self.topic])
        return consumer

    @staticmethod
    def _commit(consumer: Consumer) -> None:
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:  # nothing new to commit since the last time
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                raise

    def run(self) -> None:
        consumer, on_target = self._consumer(self.conf), False
        positions: dict[int, int] = {}
        while not self.done.is_set():
            if self.target_conf is not None and not on_target:
                self._commit(consumer)
                consumer.close()
                assert self.wait_translated is not None
                self.wait_translated(positions)
                consumer, on_target = self._consumer(self.target_conf), True
                self.moved.set()
            messages = consumer.consume(BATCH, 0.3)
            for message in messages:
                if message.error() is None:
                    self.seen.append((int(message.partition() or 0), int(message.value() or b"0")))
                    positions[int(message.partition() or 0)] = int(message.offset() or 0) + 1
            if messages:
                self._commit(consumer)
        consumer.close()


def _acl(resource: ResourceType, name: str, principal: str, operation: AclOperation) -> AclBinding:
    return AclBinding(resource, name, ResourcePatternType.LITERAL, principal, "*", operation,
                      AclPermissionType.ALLOW)


def _prepare_source(local: LocalCluster, topic: str, writer: str, reader: str, group: str) -> None:
    admin = AdminClient(local.client_config())
    admin.create_topics([NewTopic(topic, PARTITIONS, 1, config={"retention.ms": "86400000"})])[topic].result(30)
    for future in admin.create_acls([
            _acl(ResourceType.TOPIC, topic, f"User:{writer}", AclOperation.WRITE),
            _acl(ResourceType.TOPIC, topic, f"User:{writer}", AclOperation.DESCRIBE),
            _acl(ResourceType.TOPIC, topic, f"User:{reader}", AclOperation.READ),
            _acl(ResourceType.TOPIC, topic, f"User:{reader}", AclOperation.DESCRIBE),
            _acl(ResourceType.GROUP, group, f"User:{reader}", AclOperation.READ)]).values():
        future.result(30)
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    upserts: list[Any] = [UserScramCredentialUpsertion(u, info, b"source-" + u.encode()) for u in (writer, reader)]
    for future in admin.alter_user_scram_credentials(upserts).values():
        future.result(30)


@pytest.fixture
def desk(tmp_path: Path, legacy_cluster: LocalCluster, kafka_clusters: list[LocalCluster]) -> Iterator[
        tuple[Desk, Reconciler, Path]]:
    url = f"sqlite:///{tmp_path / 'flow.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed_teams(engine)
    register_cluster(engine, legacy_cluster, "ingest", name="legacy")
    register_cluster(engine, kafka_clusters[0], "payments", name="payments-dev")
    tokens = {who: create_token(engine, team=team, name=who, role=role, actor="test").token
              for who, team, role in [("payments-member", "payments", Role.MEMBER),
                                      ("payments-owner", "payments", Role.OWNER),
                                      ("ingest-owner", "ingest", Role.OWNER)]}
    settings = Settings.from_env({"DATABASE_URL": url, "TOPICDESK_DATA_DIR": str(tmp_path),
                                  "TOPICDESK_WRITE_BURST": "1000"})
    mirrors = tmp_path / "mirror-state"
    env = {**os.environ, "DATABASE_URL": url, "TOPICDESK_DATA_DIR": str(tmp_path), "CI": "true",
           "PYTHONPATH": str(REPO / "platform"), "TOPICDESK_MIRROR_ENGINE": "process",
           "TOPICDESK_MIRROR_STATE_DIR": str(mirrors), "TOPICDESK_LOG_FORMAT": "text"}
    reconciler = Reconciler([sys.executable, "-m", "topicdesk.cli", "reconcile", "--interval", "1",
                             "--lease-seconds", "5", "--drift-interval", "3600"], env, tmp_path / "reconcile.log")
    try:
        yield Desk(create_app(settings, engine=engine), tokens), reconciler, mirrors
    finally:
        reconciler.stop()
        for pid_file in mirrors.glob("mirrors/*/mm2.pid"):  # whatever a failed run left running
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
        engine.dispose()


def _start_migration(desk: Desk, topic: str) -> str:
    submitted = desk.call("payments-member", "POST", "/api/v1/requests",
                          {"kind": "topic.migrate", "cluster": "legacy", "reason": "leave the monolith",
                           "spec": {"target_cluster": "payments-dev", "topics": [topic]}})
    assert submitted.status_code == 201, submitted.json
    assert submitted.json["status"] == "pending_approval", submitted.json["decision"]
    for who in ("ingest-owner", "payments-owner"):
        approved = desk.call(who, "POST", f"/api/v1/requests/{submitted.json['id']}/approve", {})
        assert approved.status_code == 200, approved.json
    [migration] = [m for m in desk.call("payments-owner", "GET", "/api/v1/migrations").json["items"]
                   if m["request_id"] == submitted.json["id"]]
    return str(migration["id"])


def _wait_step(desk: Desk, migration_id: str, step: str, timeout: float, reconciler: Reconciler
               ) -> dict[str, Any]:
    log = reconciler.log
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        view = desk.migration(migration_id)
        assert reconciler.process is None or reconciler.process.poll() is None, log.read_text()[-3000:]
        if view["step"] == step:
            return view
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    raise AssertionError(f"migration {migration_id} not at {step} within {timeout}s: {view.get('step')}, "
                         f"facts {view.get('facts')}, error {view.get('last_error')}, "
                         f"mirror {view.get('mirror')}\n{tail}")


def _rotate(desk: Desk, principal: str) -> str:
    response = desk.call("payments-owner", "POST", f"/api/v1/clusters/payments-dev/service-accounts/{principal}/rotate")
    assert response.status_code == 200, response.json
    return str(response.json["password"])


def _committed(local: LocalCluster, group: str, topic: str) -> dict[int, int]:
    admin = AdminClient(local.client_config())
    request = [_ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTITIONS)])]
    answer = admin.list_consumer_group_offsets(request)[group].result(15)
    return {tp.partition: tp.offset for tp in answer.topic_partitions if tp.offset >= 0}


def _kafka_tool(local: LocalCluster, tmp_path: Path, tool: str, *args: str) -> str:
    """Kafka 4.3.1's own command-line tools (kafka-tools and the broker jars) against `local`."""
    props = tmp_path / "admin.properties"
    props.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
                     "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                     f'username="{local.admin_username}" password="{local.admin_password}";\n')
    classpath = f"{ensure_tools_libs('4.3.1')}/*:{libs_dir('4.3.1')}/*"
    done = subprocess.run(["java", "-cp", classpath, tool, "--bootstrap-server", local.bootstrap,
                           "--command-config", str(props), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_live_topic_moves_from_kafka_3_9_to_4_3_with_crashes_and_nothing_is_lost(
    desk: tuple[Desk, Reconciler, Path], legacy_cluster: LocalCluster, kafka_clusters: list[LocalCluster],
    tmp_path: Path,
) -> None:
    api, reconciler, mirrors = desk
    target = kafka_clusters[0]
    tag = uuid.uuid4().hex[:6]
    topic, writer, reader = f"payments.m{tag}.orders", f"payments.m{tag}.writer", f"payments.m{tag}.reader"
    group = f"payments.m{tag}.readers"
    small, small_reader = f"payments.m{tag}.refunds", f"payments.m{tag}.refund-reader"
    _prepare_source(legacy_cluster, topic, writer, reader, group)
    _prepare_source(legacy_cluster, small, writer, small_reader, f"{group}-refunds")

    producer = LiveProducer(topic, _sasl(legacy_cluster, writer, f"source-{writer}"))
    consumer = GroupConsumer(topic, group, _sasl(legacy_cluster, reader, f"source-{reader}"))
    producer.start()
    consumer.start()
    eventually(lambda: len(consumer.seen) > 20 or None, timeout=30)

    migration_id = _start_migration(api, topic)
    rollback_id = _start_migration(api, small)
    reconciler.start()
    view = _wait_step(api, migration_id, "mirroring", 60, reconciler)
    assert view["history"][-1]["facts"]["target_topics_created"] is True
    # The reconciler dies mid-migration; a new one takes over from the clusters alone.
    reconciler.kill()
    reconciler.start()

    # The second migration goes back from mirroring: its mirror stops, consumers read on the source.
    _wait_step(api, rollback_id, "mirroring", 60, reconciler)
    rolled = api.call("ingest-owner", "POST", f"/api/v1/migrations/{rollback_id}/rollback",
                      {"reason": "the refunds team is not ready"})
    assert rolled.status_code == 200, rolled.json

    # MirrorMaker is killed once, in a quiet moment of the producer: records it copied but had not
    # yet stored the source offsets of (flushed every second) would be copied twice, and the
    # verification would then rightly refuse the migration.
    pid_file = mirrors / "mirrors" / migration_id / "mm2.pid"
    eventually(lambda: pid_file.exists() or None, timeout=60)
    producer.hold.set()
    eventually(lambda: (api.migration(migration_id)["lag"]["total"] == 0
                        and api.migration(migration_id)["mirror"]["state"] == "running") or None, timeout=60)
    time.sleep(2.5)  # two offset flushes of MirrorMaker
    killed = int(pid_file.read_text())
    os.kill(killed, signal.SIGKILL)
    producer.hold.clear()
    eventually(lambda: (pid_file.exists() and int(pid_file.read_text()) != killed) or None, timeout=60)

    # Consumers cut over: the group stops on the source and continues on the target.
    view = _wait_step(api, migration_id, "consumers_cut_over", 90, reconciler)
    assert [g["group"] for g in view["groups"]] == [group]
    reader_password = _rotate(api, f"User:{reader}")

    gaps: dict[int, int] = {}

    def translated(positions: dict[int, int]) -> None:
        # The driver commits the exact offsets once the group is idle on both sides; the portal's
        # row says when: only then does the group start on the target.
        def ready() -> dict[str, Any] | None:
            [row] = api.migration(migration_id)["groups"]
            return row if row["ready_on_target"] else None

        row = eventually(ready, timeout=90, interval=1)
        assert row["translation"] == "exact", row
        now = _committed(target, group, topic)
        gaps.update({p: end - now.get(p, 0) for p, end in positions.items()})

    consumer.move_to(_sasl(target, reader, reader_password), translated)
    assert consumer.moved.wait(120)

    view = _wait_step(api, migration_id, "producers_cut_over", 150, reconciler)
    assert view["verification"]["passed"] is True, view["verification"]
    assert view["facts"]["source_write_access_removed"] is True
    producer.switch_to(_sasl(target, writer, _rotate(api, f"User:{writer}")))
    view = _wait_step(api, migration_id, "done", 60, reconciler)
    producer.done.set()
    producer.join(30)
    assert producer.on_target > 0
    assert not producer.refused, producer.errors[-5:]
    eventually(lambda: producer.delivered <= {n for _, n in consumer.seen} or None, timeout=60)
    consumer.done.set()
    consumer.join(30)

    # Nothing lost; duplicates (re-read after the cut-over) bounded per partition.
    numbers = Counter(n for _, n in consumer.seen)
    assert producer.delivered <= set(numbers)
    duplicates = Counter(p for p, n in set(consumer.seen) if numbers[n] > 1)
    # Exact offsets: the target position is where the group committed on the source (fresh target
    # topics start at 0 like the source's), so it re-reads nothing; the bound is one poll batch.
    assert gaps == dict.fromkeys(gaps, 0), gaps
    assert all(count <= BATCH for count in duplicates.values()), duplicates
    print(f"duplicates per partition {dict(duplicates)}; translation gaps {gaps}; bound {BATCH}")
    with unit_of_work(api.app.extensions["topicdesk.engine"]) as session:
        row = session.get(MigrationRow, migration_id)
        assert row is not None
        assert row.verification is not None
        assert row.verification["passed"] is True
        steps = [h["to"] for h in row.history]
    assert steps == ["planned", "mirroring", "consumers_cut_over", "producers_cut_over", "source_quarantined", "done"]

    # The source is quarantined: its consumers (old credentials) are denied; the data is kept.
    # The group it is allowed to read with: only the quarantine's DENY can refuse it.
    old = Consumer({**_sasl(legacy_cluster, reader, f"source-{reader}"), "group.id": group,
                    "auto.offset.reset": "earliest"})
    old.subscribe([topic])
    try:
        def denied() -> bool | None:
            message = old.poll(1)
            error = message.error() if message is not None else None
            return ("AUTHORIZATION" in error.name() or None) if error is not None else None
        assert eventually(denied, timeout=30)
    finally:
        old.close()

    # Kafka's own tools show the target as planned: partitions, configs, ACLs.
    described = _kafka_tool(target, tmp_path, "org.apache.kafka.tools.TopicCommand", "--describe", "--topic", topic)
    assert f"PartitionCount: {PARTITIONS}" in described
    configs = _kafka_tool(target, tmp_path, "kafka.admin.ConfigCommand", "--describe", "--entity-type", "topics",
                          "--entity-name", topic)
    assert "retention.ms=86400000" in configs
    acls = _kafka_tool(target, tmp_path, "org.apache.kafka.tools.AclCommand", "--list", "--topic", topic)
    assert f"User:{writer}" in acls
    assert f"User:{reader}" in acls
    assert "operation=WRITE" in acls
    assert "operation=READ" in acls

    # The rolled-back migration: no mirror, no DENY ACL on the source, consumers read there again.
    rolled_back = api.migration(rollback_id)
    assert rolled_back["step"] == "rolled_back"
    assert rolled_back["finished_at"] is not None, rolled_back["last_error"]
    assert not (mirrors / "mirrors" / rollback_id / "mm2.pid").exists()
    source_admin = AdminClient(legacy_cluster.client_config())  # kept alive until its answer arrives
    source_acls = source_admin.describe_acls(AclBindingFilter(
        ResourceType.TOPIC, small, ResourcePatternType.LITERAL, None, None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.DENY)).result(15)
    assert source_acls == []
    again = Consumer({**_sasl(legacy_cluster, small_reader, f"source-{small_reader}"), "group.id": f"{group}-refunds",
                      "auto.offset.reset": "earliest"})
    again.subscribe([small])
    try:
        writes = Producer(_sasl(legacy_cluster, writer, f"source-{writer}"))
        writes.produce(small, b"after rollback")
        assert writes.flush(15) == 0
        def reads() -> bool | None:
            message = again.poll(1)
            return (message is not None and message.error() is None) or None
        assert eventually(reads, timeout=30)
    finally:
        again.close()

    # The mirror ran as its own principal, revoked when it stopped for good: no user, no ACL, none of
    # its internal topics left on either cluster; the migrated topics stay. The rolled-back one may
    # have been rolled back before its first mirroring pass granted anything: nothing of it is left.
    view = api.migration(migration_id)
    assert view["mirror"]["principal"] == mirror_principal(migration_id)
    assert view["mirror"]["access"] == "revoked", view["mirror"]
    assert view["mirror"]["cleanup"]["target"]["user"] == mirror_principal(migration_id)
    assert sorted(view["mirror"]["cleanup"]["target"]["topics"]) == sorted(
        internal_topic_names(migration_id, "legacy"))
    assert api.migration(rollback_id)["mirror"]["access"] == "revoked"
    for finished in (migration_id, rollback_id):
        _assert_mirror_gone(finished, legacy_cluster, target)
    assert topic in AdminClient(target.client_config()).list_topics(timeout=10).topics


def _assert_mirror_gone(migration_id: str, source: LocalCluster, target: LocalCluster) -> None:
    internal = internal_topic_names(migration_id, "legacy")  # the names the clusters are registered under
    for cluster, name in ((source, "legacy"), (target, "payments-dev")):
        port = KafkaCluster(cluster.client_config(), request_timeout=15)
        try:
            observed = port.describe(internal)
        finally:
            close_port(port)
        assert not [b for b in observed.acls if b.principal == mirror_principal(migration_id)]
        assert mirror_principal(migration_id) not in observed.scram_users
        assert not observed.topics, sorted(observed.topics)
        password = mirror_password(cluster.admin_password, name, migration_id)
        assert authenticates(as_user(cluster, mirror_principal(migration_id), password)) is not None

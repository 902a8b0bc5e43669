"""The reconciler against real Kafka: desired rows -> plan -> batched apply -> read back -> observed."""

from __future__ import annotations

import functools
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from tests.kafka_clients import as_user, consume_one, eventually, produce_one
from tests.support import register_cluster
from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.kafka_cluster import KafkaCluster
from topicdesk.adapters.tables import AccessGrantRow, ClientQuotaRow, TopicRow
from topicdesk.bootstrap import kafka_port_for
from topicdesk.domain.identity import Identity, Role
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services.drift import DriftScan, import_topics, scan_cluster
from topicdesk.services.leases import claim_lease, release_lease
from topicdesk.services.reconcile_loop import run_once
from topicdesk.services.service_accounts import create_service_account

PAYMENTS_OWNER = Identity("alice@payments", {"payments": Role.OWNER})
INGEST_MEMBER = Identity("bob@ingest", {"ingest": Role.MEMBER})


@pytest.fixture
def prefix() -> str:
    return f"payments.r{uuid.uuid4().hex[:6]}"


def _topic(engine: Engine, cluster: str, name: str, *, partitions: int = 3, config: dict[str, str] | None = None,
           producers: tuple[str, ...] = (), consumers: tuple[tuple[str, str], ...] = ()) -> None:
    with unit_of_work(engine) as session:
        session.add(TopicRow(cluster=cluster, name=name, owner_team="payments", partitions=partitions,
                             replication_factor=1, config=config or {}, managed_config_keys=sorted(config or {})))
        for principal in producers:
            session.add(AccessGrantRow(cluster=cluster, topic=name, principal=principal, access="produce",
                                       granted_team=principal[5:].split(".")[0]))
        for principal, group in consumers:
            session.add(AccessGrantRow(cluster=cluster, topic=name, principal=principal, access="consume",
                                       group_id=group, granted_team=principal[5:].split(".")[0]))


def _all_observed(engine: Engine) -> bool:
    with unit_of_work(engine) as session:
        for table in (TopicRow, AccessGrantRow, ClientQuotaRow):
            if session.exec(select(table).where(col(table.generation) > col(table.observed_generation))).first():
                return False
    return True


def test_applied_topic_lets_its_producer_and_consumer_in_and_keeps_others_out(
    engine: Engine, kafka_cluster: LocalCluster, prefix: str,
) -> None:
    cluster = register_cluster(engine, kafka_cluster, "payments")
    port = kafka_port_for_cluster(engine, cluster)
    writer = create_service_account(engine, port, PAYMENTS_OWNER, cluster, f"{prefix}.writer")
    reader = create_service_account(engine, port, INGEST_MEMBER, cluster, f"ingest.{prefix[9:]}.reader")
    stranger = create_service_account(engine, port, INGEST_MEMBER, cluster, f"ingest.{prefix[9:]}.stranger")
    topic = f"{prefix}.invoices"
    _topic(engine, cluster, topic, config={"retention.ms": "3600000"}, producers=(writer["principal"],),
           consumers=((reader["principal"], f"{prefix}.readers"),))

    reports = run_once(engine, kafka_port_for, clusters=[cluster])
    assert [(r.applied, r.failed, r.error) for r in reports] == [(3, 0, None)]
    assert _all_observed(engine)

    producer = as_user(kafka_cluster, writer["principal"], writer["password"])
    assert eventually(lambda: produce_one(producer, topic, b"invoice-1") is None or None) is True
    consumer = as_user(kafka_cluster, reader["principal"], reader["password"], **{"group.id": f"{prefix}.readers"})
    assert consume_one(consumer, topic) == b"invoice-1"
    denied = as_user(kafka_cluster, stranger["principal"], stranger["password"], **{"group.id": f"{prefix}.x"})
    error = consume_one(denied, topic)
    assert isinstance(error, KafkaError)
    assert error.code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)
    produced = produce_one(as_user(kafka_cluster, stranger["principal"], stranger["password"]), topic, b"x")
    assert produced is not None
    assert produced.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    # Level-triggered: nothing dirty, so the next pass touches nothing.
    assert [r.resources for r in run_once(engine, kafka_port_for, clusters=[cluster])] == [0]


def kafka_port_for_cluster(engine: Engine, cluster: str) -> KafkaCluster:
    from topicdesk.adapters.tables import ClusterRow

    with unit_of_work(engine) as session:
        row = session.get(ClusterRow, cluster)
        assert row is not None
    port = kafka_port_for(row)
    assert isinstance(port, KafkaCluster)
    return port


def test_only_one_reconciler_holds_a_cluster_lease(engine: Engine, kafka_cluster: LocalCluster) -> None:
    cluster = register_cluster(engine, kafka_cluster, "payments")
    run_once(engine, kafka_port_for, clusters=[cluster], holder="a")  # creates the lease rows
    release_lease(engine, cluster, "a")
    winners: list[str] = []

    def claim(holder: str) -> None:
        if claim_lease(engine, cluster, holder, 30) is not None:
            winners.append(holder)

    threads = [threading.Thread(target=claim, args=(f"r{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert claim_lease(engine, cluster, "someone-else", 30) is None
    assert claim_lease(engine, cluster, winners[0], 30) is not None  # renewal by the holder
    release_lease(engine, cluster, winners[0])


def test_drift_is_reported_exactly_and_an_unmanaged_topic_can_be_imported(
    engine: Engine, kafka_cluster: LocalCluster, prefix: str,
) -> None:
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewTopic,
        ResourcePatternType,
        ResourceType,
    )

    cluster = register_cluster(engine, kafka_cluster, "payments")
    topic = f"{prefix}.drifting"
    _topic(engine, cluster, topic, partitions=1, config={"retention.ms": "3600000"},
           producers=(f"User:{prefix}.w",))
    run_once(engine, kafka_port_for, clusters=[cluster])
    admin = AdminClient(kafka_cluster.client_config())
    # Out-of-band: a config changed, one ACL deleted, a topic created behind Topicdesk's back.
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)
    doomed = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{prefix}.w", "*",
                              AclOperation.DESCRIBE, AclPermissionType.ALLOW)
    for future in admin.delete_acls([doomed], request_timeout=30).values():
        future.result(timeout=30)
    stray = f"{prefix}.stray"
    for future in admin.create_topics([NewTopic(stray, 2, 1, config={"cleanup.policy": "compact"})]).values():
        future.result(timeout=30)

    def scanned() -> tuple[DriftScan, list[dict[str, object]]] | None:
        scan = scan_cluster(engine, cluster, kafka_port_for_cluster(engine, cluster))
        mine = [i for i in scan.items if topic in str(i["key"])]
        return (scan, mine) if len(mine) == 2 and stray in scan.unmanaged_topics else None

    scan, mine = eventually(scanned)
    kinds = sorted(str(i["kind"]) for i in mine)
    assert kinds == ["acl_missing", "config_differs"]
    config_item = next(i for i in mine if i["kind"] == "config_differs")
    assert "3600000" in str(config_item["expected"])
    assert "7200000" in str(config_item["actual"])
    assert stray in scan.unmanaged_topics

    imported = import_topics(engine, cluster, [stray], "payments", kafka_port_for_cluster(engine, cluster),
                             actor="alice")
    assert imported == [stray]
    with unit_of_work(engine) as session:
        row = session.exec(select(TopicRow).where(TopicRow.name == stray)).one()
        assert (row.partitions, row.config, row.observed_generation) == (2, {"cleanup.policy": "compact"}, 1)
    rescan = scan_cluster(engine, cluster, kafka_port_for_cluster(engine, cluster))
    assert stray not in rescan.unmanaged_topics
    assert not [i for i in rescan.items if stray in str(i["key"])]


def test_reconciler_killed_at_random_points_converges_after_restart(
    kafka_cluster: LocalCluster, tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'crash.db'}"
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    cluster = register_cluster(engine, kafka_cluster, "payments", name=f"crash-{uuid.uuid4().hex[:6]}")
    base = f"payments.crash{uuid.uuid4().hex[:6]}"
    for n in range(100):
        _topic(engine, cluster, f"{base}.t{n:03d}", partitions=2, config={"retention.ms": str(3_600_000 + n)},
               producers=(f"User:{base}.writer",), consumers=((f"User:{base}.reader", f"{base}.g"),))
    env = {**os.environ, "DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(tmp_path)}
    # A short lease: the killed holder's lease lapses quickly, as it would after lease_seconds.
    command = [sys.executable, "-m", "topicdesk.cli", "reconcile", "--interval", "0.2", "--lease-seconds", "3",
               "--cluster", cluster]
    rng = random.Random(20261125)
    port = kafka_port_for_cluster(engine, cluster)
    names = [f"{base}.t{n:03d}" for n in range(100)]

    def lease_taken_by(process: subprocess.Popen[bytes]) -> bool | None:
        from topicdesk.adapters.tables import ClusterLeaseRow

        with unit_of_work(engine) as session:
            lease = session.get(ClusterLeaseRow, cluster)
        return True if lease is not None and str(lease.holder).endswith(f":{process.pid}") else None

    kills = interrupted = 0
    # Kill right after the process claims the cluster (a pass then describes, applies, reads back
    # and records, for 100 topics), at a random point early in that pass; go on until several
    # kills landed, at least one of them while work was still unrecorded.
    for _round in range(8):
        if kills >= 3 and interrupted >= 1:
            break
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        eventually(functools.partial(lease_taken_by, process), timeout=60, interval=0.01)
        time.sleep(rng.uniform(0.0, 0.15))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
            interrupted += not _all_observed(engine)
        process.wait(timeout=30)
    assert kills >= 3
    assert interrupted >= 1, "no kill landed before the work was done; the test proved nothing"
    log = tmp_path / "restarted.log"
    with log.open("wb") as sink:
        restarted = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            eventually(lambda: _all_observed(engine) or None, timeout=240, interval=1.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; reconciler log:\n{log.read_text()[-3000:]}") from exc
        finally:
            restarted.terminate()
            restarted.wait(timeout=30)
    assert _all_observed(engine)
    with unit_of_work(engine) as session:
        errors = session.exec(select(TopicRow.name, TopicRow.last_error)
                              .where(col(TopicRow.last_error).is_not(None))).all()
    assert errors == []
    observed = port.describe(names)
    assert sorted(observed.topics) == names
    assert all(observed.topics[n].partitions == 2 for n in names)
    assert all(observed.topics[n].config.get("retention.ms") == str(3_600_000 + i) for i, n in enumerate(names))
    mine = [b for b in observed.acls if b.resource_name.startswith(base)]
    # produce: topic WRITE+DESCRIBE; consume: topic READ+DESCRIBE (+ one shared group READ).
    assert len({b.key for b in mine}) == len(mine)
    assert len([b for b in mine if b.resource_type.value == "topic"]) == 100 * 4
    engine.dispose()


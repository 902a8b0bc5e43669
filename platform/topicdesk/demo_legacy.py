"""The demo's shared legacy cluster `legacy-monolith`: Kafka 3.9, three brokers, environment prod,
owned by the platform team, holding topics of both demo teams with data, grants and service
accounts — what a migration (issue 15) moves off to the teams' own clusters.

Its topics pre-date Topicdesk: they are made on Kafka directly (through the KafkaCluster adapter,
with the ACLs `domain.acls.bindings_for` derives from each grant, so drift finds nothing to fix),
filled with numbered records, and registered as already-applied desired state with one audit
event. A live producer and consumer (topicdesk/demo_clients.py) keep writing and reading.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from topicdesk.adapters.audit_log import record_event
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.kafka_cluster import KafkaCluster
from topicdesk.adapters.tables import AccessGrantRow, ClusterRow, ServiceAccountRow, TopicRow, utcnow
from topicdesk.domain.acls import bindings_for
from topicdesk.domain.model import Access, AccessGrant, DesiredTopic
from topicdesk.local_kafka.cluster import ClusterShape, LocalCluster
from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.local_kafka.state import write_private
from topicdesk.services.cluster_port import Outcome, OutcomeReason, ScramCredential

LEGACY_NAME = "legacy-monolith"
LEGACY_VERSION = "3.9.2"
LEGACY_BROKERS = 3
LEGACY_OWNER = "platform"
# Small heaps: three more JVMs beside the two team clusters on a 2-core laptop.
LEGACY_HEAP_MB = 224
LEGACY_SHAPE = ClusterShape(brokers=LEGACY_BROKERS, kafka_version=LEGACY_VERSION, heap_mb=LEGACY_HEAP_MB)
SEED_RECORDS = 3000
WEEK_MS = str(7 * 24 * 3600 * 1000)


@dataclass(frozen=True)
class LegacyTopic:
    name: str
    team: str
    partitions: int
    description: str
    producer: str
    consumer: str
    group: str

    @property
    def config(self) -> dict[str, str]:
        return {"min.insync.replicas": "2", "retention.ms": WEEK_MS}


LEGACY_TOPICS = [
    LegacyTopic("payments.transactions", "payments", 6, "Card transactions from the checkout (pre-Topicdesk)",
                "User:payments.checkout", "User:payments.ledger", "payments.ledger"),
    LegacyTopic("payments.settlements", "payments", 3, "Daily settlement batches from the acquirer",
                "User:payments.settler", "User:payments.reporting", "payments.reporting"),
    LegacyTopic("ingest.pageviews", "ingest", 6, "Page views from the web collectors (pre-Topicdesk)",
                "User:ingest.collector", "User:ingest.sessionizer", "ingest.sessionizer"),
]
# What the demo producer writes to and the demo consumer reads, live.
LIVE_TOPIC = LEGACY_TOPICS[0]


def grants_of(topic: LegacyTopic) -> list[AccessGrant]:
    return [AccessGrant(topic.producer, topic.name, Access.PRODUCE),
            AccessGrant(topic.consumer, topic.name, Access.CONSUME, group=topic.group)]


def accounts_file(data_dir: Path) -> Path:
    return data_dir / f"{LEGACY_NAME}-accounts.json"


def load_or_create_accounts(path: Path) -> dict[str, str]:
    """The service accounts' SCRAM passwords, made once and kept private (0600) for the demo clients."""
    try:
        known: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    wanted = sorted({p for t in LEGACY_TOPICS for p in (t.producer, t.consumer)})
    accounts = {p: known.get(p) or secrets.token_hex(16) for p in wanted}
    if accounts != known:
        write_private(path, json.dumps(accounts, indent=2, sort_keys=True) + "\n")
    return accounts


def prepare_kafka(cluster: LocalCluster, accounts: dict[str, str], records: int = SEED_RECORDS) -> list[str]:
    """Service accounts, topics (RF 3, min ISR 2) and ACLs on the legacy cluster; topics made now get
    `records` numbered records each. Idempotent; returns the topics it created."""
    with KafkaCluster(cluster.client_config(), request_timeout=30) as kafka:
        _check(kafka.upsert_scram_users([ScramCredential(p, pw) for p, pw in accounts.items()]), "service account")
        created = kafka.create_topics([DesiredTopic(t.name, t.partitions, 3, t.config) for t in LEGACY_TOPICS])
        _check(created, "topic")
        bindings = sorted({b for t in LEGACY_TOPICS for g in grants_of(t) for b in bindings_for(g)},
                          key=lambda b: b.key)
        _check(kafka.create_acls(bindings), "ACL")
    fresh = [name for name, outcome in created.items() if outcome.ok]
    if fresh:
        _produce_history(cluster, fresh, records)
    return fresh


def _check(outcomes: Mapping[Any, Outcome], what: str) -> None:
    for key, outcome in outcomes.items():
        if not outcome.ok and outcome.reason is not OutcomeReason.ALREADY_EXISTS:
            raise LocalKafkaError(f"could not set up {what} {key} on {LEGACY_NAME}: {outcome.message}")


def _produce_history(cluster: LocalCluster, topics: list[str], records: int) -> None:
    from confluent_kafka import Producer

    failures: list[str] = []
    producer = Producer({**cluster.client_config(), "acks": "all", "enable.idempotence": True,
                         "linger.ms": 20, "log_level": 3})
    for topic in topics:
        for n in range(records):
            value = json.dumps({"n": n, "topic": topic, "source": "seed"}).encode()
            producer.produce(topic, value, key=str(n).encode(),
                             on_delivery=lambda err, _m: failures.append(str(err)) if err else None)
            if n % 500 == 0:
                producer.poll(0)
    left = producer.flush(60)
    if left or failures:
        raise LocalKafkaError(f"seeding {LEGACY_NAME} failed: {left} records undelivered, "
                              f"{failures[:1] or 'no error'}")


def register(engine: Engine, cluster: LocalCluster) -> bool:
    """The cluster, its topics, grants and service accounts as applied desired state (generation 1,
    observed 1): Topicdesk manages from here on what exists already. Idempotent; True if it
    registered anything (then one audit event says what)."""
    now = utcnow()
    with unit_of_work(engine) as session:
        row = session.get(ClusterRow, LEGACY_NAME) or ClusterRow(
            name=LEGACY_NAME, environment="prod", owner_team=LEGACY_OWNER, bootstrap_servers="",
            admin_secret_ref="", broker_count=LEGACY_BROKERS, partition_budget=4000,
            disk_budget_bytes=500 * 1024**3, tags=["local", "demo", "legacy", "kafka-3.9"])
        row.bootstrap_servers = cluster.bootstrap
        row.admin_secret_ref = f"file:{cluster.state_file}"
        session.add(row)
        session.flush()
        known_topics = {t.name for t in session.exec(select(TopicRow).where(TopicRow.cluster == LEGACY_NAME))}
        added: list[str] = []
        for topic in LEGACY_TOPICS:
            if topic.name in known_topics:
                continue
            added.append(topic.name)
            session.add(TopicRow(cluster=LEGACY_NAME, name=topic.name, owner_team=topic.team,
                                 partitions=topic.partitions, replication_factor=3, config=topic.config,
                                 managed_config_keys=sorted(topic.config), description=topic.description,
                                 observed_generation=1, applied_at=now))
            for grant in grants_of(topic):
                session.add(AccessGrantRow(cluster=LEGACY_NAME, topic=topic.name, principal=grant.principal,
                                           access=str(grant.access), group_id=grant.group or "",
                                           granted_team=topic.team, observed_generation=1, applied_at=now))
        known_accounts = {a.principal for a in session.exec(
            select(ServiceAccountRow).where(ServiceAccountRow.cluster == LEGACY_NAME))}
        for topic in LEGACY_TOPICS:
            for principal in (topic.producer, topic.consumer):
                if principal not in known_accounts:
                    known_accounts.add(principal)
                    session.add(ServiceAccountRow(cluster=LEGACY_NAME, principal=principal, owner_team=topic.team,
                                                  observed_generation=1, applied_at=now))
        if added:
            record_event(session, actor="demo", action="cluster:register", subject=f"cluster:{LEGACY_NAME}",
                         team=LEGACY_OWNER, data={"topics": added, "kafka_version": cluster.kafka_version,
                                                  "brokers": cluster.broker_count, "existing": True})
    return bool(added)


def wait_for_topics(cluster: LocalCluster, timeout: float = 30.0) -> None:
    """Topic metadata reaches every broker asynchronously; the clients start once it has."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(cluster.client_config())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=5).topics
        if all(t.name in topics and not topics[t.name].error for t in LEGACY_TOPICS):
            return
        time.sleep(0.3)
    raise LocalKafkaError(f"the topics of {LEGACY_NAME} did not appear within {timeout:.0f}s")

"""Plan + apply + read back on real Kafka through the KafkaCluster adapter.

Every test uses its own topic prefix and principals, so the tests share the session's clusters.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaError

# confluent_kafka.admin re-exports these without __all__, which strict mypy does not accept.
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType  # type: ignore[attr-defined]

from tests.fakes import RecordingClusterPort
from tests.kafka_clients import as_user, consume_one, eventually, produce_one
from topicdesk.adapters.kafka_cluster import KafkaCluster
from topicdesk.domain.acls import AclOperation, bindings_for
from topicdesk.domain.acls import ResourceType as AclResource
from topicdesk.domain.drift import DriftKind, drift, unmanaged
from topicdesk.domain.model import Access, AccessGrant, ClientQuota, DesiredTopic, ServiceAccount
from topicdesk.domain.plan import ChangeKind, Deletions, DesiredState, RefusalReason, plan
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services.cluster_port import ClusterUnavailable, OutcomeReason, QuotaAlteration
from topicdesk.services.executor import ApplyReport, apply, create_topic_chunks

pytestmark = pytest.mark.integration



@pytest.fixture
def cluster(kafka_clusters: list[LocalCluster]) -> LocalCluster:
    return kafka_clusters[0]


@pytest.fixture
def port(cluster: LocalCluster) -> Iterator[RecordingClusterPort]:
    with KafkaCluster(cluster.client_config()) as real:
        yield RecordingClusterPort(real)


@pytest.fixture
def prefix() -> str:
    return f"it{uuid.uuid4().hex[:8]}"


def names_of(desired: DesiredState) -> list[str]:
    return sorted({t.name for t in desired.topics} | desired.deletions.topics)


def reconcile(
    desired: DesiredState, port: RecordingClusterPort, passwords: dict[str, str] | None = None
) -> ApplyReport:
    return apply(plan(desired, port.describe(names_of(desired))), port, passwords=passwords)


def topic_overrides(cluster: LocalCluster, topic: str) -> dict[str, str]:
    admin = AdminClient(cluster.client_config())
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)], request_timeout=15)
    (entries,) = [f.result(timeout=20) for f in futures.values()]
    return {e.name: e.value for e in entries.values() if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
            or e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG}


def test_producer_produces_consumer_consumes_in_its_group_and_a_stranger_is_denied(
    cluster: LocalCluster, port: RecordingClusterPort, prefix: str
) -> None:
    writer, reader, stranger = f"User:{prefix}-writer", f"User:{prefix}-reader", f"User:{prefix}-stranger"
    passwords = {p: uuid.uuid4().hex for p in (writer, reader, stranger)}
    topic, group = f"{prefix}.orders", f"{prefix}-billing"
    desired = DesiredState(
        topics=[DesiredTopic(topic, 3, 1, {"retention.ms": "3600000"})],
        grants=[AccessGrant(writer, topic, Access.PRODUCE), AccessGrant(reader, topic, Access.CONSUME, group=group)],
        service_accounts=[ServiceAccount(p) for p in passwords],
    )
    report = reconcile(desired, port, passwords)
    assert report.ok, report.failed

    writer_conf = as_user(cluster, writer, passwords[writer])
    assert eventually(lambda: True if produce_one(writer_conf, topic, b"order-1") is None else None)
    got = consume_one(as_user(cluster, reader, passwords[reader], **{"group.id": group}), topic)
    assert got == b"order-1"

    stranger_conf = as_user(cluster, stranger, passwords[stranger])
    refused = produce_one(stranger_conf, topic, b"forged")
    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    denied = consume_one({**stranger_conf, "group.id": group}, topic)
    assert isinstance(denied, KafkaError)
    assert denied.code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)
    # The reader may read, but not in another group.
    other_group = consume_one(as_user(cluster, reader, passwords[reader], **{"group.id": f"{prefix}-x"}), topic)
    assert isinstance(other_group, KafkaError)
    assert other_group.code() == KafkaError.GROUP_AUTHORIZATION_FAILED


def test_config_change_is_read_back_and_a_removed_managed_key_goes_back_to_default(
    cluster: LocalCluster, port: RecordingClusterPort, prefix: str
) -> None:
    topic = f"{prefix}.cfg"
    first = DesiredTopic(topic, 1, 1, {"retention.ms": "3600000", "max.message.bytes": "2000000"})
    assert reconcile(DesiredState(topics=[first]), port).ok
    assert topic_overrides(cluster, topic) == {"retention.ms": "3600000", "max.message.bytes": "2000000"}

    changed = DesiredState(
        topics=[DesiredTopic(topic, 1, 1, {"retention.ms": "7200000", "cleanup.policy": "compact"})],
        managed_config_keys={topic: frozenset({"retention.ms", "max.message.bytes", "cleanup.policy"})},
    )
    p = plan(changed, port.describe([topic]))
    assert [c.kind for c in p.changes] == [ChangeKind.ALTER_TOPIC_CONFIG]
    assert p.changes[0].after == {"cleanup.policy": "compact", "retention.ms": "7200000", "max.message.bytes": None}
    port.reset()
    report = apply(p, port)
    assert report.ok, report.failed
    assert [(c.method, c.size) for c in port.mutating_calls] == [("alter_configs", 1)]
    assert topic_overrides(cluster, topic) == {"retention.ms": "7200000", "cleanup.policy": "compact"}


def test_partition_increase_works_and_a_decrease_is_refused_without_any_call(
    port: RecordingClusterPort, prefix: str
) -> None:
    topic = f"{prefix}.parts"
    assert reconcile(DesiredState(topics=[DesiredTopic(topic, 1, 1)]), port).ok
    assert reconcile(DesiredState(topics=[DesiredTopic(topic, 4, 1)]), port).ok
    assert port.describe([topic]).topics[topic].partitions == 4

    p = plan(DesiredState(topics=[DesiredTopic(topic, 2, 1)]), port.describe([topic]))
    assert [(c.kind, c.reason, c.before, c.after) for c in p.changes] == [
        (ChangeKind.REFUSED, RefusalReason.PARTITION_DECREASE, 4, 2)
    ]
    port.reset()
    report = apply(p, port)
    assert port.calls == []
    outcome = report.topic_outcome(topic)
    assert (outcome.reason, outcome.permanent) == (OutcomeReason.REFUSED, True)
    assert "partition_decrease" in outcome.message
    assert port.describe([topic]).topics[topic].partitions == 4


def test_quota_is_set_read_back_changed_and_removed(port: RecordingClusterPort, prefix: str) -> None:
    principal = f"User:{prefix}-quota"
    quota = ClientQuota(principal, producer_byte_rate=1_048_576, consumer_byte_rate=2_097_152)
    assert reconcile(DesiredState(quotas=[quota]), port).ok
    assert port.describe([]).quotas[principal] == quota

    smaller = ClientQuota(principal, producer_byte_rate=524_288, request_percentage=25.0)
    assert reconcile(DesiredState(quotas=[smaller]), port).ok
    assert port.describe([]).quotas[principal] == smaller  # consumer_byte_rate removed

    port.reset()
    report = reconcile(DesiredState(deletions=Deletions(quotas=frozenset({principal}))), port)
    assert report.ok
    assert [(c.method, c.size) for c in port.mutating_calls] == [("alter_quotas", 1)]
    assert principal not in port.describe([]).quotas


def test_applying_twice_leaves_an_empty_plan_and_makes_no_mutating_call(
    port: RecordingClusterPort, prefix: str
) -> None:
    writer, reader = f"User:{prefix}-w", f"User:{prefix}-r"
    topics = [DesiredTopic(f"{prefix}.t{i}", 2, 1, {"retention.ms": "600000"}) for i in range(5)]
    desired = DesiredState(
        topics=topics,
        grants=[g for t in topics for g in (
            AccessGrant(writer, t.name, Access.PRODUCE, transactional_id=f"{t.name}-tx"),
            AccessGrant(reader, t.name, Access.CONSUME, group=f"{prefix}-g"),
        )],
        quotas=[ClientQuota(writer, producer_byte_rate=10_000_000)],
        service_accounts=[ServiceAccount(writer), ServiceAccount(reader)],
    )
    first = reconcile(desired, port, {writer: uuid.uuid4().hex, reader: uuid.uuid4().hex})
    assert first.ok, first.failed

    port.reset()
    second = plan(desired, port.describe(names_of(desired)))
    assert second.is_empty, second.as_dicts()
    apply(second, port)
    assert port.mutating_calls == []


def test_200_topics_take_one_create_topics_per_chunk_and_one_create_acls_call(
    port: RecordingClusterPort, prefix: str
) -> None:
    writer, reader = f"User:{prefix}-w", f"User:{prefix}-r"
    topics = [DesiredTopic(f"{prefix}.bulk.{i:03d}", 1, 1, {"retention.ms": "600000"}) for i in range(200)]
    grants = [g for t in topics for g in (
        AccessGrant(writer, t.name, Access.PRODUCE),
        AccessGrant(reader, t.name, Access.CONSUME, group=f"{prefix}-g"),
    )]
    desired = DesiredState(topics=topics, grants=grants)
    started = time.monotonic()
    report = reconcile(desired, port)
    took = time.monotonic() - started
    assert report.ok, report.failed[:3]
    creates = port.calls_to("create_topics")
    assert [c.size for c in creates] == [len(chunk) for chunk in create_topic_chunks(topics)] == [200]
    assert [c.size for c in port.calls_to("create_acls")] == [200 * 4 + 1]  # the group READ is shared
    assert {c.method for c in port.mutating_calls} == {"create_topics", "create_acls"}
    assert took < 30

    # And away again: one DeleteTopics and one DeleteAcls call.
    port.reset()
    gone = DesiredState(deletions=Deletions(topics=frozenset(t.name for t in topics), grants=frozenset(grants)))
    report = reconcile(gone, port)
    assert report.ok, report.failed[:3]
    assert [(c.method, c.size) for c in port.mutating_calls] == [("delete_acls", 801), ("delete_topics", 200)]


def test_drift_reports_out_of_band_changes_and_lists_unmanaged_topics(
    cluster: LocalCluster, port: RecordingClusterPort, prefix: str
) -> None:
    reader = f"User:{prefix}-r"
    topic, stray = f"{prefix}.managed", f"{prefix}.stray"
    grant = AccessGrant(reader, topic, Access.CONSUME, group=f"{prefix}-g")
    desired = DesiredState(topics=[DesiredTopic(topic, 1, 1, {"retention.ms": "600000"})], grants=[grant])
    assert reconcile(desired, port).ok
    assert reconcile(DesiredState(topics=[DesiredTopic(stray, 1, 1)]), port).ok

    # Out of band: someone changes the retention and deletes the group ACL.
    (group_read,) = [b for b in bindings_for(grant) if b.resource_type is AclResource.GROUP]
    assert group_read.operation is AclOperation.READ
    assert port.inner.alter_configs({topic: {"retention.ms": "1000"}})[topic].ok
    assert port.inner.delete_acls([group_read])[group_read].ok

    observed = eventually(
        lambda: o if group_read not in (o := port.describe(None)).acls else None
    )
    items = drift(desired, observed)
    assert [(i.kind, i.key, i.expected, i.actual) for i in items] == [
        (DriftKind.CONFIG_DIFFERS, f"topic:{topic}", {"retention.ms": "600000"}, {"retention.ms": "1000"}),
        (DriftKind.ACL_MISSING, group_read.key, group_read.as_dict(), None),
    ]
    listed = [t.name for t in unmanaged(desired, observed).topics]
    assert stray in listed
    assert topic not in listed
    assert not any(n.startswith("__") for n in listed)


def test_kafka_errors_come_back_per_resource_with_domain_reasons(port: RecordingClusterPort, prefix: str) -> None:
    good = DesiredTopic(f"{prefix}.ok", 1, 1)
    too_replicated = DesiredTopic(f"{prefix}.rf3", 1, 3)  # one broker only
    bad_config = DesiredTopic(f"{prefix}.cfg", 1, 1, {"cleanup.policy": "sometimes"})
    out = port.create_topics([good, too_replicated, bad_config])
    assert out[good.name].ok
    assert (out[too_replicated.name].reason, out[too_replicated.name].permanent) == (
        OutcomeReason.INVALID_REPLICATION_FACTOR, True
    )
    assert (out[bad_config.name].reason, out[bad_config.name].permanent) == (OutcomeReason.INVALID_CONFIG, True)
    again = port.create_topics([good])[good.name]
    assert (again.reason, again.kafka_error) == (OutcomeReason.ALREADY_EXISTS, "TOPIC_ALREADY_EXISTS")
    missing = port.create_partitions({f"{prefix}.nope": 3})[f"{prefix}.nope"]
    assert missing.reason is OutcomeReason.NOT_FOUND
    gone = port.delete_scram_users([f"User:{prefix}-nobody"])[f"User:{prefix}-nobody"]
    assert gone.reason is OutcomeReason.NOT_FOUND
    bad_quota = port.alter_quotas([QuotaAlteration(f"User:{prefix}-q", {"producer_byte_rate": -5}),
                                   QuotaAlteration(f"User:{prefix}-fine", {"producer_byte_rate": 5})])
    assert bad_quota[f"User:{prefix}-fine"].ok  # per entity: the good one is not held back
    assert (bad_quota[f"User:{prefix}-q"].reason, bad_quota[f"User:{prefix}-q"].permanent) == (
        OutcomeReason.INVALID_REQUEST, True
    ), bad_quota
    assert port.alter_quotas([QuotaAlteration(f"User:{prefix}-fine", remove=frozenset({"producer_byte_rate"}))])[
        f"User:{prefix}-fine"
    ].ok


def test_second_cluster_is_independent(kafka_clusters: list[LocalCluster], prefix: str) -> None:
    topic = f"{prefix}.second"
    with KafkaCluster(kafka_clusters[1].client_config()) as other, KafkaCluster(
        kafka_clusters[0].client_config()
    ) as first:
        report = apply(plan(DesiredState(topics=[DesiredTopic(topic, 2, 1)]), other.describe([topic])), other)
        assert report.ok
        assert topic in other.describe([topic]).topics
        assert topic not in first.describe([topic]).topics


def test_describe_of_unreachable_cluster_raises_cluster_unavailable(cluster: LocalCluster) -> None:
    conf = {**cluster.client_config(), "bootstrap.servers": "127.0.0.1:1"}
    with KafkaCluster(conf, request_timeout=2) as nowhere, pytest.raises(ClusterUnavailable) as info:
        nowhere.describe([])
    assert info.value.outcome.transient

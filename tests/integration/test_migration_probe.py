"""The Kafka migration probe's commit of exact offsets (AlterConsumerGroupOffsets) on a real cluster:
committed offsets read back through OffsetFetch, and refused while the group has a member."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from tests.kafka_clients import eventually
from topicdesk.adapters.kafka_migration_probe import KafkaMigrationProbe
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services.migration_probe import ProbeUnavailable


def test_commit_offsets_writes_the_groups_offsets_and_is_refused_while_it_has_members(
        kafka_cluster: LocalCluster) -> None:
    topic, group = f"it.exact.{uuid.uuid4().hex[:8]}", f"it.exact.readers.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(kafka_cluster.client_config())
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(15)
    probe = KafkaMigrationProbe(kafka_cluster.client_config(), request_timeout=5.0)
    eventually(lambda: len(probe.partition_ends([topic])) == 2 or None, timeout=15, retry_on=(ProbeUnavailable,))

    def commit() -> bool:
        probe.commit_offsets(group, {(topic, 0): 3, (topic, 1): 1})
        return True

    # A fresh cluster answers COORDINATOR_LOAD_IN_PROGRESS at first: the driver tries again next pass.
    eventually(commit, timeout=30, retry_on=(ProbeUnavailable,))
    assert probe.groups([group], [topic])[group].committed == {(topic, 0): 3, (topic, 1): 1}

    member = Consumer({**kafka_cluster.client_config(), "group.id": group, "session.timeout.ms": 6000})
    try:
        member.subscribe([topic])
        eventually(lambda: (member.poll(0.5) is None and probe.groups([group], [topic])[group].members > 0) or None,
                   timeout=20)
        with pytest.raises(ProbeUnavailable, match=group):
            probe.commit_offsets(group, {(topic, 0): 0})
    finally:
        member.close()
        admin.delete_topics([topic])

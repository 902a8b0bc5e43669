"""The MigrationProbe on a real cluster (services/migration_probe.py), over confluent-kafka.

    ends      ListOffsets EARLIEST and LATEST, every partition at once     2 requests
    groups    ListGroups, DescribeGroups for the moved groups it lists      2 requests
    commits   OffsetFetch, one per group, all in flight at once            G requests
    records   one consumer, assign() every partition at its n-th sample    k+2 rounds
    commit    AlterConsumerGroupOffsets, one per group                      1 request

confluent-kafka takes one group per list_consumer_group_offsets call (see adapters/kafka_evidence.py).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    OffsetSpec,
    _ConsumerGroupTopicPartitions,
)

from topicdesk.services.migration_probe import (
    GroupObservation,
    Partition,
    PartitionEnds,
    ProbeUnavailable,
    SampledRecord,
)


class KafkaMigrationProbe:
    def __init__(self, config: Mapping[str, Any], *, request_timeout: float = 10.0) -> None:
        self._config = dict(config)
        self._timeout = request_timeout
        self._admin = AdminClient(self._config)

    def close(self) -> None:
        """Nothing held between calls but the admin client, which goes with the object."""

    def _partitions(self, topics: Collection[str]) -> list[TopicPartition]:
        names = sorted(set(topics))
        if not names:
            return []
        out = []
        for f in self._admin.describe_topics(TopicCollection(names), request_timeout=self._timeout).values():
            try:
                description = f.result(timeout=self._timeout + 5)
            except KafkaException as exc:
                if "UNKNOWN_TOPIC" in str(exc):
                    continue
                raise ProbeUnavailable(f"describe topics: {exc}") from exc
            out += [TopicPartition(description.name, p.id) for p in description.partitions]
        return out

    def partition_ends(self, topics: Collection[str]) -> dict[Partition, PartitionEnds]:
        try:
            every = self._partitions(topics)
            if not every:
                return {}
            earliest_spec, latest_spec = OffsetSpec.earliest(), OffsetSpec.latest()  # type: ignore[no-untyped-call]
            earliest = self._admin.list_offsets(dict.fromkeys(every, earliest_spec), request_timeout=self._timeout)
            latest = self._admin.list_offsets(dict.fromkeys(every, latest_spec), request_timeout=self._timeout)
            wait = self._timeout + 5
            return {(tp.topic, tp.partition): PartitionEnds(earliest[tp].result(timeout=wait).offset,
                                                            latest[tp].result(timeout=wait).offset)
                    for tp in every}
        except ProbeUnavailable:
            raise
        except Exception as exc:
            raise ProbeUnavailable(f"list offsets: {exc}") from exc

    def groups(self, groups: Collection[str], topics: Collection[str]) -> dict[str, GroupObservation]:
        wanted = sorted(set(groups))
        if not wanted:
            return {}
        try:
            every = self._partitions(topics)
            wait = self._timeout + 5
            # Only groups the cluster knows: librdkafka 2.16 crashes (SIGSEGV) fetching the offsets of
            # a group a Kafka 4.x broker does not have, right after its describe failed.
            listed = self._admin.list_consumer_groups(request_timeout=self._timeout).result(timeout=wait)
            known = {g.group_id for g in listed.valid}
            absent = {g: GroupObservation(g, 0, "DEAD", {}) for g in wanted if g not in known}
            wanted = [g for g in wanted if g in known]
            if not wanted:
                return absent
            described = self._admin.describe_consumer_groups(wanted, request_timeout=self._timeout)
            commits = {g: self._admin.list_consumer_group_offsets(
                [_ConsumerGroupTopicPartitions(g, list(every))], request_timeout=self._timeout)[g]
                for g in wanted} if every else {}
            out = {}
            for group in wanted:
                try:
                    description = described[group].result(timeout=wait)
                    members, state = len(description.members), str(getattr(description.state, "name", ""))
                except KafkaException:
                    members, state = 0, "DEAD"
                committed: dict[Partition, int] = {}
                if group in commits:
                    try:
                        answer = commits[group].result(timeout=wait)
                    except KafkaException:
                        answer = None
                    for tp in getattr(answer, "topic_partitions", None) or ():
                        if tp.error is None and tp.offset >= 0:
                            committed[(tp.topic, tp.partition)] = tp.offset
                out[group] = GroupObservation(group, members, state, committed)
            return {**absent, **out}
        except ProbeUnavailable:
            raise
        except Exception as exc:
            raise ProbeUnavailable(f"consumer groups: {exc}") from exc

    def commit_offsets(self, group: str, offsets: Mapping[Partition, int]) -> None:
        if not offsets:
            return
        request = [_ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, o)
                                                         for (t, p), o in sorted(offsets.items())])]
        try:
            answer = self._admin.alter_consumer_group_offsets(request, request_timeout=self._timeout)[group].result(
                timeout=self._timeout + 5)
        except Exception as exc:  # e.g. the group has members again: NON_EMPTY_GROUP / UNKNOWN_MEMBER_ID
            raise ProbeUnavailable(f"commit offsets of {group}: {exc}") from exc
        refused = [f"{tp.topic}-{tp.partition}: {tp.error}" for tp in answer.topic_partitions or () if tp.error]
        if refused:
            raise ProbeUnavailable(f"commit offsets of {group}: " + "; ".join(refused))

    def read_records(self, offsets: Mapping[Partition, Sequence[int]]) -> dict[tuple[str, int, int], SampledRecord]:
        rounds = max((len(v) for v in offsets.values()), default=0)
        if not rounds:
            return {}
        consumer = Consumer({**self._config, "group.id": "topicdesk-migration-verify", "enable.auto.commit": False,
                             "enable.partition.eof": False, "fetch.max.bytes": 8 * 1024 * 1024})
        out: dict[tuple[str, int, int], SampledRecord] = {}
        try:
            for index in range(rounds):
                wanted = {(t, p): sorted(o)[index] for (t, p), o in offsets.items() if index < len(o)}
                consumer.assign([TopicPartition(t, p, o) for (t, p), o in wanted.items()])
                deadline = time.monotonic() + self._timeout
                while wanted and time.monotonic() < deadline:
                    message = consumer.poll(0.5)
                    if message is None:
                        continue
                    error = message.error()
                    if error is not None:
                        if error.fatal() or "AUTHORIZATION" in error.name():
                            raise ProbeUnavailable(f"read records: {error}")
                        continue
                    where = (str(message.topic()), int(message.partition() or 0))
                    offset = int(message.offset() or 0)
                    if where not in wanted or offset < wanted[where]:
                        continue
                    if wanted[where] == offset:
                        _, stamp = message.timestamp()
                        raw: Any = message.headers() or []
                        headers = [(str(k), v if isinstance(v, bytes | None) else str(v).encode())
                                   for k, v in (raw.items() if isinstance(raw, dict) else raw)]
                        value, key = message.value(), message.key()
                        out[(*where, offset)] = SampledRecord(
                            key if isinstance(key, bytes | None) else str(key).encode(),
                            value if isinstance(value, bytes | None) else str(value).encode(), tuple(headers), stamp)
                    # Past the offset without seeing it: the partition does not hold it (absent).
                    del wanted[where]
        except ProbeUnavailable:
            raise
        except Exception as exc:
            raise ProbeUnavailable(f"read records: {exc}") from exc
        finally:
            consumer.close()
        return out

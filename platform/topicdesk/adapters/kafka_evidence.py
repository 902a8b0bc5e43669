"""Usage evidence of topics from a real cluster, in a handful of Admin calls whatever the topic count.

    partitions   Metadata (describe_topics) for the named topics               1 request
    last write   ListOffsets, MAX_TIMESTAMP spec, every partition at once        1 request
    end offsets  ListOffsets, LATEST spec, every partition at once               1 request
    groups       ListGroups                                                      1 request
    members      DescribeGroups for every listed group                          1 request
    commits      OffsetFetch, one per group (see below), all in flight at once   G requests

confluent-kafka 2.16 (librdkafka 2.16) accepts a single group per list_consumer_group_offsets call
(`AdminClient._check_list_consumer_group_offsets_request` raises ValueError for more), although the
OffsetFetch protocol (v8+) can carry several. So commits cost one request per group, each naming only
the asked topics' partitions; they are all started before any is awaited, so their round trips
overlap instead of adding up. Groups of other protocols (share, streams) are included as listed.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    OffsetSpec,
    _ConsumerGroupTopicPartitions,
)

from topicdesk.domain.evidence import GroupUsage, TopicEvidence

_NO_OFFSET = 0  # committed offsets below this (OFFSET_INVALID = -1001) mean "never committed"


def gather(admin: AdminClient, topic_names: Collection[str], timeout: float,
           absent: Any) -> dict[str, TopicEvidence]:
    """Evidence per asked topic; a topic that does not exist gets `exists=False`.

    `absent(exc)` tells a missing-topic error from a failure. Other failures raise (the caller
    turns them into ClusterUnavailable).
    """
    names = sorted(set(topic_names))
    if not names:
        return {}
    wait = timeout + 5
    groups_f = admin.list_consumer_groups(request_timeout=timeout)
    partitions: dict[str, int] = {}
    for f in admin.describe_topics(TopicCollection(names), request_timeout=timeout).values():
        try:
            description = f.result(timeout=wait)
        except KafkaException as exc:
            if absent(exc):
                continue
            raise
        partitions[description.name] = len(description.partitions)
    every_partition = [TopicPartition(name, p) for name, count in partitions.items() for p in range(count)]
    latest: dict[TopicPartition, Any] = {}
    newest: dict[TopicPartition, Any] = {}
    if every_partition:
        # OffsetSpec's factories are untyped in confluent-kafka's stubs.
        end_spec, newest_spec = OffsetSpec.latest(), OffsetSpec.max_timestamp()  # type: ignore[no-untyped-call]
        latest = admin.list_offsets(dict.fromkeys(every_partition, end_spec), request_timeout=timeout)
        newest = admin.list_offsets(dict.fromkeys(every_partition, newest_spec), request_timeout=timeout)
    listed = groups_f.result(timeout=wait)
    group_ids = sorted(g.group_id for g in listed.valid)
    described_f = admin.describe_consumer_groups(group_ids, request_timeout=timeout) if group_ids else {}
    commits_f = {
        group: admin.list_consumer_group_offsets(
            [_ConsumerGroupTopicPartitions(group, list(every_partition))], request_timeout=timeout)[group]
        for group in group_ids
    } if every_partition else {}

    end_offsets: dict[str, dict[int, int]] = {name: {} for name in partitions}
    for tp, f in latest.items():
        end_offsets[tp.topic][tp.partition] = f.result(timeout=wait).offset
    last_write: dict[str, int] = {}
    for tp, f in newest.items():
        stamp = f.result(timeout=wait).timestamp
        if stamp >= 0:  # -1: the partition holds no record
            last_write[tp.topic] = max(last_write.get(tp.topic, -1), stamp)
    members: dict[str, tuple[str, int]] = {}
    for group, f in described_f.items():
        try:
            description = f.result(timeout=wait)
        except KafkaException:
            continue  # the group went away between list and describe: it has no members
        members[group] = (_state(description.state), len(description.members))
    usage: dict[str, list[GroupUsage]] = {name: [] for name in partitions}
    for group, f in commits_f.items():
        try:
            answer = f.result(timeout=wait)
        except KafkaException:
            continue  # deleted meanwhile: nothing committed any more
        committed: dict[str, list[tuple[int, int]]] = {}
        for tp in answer.topic_partitions or ():
            if tp.error is None and tp.offset >= _NO_OFFSET:
                committed.setdefault(tp.topic, []).append((tp.partition, tp.offset))
        state, count = members.get(group, ("UNKNOWN", 0))
        for topic, offsets in committed.items():
            ends = end_offsets.get(topic, {})
            lag = sum(max(0, ends.get(p, o) - o) for p, o in offsets)
            usage[topic].append(GroupUsage(group, state, count, len(offsets), lag, sum(o for _, o in offsets)))
    out = {name: TopicEvidence(name, exists=False) for name in names}
    for name, count in partitions.items():
        stamp = last_write.get(name)
        out[name] = TopicEvidence(
            name, exists=True, partitions=count, end_offsets=end_offsets[name],
            last_write_at=datetime.fromtimestamp(stamp / 1000, UTC) if stamp is not None else None,
            consumer_groups=tuple(usage[name]))
    return out


def _state(state: Any) -> str:
    name = getattr(state, "name", None)
    return str(name) if name else str(state)


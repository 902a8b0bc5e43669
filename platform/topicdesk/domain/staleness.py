"""Stale topics and unused grants (pure): what stored usage observations say after N days.

Kafka tells when a topic was last written (the largest record timestamp) but not when a consumer
group last committed. So every gathering of evidence is kept as an observation per (cluster,
topic, group): the sum of its committed offsets, when that sum was first seen (`first_seen_at`)
and when it was last seen to change (`changed_at`). "Has not committed for N days" is then
"the sum has not changed for N days of watching".

    topic  stale          no write for N days (last_write_at <= now - N), or never written and
                          created more than N days ago
    consume grant unused  the group has no committed offsets on the topic and none changed in
                          the last N days (Kafka drops an empty group's offsets after
                          offsets.retention.minutes, 7 days by default); or its offsets have not
                          moved for N days although there was something to read (records written
                          after the last move, or lag)
    produce grant unused  the topic had no write for N days
    unknown_since         it would be unused, but we have not watched long enough to tell: the
                          group was first seen less than N days ago and has not moved since, or
                          the grant itself is younger than N days
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from topicdesk.domain.evidence import TopicEvidence

MAX_DAYS = 365
DEFAULT_DAYS = 30

UNUSED = "unused"
UNKNOWN_SINCE = "unknown_since"


@dataclass(frozen=True)
class TopicUsage:
    """The last evidence gathered for one topic."""

    cluster: str
    topic: str
    exists: bool
    partitions: int
    last_write_at: datetime | None
    gathered_at: datetime


@dataclass(frozen=True)
class GroupCommits:
    """The observation history of one consumer group's commits on one topic."""

    group: str
    committed_offsets: int | None
    committed_partitions: int
    lag: int | None
    first_seen_at: datetime
    changed_at: datetime
    seen_at: datetime  # the last gathering that found the group's commits on the topic


@dataclass(frozen=True)
class Verdict:
    status: str  # UNUSED | UNKNOWN_SINCE
    reason: str
    # Where the verdict's N days are counted from (the last move of the group, its first sighting,
    # the last write, the grant's creation); None when there was never anything to count from.
    since: datetime | None


def _cutoff(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def topic_staleness(usage: TopicUsage, created_at: datetime, *, now: datetime, days: int) -> str | None:
    """"no_writes" or "never_written" when the topic had no write for `days`, else None."""
    if not usage.exists:
        return None  # not on the cluster (yet): the reconciler's business, not a stale topic
    cutoff = _cutoff(now, days)
    if usage.last_write_at is None:
        return "never_written" if created_at <= cutoff else None
    return "no_writes" if usage.last_write_at <= cutoff else None


def _young(grant_created_at: datetime, verdict: Verdict, cutoff: datetime) -> Verdict:
    # A grant made less than N days ago has not had N days to be used.
    if grant_created_at > cutoff:
        return Verdict(UNKNOWN_SINCE, "grant_too_recent", grant_created_at)
    return verdict


def consume_verdict(usage: TopicUsage, commits: GroupCommits | None, grant_created_at: datetime, *,
                    now: datetime, days: int) -> Verdict | None:
    """Whether a consume grant's group has not committed on the topic for `days`; None: in use."""
    if not usage.exists:
        return None
    cutoff = _cutoff(now, days)
    committed_now = commits is not None and commits.seen_at >= usage.gathered_at
    if not committed_now:
        if commits is not None and commits.changed_at > cutoff:
            return None  # it moved within the window; its offsets went away since (reset, deleted)
        return _young(grant_created_at, Verdict(UNUSED, "no_commits", commits.changed_at if commits else None),
                      cutoff)
    assert commits is not None
    if commits.changed_at > cutoff:
        if commits.changed_at == commits.first_seen_at:
            # Never seen moving, and not watched for N days: its commits may be older or newer.
            return Verdict(UNKNOWN_SINCE, "first_seen_recently", commits.first_seen_at)
        return None
    written_since = usage.last_write_at is not None and usage.last_write_at > commits.changed_at
    if not written_since and not (commits.lag or 0) > 0:
        return None  # caught up and nothing new to read: idle, not unused (the topic may be stale)
    return _young(grant_created_at, Verdict(UNUSED, "commits_not_moving", commits.changed_at), cutoff)


def produce_verdict(usage: TopicUsage, topic_created_at: datetime, grant_created_at: datetime, *,
                    now: datetime, days: int) -> Verdict | None:
    """A produce grant is unused when its topic had no write for `days`."""
    reason = topic_staleness(usage, topic_created_at, now=now, days=days)
    if reason is None:
        return None
    return _young(grant_created_at, Verdict(UNUSED, "no_writes", usage.last_write_at), _cutoff(now, days))


# --- what one gathering records ---------------------------------------------------------------------

def usage_rows(cluster: str, evidence: Mapping[str, TopicEvidence], gathered_at: datetime
               ) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The topic_usage and group_commit_observation rows one gathering writes (as if new: the store's
    upsert keeps `first_seen_at` and keeps `changed_at` while the committed sum stays the same)."""
    topics: list[dict[str, object]] = []
    groups: list[dict[str, object]] = []
    for name, found in sorted(evidence.items()):
        topics.append({"cluster": cluster, "topic": name, "exists": found.exists, "partitions": found.partitions,
                       "last_write_at": found.last_write_at, "gathered_at": gathered_at})
        for usage in found.consumer_groups:
            groups.append({"cluster": cluster, "topic": name, "group_id": usage.group,
                           "committed_offsets": usage.committed_offsets,
                           "committed_partitions": usage.committed_partitions, "lag": usage.lag,
                           "first_seen_at": gathered_at, "changed_at": gathered_at, "seen_at": gathered_at})
    return topics, groups

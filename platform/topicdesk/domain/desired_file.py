"""A team's desired-state file compared with what Topicdesk holds: the requests that close the gap.

Pure: the caller passes the current state of the team on the cluster. Topics are compared on
partitions, replication factor, config and description; grants and quotas only for the team's own
principals (`User:<team>.`). Things the file no longer lists are revoked (grants, quotas) but topics
are deleted only with `prune`, since a missing line must not be able to drop data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CurrentTopic:
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]
    description: str = ""


@dataclass(frozen=True)
class CurrentState:
    topics: Mapping[str, CurrentTopic] = field(default_factory=dict)
    # (topic, principal, access, group, transactional_id, pattern) of the team's principals' grants
    grants: frozenset[tuple[str, str, str, str, str, str]] = frozenset()
    # principal -> {producer_byte_rate, consumer_byte_rate, request_percentage} (set values only)
    quotas: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


QUOTA_KEYS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage")


def grant_tuple(spec: Mapping[str, Any]) -> tuple[str, str, str, str, str, str]:
    return (spec["topic"], spec["principal"], spec["access"], spec.get("group", "") or "",
            spec.get("transactional_id", "") or "", spec.get("pattern", "literal"))


def grant_spec(grant: tuple[str, str, str, str, str, str]) -> dict[str, Any]:
    topic, principal, access, group, transactional_id, pattern = grant
    spec: dict[str, Any] = {"topic": topic, "principal": principal, "access": access}
    if group:
        spec["group"] = group
    if transactional_id:
        spec["transactional_id"] = transactional_id
    if pattern != "literal":
        spec["pattern"] = pattern
    return spec


def requests_for(file: Mapping[str, Any], current: CurrentState, *, prune: bool = False) -> list[dict[str, Any]]:
    """The request documents (kind, cluster, spec, reason) that make Topicdesk hold what the file says."""
    cluster, team = file["cluster"], file["team"]
    reason = f"desired-state file of team {team}"
    out: list[dict[str, Any]] = []

    def add(kind: str, spec: dict[str, Any]) -> None:
        out.append({"kind": kind, "cluster": cluster, "spec": spec, "reason": reason})

    wanted_topics: Sequence[Mapping[str, Any]] = file.get("topics") or []
    listed = set()
    for topic in wanted_topics:
        listed.add(topic["name"])
        have = current.topics.get(topic["name"])
        if have is None:
            add("topic.create", dict(topic))
            continue
        update: dict[str, Any] = {}
        if topic["partitions"] != have.partitions:
            update["partitions"] = topic["partitions"]
        config = dict(topic.get("config") or {})
        changed = {k: v for k, v in config.items() if have.config.get(k) != v}
        changed.update({k: None for k in have.config if k not in config})
        if changed:
            update["config"] = changed
        if "description" in topic and topic["description"] != have.description:
            update["description"] = topic["description"]
        if update:
            add("topic.update", {"name": topic["name"], **update})
        # Replication factor changes are not requests Kafka can carry out; the update's policy and
        # the planner refuse them, so the file's value is not silently ignored: it is a create-time choice.
    if prune:
        for name in sorted(set(current.topics) - listed):
            add("topic.delete", {"name": name})

    wanted_grants = {grant_tuple(g) for g in file.get("grants") or []}
    # Producers and consumers declared on topics are grants too.
    for topic in wanted_topics:
        for principal in topic.get("producers") or []:
            wanted_grants.add((topic["name"], principal, "produce", "", "", "literal"))
        for consumer in topic.get("consumers") or []:
            wanted_grants.add((topic["name"], consumer["principal"], "consume", consumer.get("group", ""), "",
                               "literal"))
    created_topics = {d["spec"]["name"] for d in out if d["kind"] == "topic.create"}
    for grant in sorted(wanted_grants - current.grants):
        if grant[0] in created_topics and grant[5] == "literal" and _declared_on_topic(grant, wanted_topics):
            continue  # the topic.create request carries it
        add("access.grant", grant_spec(grant))
    for grant in sorted(current.grants - wanted_grants):
        add("access.revoke", grant_spec(grant))

    wanted_quotas = {q["principal"]: {k: q[k] for k in QUOTA_KEYS if q.get(k) is not None}
                     for q in file.get("quotas") or []}
    for principal, values in sorted(wanted_quotas.items()):
        have_quota = dict(current.quotas.get(principal) or {})
        if have_quota != values:
            # quota.set leaves unnamed quotas alone; null removes the ones the file no longer sets.
            add("quota.set", {"principal": principal, **values,
                              **{k: None for k in have_quota if k not in values}})
    for principal in sorted(set(current.quotas) - set(wanted_quotas)):
        add("quota.set", {"principal": principal, **{k: None for k in current.quotas[principal]}})
    return out


def _declared_on_topic(grant: tuple[str, str, str, str, str, str], topics: Sequence[Mapping[str, Any]]) -> bool:
    topic = next((t for t in topics if t["name"] == grant[0]), None)
    if topic is None:
        return False
    if grant[2] == "produce":
        return grant[1] in (topic.get("producers") or [])
    return any(c["principal"] == grant[1] and c.get("group", "") == grant[3] for c in topic.get("consumers") or [])

"""The evaluation document: everything a policy rule may look at, as plain JSON-like data.

    {
      "request":   {"kind", "cluster", "spec"},                  # as submitted, spec already valid
      "requester": {"subject", "teams": [...], "roles": [...]},  # roles such as "platform_admin"
      "cluster":   {"name", "environment": "dev"|"staging"|"prod", "owner_team", "tags": [...],
                    "broker_count", "partition_budget", "disk_budget_bytes",     # null = unknown
                    "usage": {"partitions", "replicas", "disk_bytes"}},          # now, on the cluster
      "topic":     null | {"name", "owner_team", "partitions", "replication_factor", "config",
                           "expected_bytes_per_second", "grants": [{"principal", "access", "group"}]},
      "proposed":  null | {"name", "partitions", "replication_factor", "config",
                           "expected_bytes_per_second", "added_partitions", "added_replicas"},
      "ownership": {"topic_owner_team", "principal_team", "requester_owns_topic",
                    "requester_owns_cluster", "requester_owns_principal"},
      "grant":     null | {"expires_at", "duration_seconds", "cross_team"}   # access.grant only
      "evidence":  null | {"available", "error", "gathered_at", "exists", "partitions",
                           "consumer_groups": [{"group", "team", "state", "members",
                                                "committed_partitions", "lag"}],
                           "active_consumers", "active_groups", "last_write_at",
                           "days_since_last_write", "other_team_grants": [{"principal", "team",
                           "access"}], "consuming_teams", "affected_teams"}
      "migration": null | {"source": {"name", "environment", "owner_team"},
                           "target": {"name", "environment", "owner_team", "broker_count"},
                           "requester_owns_target", "approving_teams", "available", "error",
                           "topics", "missing_topics", "conflicting_topics", "foreign_topics",
                           "refused_topics", "refusals": [{"topic", "reason"}], "adjusted_topics",
                           "exception_topics", "exceptions": [{"topic", "reason"}],
                           "consumer_groups", "consuming_teams"}
    }

`topic` is the topic the request names as Topicdesk knows it now (updates, deletes, grants and
revokes; null for a new or unknown topic and for quotas). `proposed` is the topic as it would be
after a topic.create or topic.update: the current state merged with the spec (config keys set to
null removed), plus how many partitions and partition replicas the request adds. It is null for the
other kinds. `ownership` answers who owns what, so rules can say "another team asks" declaratively:
the topic's owner team (the cluster's owner for a topic Topicdesk does not know), the team of
request.spec.principal (`User:<team>.<name>`; null when there is no principal or no dot), and
whether any of the requester's teams owns the topic, the cluster and the principal (null when there
is no principal). `grant` (access.grant only) says how long the access would last if approved
now: `expires_at` (RFC 3339) and `duration_seconds` from the spec's expires_at or duration (both
null: no expiry), and `cross_team`, whether the principal's team is not the topic's owner.
schemas/evaluation-document.json is the same description as a JSON Schema.

`evidence` is set for topic.delete only (null otherwise): what the cluster said about the topic's
use (domain/evidence.py: consumer groups with commits, the last write) plus what follows from it
and from the topic's grants. A group's team is the team of the grant naming that group, else the
group name's prefix before the first dot. `active_consumers` counts groups with members;
`other_team_grants` are grants of principals outside the topic's owner team; `consuming_teams`
are the other teams with a committed group or a consume grant; `affected_teams` adds the teams of
every other-team grant. Unavailable evidence (the cluster did not answer, or nothing was
gathered) keeps the grant-derived fields and nulls the cluster-derived ones: rules must treat it as
unknown, not as unused.

`migration` is set for topic.migrate only (null otherwise): the request's cluster is the source
and `migration.target` the cluster the topics move to. It summarises the migration plan
(domain/migration_plan.py) computed from one snapshot of the source: the selected topics, the
named ones the source does not have, the ones the target already has (`conflicting_topics`), the
ones whose team prefix is not the target owner's (`foreign_topics`), the ones the target's limits
or topic.create policies refuse (`refused_topics`, reasons in `refusals`), adjust
(`adjusted_topics`) or treat as exceptions a platform admin decides (`exception_topics`, reasons in
`exceptions`), and the consumer groups and teams that move with them. `approving_teams` are
the source's and the target's owner teams. `available` is false when the snapshot could not be
taken (`error` says why): then the topic lists are empty and rules must not read them as "fine".

The document is built once per request and shares the spec with the request: evaluate() only
reads it, so nobody pays for a deep copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from topicdesk.domain.expiry import grant_expires_at, rfc3339


@dataclass(frozen=True)
class Requester:
    subject: str = ""
    teams: Sequence[str] = ()
    roles: Sequence[str] = ()


@dataclass(frozen=True)
class ClusterUsage:
    partitions: int = 0
    replicas: int = 0
    disk_bytes: int = 0


@dataclass(frozen=True)
class ClusterFacts:
    name: str
    environment: str
    owner_team: str
    tags: Sequence[str] = ()
    broker_count: int | None = None
    partition_budget: int | None = None
    disk_budget_bytes: int | None = None
    usage: ClusterUsage = field(default_factory=ClusterUsage)


@dataclass(frozen=True)
class TopicFacts:
    name: str
    owner_team: str
    partitions: int | None = None
    replication_factor: int | None = None
    config: Mapping[str, str] = field(default_factory=dict)
    expected_bytes_per_second: int | None = None
    grants: Sequence[Mapping[str, Any]] = ()


def _plain(value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"expected a mapping or a dataclass, got {type(value).__name__}")


def _requester(value: Requester | Mapping[str, Any]) -> dict[str, Any]:
    data = _plain(value)
    return {
        "subject": data.get("subject", ""),
        "teams": list(data.get("teams") or ()),
        "roles": list(data.get("roles") or ()),
    }


def _cluster(value: ClusterFacts | Mapping[str, Any]) -> dict[str, Any]:
    data = _plain(value)
    usage = _plain(data.get("usage") or {})
    return {
        "name": data["name"],
        "environment": data["environment"],
        "owner_team": data["owner_team"],
        "tags": list(data.get("tags") or ()),
        "broker_count": data.get("broker_count"),
        "partition_budget": data.get("partition_budget"),
        "disk_budget_bytes": data.get("disk_budget_bytes"),
        "usage": {
            "partitions": usage.get("partitions", 0),
            "replicas": usage.get("replicas", 0),
            "disk_bytes": usage.get("disk_bytes", 0),
        },
    }


def _topic(value: TopicFacts | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    data = _plain(value)
    return {
        "name": data["name"],
        "owner_team": data["owner_team"],
        "partitions": data.get("partitions"),
        "replication_factor": data.get("replication_factor"),
        "config": dict(data.get("config") or {}),
        "expected_bytes_per_second": data.get("expected_bytes_per_second"),
        "grants": [dict(grant) for grant in data.get("grants") or ()],
    }


def _proposed(kind: str, spec: Mapping[str, Any], topic: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if kind == "topic.create":
        current: Mapping[str, Any] = {}
    elif kind == "topic.update":
        current = topic or {}
    else:
        return None
    config = dict(current.get("config") or {})
    for key, value in (spec.get("config") or {}).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    partitions = spec.get("partitions", current.get("partitions"))
    replication_factor = spec.get("replication_factor", current.get("replication_factor"))
    throughput = spec.get("expected_throughput")
    bytes_per_second = (
        throughput.get("bytes_per_second")
        if isinstance(throughput, Mapping)
        else current.get("expected_bytes_per_second")
    )
    old_partitions = current.get("partitions") or 0
    old_replicas = old_partitions * (current.get("replication_factor") or 0)
    new_partitions = partitions if isinstance(partitions, int) else 0
    new_replicas = new_partitions * (replication_factor if isinstance(replication_factor, int) else 0)
    return {
        "name": spec.get("name", current.get("name")),
        "partitions": partitions,
        "replication_factor": replication_factor,
        "config": config,
        "expected_bytes_per_second": bytes_per_second,
        "added_partitions": max(0, new_partitions - old_partitions),
        "added_replicas": max(0, new_replicas - old_replicas),
    }


def topic_owner_team(document: Mapping[str, Any]) -> str | None:
    """The topic's owner; a topic Topicdesk does not know yet belongs to the cluster's owner."""
    topic = document.get("topic")
    if isinstance(topic, Mapping) and topic.get("owner_team"):
        return str(topic["owner_team"])
    cluster = document.get("cluster")
    owner = cluster.get("owner_team") if isinstance(cluster, Mapping) else None
    return str(owner) if owner else None


def _cross_team_principals(spec: Mapping[str, Any], owner: str | None) -> list[str]:
    """Producers and consumers a topic.create names from outside the owner team: those are
    cross-team grants too, which never expire when declared at creation."""
    named = [*(spec.get("producers") or []), *(c.get("principal") for c in spec.get("consumers") or [])]
    return sorted({p for p in named if isinstance(p, str) and principal_team(p) != owner})


def principal_team(principal: object) -> str | None:
    """`User:payments.invoice-writer` -> `payments`; None for anything without a team prefix."""
    if not isinstance(principal, str) or not principal.startswith("User:"):
        return None
    team, dot, rest = principal[len("User:") :].partition(".")
    return team if dot and team and rest else None


def _ownership(document: Mapping[str, Any]) -> dict[str, Any]:
    teams = document["requester"]["teams"]
    topic_owner = topic_owner_team(document)
    owner_of_principal = principal_team(document["request"]["spec"].get("principal"))
    return {
        "topic_owner_team": topic_owner,
        "principal_team": owner_of_principal,
        "requester_owns_topic": topic_owner in teams,
        "requester_owns_cluster": document["cluster"]["owner_team"] in teams,
        "requester_owns_principal": None if owner_of_principal is None else owner_of_principal in teams,
    }


def _grant(document: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
    if document["request"]["kind"] != "access.grant":
        return None
    spec = document["request"]["spec"]
    ends = grant_expires_at(spec, now)
    ownership = document["ownership"]
    return {
        "expires_at": rfc3339(ends) if ends is not None else None,
        "duration_seconds": int((ends - now).total_seconds()) if ends is not None else None,
        # A principal without a team prefix belongs to nobody known: treated as another team's.
        "cross_team": ownership["principal_team"] is None
        or ownership["principal_team"] != ownership["topic_owner_team"],
    }


_NOT_GATHERED: Mapping[str, Any] = {"available": False, "error": "no usage evidence was gathered"}


def _moment(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _group_team(group: str, grants: Sequence[Mapping[str, Any]]) -> str | None:
    for grant in grants:
        if grant.get("group") == group and (team := principal_team(grant.get("principal"))):
            return team
    team, dot, rest = group.partition(".")
    return team if dot and team and rest else None


def _evidence(kind: str, gathered: Mapping[str, Any] | None, topic: Mapping[str, Any] | None,
              owner: str | None) -> dict[str, Any] | None:
    if kind != "topic.delete":
        return None
    raw = gathered if gathered is not None else _NOT_GATHERED
    available = bool(raw.get("available"))
    grants: Sequence[Mapping[str, Any]] = (topic or {}).get("grants") or ()
    groups = [{"group": g["group"], "team": _group_team(g["group"], grants), "state": g.get("state", "UNKNOWN"),
               "members": int(g.get("members") or 0), "committed_partitions": int(g.get("committed_partitions") or 0),
               "lag": g.get("lag")}
              for g in (raw.get("consumer_groups") or ()) if available]
    others = [{"principal": g["principal"], "team": team, "access": g["access"]}
              for g in grants if (team := principal_team(g.get("principal"))) is not None and team != owner]
    consuming = {g["team"] for g in groups if g["team"] and g["team"] != owner}
    consuming |= {g["team"] for g in others if g["access"] == "consume"}
    last_write, gathered_at = _moment(raw.get("last_write_at")), _moment(raw.get("gathered_at"))
    days = None
    if available and last_write is not None and gathered_at is not None:
        days = round(max(0.0, (gathered_at - last_write).total_seconds()) / 86400, 2)
    active = [g["group"] for g in groups if g["members"] > 0]
    return {
        "available": available,
        "error": None if available else str(raw.get("error") or "unknown"),
        "gathered_at": raw.get("gathered_at"),
        "exists": raw.get("exists") if available else None,
        "partitions": raw.get("partitions") if available else None,
        "consumer_groups": groups,
        "active_consumers": len(active) if available else None,
        "active_groups": active,
        "last_write_at": raw.get("last_write_at") if available else None,
        "days_since_last_write": days,
        "other_team_grants": others,
        "consuming_teams": sorted(consuming),
        "affected_teams": sorted(consuming | {g["team"] for g in others}),
    }


def build_evaluation_document(
    request: Mapping[str, Any],
    requester: Requester | Mapping[str, Any],
    cluster: ClusterFacts | Mapping[str, Any],
    topic_state: TopicFacts | Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
    evidence: Mapping[str, Any] | None = None,
    migration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The document policies are evaluated against (shape in this module's docstring).

    `request` is the submitted request ({kind, cluster, spec}; other keys are ignored); the others
    may be the dataclasses of this module or mappings with the same keys. `now` (default: the
    clock) is when a duration would start, as if the request were approved at once. `evidence` is
    the gathered usage evidence of a topic.delete (domain.evidence.evidence_facts), None when none was;
    `migration` the facts of a topic.migrate's plan (services/migration_request.py).
    """
    kind = request["kind"]
    spec: Mapping[str, Any] = request.get("spec") or {}
    topic = _topic(topic_state)
    document = {
        "request": {"kind": kind, "cluster": request.get("cluster"), "spec": spec},
        "requester": _requester(requester),
        "cluster": _cluster(cluster),
        "topic": topic,
        "proposed": _proposed(kind, spec, topic),
    }
    document["ownership"] = _ownership(document)
    if kind == "topic.create" and document["proposed"] is not None:
        document["proposed"]["cross_team_principals"] = _cross_team_principals(spec, topic_owner_team(document))
    document["grant"] = _grant(document, now or datetime.now(UTC))
    document["evidence"] = _evidence(kind, evidence, topic, topic_owner_team(document))
    document["migration"] = _migration(kind, migration)
    return document


_NO_SNAPSHOT: Mapping[str, Any] = {"available": False, "error": "no migration plan was computed"}


def _migration(kind: str, facts: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if kind != "topic.migrate":
        return None
    raw = facts if facts is not None else _NO_SNAPSHOT
    lists = ("topics", "missing_topics", "conflicting_topics", "foreign_topics", "refused_topics",
             "adjusted_topics", "exception_topics", "consumer_groups", "consuming_teams", "approving_teams")
    return {
        "source": dict(raw.get("source") or {}),
        "target": dict(raw.get("target") or {}),
        "requester_owns_target": bool(raw.get("requester_owns_target")),
        "available": bool(raw.get("available")),
        "error": None if raw.get("available") else str(raw.get("error") or "unknown"),
        **{key: list(raw.get(key) or ()) for key in lists},
        "refusals": [dict(r) for r in raw.get("refusals") or ()],
        "exceptions": [dict(r) for r in raw.get("exceptions") or ()],
    }

"""The plan of a topic migration (pure): what the target cluster needs so the topics can move.

Computed from one snapshot of the source (topics with partitions and configs, ACL bindings,
consumer groups with members and offsets: a describe and a usage-evidence read, both bulk) and
the target's facts (broker count, partition budget, topics it already has, SCRAM users). The
plan is data the request stores and shows before anyone approves it:

- target topics with the source's partitions and configs, adjusted where the target's limits say
  so (replication factor above its brokers, min.insync.replicas above the new factor), each
  adjustment with its reason, or refused (partition budget, a topic the target already has);
- the access grants to re-create on the target, read back from the source's ACLs;
- the service accounts the target needs (new SCRAM credentials, shown once to the owning team);
- the consumer groups to move (discovered from their commits, plus the ones the spec names);
- what each team must change: bootstrap servers and credentials, nothing else, because topic
  names are preserved.

The target's *policies* (topic.create rules on the target) are applied by the workflow, which
evaluates each planned topic and records refusals with `refuse_topic`; this module stays pure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from topicdesk.domain.acls import AclBinding, AclOperation, AclPermission, ResourceType
from topicdesk.domain.evidence import TopicEvidence
from topicdesk.domain.model import Access, AccessGrant, PatternType, team_of_principal
from topicdesk.domain.plan import ObservedTopic

MIN_INSYNC = "min.insync.replicas"


@dataclass(frozen=True)
class SourceSnapshot:
    """What the source cluster said, in one bulk read. `topics`: the selected topics that exist."""

    cluster: str
    bootstrap_servers: str
    topics: Mapping[str, ObservedTopic]
    acls: frozenset[AclBinding] = frozenset()
    evidence: Mapping[str, TopicEvidence] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetFacts:
    cluster: str
    owner_team: str
    bootstrap_servers: str
    broker_count: int | None = None  # None: unknown, no replication-factor adjustment
    partition_budget: int | None = None
    partitions_used: int = 0  # the target's partitions now (the budget counts partitions)
    # Topics the target already has (on the cluster or desired in Topicdesk): a migrated topic
    # must not land on one, or two data sets would mix.
    existing_topics: frozenset[str] = frozenset()
    scram_users: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Adjustment:
    field: str
    source: Any
    target: Any
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "source": self.source, "target": self.target, "reason": self.reason}


@dataclass(frozen=True)
class TargetTopic:
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]
    source_replication_factor: int
    adjustments: tuple[Adjustment, ...] = ()
    refusals: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "partitions": self.partitions, "replication_factor": self.replication_factor,
                "config": dict(sorted(self.config.items())),
                "source_replication_factor": self.source_replication_factor,
                "adjustments": [a.to_dict() for a in self.adjustments], "refused": self.refused,
                "refusals": list(self.refusals)}


@dataclass(frozen=True)
class GroupMove:
    group: str
    team: str | None
    topics: tuple[str, ...]
    state: str
    members: int
    lag: int | None
    discovered: bool  # False: named in the spec, no commit seen on the source

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "team": self.team, "topics": list(self.topics), "state": self.state,
                "members": self.members, "lag": self.lag, "discovered": self.discovered}


@dataclass(frozen=True)
class ServiceAccountNeed:
    principal: str
    team: str
    exists_on_target: bool

    def to_dict(self) -> dict[str, Any]:
        return {"principal": self.principal, "team": self.team, "exists_on_target": self.exists_on_target,
                "action": "none" if self.exists_on_target else "create_scram_credentials"}


@dataclass(frozen=True)
class MigrationPlan:
    source: str
    target: str
    requested_topics: tuple[str, ...]
    topics: tuple[TargetTopic, ...]
    missing_topics: tuple[str, ...]
    conflicting_topics: tuple[str, ...]
    grants: tuple[AccessGrant, ...]
    service_accounts: tuple[ServiceAccountNeed, ...]
    consumer_groups: tuple[GroupMove, ...]
    team_changes: tuple[Mapping[str, Any], ...]
    notes: tuple[str, ...] = ()

    @property
    def refused_topics(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.topics if t.refused)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "target": self.target,
            "requested_topics": list(self.requested_topics),
            "topics": [t.to_dict() for t in self.topics],
            "missing_topics": list(self.missing_topics),
            "conflicting_topics": list(self.conflicting_topics),
            "refused_topics": list(self.refused_topics),
            "grants": [grant_dict(g) for g in self.grants],
            "service_accounts": [s.to_dict() for s in self.service_accounts],
            "consumer_groups": [g.to_dict() for g in self.consumer_groups],
            "team_changes": [dict(c) for c in self.team_changes],
            "notes": list(self.notes),
        }


def grant_dict(grant: AccessGrant) -> dict[str, Any]:
    out: dict[str, Any] = {"topic": grant.topic, "principal": grant.principal, "access": str(grant.access)}
    if grant.group:
        out["group"] = grant.group
        if grant.group_pattern is not PatternType.LITERAL:
            out["group_pattern"] = str(grant.group_pattern)
    if grant.transactional_id:
        out["transactional_id"] = grant.transactional_id
    return out


def select_topics(names_on_source: Collection[str], topics: Sequence[str] | None, prefix: str | None
                  ) -> tuple[list[str], list[str]]:
    """(selected topics that exist on the source, named topics that do not)."""
    present = set(names_on_source)
    if topics is not None:
        return [t for t in topics if t in present], [t for t in topics if t not in present]
    return sorted(n for n in present if prefix and n.startswith(prefix)), []


def group_team(group: str, grants: Sequence[AccessGrant]) -> str | None:
    """A group belongs to the team of the principal granted it, else to its name's prefix."""
    for grant in grants:
        if grant.group == group:
            return team_of_principal(grant.principal) or None
    team, dot, rest = group.partition(".")
    return team if dot and team and rest else None


def _acl_matches(binding: AclBinding, name: str) -> bool:
    if binding.pattern is PatternType.PREFIXED:
        return name.startswith(binding.resource_name)
    return binding.resource_name == name


def _grants_on(topic: str, acls: frozenset[AclBinding], topic_groups: Collection[str]) -> list[AccessGrant]:
    allowed = [b for b in acls if b.permission is AclPermission.ALLOW]
    on_topic = [b for b in allowed if b.resource_type is ResourceType.TOPIC and _acl_matches(b, topic)]
    grants: set[AccessGrant] = set()
    for principal in sorted({b.principal for b in on_topic}):
        ops = {b.operation for b in on_topic if b.principal == principal}
        if ops & {AclOperation.WRITE, AclOperation.ALL}:
            txns: Sequence[str | None] = sorted(b.resource_name for b in allowed if b.principal == principal
                                            and b.resource_type is ResourceType.TRANSACTIONAL_ID
                                            and b.operation in (AclOperation.WRITE, AclOperation.ALL))
            for txn in txns or [None]:
                grants.add(AccessGrant(principal, topic, Access.PRODUCE, transactional_id=txn))
        if ops & {AclOperation.READ, AclOperation.ALL}:
            group_acls = [b for b in allowed if b.principal == principal and b.resource_type is ResourceType.GROUP
                          and b.operation in (AclOperation.READ, AclOperation.ALL)]
            # Prefer the groups that actually consume this topic; a principal's other groups may
            # belong to other topics.
            used = [b for b in group_acls if any(_acl_matches(b, g) for g in topic_groups)]
            for b in used or group_acls:
                grants.add(AccessGrant(principal, topic, Access.CONSUME, group=b.resource_name,
                                       group_pattern=b.pattern))
    return sorted(grants, key=lambda g: (g.topic, g.principal, str(g.access), g.group or "", g.transactional_id or ""))


def _target_topic(source: ObservedTopic, target: TargetFacts) -> TargetTopic:
    adjustments: list[Adjustment] = []
    config = dict(source.config)
    rf = source.replication_factor
    if target.broker_count is not None and rf > target.broker_count:
        adjustments.append(Adjustment("replication_factor", rf, target.broker_count,
                                      f"{target.cluster} has {target.broker_count} broker(s); a topic cannot have "
                                      f"more replicas than brokers"))
        rf = target.broker_count
    min_insync = config.get(MIN_INSYNC)
    if min_insync is not None and min_insync.isdigit() and int(min_insync) > rf:
        # min.insync.replicas above the replica count would refuse every acks=all write.
        new = str(max(1, rf - 1) if rf > 1 else 1)
        adjustments.append(Adjustment(f"config.{MIN_INSYNC}", min_insync, new,
                                      f"with replication factor {rf}, min.insync.replicas {min_insync} would refuse "
                                      "every acks=all write"))
        config[MIN_INSYNC] = new
    refusals: list[str] = []
    if source.name in target.existing_topics:
        refusals.append(f"{target.cluster} already has a topic named {source.name}; migrated data must not mix "
                        "with it (delete or rename it there first)")
    return TargetTopic(source.name, source.partitions, rf, config, source.replication_factor, tuple(adjustments),
                       tuple(refusals))


def _within_budget(topics: list[TargetTopic], target: TargetFacts) -> list[TargetTopic]:
    if target.partition_budget is None:
        return topics
    used = target.partitions_used
    out = []
    for topic in topics:
        if not topic.refused and used + topic.partitions > target.partition_budget:
            topic = replace(topic, refusals=(*topic.refusals,
                                              f"{topic.partitions} partitions would take {target.cluster} to "
                                              f"{used + topic.partitions} of its budget of {target.partition_budget}"))
        elif not topic.refused:
            used += topic.partitions
        out.append(topic)
    return out


def _team_changes(grants: Sequence[AccessGrant], groups: Sequence[GroupMove], source: SourceSnapshot,
                  target: TargetFacts) -> list[dict[str, Any]]:
    teams: dict[str, dict[str, set[str]]] = {}
    for grant in grants:
        team = team_of_principal(grant.principal) or "(no team prefix)"
        entry = teams.setdefault(team, {"producers": set(), "consumers": set(), "groups": set(), "topics": set()})
        entry["producers" if grant.access is Access.PRODUCE else "consumers"].add(grant.principal)
        entry["topics"].add(grant.topic)
    for group in groups:
        entry = teams.setdefault(group.team or "(no team prefix)",
                                 {"producers": set(), "consumers": set(), "groups": set(), "topics": set()})
        entry["groups"].add(group.group)
        entry["topics"].update(group.topics)
    changes = []
    for team, entry in sorted(teams.items()):
        principals = sorted(entry["producers"] | entry["consumers"])
        must = [f"bootstrap servers: {source.bootstrap_servers} -> {target.bootstrap_servers}"]
        if principals:
            must.append(f"SCRAM credentials for {', '.join(principals)} on {target.cluster} (new passwords, "
                        "shown once to the owning team)")
        changes.append({"team": team, "producers": sorted(entry["producers"]), "consumers": sorted(entry["consumers"]),
                        "consumer_groups": sorted(entry["groups"]), "topics": sorted(entry["topics"]),
                        "change": must,
                        "unchanged": "topic names, consumer group ids and committed positions (offsets are "
                                     "translated to the target)"})
    return changes


def plan_migration(source: SourceSnapshot, target: TargetFacts, *, topics: Sequence[str] | None = None,
                   prefix: str | None = None, consumer_groups: Sequence[str] = ()) -> MigrationPlan:
    """The plan for moving the selected topics (by name, or every one starting with `prefix`)."""
    selected, missing = select_topics(source.topics.keys(), topics, prefix)
    planned = _within_budget([_target_topic(source.topics[name], target) for name in selected], target)
    usage: dict[str, list[tuple[str, Any]]] = {}
    for name in selected:
        evidence = source.evidence.get(name)
        for group in evidence.consumer_groups if evidence else ():
            usage.setdefault(group.group, []).append((name, group))
    grants = [g for name in selected for g in _grants_on(name, source.acls,
                                                           [gid for gid, used in usage.items()
                                                            if any(t == name for t, _ in used)])]
    groups: list[GroupMove] = []
    for gid in sorted(usage):
        used = usage[gid]
        lags = [u.lag for _, u in used]
        groups.append(GroupMove(gid, group_team(gid, grants), tuple(sorted(t for t, _ in used)), used[0][1].state,
                                max(u.members for _, u in used),
                                None if any(lag is None for lag in lags)
                                else sum(lag for lag in lags if lag is not None),
                                discovered=True))
    notes = []
    for gid in consumer_groups:
        if gid not in usage:
            groups.append(GroupMove(gid, group_team(gid, grants), (), "UNKNOWN", 0, None, discovered=False))
            notes.append(f"consumer group {gid} has no committed offsets on these topics on {source.cluster}; it "
                         "starts on the target from its auto.offset.reset position")
    principals = sorted({g.principal for g in grants})
    accounts = [ServiceAccountNeed(p, team_of_principal(p), p in target.scram_users) for p in principals]
    return MigrationPlan(
        source=source.cluster, target=target.cluster,
        requested_topics=tuple(topics) if topics is not None else tuple(selected),
        topics=tuple(planned), missing_topics=tuple(missing),
        conflicting_topics=tuple(name for name in selected if name in target.existing_topics),
        grants=tuple(grants), service_accounts=tuple(accounts), consumer_groups=tuple(groups),
        team_changes=tuple(_team_changes(grants, groups, source, target)), notes=tuple(notes))


def refuse_topic(plan: MigrationPlan, name: str, reasons: Sequence[str]) -> MigrationPlan:
    """The plan with `name` refused for these reasons (e.g. the target's policies deny creating it)."""
    topics = tuple(replace(t, refusals=(*t.refusals, *reasons)) if t.name == name and reasons else t
                   for t in plan.topics)
    return replace(plan, topics=topics)

"""A team's desired-state file compared with what Topicdesk holds: the changes that close the gap.

Pure: the caller passes the current state of the team on the cluster, each resource with its
`managed_by` (the source name of the file that manages it; None: made through the portal/API).

A file manages exactly what it declares:
- a resource the file declares and nobody holds is created (and becomes managed by the file);
- one that the portal/API made (or that nobody marked) is *adopted*: the marker is recorded, and a
  request is made only for what differs; one another file manages is an error (409 inside);
- within a resource the file manages, what it declares is what it sets: a config key it stops
  declaring is reset, a quota key it stops declaring is removed;
- a managed resource the file stops declaring is deleted (topic), revoked (grant) or removed (quota);
- resources the file does not declare and does not manage are never looked at.
Every reset, revoke, removal and delete is *destructive*; the caller submits those only when the
apply says allow_destroy. A change that has both kinds is split in two changes of one resource, so
the safe part is not held back by the destructive one. A partition decrease or a replication factor
change is an error with the planner's reason (domain/plan.py refuses them the same way).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from topicdesk.domain.plan import RefusalReason

Grant = tuple[str, str, str, str, str, str]  # (topic, principal, access, group, transactional_id, pattern)
Action = Literal["create", "update", "delete", "adopt"]
ResourceType = Literal["topic", "access_grant", "quota"]
QUOTA_KEYS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage")


@dataclass(frozen=True)
class CurrentTopic:
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]
    description: str = ""
    managed_by: str | None = None


@dataclass(frozen=True)
class CurrentQuota:
    values: Mapping[str, float]  # set values only
    managed_by: str | None = None


@dataclass(frozen=True)
class CurrentState:
    """What Topicdesk holds for the team on the cluster: its live, active topics; the grants of its
    principals and the grants on its topics; its principals' quotas. Each with its managed_by."""

    topics: Mapping[str, CurrentTopic] = field(default_factory=dict)
    grants: Mapping[Grant, str | None] = field(default_factory=dict)
    quotas: Mapping[str, CurrentQuota] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldDiff:
    field: str
    before: Any
    after: Any
    destructive: bool = False

    def view(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after, "destructive": self.destructive}


@dataclass(frozen=True)
class PlanError:
    status: int
    reason: str
    message: str

    def view(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "message": self.message, "errors": []}


@dataclass(frozen=True)
class PlannedChange:
    action: Action
    resource_type: ResourceType
    key: str
    name: str
    diff: tuple[FieldDiff, ...] = ()
    destructive: bool = False
    # The request document (kind, cluster, spec, reason) that makes the change; None: nothing to ask
    # (an adoption that only records the marker, or an error).
    request: dict[str, Any] | None = None
    error: PlanError | None = None
    # The marker the resource has now (an adoption: None or another file's source).
    managed_by: str | None = None
    # Which resource: (topic name,), the grant tuple, or (principal,) of a quota.
    target: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    changes: tuple[PlannedChange, ...]
    in_sync: int  # declared resources that already match (counted, not listed)


def grant_tuple(spec: Mapping[str, Any]) -> Grant:
    return (spec["topic"], spec["principal"], spec["access"], spec.get("group", "") or "",
            spec.get("transactional_id", "") or "", spec.get("pattern", "literal"))


def grant_spec(grant: Grant) -> dict[str, Any]:
    topic, principal, access, group, transactional_id, pattern = grant
    spec: dict[str, Any] = {"topic": topic, "principal": principal, "access": access}
    if group:
        spec["group"] = group
    if transactional_id:
        spec["transactional_id"] = transactional_id
    if pattern != "literal":
        spec["pattern"] = pattern
    return spec


def grant_key(grant: Grant) -> str:
    topic, principal, access, group, transactional_id, pattern = grant
    key = f"access_grant:{pattern}:{topic}:{principal}:{access}"
    return key + (f":group={group}" if group else "") + (f":transactional_id={transactional_id}"
                                                         if transactional_id else "")


def grant_name(grant: Grant) -> str:
    topic, principal, access, group, transactional_id, pattern = grant
    extra = f" (group {group})" if group else f" (transactional id {transactional_id})" if transactional_id else ""
    return f"{principal} {access} {topic}{' prefix' if pattern != 'literal' else ''}{extra}"


def other_file(managed_by: str) -> PlanError:
    return PlanError(409, "conflict", f"managed by desired-state file {managed_by}; remove it from one of the "
                                      "two files (a resource has one managing file)")


def declared_grants(file: Mapping[str, Any]) -> set[Grant]:
    """The file's grants: its grants list and the producers and consumers declared on its topics."""
    wanted = {grant_tuple(g) for g in file.get("grants") or []}
    for topic in file.get("topics") or []:
        for principal in topic.get("producers") or []:
            wanted.add((topic["name"], principal, "produce", "", "", "literal"))
        for consumer in topic.get("consumers") or []:
            wanted.add((topic["name"], consumer["principal"], "consume", consumer.get("group", ""), "", "literal"))
    return wanted


class _Planner:
    def __init__(self, file: Mapping[str, Any], current: CurrentState, source: str) -> None:
        self.file, self.current, self.source = file, current, source
        self.cluster = file["cluster"]
        self.reason = f"desired-state file {source}"
        self.changes: list[PlannedChange] = []
        self.in_sync = 0
        # Topics this plan deletes: a topic.delete quarantines the topic's grants itself, and a
        # revoke on a quarantined topic would be refused.
        self.deleting: set[str] = set()

    def document(self, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"kind": kind, "cluster": self.cluster, "spec": spec, "reason": self.reason}

    def add(self, action: Action, resource_type: ResourceType, key: str, name: str, diff: Sequence[FieldDiff],
            request: tuple[str, dict[str, Any]] | None = None, *, destructive: bool = False,
            error: PlanError | None = None, managed_by: str | None = None, target: tuple[str, ...] = ()) -> None:
        target = target or (name,)
        self.changes.append(PlannedChange(action, resource_type, key, name, tuple(diff), destructive,
                                          self.document(*request) if request else None, error, managed_by, target))

    def owned_action(self, managed_by: str | None) -> Action:
        return "update" if managed_by == self.source else "adopt"

    # --- topics ------------------------------------------------------------------------------------

    def topics(self) -> set[str]:
        created = set()
        declared = set()
        for topic in self.file.get("topics") or []:
            name = topic["name"]
            declared.add(name)
            have = self.current.topics.get(name)
            key = f"topic:{name}"
            if have is None:
                created.add(name)
                diff = [FieldDiff("partitions", None, topic["partitions"]),
                        FieldDiff("replication_factor", None, topic["replication_factor"]),
                        *(FieldDiff(f"config.{k}", None, v) for k, v in sorted((topic.get("config") or {}).items())),
                        *([FieldDiff("description", None, topic["description"])] if topic.get("description") else [])]
                self.add("create", "topic", key, name, diff, ("topic.create", dict(topic)))
                continue
            if have.managed_by not in (None, self.source):
                self.add("adopt", "topic", key, name, [], error=other_file(str(have.managed_by)),
                         managed_by=have.managed_by)
                continue
            self.topic_changes(topic, have, key)
        for name in sorted(set(self.current.topics) - declared):
            if self.current.topics[name].managed_by == self.source:
                self.deleting.add(name)
                self.add("delete", "topic", f"topic:{name}", name, [FieldDiff("topic", name, None, True)],
                         ("topic.delete", {"name": name}), destructive=True, managed_by=self.source)
        return created

    def topic_changes(self, topic: Mapping[str, Any], have: CurrentTopic, key: str) -> None:
        name, action = topic["name"], self.owned_action(have.managed_by)
        refused: list[FieldDiff] = []
        messages = []
        if topic["partitions"] < have.partitions:
            refused.append(FieldDiff("partitions", have.partitions, topic["partitions"]))
            messages.append(f"Kafka cannot remove partitions: {name} has {have.partitions}, "
                            f"{topic['partitions']} were asked; create a new topic instead")
        if topic["replication_factor"] != have.replication_factor:
            refused.append(FieldDiff("replication_factor", have.replication_factor, topic["replication_factor"]))
            messages.append(f"changing the replication factor of {name} from {have.replication_factor} to "
                            f"{topic['replication_factor']} needs a partition reassignment, which Topicdesk does "
                            "not do")
        if refused:
            reason = (RefusalReason.PARTITION_DECREASE if topic["partitions"] < have.partitions
                      else RefusalReason.REPLICATION_FACTOR_CHANGE)
            self.add(action, "topic", key, name, refused, error=PlanError(422, reason.value, "; ".join(messages)),
                     managed_by=have.managed_by)
        update: dict[str, Any] = {}
        diff: list[FieldDiff] = []
        if topic["partitions"] > have.partitions:
            update["partitions"] = topic["partitions"]
            diff.append(FieldDiff("partitions", have.partitions, topic["partitions"]))
        config = dict(topic.get("config") or {})
        changed = {k: v for k, v in sorted(config.items()) if have.config.get(k) != v}
        if changed:
            update["config"] = changed
            diff += [FieldDiff(f"config.{k}", have.config.get(k), v) for k, v in changed.items()]
        if "description" in topic and topic["description"] != have.description:
            update["description"] = topic["description"]
            diff.append(FieldDiff("description", have.description, topic["description"]))
        if update or action == "adopt":
            self.add(action, "topic", key, name, diff, ("topic.update", {"name": name, **update}) if update else None,
                     managed_by=have.managed_by)
        resets = sorted(k for k in have.config if k not in config)
        if resets:
            resetting = [FieldDiff(f"config.{k}", have.config[k], None, True) for k in resets]
            self.add("update", "topic", key, name, resetting,
                     ("topic.update", {"name": name, "config": dict.fromkeys(resets)}), destructive=True,
                     managed_by=have.managed_by)
        if not (refused or update or resets or action == "adopt"):
            self.in_sync += 1

    # --- grants ------------------------------------------------------------------------------------

    def grants(self, created_topics: set[str]) -> None:
        wanted = declared_grants(self.file)
        carried = {g for g in wanted if g[0] in created_topics and g[5] == "literal" and _on_topic(g, self.file)}
        for grant in sorted(wanted):
            key, name = grant_key(grant), grant_name(grant)
            if grant not in self.current.grants:
                if grant in carried:
                    continue  # the topic.create request carries it
                self.add("create", "access_grant", key, name, [FieldDiff("grant", None, name)],
                         ("access.grant", grant_spec(grant)), target=grant)
                continue
            managed_by = self.current.grants[grant]
            if managed_by == self.source:
                self.in_sync += 1
            elif managed_by is None:
                self.add("adopt", "access_grant", key, name, [], target=grant)
            else:
                self.add("adopt", "access_grant", key, name, [], error=other_file(managed_by), managed_by=managed_by,
                         target=grant)
        for grant in sorted(g for g, managed_by in self.current.grants.items()
                            if managed_by == self.source and g not in wanted
                            and not (g[5] == "literal" and g[0] in self.deleting)):
            name = grant_name(grant)
            self.add("delete", "access_grant", grant_key(grant), name, [FieldDiff("grant", name, None, True)],
                     ("access.revoke", grant_spec(grant)), destructive=True, managed_by=self.source, target=grant)

    # --- quotas ------------------------------------------------------------------------------------

    def quotas(self) -> None:
        wanted = {q["principal"]: {k: q[k] for k in QUOTA_KEYS if q.get(k) is not None}
                  for q in self.file.get("quotas") or []}
        for principal, values in sorted(wanted.items()):
            key = f"quota:{principal}"
            have = self.current.quotas.get(principal)
            if have is None:
                self.add("create", "quota", key, principal, [FieldDiff(k, None, v) for k, v in values.items()],
                         ("quota.set", {"principal": principal, **values}))
                continue
            if have.managed_by not in (None, self.source):
                self.add("adopt", "quota", key, principal, [], error=other_file(str(have.managed_by)),
                         managed_by=have.managed_by)
                continue
            action = self.owned_action(have.managed_by)
            changed = {k: v for k, v in values.items() if have.values.get(k) != v}
            if changed or action == "adopt":
                diff = [FieldDiff(k, have.values.get(k), v) for k, v in changed.items()]
                self.add(action, "quota", key, principal, diff,
                         ("quota.set", {"principal": principal, **changed}) if changed else None,
                         managed_by=have.managed_by)
            removed = [k for k in QUOTA_KEYS if k in have.values and k not in values]
            if removed:
                self.add("update", "quota", key, principal, [FieldDiff(k, have.values[k], None, True) for k in removed],
                         ("quota.set", {"principal": principal, **dict.fromkeys(removed)}), destructive=True,
                         managed_by=have.managed_by)
            if not (changed or removed or action == "adopt"):
                self.in_sync += 1
        for principal in sorted(p for p, q in self.current.quotas.items()
                                if q.managed_by == self.source and p not in wanted):
            held = self.current.quotas[principal].values
            self.add("delete", "quota", f"quota:{principal}", principal,
                     [FieldDiff(k, v, None, True) for k, v in held.items()],
                     ("quota.set", {"principal": principal, **dict.fromkeys(held)}), destructive=True,
                     managed_by=self.source)


def plan_file(file: Mapping[str, Any], current: CurrentState, *, source: str) -> Plan:
    """The changes that make Topicdesk hold what the file (from `source`) declares, in file order:
    topics, then grants, then quotas."""
    planner = _Planner(file, current, source)
    created = planner.topics()
    planner.grants(created)
    planner.quotas()
    return Plan(tuple(planner.changes), planner.in_sync)


def _on_topic(grant: Grant, file: Mapping[str, Any]) -> bool:
    """Whether a grant is declared as a producer/consumer on its topic's entry (then a topic.create has it)."""
    topic = next((t for t in file.get("topics") or [] if t["name"] == grant[0]), None)
    if topic is None:
        return False
    if grant[2] == "produce":
        return grant[1] in (topic.get("producers") or [])
    return any(c["principal"] == grant[1] and c.get("group", "") == grant[3] for c in topic.get("consumers") or [])

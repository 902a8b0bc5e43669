"""The planner: desired state of one cluster vs. what the cluster has -> a Plan of changes (pure data).

Nothing here talks to Kafka. `plan()` decides *what* must change; whether the cluster (read back)
shows a change as done is domain/readback.py, reporting differences is domain/drift.py.

Inputs, as the reconciler maps them from the database:

* `DesiredState.topics / grants / quotas / service_accounts`: live (not tombstoned) rows.
* `DesiredState.deletions`: tombstoned rows (`deleted = true`). They produce delete changes while
  the resource still exists on the cluster; once gone, no change (the row can be purged).
* `DesiredState.managed_config_keys`: per topic, every config key Topicdesk has set on it
  (it only grows when a request sets a new key; it may shrink to the current config's keys after a
  confirmed apply). `DesiredTopic.config` is the full *current* managed set. A topic-level override
  on the cluster that is not in `config` is deleted only if its key is in `managed_config_keys`
  (the owner removed it); otherwise it was set out-of-band and is only reported by `drift()` (domain/drift.py).

Topic configs are compared on topic-level overrides only (`ObservedTopic.config` holds the
DYNAMIC_TOPIC_CONFIG entries); broker defaults never count. Values compare as exact strings.

ACLs on the cluster that are not desired are never deleted by the planner unless they belong to a
grant being revoked and no live grant still needs them; everything else is drift or unmanaged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from topicdesk.domain.acls import AclBinding, bindings_for, grant_key
from topicdesk.domain.model import AccessGrant, ClientQuota, DesiredTopic, ServiceAccount

QUOTA_KEYS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage")


def topic_key(name: str) -> str:
    return f"topic:{name}"


def quota_key(principal: str) -> str:
    return f"quota:{principal}"


def service_account_key(principal: str) -> str:
    return f"service_account:{principal}"


def quota_values(quota: ClientQuota | None) -> dict[str, float]:
    """The quota keys that are set, as Kafka stores them (doubles)."""
    if quota is None:
        return {}
    values = {
        "producer_byte_rate": quota.producer_byte_rate,
        "consumer_byte_rate": quota.consumer_byte_rate,
        "request_percentage": quota.request_percentage,
    }
    return {k: float(v) for k, v in values.items() if v is not None}


# ---------------------------------------------------------------------------------------------
# Observed state (what the cluster port describes)


@dataclass(frozen=True)
class ObservedTopic:
    name: str
    partitions: int
    replication_factor: int
    # Topic-level overrides only (config source DYNAMIC_TOPIC_CONFIG); defaults are left out.
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedState:
    """One bulk read of a cluster. `topics` holds only the topics that were asked for and exist."""

    topics: Mapping[str, ObservedTopic] = field(default_factory=dict)
    acls: frozenset[AclBinding] = frozenset()
    # Quotas of `user` entities alone (no client-id part), keyed by principal `User:<name>`.
    quotas: Mapping[str, ClientQuota] = field(default_factory=dict)
    # Principals `User:<name>` that have a SCRAM-SHA-512 credential.
    scram_users: frozenset[str] = frozenset()


# ---------------------------------------------------------------------------------------------
# Desired state


@dataclass(frozen=True)
class Deletions:
    """Tombstoned resources: delete them on the cluster if they are still there."""

    topics: frozenset[str] = frozenset()
    grants: frozenset[AccessGrant] = frozenset()
    quotas: frozenset[str] = frozenset()  # principals
    service_accounts: frozenset[str] = frozenset()  # principals


@dataclass(frozen=True)
class DesiredState:
    topics: Sequence[DesiredTopic] = ()
    grants: Sequence[AccessGrant] = ()
    quotas: Sequence[ClientQuota] = ()
    service_accounts: Sequence[ServiceAccount] = ()
    deletions: Deletions = field(default_factory=Deletions)
    # topic name -> every config key Topicdesk has set on it (see the module docstring).
    managed_config_keys: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def desired_bindings(self) -> frozenset[AclBinding]:
        return frozenset(b for g in self.grants for b in bindings_for(g))

    def managed_principals(self) -> frozenset[str]:
        return frozenset(g.principal for g in self.grants) | {s.principal for s in self.service_accounts}

    def managed_topic_names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.topics) | self.deletions.topics


class InconsistentDesiredState(ValueError):
    """The same resource is both desired and deleted, or desired twice."""


def check_consistent(desired: DesiredState) -> None:
    """Raise InconsistentDesiredState; plan() and drift() refuse to judge such a state."""
    problems: list[str] = []

    def dupes(kind: str, names: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        twice: set[str] = set()
        for n in names:
            (twice if n in seen else seen).add(n)
        if twice:
            problems.append(f"{kind} desired twice: {sorted(twice)}")
        return seen

    topics = dupes("topics", (t.name for t in desired.topics))
    quotas = dupes("quotas", (q.principal for q in desired.quotas))
    accounts = dupes("service accounts", (s.principal for s in desired.service_accounts))
    d = desired.deletions
    for kind, live, dead in (
        ("topics", topics, d.topics),
        ("quotas", quotas, d.quotas),
        ("service accounts", accounts, d.service_accounts),
    ):
        if both := live & dead:
            problems.append(f"{kind} both desired and deleted: {sorted(both)}")
    if both_grants := set(desired.grants) & d.grants:
        problems.append(f"grants both desired and deleted: {sorted(grant_key(g) for g in both_grants)}")
    if problems:
        raise InconsistentDesiredState("; ".join(problems))


# ---------------------------------------------------------------------------------------------
# The plan


class ChangeKind(StrEnum):
    CREATE_TOPIC = "create_topic"
    ADD_PARTITIONS = "add_partitions"
    ALTER_TOPIC_CONFIG = "alter_topic_config"
    DELETE_TOPIC = "delete_topic"
    CREATE_ACL = "create_acl"
    DELETE_ACL = "delete_acl"
    SET_QUOTA = "set_quota"
    REMOVE_QUOTA = "remove_quota"
    UPSERT_SCRAM_USER = "upsert_scram_user"
    DELETE_SCRAM_USER = "delete_scram_user"
    REFUSED = "refused"


class RefusalReason(StrEnum):
    PARTITION_DECREASE = "partition_decrease"
    REPLICATION_FACTOR_CHANGE = "replication_factor_change"


# alter_topic_config: {key: value}; None in `after` deletes the override, None in `before` means
# there was none.
ConfigValues = Mapping[str, str | None]
ChangeValue = DesiredTopic | ObservedTopic | AclBinding | ClientQuota | ServiceAccount | ConfigValues | int | str | None


@dataclass(frozen=True)
class Change:
    """One change to one cluster resource.

    kind                 key                      before              after
    create_topic         topic:<name>             None                DesiredTopic
    add_partitions       topic:<name>             int (current)       int (new total)
    alter_topic_config   topic:<name>             ConfigValues        ConfigValues (None = delete)
    delete_topic         topic:<name>             ObservedTopic       None
    create_acl           AclBinding.key           None                AclBinding
    delete_acl           AclBinding.key           AclBinding          None
    set_quota            quota:<principal>        ClientQuota | None  ClientQuota
    remove_quota         quota:<principal>        ClientQuota         None
    upsert_scram_user    service_account:<p>      None                ServiceAccount
    delete_scram_user    service_account:<p>      str (principal)     None
    refused              topic:<name>             int (current)       int (asked)    + reason
    """

    kind: ChangeKind
    key: str
    before: ChangeValue = None
    after: ChangeValue = None
    reason: RefusalReason | None = None
    message: str = ""

    @property
    def topic_name(self) -> str | None:
        return self.key.removeprefix("topic:") if self.key.startswith("topic:") else None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for audit events and the API."""
        out: dict[str, object] = {
            "kind": str(self.kind),
            "key": self.key,
            "before": jsonable(self.before),
            "after": jsonable(self.after),
        }
        if self.reason is not None:
            out["reason"] = str(self.reason)
        if self.message:
            out["message"] = self.message
        return out


def jsonable(value: ChangeValue) -> object:
    """A change's (or drift item's) before/after as JSON-ready data."""
    if isinstance(value, DesiredTopic | ObservedTopic):
        return {
            "name": value.name,
            "partitions": value.partitions,
            "replication_factor": value.replication_factor,
            "config": dict(value.config),
        }
    if isinstance(value, AclBinding):
        return value.as_dict()
    if isinstance(value, ClientQuota):
        return {"principal": value.principal, **quota_values(value)}
    if isinstance(value, ServiceAccount):
        return {"principal": value.principal, "iterations": value.iterations}
    if isinstance(value, Mapping):
        return dict(value)
    return value


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.changes

    @property
    def mutating(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind is not ChangeKind.REFUSED)

    @property
    def refused(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind is ChangeKind.REFUSED)

    def of_kind(self, *kinds: ChangeKind) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind in kinds)

    def as_dicts(self) -> list[dict[str, object]]:
        return [c.as_dict() for c in self.changes]


def plan(desired: DesiredState, observed: ObservedState) -> Plan:
    """Changes that make the cluster match `desired`. Deterministic order: topics, ACLs, quotas, users.

    `observed` must have been described with every desired and deleted topic name (or all topics).
    """
    check_consistent(desired)
    changes: list[Change] = []
    changes += _topic_changes(desired, observed)
    changes += _acl_changes(desired, observed)
    changes += _quota_changes(desired, observed)
    changes += _service_account_changes(desired, observed)
    return Plan(tuple(changes))


def _topic_changes(desired: DesiredState, observed: ObservedState) -> list[Change]:
    changes: list[Change] = []
    for topic in sorted(desired.topics, key=lambda t: t.name):
        key = topic_key(topic.name)
        current = observed.topics.get(topic.name)
        if current is None:
            changes.append(Change(ChangeKind.CREATE_TOPIC, key, None, topic))
            continue
        if topic.partitions > current.partitions:
            changes.append(Change(ChangeKind.ADD_PARTITIONS, key, current.partitions, topic.partitions))
        elif topic.partitions < current.partitions:
            changes.append(
                Change(
                    ChangeKind.REFUSED,
                    key,
                    current.partitions,
                    topic.partitions,
                    RefusalReason.PARTITION_DECREASE,
                    f"Kafka cannot remove partitions: {topic.name} has {current.partitions}, "
                    f"{topic.partitions} were asked; create a new topic instead",
                )
            )
        if topic.replication_factor != current.replication_factor:
            changes.append(
                Change(
                    ChangeKind.REFUSED,
                    key,
                    current.replication_factor,
                    topic.replication_factor,
                    RefusalReason.REPLICATION_FACTOR_CHANGE,
                    f"changing the replication factor of {topic.name} from {current.replication_factor} "
                    f"to {topic.replication_factor} needs a partition reassignment, which Topicdesk "
                    "does not do",
                )
            )
        before, after = config_delta(topic, current, desired.managed_config_keys.get(topic.name, frozenset()))
        if after:
            changes.append(Change(ChangeKind.ALTER_TOPIC_CONFIG, key, before, after))
    for name in sorted(desired.deletions.topics):
        current = observed.topics.get(name)
        if current is not None:
            changes.append(Change(ChangeKind.DELETE_TOPIC, topic_key(name), current, None))
    return changes


def config_delta(
    topic: DesiredTopic, current: ObservedTopic, managed_keys: frozenset[str]
) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """(before, after) of the managed config keys that differ; None in after: delete the override."""
    before: dict[str, str | None] = {}
    after: dict[str, str | None] = {}
    for k in sorted(topic.config):
        if current.config.get(k) != topic.config[k]:
            before[k] = current.config.get(k)
            after[k] = topic.config[k]
    for k in sorted((managed_keys - topic.config.keys()) & current.config.keys()):
        before[k] = current.config[k]
        after[k] = None
    return before, after


def _acl_changes(desired: DesiredState, observed: ObservedState) -> list[Change]:
    wanted = desired.desired_bindings()
    changes = [Change(ChangeKind.CREATE_ACL, b.key, None, b) for b in sorted(wanted - observed.acls)]
    revoked = frozenset(b for g in desired.deletions.grants for b in bindings_for(g)) - wanted
    changes += [Change(ChangeKind.DELETE_ACL, b.key, b, None) for b in sorted(revoked & observed.acls)]
    return changes


def _quota_changes(desired: DesiredState, observed: ObservedState) -> list[Change]:
    changes: list[Change] = []
    for quota in sorted(desired.quotas, key=lambda q: q.principal):
        current = observed.quotas.get(quota.principal)
        want, have = quota_values(quota), quota_values(current)
        if want == have:
            continue
        if not want:
            changes.append(Change(ChangeKind.REMOVE_QUOTA, quota_key(quota.principal), current, None))
        else:
            changes.append(Change(ChangeKind.SET_QUOTA, quota_key(quota.principal), current, quota))
    for principal in sorted(desired.deletions.quotas):
        current = observed.quotas.get(principal)
        if quota_values(current):
            changes.append(Change(ChangeKind.REMOVE_QUOTA, quota_key(principal), current, None))
    return changes


def _service_account_changes(desired: DesiredState, observed: ObservedState) -> list[Change]:
    changes = [
        Change(ChangeKind.UPSERT_SCRAM_USER, service_account_key(s.principal), None, s)
        for s in sorted(desired.service_accounts, key=lambda s: s.principal)
        if s.principal not in observed.scram_users
    ]
    changes += [
        Change(ChangeKind.DELETE_SCRAM_USER, service_account_key(p), p, None)
        for p in sorted(desired.deletions.service_accounts)
        if p in observed.scram_users
    ]
    return changes

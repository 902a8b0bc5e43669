"""The planner: desired state of one cluster vs. what the cluster has -> a Plan of changes (pure data).

Nothing here talks to Kafka. `plan()` decides *what* must change, `mismatch()` says whether the
cluster (read back) shows a change as done, `drift()` and `unmanaged()` report differences.

Inputs, as the reconciler maps them from the database:

* `DesiredState.topics / grants / quotas / service_accounts`: live (not tombstoned) rows.
* `DesiredState.deletions`: tombstoned rows (`deleted = true`). They produce delete changes while
  the resource still exists on the cluster; once gone, no change (the row can be purged).
* `DesiredState.managed_config_keys`: per topic, every config key Topicdesk has set on it
  (it only grows when a request sets a new key; it may shrink to the current config's keys after a
  confirmed apply). `DesiredTopic.config` is the full *current* managed set. A topic-level override
  on the cluster that is not in `config` is deleted only if its key is in `managed_config_keys`
  (the owner removed it); otherwise it was set out-of-band and is only reported by `drift()`.

Topic configs are compared on topic-level overrides only (`ObservedTopic.config` holds the
DYNAMIC_TOPIC_CONFIG entries); broker defaults never count. Values compare as exact strings.

ACLs on the cluster that are not desired are never deleted by the planner unless they belong to a
grant being revoked and no live grant still needs them; everything else is drift or unmanaged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from topicdesk.domain.acls import AclBinding, ResourceType, bindings_for, grant_key
from topicdesk.domain.model import AccessGrant, ClientQuota, DesiredTopic, PatternType, ServiceAccount

_T = TypeVar("_T")

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


def _check(desired: DesiredState) -> None:
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
            "before": _jsonable(self.before),
            "after": _jsonable(self.after),
        }
        if self.reason is not None:
            out["reason"] = str(self.reason)
        if self.message:
            out["message"] = self.message
        return out


def _jsonable(value: ChangeValue) -> object:
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
    _check(desired)
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
        before, after = _config_delta(topic, current, desired.managed_config_keys.get(topic.name, frozenset()))
        if after:
            changes.append(Change(ChangeKind.ALTER_TOPIC_CONFIG, key, before, after))
    for name in sorted(desired.deletions.topics):
        current = observed.topics.get(name)
        if current is not None:
            changes.append(Change(ChangeKind.DELETE_TOPIC, topic_key(name), current, None))
    return changes


def _config_delta(
    topic: DesiredTopic, current: ObservedTopic, managed_keys: frozenset[str]
) -> tuple[dict[str, str | None], dict[str, str | None]]:
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


# ---------------------------------------------------------------------------------------------
# Read-back


def mismatch(change: Change, observed: ObservedState) -> str | None:
    """None when `observed` (read back after apply) shows `change` as done, else what still differs."""
    kind, name = change.kind, change.topic_name or ""
    topic = observed.topics.get(name)
    if kind is ChangeKind.CREATE_TOPIC:
        wanted = _expect(change.after, DesiredTopic)
        if topic is None:
            return f"topic {name} is not visible yet"
        problems = []
        if topic.partitions != wanted.partitions:
            problems.append(f"partitions {topic.partitions} != {wanted.partitions}")
        if topic.replication_factor != wanted.replication_factor:
            problems.append(f"replication factor {topic.replication_factor} != {wanted.replication_factor}")
        problems += _config_problems(wanted.config, topic)
        return f"topic {name} exists but differs: " + "; ".join(problems) if problems else None
    if kind is ChangeKind.ADD_PARTITIONS:
        if topic is None:
            return f"topic {name} is not visible"
        return None if topic.partitions == change.after else f"partitions {topic.partitions} != {change.after}"
    if kind is ChangeKind.ALTER_TOPIC_CONFIG:
        if topic is None:
            return f"topic {name} is not visible"
        if not isinstance(change.after, Mapping):
            raise TypeError(f"expected config values, got {type(change.after).__name__}")
        problems = _config_problems(change.after, topic)
        return "; ".join(problems) if problems else None
    if kind is ChangeKind.DELETE_TOPIC:
        return f"topic {name} still exists" if topic is not None else None
    if kind is ChangeKind.CREATE_ACL:
        return None if _expect(change.after, AclBinding) in observed.acls else "ACL binding not visible yet"
    if kind is ChangeKind.DELETE_ACL:
        return "ACL binding still present" if _expect(change.before, AclBinding) in observed.acls else None
    if kind is ChangeKind.SET_QUOTA:
        quota = _expect(change.after, ClientQuota)
        want, have = quota_values(quota), quota_values(observed.quotas.get(quota.principal))
        return None if want == have else f"quota is {have}, expected {want}"
    if kind is ChangeKind.REMOVE_QUOTA:
        principal = change.key.removeprefix("quota:")
        have = quota_values(observed.quotas.get(principal))
        return f"quota still set: {have}" if have else None
    principal = change.key.removeprefix("service_account:")
    if kind is ChangeKind.UPSERT_SCRAM_USER:
        return None if principal in observed.scram_users else "SCRAM credential not visible yet"
    if kind is ChangeKind.DELETE_SCRAM_USER:
        return "SCRAM credential still present" if principal in observed.scram_users else None
    return "refused changes are never applied"


def _expect(value: object, kind: type[_T]) -> _T:
    """Narrow a change's before/after to the type its kind documents."""
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _config_problems(want: Mapping[str, str | None], topic: ObservedTopic) -> list[str]:
    problems = []
    for k, v in sorted(want.items()):
        have = topic.config.get(k)
        if have != v:
            problems.append(f"{k}={have!r}, expected {v!r}" if v is not None else f"{k} still set to {have!r}")
    return problems


# ---------------------------------------------------------------------------------------------
# Drift and unmanaged resources


class DriftKind(StrEnum):
    TOPIC_MISSING = "topic_missing"
    PARTITIONS_DIFFER = "partitions_differ"
    REPLICATION_FACTOR_DIFFERS = "replication_factor_differs"
    CONFIG_DIFFERS = "config_differs"
    # A topic-level override Topicdesk never set: reported, never deleted (adopt it or remove it).
    CONFIG_UNMANAGED = "config_unmanaged"
    ACL_MISSING = "acl_missing"
    # A binding for a managed principal or on a managed topic that no live grant asks for.
    ACL_EXTRA = "acl_extra"
    QUOTA_MISSING = "quota_missing"
    QUOTA_DIFFERS = "quota_differs"
    # A quota on a managed principal that has no desired quota.
    QUOTA_EXTRA = "quota_extra"
    SERVICE_ACCOUNT_MISSING = "service_account_missing"


@dataclass(frozen=True)
class DriftItem:
    kind: DriftKind
    key: str  # resource key: topic:<name>, acl:..., quota:<principal>, service_account:<principal>
    expected: object = None  # JSON-ready
    actual: object = None  # JSON-ready
    message: str = ""
    # For ACL items: the keys of the live grants that need the binding (empty for extra bindings).
    grants: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": str(self.kind),
            "key": self.key,
            "expected": self.expected,
            "actual": self.actual,
            "message": self.message,
        }
        if self.grants:
            out["grants"] = list(self.grants)
        return out


def drift(desired: DesiredState, observed: ObservedState) -> list[DriftItem]:
    """Every difference between the live desired state and the cluster, per resource.

    Tombstoned resources still on the cluster are not listed as drift of their own; a revoked
    grant's bindings show as `acl_extra` until the reconciler removes them.
    """
    _check(desired)
    items: list[DriftItem] = []
    for topic in sorted(desired.topics, key=lambda t: t.name):
        items += _topic_drift(topic, observed.topics.get(topic.name), desired.managed_config_keys)
    items += _acl_drift(desired, observed)
    items += _quota_drift(desired, observed)
    for account in sorted(desired.service_accounts, key=lambda s: s.principal):
        if account.principal not in observed.scram_users:
            items.append(
                DriftItem(
                    DriftKind.SERVICE_ACCOUNT_MISSING,
                    service_account_key(account.principal),
                    {"principal": account.principal, "mechanism": "SCRAM-SHA-512"},
                    None,
                    f"{account.principal} has no SCRAM-SHA-512 credential on the cluster; rotate it",
                )
            )
    return items


def _topic_drift(
    topic: DesiredTopic, current: ObservedTopic | None, managed: Mapping[str, frozenset[str]]
) -> list[DriftItem]:
    key = topic_key(topic.name)
    if current is None:
        return [DriftItem(DriftKind.TOPIC_MISSING, key, _jsonable(topic), None, f"topic {topic.name} is missing")]
    items: list[DriftItem] = []
    if current.partitions != topic.partitions:
        items.append(
            DriftItem(
                DriftKind.PARTITIONS_DIFFER,
                key,
                topic.partitions,
                current.partitions,
                f"{topic.name} has {current.partitions} partitions, {topic.partitions} desired",
            )
        )
    if current.replication_factor != topic.replication_factor:
        items.append(
            DriftItem(
                DriftKind.REPLICATION_FACTOR_DIFFERS,
                key,
                topic.replication_factor,
                current.replication_factor,
                f"{topic.name} has replication factor {current.replication_factor}, "
                f"{topic.replication_factor} desired",
            )
        )
    before, after = _config_delta(topic, current, managed.get(topic.name, frozenset()))
    if after:
        items.append(
            DriftItem(
                DriftKind.CONFIG_DIFFERS,
                key,
                after,
                before,
                f"{topic.name}: " + ", ".join(f"{k}={before[k]!r} (expected {after[k]!r})" for k in after),
            )
        )
    known = topic.config.keys() | managed.get(topic.name, frozenset())
    extra = {k: current.config[k] for k in sorted(current.config.keys() - known)}
    if extra:
        items.append(
            DriftItem(
                DriftKind.CONFIG_UNMANAGED,
                key,
                None,
                extra,
                f"{topic.name} has overrides Topicdesk did not set: " + ", ".join(sorted(extra)),
            )
        )
    return items


def _in_acl_scope(binding: AclBinding, principals: frozenset[str], topics: frozenset[str]) -> bool:
    """Bindings drift() owns: of a managed principal, or on a managed topic by its literal name."""
    return binding.principal in principals or (
        binding.resource_type is ResourceType.TOPIC
        and binding.pattern is PatternType.LITERAL
        and binding.resource_name in topics
    )


def _acl_drift(desired: DesiredState, observed: ObservedState) -> list[DriftItem]:
    needed_by: dict[AclBinding, list[str]] = {}
    for grant in desired.grants:
        for b in bindings_for(grant):
            needed_by.setdefault(b, []).append(grant_key(grant))
    items = [
        DriftItem(
            DriftKind.ACL_MISSING,
            b.key,
            b.as_dict(),
            None,
            f"{b.principal} lacks {b.operation} on {b.resource_type} {b.resource_name} ({b.pattern})",
            tuple(sorted(needed_by[b])),
        )
        for b in sorted(needed_by.keys() - observed.acls)
    ]
    principals, topics = desired.managed_principals(), desired.managed_topic_names()
    items += [
        DriftItem(
            DriftKind.ACL_EXTRA,
            b.key,
            None,
            b.as_dict(),
            f"{b.principal} has {b.permission} {b.operation} on {b.resource_type} {b.resource_name} "
            f"({b.pattern}) that no grant asks for",
        )
        for b in sorted(observed.acls - needed_by.keys())
        if _in_acl_scope(b, principals, topics)
    ]
    return items


def _quota_drift(desired: DesiredState, observed: ObservedState) -> list[DriftItem]:
    items: list[DriftItem] = []
    wanted = {q.principal: q for q in desired.quotas}
    for principal in sorted(wanted):
        want, have = quota_values(wanted[principal]), quota_values(observed.quotas.get(principal))
        if want == have:
            continue
        kind = DriftKind.QUOTA_MISSING if not have else DriftKind.QUOTA_DIFFERS
        items.append(
            DriftItem(kind, quota_key(principal), want or None, have or None, f"quota of {principal}: {have} != {want}")
        )
    managed = desired.managed_principals()
    for principal in sorted(observed.quotas.keys() - wanted.keys()):
        have = quota_values(observed.quotas[principal])
        if principal in managed and have:
            items.append(
                DriftItem(
                    DriftKind.QUOTA_EXTRA,
                    quota_key(principal),
                    None,
                    have,
                    f"{principal} has a quota no request set: {have}",
                )
            )
    return items


@dataclass(frozen=True)
class Unmanaged:
    """Cluster resources Topicdesk does not manage: candidates for import (adoption)."""

    topics: tuple[ObservedTopic, ...] = ()
    acls: tuple[AclBinding, ...] = ()


def unmanaged(desired: DesiredState, observed: ObservedState) -> Unmanaged:
    """Topics not desired (nor being deleted) and ACL bindings outside drift()'s scope.

    Together with drift()'s `acl_extra`, this accounts for every binding on the cluster that no
    live grant asks for.
    """
    topics = desired.managed_topic_names()
    principals = desired.managed_principals()
    wanted = desired.desired_bindings()
    return Unmanaged(
        topics=tuple(observed.topics[n] for n in sorted(observed.topics.keys() - topics)),
        acls=tuple(sorted(b for b in observed.acls - wanted if not _in_acl_scope(b, principals, topics))),
    )

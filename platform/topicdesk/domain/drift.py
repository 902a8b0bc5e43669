"""Drift and unmanaged resources: how a cluster differs from the live desired state (pure data).

`drift()` lists, per managed resource, what the cluster lacks or has differently, including
topic-level overrides and ACL bindings Topicdesk never set but owns the scope of; it never changes
anything (the planner decides what is fixed). `unmanaged()` lists what is outside that scope:
candidates for import. Nothing here talks to Kafka.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from topicdesk.domain.acls import AclBinding, ResourceType, bindings_for, grant_key
from topicdesk.domain.model import DesiredTopic, PatternType
from topicdesk.domain.plan import (
    DesiredState,
    ObservedState,
    ObservedTopic,
    check_consistent,
    config_delta,
    jsonable,
    quota_key,
    quota_values,
    service_account_key,
    topic_key,
)


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
    check_consistent(desired)
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
        return [DriftItem(DriftKind.TOPIC_MISSING, key, jsonable(topic), None, f"topic {topic.name} is missing")]
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
    before, after = config_delta(topic, current, managed.get(topic.name, frozenset()))
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

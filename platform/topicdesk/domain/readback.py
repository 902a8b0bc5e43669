"""Read-back: does the cluster, as observed after an apply, show a planned change as done?

The executor calls `mismatch()` per applied change until the cluster agrees or the deadline passes;
what it returns is the human-readable reason the change is not confirmed yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from topicdesk.domain.acls import AclBinding
from topicdesk.domain.model import ClientQuota, DesiredTopic
from topicdesk.domain.plan import Change, ChangeKind, ObservedState, ObservedTopic, quota_values

_T = TypeVar("_T")


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



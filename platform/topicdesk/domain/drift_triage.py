"""Drift triage rules (pure): which differences can be put back, how one is adopted, how long one
may be ignored.

A difference is a `DriftItem` of domain/plan.py, stored with its kind, key, expected and actual
values. Three answers are possible:

* revert: apply desired state again. Only what the planner can do without refusing: re-create a
  missing topic, add missing partitions, set managed configs, re-create ACLs of live grants, set
  quotas. Never a deletion of something Topicdesk did not set (unmanaged overrides, extra ACLs and
  quotas), never fewer partitions, never a replication factor change.
* adopt: desired state becomes what the cluster has, as an ordinary request (`adopt_requests`).
* ignore: for a reason, until a time at most MAX_IGNORE ahead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from topicdesk.domain.drift import DriftKind
from topicdesk.domain.errors import Conflict, FieldError, ValidationFailed
from topicdesk.domain.model import AccessGrant, PatternType

ACTIONS = ("revert", "adopt", "ignore")
MAX_IGNORE = timedelta(days=90)

# Put back by applying desired state (when revert_refusal says nothing against it).
_REVERTIBLE = frozenset({DriftKind.TOPIC_MISSING, DriftKind.PARTITIONS_DIFFER, DriftKind.CONFIG_DIFFERS,
                         DriftKind.ACL_MISSING, DriftKind.QUOTA_MISSING, DriftKind.QUOTA_DIFFERS})
_BYTE_RATES = ("producer_byte_rate", "consumer_byte_rate")


# What a resource's confirmed apply settles: the planner plans these (or refuses, and then the apply
# fails), so a read back matching desired state means they are gone. Not the unmanaged kinds.
_SETTLED_BY_APPLY = _REVERTIBLE | {DriftKind.REPLICATION_FACTOR_DIFFERS}


def settled_by_apply(kind: str) -> bool:
    return kind in _SETTLED_BY_APPLY


def item_id(kind: str, key: str) -> str:
    """The stable id of a difference: the same (kind, key) has the same id in every scan."""
    return hashlib.sha256(f"{kind}\n{key}".encode()).hexdigest()[:32]


def _partitions_raised(kind: str, expected: Any, actual: Any) -> bool:
    return (kind == DriftKind.PARTITIONS_DIFFER and isinstance(expected, int) and isinstance(actual, int)
            and actual > expected)


def blocks_topic_revert(kind: str, expected: Any, actual: Any) -> bool:
    """A difference the planner refuses to put back (fewer partitions, another replication factor):
    while it stands, applying the topic fails, so none of the topic's other differences is reverted."""
    return kind == DriftKind.REPLICATION_FACTOR_DIFFERS or _partitions_raised(kind, expected, actual)


def revert_refusal(kind: str, expected: Any, actual: Any) -> str | None:
    """None when applying desired state puts this difference back; otherwise why it cannot."""
    if _partitions_raised(kind, expected, actual):
        return (f"the topic has {actual} partitions, {expected} desired: Kafka cannot remove partitions; "
                "adopt the partition count or ignore the difference")
    if kind == DriftKind.REPLICATION_FACTOR_DIFFERS:
        return "Topicdesk does not reassign partitions to change a replication factor; adopt or ignore it"
    if kind == DriftKind.SERVICE_ACCOUNT_MISSING:
        return "passwords are never stored, so the credential cannot be put back: rotate the service account"
    if kind not in _REVERTIBLE:
        return f"{kind}: Topicdesk never removes what it did not set; adopt it, ignore it, or remove it on the cluster"
    return None


def adopt_refusal(kind: str, expected: Any, actual: Any) -> str | None:
    """None when a request can make desired state what the cluster has; otherwise why not."""
    if kind == DriftKind.PARTITIONS_DIFFER and not _partitions_raised(kind, expected, actual):
        return (f"the topic has {actual} partitions, {expected} desired: a topic's partitions cannot be lowered; "
                "revert adds the missing ones")
    if kind == DriftKind.ACL_EXTRA:
        return ("a binding no grant asks for cannot be adopted as a grant: request access with access.grant, "
                "or remove the binding on the cluster")
    if kind == DriftKind.SERVICE_ACCOUNT_MISSING:
        return "a missing credential cannot be adopted: rotate the service account, or delete it"
    return None


def _topic_name(key: str) -> str:
    return key.removeprefix("topic:")


def _rate(name: str, value: Any) -> int | float | None:
    if value is None:
        return None
    return int(value) if name in _BYTE_RATES else float(value)


def _revoke_spec(grant: AccessGrant) -> dict[str, Any]:
    spec: dict[str, Any] = {"topic": grant.topic, "principal": grant.principal, "access": str(grant.access)}
    if grant.pattern is not PatternType.LITERAL:
        spec["pattern"] = str(grant.pattern)
    if grant.group:
        spec["group"] = grant.group
    if grant.transactional_id:
        spec["transactional_id"] = grant.transactional_id
    return spec


def adopt_requests(cluster: str, kind: str, key: str, expected: Any, actual: Any,
                   grants: Sequence[AccessGrant] = (), reason: str = "") -> list[dict[str, Any]]:
    """The request documents that make desired state what the cluster has (raises Conflict when
    there is no such request). `grants` are the live grants an `acl_missing` binding belongs to."""

    refusal = adopt_refusal(kind, expected, actual)
    if refusal is not None:
        raise Conflict(refusal)

    def request(request_kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"kind": request_kind, "cluster": cluster, "spec": spec,
                "reason": reason or f"adopt drift {item_id(kind, key)}: desired state takes what the cluster has"}

    name = _topic_name(key)
    if kind == DriftKind.TOPIC_MISSING:
        return [request("topic.delete", {"name": name})]
    if kind == DriftKind.PARTITIONS_DIFFER:
        return [request("topic.update", {"name": name, "partitions": actual})]
    if kind == DriftKind.REPLICATION_FACTOR_DIFFERS:
        return [request("topic.update", {"name": name, "replication_factor": actual})]
    if kind == DriftKind.CONFIG_DIFFERS:
        # expected: {key: desired or None (override to remove)}; actual: {key: value on the cluster or None}.
        observed: Mapping[str, Any] = actual or {}
        return [request("topic.update", {"name": name, "config": {k: observed.get(k) for k in sorted(expected)}})]
    if kind == DriftKind.CONFIG_UNMANAGED:
        return [request("topic.update", {"name": name, "config": dict(sorted((actual or {}).items()))})]
    if kind == DriftKind.ACL_MISSING:
        if not grants:
            raise Conflict("no live grant needs this ACL binding any more")
        return [request("access.revoke", _revoke_spec(grant)) for grant in grants]
    if kind in (DriftKind.QUOTA_MISSING, DriftKind.QUOTA_DIFFERS, DriftKind.QUOTA_EXTRA):
        have: Mapping[str, Any] = actual or {}
        names = sorted(set(expected or {}) | set(have))
        return [request("quota.set", {"principal": key.removeprefix("quota:"),
                                      **{n: _rate(n, have.get(n)) for n in names}})]
    raise Conflict(f"{kind} differences cannot be adopted")


def parse_ignore(reason: Any, expires_at: Any, now: datetime) -> tuple[str, datetime]:
    """The reason and expiry of an ignore, checked: a reason, and an RFC 3339 time in the future,
    at most MAX_IGNORE from now."""
    errors: list[FieldError] = []
    if not isinstance(reason, str) or not reason.strip():
        errors.append(FieldError("/reason", "an ignore needs a reason"))
    until: datetime | None = None
    if not isinstance(expires_at, str):
        errors.append(FieldError("/expires_at", "an ignore needs an expiry (RFC 3339, e.g. 2026-12-31T00:00:00Z)"))
    else:
        try:
            until = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
        except ValueError:
            errors.append(FieldError("/expires_at", f"{expires_at!r} is not an RFC 3339 time"))
        if until is not None and until.tzinfo is None:
            errors.append(FieldError("/expires_at", "give the time zone (Z or an offset)"))
        elif until is not None and until <= now:
            errors.append(FieldError("/expires_at", "must be in the future"))
        elif until is not None and until > now + MAX_IGNORE:
            errors.append(FieldError("/expires_at", f"at most {MAX_IGNORE.days} days ahead"))
    if errors or until is None:
        raise ValidationFailed("the difference cannot be ignored like this", errors=errors)
    return str(reason).strip(), until

"""ACL bindings between the domain (domain/acls.py) and confluent-kafka's admin types, both ways."""

from __future__ import annotations

from typing import Any

# confluent_kafka.admin re-exports these without __all__, which strict mypy does not accept.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from topicdesk.domain import acls as d
from topicdesk.domain.model import PatternType

_RESOURCE_TYPES = {
    d.ResourceType.TOPIC: ResourceType.TOPIC,
    d.ResourceType.GROUP: ResourceType.GROUP,
    d.ResourceType.TRANSACTIONAL_ID: ResourceType.TRANSACTIONAL_ID,
    d.ResourceType.CLUSTER: ResourceType.BROKER,  # librdkafka calls the cluster resource BROKER
}
_PATTERNS = {PatternType.LITERAL: ResourcePatternType.LITERAL, PatternType.PREFIXED: ResourcePatternType.PREFIXED}
_OPERATIONS = {op: getattr(AclOperation, op.name) for op in d.AclOperation if hasattr(AclOperation, op.name)}
_PERMISSIONS = {d.AclPermission.ALLOW: AclPermissionType.ALLOW, d.AclPermission.DENY: AclPermissionType.DENY}
_FROM_RESOURCE_TYPES = {v: k for k, v in _RESOURCE_TYPES.items()}
_FROM_PATTERNS = {v: k for k, v in _PATTERNS.items()}
_FROM_OPERATIONS = {v: k for k, v in _OPERATIONS.items()}
_FROM_PERMISSIONS = {v: k for k, v in _PERMISSIONS.items()}


def to_confluent(binding: d.AclBinding, cls: Any) -> Any:
    """A confluent AclBinding or AclBindingFilter (`cls`) matching exactly this binding."""
    return cls(
        _RESOURCE_TYPES[binding.resource_type],
        binding.resource_name,
        _PATTERNS[binding.pattern],
        binding.principal,
        binding.host,
        _OPERATIONS[binding.operation],
        _PERMISSIONS[binding.permission],
    )


def from_confluent(ck: Any) -> d.AclBinding | None:
    """None for bindings the domain cannot represent (an ACL type librdkafka reports as UNKNOWN)."""
    try:
        return d.AclBinding(
            _FROM_RESOURCE_TYPES[ck.restype],
            ck.name,
            _FROM_PATTERNS[ck.resource_pattern_type],
            ck.principal,
            _FROM_OPERATIONS[ck.operation],
            _FROM_PERMISSIONS[ck.permission_type],
            ck.host,
        )
    except KeyError:
        return None

"""ACL bindings: the minimal set Kafka needs for an access grant, as plain comparable values.

A binding is Kafka's (resource pattern, access control entry) pair. Bindings read from a cluster
use the same value type, so "is this binding on the cluster?" is set membership.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from topicdesk.domain.model import Access, AccessGrant, PatternType, principal_user

CLUSTER_RESOURCE_NAME = "kafka-cluster"


class ResourceType(StrEnum):
    TOPIC = "topic"
    GROUP = "group"
    TRANSACTIONAL_ID = "transactional_id"
    CLUSTER = "cluster"
    # Never produced by grants; they can still be read from a cluster and reported as unmanaged.
    DELEGATION_TOKEN = "delegation_token"
    USER = "user"


class AclOperation(StrEnum):
    ALL = "all"
    READ = "read"
    WRITE = "write"
    CREATE = "create"
    DELETE = "delete"
    ALTER = "alter"
    DESCRIBE = "describe"
    CLUSTER_ACTION = "cluster_action"
    DESCRIBE_CONFIGS = "describe_configs"
    ALTER_CONFIGS = "alter_configs"
    IDEMPOTENT_WRITE = "idempotent_write"
    CREATE_TOKENS = "create_tokens"
    DESCRIBE_TOKENS = "describe_tokens"
    TWO_PHASE_COMMIT = "two_phase_commit"


class AclPermission(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, order=True)
class AclBinding:
    resource_type: ResourceType
    resource_name: str
    pattern: PatternType
    principal: str
    operation: AclOperation
    permission: AclPermission = AclPermission.ALLOW
    host: str = "*"

    @property
    def key(self) -> str:
        """Stable resource key, used for outcomes and drift items."""
        return (
            f"acl:{self.resource_type}:{self.pattern}:{self.resource_name}:{self.principal}:"
            f"{self.host}:{self.operation}:{self.permission}"
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "resource_type": str(self.resource_type),
            "resource_name": self.resource_name,
            "pattern": str(self.pattern),
            "principal": self.principal,
            "host": self.host,
            "operation": str(self.operation),
            "permission": str(self.permission),
        }


class InvalidGrant(ValueError):
    """The grant cannot be turned into bindings (a programming or validation gap upstream)."""


def bindings_for(grant: AccessGrant) -> frozenset[AclBinding]:
    """The minimal ALLOW bindings that let `grant.principal` do what the grant says (Kafka >= 2.8).

    produce: Topic WRITE + DESCRIBE; with a transactional id also TransactionalId WRITE + DESCRIBE.
    consume: Topic READ + DESCRIBE + Group READ (the group is required).
    Idempotent producers need no cluster IDEMPOTENT_WRITE since Kafka 2.8.
    """
    principal_user(grant.principal)  # raises ValueError unless it is User:<name>
    if not grant.topic:
        raise InvalidGrant("a grant needs a topic name or prefix")

    def topic(op: AclOperation) -> AclBinding:
        return AclBinding(ResourceType.TOPIC, grant.topic, grant.pattern, grant.principal, op)

    if grant.access is Access.PRODUCE:
        if grant.group:
            raise InvalidGrant("a produce grant takes no consumer group; grant consume for it")
        bindings = {topic(AclOperation.WRITE), topic(AclOperation.DESCRIBE)}
        if grant.transactional_id:
            for op in (AclOperation.WRITE, AclOperation.DESCRIBE):
                bindings.add(
                    AclBinding(
                        ResourceType.TRANSACTIONAL_ID,
                        grant.transactional_id,
                        PatternType.LITERAL,
                        grant.principal,
                        op,
                    )
                )
        return frozenset(bindings)

    if grant.transactional_id:
        raise InvalidGrant("a consume grant takes no transactional id; grant produce for it")
    if not grant.group:
        raise InvalidGrant(f"consuming {grant.topic!r} needs a consumer group")
    return frozenset(
        {
            topic(AclOperation.READ),
            topic(AclOperation.DESCRIBE),
            AclBinding(ResourceType.GROUP, grant.group, grant.group_pattern, grant.principal, AclOperation.READ),
        }
    )


def grant_key(grant: AccessGrant) -> str:
    """Stable resource key of a grant (not of its bindings)."""
    extra = ""
    if grant.group:
        extra += f":group={grant.group_pattern}:{grant.group}"
    if grant.transactional_id:
        extra += f":txn={grant.transactional_id}"
    return f"grant:{grant.access}:{grant.pattern}:{grant.topic}:{grant.principal}{extra}"

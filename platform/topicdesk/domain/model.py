"""Desired state of a cluster, in the domain words: topics, access grants, quotas, service accounts.

These are plain values shared by the planner, the cluster port, the reconciler and the policy
evaluation document. Persistence lives in adapters/tables.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Access(StrEnum):
    PRODUCE = "produce"
    CONSUME = "consume"


class PatternType(StrEnum):
    LITERAL = "literal"
    PREFIXED = "prefixed"


@dataclass(frozen=True)
class DesiredTopic:
    name: str
    partitions: int
    replication_factor: int
    # Only the configs the owner set explicitly; everything else is left at the broker default.
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccessGrant:
    """A principal's right to produce to or consume from a topic (or a topic prefix)."""

    principal: str  # "User:<name>"
    topic: str
    access: Access
    pattern: PatternType = PatternType.LITERAL
    group: str | None = None  # consumer group (consume); LITERAL unless group_pattern says otherwise
    group_pattern: PatternType = PatternType.LITERAL
    transactional_id: str | None = None  # transactional producers (produce)


@dataclass(frozen=True)
class ClientQuota:
    """Client quota for one principal (Kafka quota entity `user`)."""

    principal: str
    producer_byte_rate: int | None = None
    consumer_byte_rate: int | None = None
    request_percentage: float | None = None


@dataclass(frozen=True)
class ServiceAccount:
    """A SCRAM-SHA-512 user; the password exists only in the creation response and on the broker."""

    principal: str
    iterations: int = 8192


def principal_user(principal: str) -> str:
    """`User:payments.writer` -> `payments.writer`."""
    kind, _, name = principal.partition(":")
    if kind != "User" or not name:
        raise ValueError(f"principal must look like User:<name>, got {principal!r}")
    return name


def team_of_principal(principal: str) -> str:
    """The team a principal belongs to by name: `User:payments.invoice-writer` -> `payments` ("" if none)."""
    name = principal.partition(":")[2]
    return name.split(".", 1)[0] if "." in name else ""

"""The cluster port: everything the reconciler asks of a Kafka cluster, as one interface.

Reads are bulk (one `describe` = a handful of Admin calls, never one per topic). Writes take a batch
and answer per resource with an `Outcome`; a Kafka failure is an Outcome, never an exception.
Only the bulk reads (`describe`, `usage_evidence`) raise (`ClusterUnavailable`), because there is
no resource to pin their failure on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from topicdesk.domain.acls import AclBinding
from topicdesk.domain.evidence import TopicEvidence
from topicdesk.domain.model import DesiredTopic
from topicdesk.domain.plan import ObservedState


class OutcomeReason(StrEnum):
    ALREADY_EXISTS = "already_exists"
    NOT_FOUND = "not_found"
    INVALID_CONFIG = "invalid_config"
    INVALID_PARTITIONS = "invalid_partitions"
    INVALID_REPLICATION_FACTOR = "invalid_replication_factor"
    INVALID_REQUEST = "invalid_request"
    POLICY_VIOLATION = "policy_violation"
    NOT_AUTHORIZED = "not_authorized"
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    UNSUPPORTED = "unsupported"
    # Set by the executor, not by Kafka:
    NOT_CONFIRMED = "not_confirmed"  # applied, but the read-back did not show it in time
    REFUSED = "refused"  # the planner refused the change (partition decrease, RF change)
    CREDENTIAL_UNAVAILABLE = "credential_unavailable"  # a SCRAM user to create, but no password at hand
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: OutcomeReason | None = None
    message: str = ""
    transient: bool = False  # worth retrying (now with back-off, or on the next reconcile)
    kafka_error: str | None = None  # Kafka's error name, e.g. TOPIC_ALREADY_EXISTS

    @classmethod
    def success(cls, message: str = "") -> Outcome:
        return cls(ok=True, message=message)

    @classmethod
    def failure(
        cls, reason: OutcomeReason, message: str, *, transient: bool, kafka_error: str | None = None
    ) -> Outcome:
        return cls(ok=False, reason=reason, message=message, transient=transient, kafka_error=kafka_error)

    @property
    def permanent(self) -> bool:
        return not self.ok and not self.transient

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "reason": None if self.reason is None else str(self.reason),
            "message": self.message,
            "transient": self.transient,
            "kafka_error": self.kafka_error,
        }


class ClusterUnavailable(Exception):
    """A bulk read failed as a whole (cluster unreachable, admin not authorized, timeout)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


@dataclass(frozen=True)
class QuotaAlteration:
    """Quota changes for one `user` entity; keys are producer_byte_rate, consumer_byte_rate,
    request_percentage."""

    principal: str
    set_values: Mapping[str, float] = field(default_factory=dict)
    remove: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ScramCredential:
    principal: str  # User:<name>
    password: str = field(repr=False)
    iterations: int = 8192


class ClusterPort(Protocol):
    """One Kafka cluster. Every write answers per resource; nothing is retried here."""

    def describe(self, topic_names: Collection[str] | None = None) -> ObservedState:
        """Topics (all non-internal ones when None; only those that exist of the named ones), their
        topic-level config overrides, all ACL bindings, `user` quotas and SCRAM-SHA-512 users."""
        ...

    def usage_evidence(self, topic_names: Collection[str]) -> dict[str, TopicEvidence]:
        """Per named topic: consumer groups with committed offsets on it (state, members), log end
        offsets and the last write time. A handful of Admin calls for any number of topics (plus one
        offset fetch per consumer group, all in flight at once); raises ClusterUnavailable."""
        ...

    def create_topics(self, topics: Sequence[DesiredTopic]) -> dict[str, Outcome]:
        """Keyed by topic name. One CreateTopics request for the whole batch."""
        ...

    def create_partitions(self, totals: Mapping[str, int]) -> dict[str, Outcome]:
        """topic name -> new total partition count."""
        ...

    def alter_configs(self, changes: Mapping[str, Mapping[str, str | None]]) -> dict[str, Outcome]:
        """Incremental: per topic, key -> value to SET, or None to DELETE the override."""
        ...

    def delete_topics(self, names: Sequence[str]) -> dict[str, Outcome]: ...

    def create_acls(self, bindings: Sequence[AclBinding]) -> dict[AclBinding, Outcome]: ...

    def delete_acls(self, bindings: Sequence[AclBinding]) -> dict[AclBinding, Outcome]:
        """Deletes exactly these bindings (exact-match filters), nothing broader."""
        ...

    def alter_quotas(self, alterations: Sequence[QuotaAlteration]) -> dict[str, Outcome]:
        """Keyed by principal."""
        ...

    def upsert_scram_users(self, credentials: Sequence[ScramCredential]) -> dict[str, Outcome]:
        """SCRAM-SHA-512 credentials; keyed by principal."""
        ...

    def delete_scram_users(self, principals: Sequence[str]) -> dict[str, Outcome]: ...


# ---------------------------------------------------------------------------------------------
# Kafka error codes -> domain reasons, in one table.
#
# Codes are Kafka protocol error codes (the same numbers in confluent_kafka.KafkaError, kafka-python's
# `errno` and the Java client), plus librdkafka's local (negative) codes. tests/unit check the names
# against confluent_kafka.KafkaError.

KAFKA_ERRORS: dict[int, tuple[str, OutcomeReason, bool]] = {
    # code: (Kafka name, reason, transient)
    -1: ("UNKNOWN_SERVER_ERROR", OutcomeReason.UNKNOWN, True),
    3: ("UNKNOWN_TOPIC_OR_PART", OutcomeReason.NOT_FOUND, True),  # metadata may lag a create
    5: ("LEADER_NOT_AVAILABLE", OutcomeReason.UNAVAILABLE, True),
    6: ("NOT_LEADER_FOR_PARTITION", OutcomeReason.UNAVAILABLE, True),
    7: ("REQUEST_TIMED_OUT", OutcomeReason.TIMEOUT, True),
    8: ("BROKER_NOT_AVAILABLE", OutcomeReason.UNAVAILABLE, True),
    10: ("MSG_SIZE_TOO_LARGE", OutcomeReason.INVALID_REQUEST, False),
    13: ("NETWORK_EXCEPTION", OutcomeReason.UNAVAILABLE, True),
    14: ("COORDINATOR_LOAD_IN_PROGRESS", OutcomeReason.UNAVAILABLE, True),
    15: ("COORDINATOR_NOT_AVAILABLE", OutcomeReason.UNAVAILABLE, True),
    16: ("NOT_COORDINATOR", OutcomeReason.UNAVAILABLE, True),
    17: ("TOPIC_EXCEPTION", OutcomeReason.INVALID_REQUEST, False),  # invalid topic name
    19: ("NOT_ENOUGH_REPLICAS", OutcomeReason.UNAVAILABLE, True),
    20: ("NOT_ENOUGH_REPLICAS_AFTER_APPEND", OutcomeReason.UNAVAILABLE, True),
    29: ("TOPIC_AUTHORIZATION_FAILED", OutcomeReason.NOT_AUTHORIZED, False),
    30: ("GROUP_AUTHORIZATION_FAILED", OutcomeReason.NOT_AUTHORIZED, False),
    31: ("CLUSTER_AUTHORIZATION_FAILED", OutcomeReason.NOT_AUTHORIZED, False),
    33: ("UNSUPPORTED_SASL_MECHANISM", OutcomeReason.NOT_AUTHORIZED, False),
    35: ("UNSUPPORTED_VERSION", OutcomeReason.UNSUPPORTED, False),
    36: ("TOPIC_ALREADY_EXISTS", OutcomeReason.ALREADY_EXISTS, False),
    37: ("INVALID_PARTITIONS", OutcomeReason.INVALID_PARTITIONS, False),
    38: ("INVALID_REPLICATION_FACTOR", OutcomeReason.INVALID_REPLICATION_FACTOR, False),
    39: ("INVALID_REPLICA_ASSIGNMENT", OutcomeReason.INVALID_REQUEST, False),
    40: ("INVALID_CONFIG", OutcomeReason.INVALID_CONFIG, False),
    41: ("NOT_CONTROLLER", OutcomeReason.UNAVAILABLE, True),
    42: ("INVALID_REQUEST", OutcomeReason.INVALID_REQUEST, False),
    44: ("POLICY_VIOLATION", OutcomeReason.POLICY_VIOLATION, False),
    53: ("TRANSACTIONAL_ID_AUTHORIZATION_FAILED", OutcomeReason.NOT_AUTHORIZED, False),
    54: ("SECURITY_DISABLED", OutcomeReason.UNSUPPORTED, False),
    56: ("KAFKA_STORAGE_ERROR", OutcomeReason.UNAVAILABLE, True),
    58: ("SASL_AUTHENTICATION_FAILED", OutcomeReason.NOT_AUTHORIZED, False),
    60: ("REASSIGNMENT_IN_PROGRESS", OutcomeReason.UNAVAILABLE, True),
    67: ("INVALID_PRINCIPAL_TYPE", OutcomeReason.INVALID_REQUEST, False),
    73: ("TOPIC_DELETION_DISABLED", OutcomeReason.POLICY_VIOLATION, False),
    89: ("THROTTLING_QUOTA_EXCEEDED", OutcomeReason.THROTTLED, True),
    91: ("RESOURCE_NOT_FOUND", OutcomeReason.NOT_FOUND, False),
    92: ("DUPLICATE_RESOURCE", OutcomeReason.INVALID_REQUEST, False),
    93: ("UNACCEPTABLE_CREDENTIAL", OutcomeReason.INVALID_REQUEST, False),
    # librdkafka local errors
    -195: ("_TRANSPORT", OutcomeReason.UNAVAILABLE, True),
    -193: ("_RESOLVE", OutcomeReason.UNAVAILABLE, True),
    -187: ("_ALL_BROKERS_DOWN", OutcomeReason.UNAVAILABLE, True),
    -186: ("_INVALID_ARG", OutcomeReason.INVALID_REQUEST, False),
    -185: ("_TIMED_OUT", OutcomeReason.TIMEOUT, True),
    -180: ("_WAIT_COORD", OutcomeReason.UNAVAILABLE, True),
    -170: ("_NOT_IMPLEMENTED", OutcomeReason.UNSUPPORTED, False),
    -169: ("_AUTHENTICATION", OutcomeReason.NOT_AUTHORIZED, False),
    -166: ("_TIMED_OUT_QUEUE", OutcomeReason.TIMEOUT, True),
    -165: ("_UNSUPPORTED_FEATURE", OutcomeReason.UNSUPPORTED, False),
}

_BY_NAME = {name: code for code, (name, _, _) in KAFKA_ERRORS.items()}


def outcome_for_kafka_error(
    code: int, message: str, *, retriable: bool | None = None, name: str | None = None
) -> Outcome:
    """The domain Outcome of a Kafka error. Unknown codes keep Kafka's own retriable flag."""
    if code == 0:
        return Outcome.success()
    known = KAFKA_ERRORS.get(code)
    if known is None:
        return Outcome.failure(
            OutcomeReason.UNKNOWN,
            message or f"Kafka error {code}",
            transient=bool(retriable),
            kafka_error=name or str(code),
        )
    kafka_name, reason, transient = known
    return Outcome.failure(reason, message or kafka_name, transient=transient, kafka_error=kafka_name)


def kafka_error_code(name: str) -> int | None:
    """Code of a Kafka error name from the table (e.g. THROTTLING_QUOTA_EXCEEDED -> 89)."""
    return _BY_NAME.get(name)


def close_port(port: object) -> None:
    """Release a port's client connections (adapters that hold some have close(); fakes do not)."""
    close = getattr(port, "close", None)
    if callable(close):
        close()

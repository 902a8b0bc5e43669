"""Database tables (SQLModel). Alembic migrations in topicdesk/migrations track every change here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

# Re-exported: every adapter imports its tables and these helpers from here, and importing this
# module registers every table on SQLModel.metadata (Alembic's env.py relies on it).
from topicdesk.adapters.notification_tables import (
    NotificationAttemptRow,
    NotificationExpiryNoticeRow,
    NotificationOutboxRow,
    NotificationSubscriptionRow,
)
from topicdesk.adapters.table_base import new_id, table_of, utcnow

__all__ = ["NotificationAttemptRow", "NotificationExpiryNoticeRow", "NotificationOutboxRow",
           "NotificationSubscriptionRow", "new_id", "table_of", "utcnow"]


class TeamRow(SQLModel, table=True):
    __tablename__ = "team"

    name: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class ClusterRow(SQLModel, table=True):
    __tablename__ = "cluster"

    name: str = Field(primary_key=True, max_length=100)
    environment: str = Field(max_length=16, index=True)
    owner_team: str = Field(foreign_key="team.name", max_length=64, index=True)
    bootstrap_servers: str = Field(max_length=1000)
    security_protocol: str = Field(default="SASL_PLAINTEXT", max_length=32)
    sasl_mechanism: str = Field(default="SCRAM-SHA-512", max_length=32)
    # A reference such as `env:NAME` or `file:/path.json`; the secret itself is never stored here.
    admin_secret_ref: str = Field(max_length=500)
    broker_count: int = Field(default=1)
    partition_budget: int = Field(default=1000)
    disk_budget_bytes: int = Field(default=100 * 1024**3, sa_type=BigInteger)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Grace period of a deleted topic's quarantine; None: the environment's default
    # (domain/evidence.py QUARANTINE_DEFAULTS).
    quarantine_seconds: int | None = Field(default=None)
    # What the drift scan does with a difference on a managed resource: `enforce` puts desired state
    # back, `report` only reports it (docs/architecture.md, "Drift").
    drift_mode: str = Field(default="enforce", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)

    def public_view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "environment": self.environment,
            "owner_team": self.owner_team,
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "drift_mode": self.drift_mode,
        }


class _Reconciled(SQLModel):
    """Level-triggered bookkeeping shared by every managed resource.

    `generation` moves when the desired state changes (in the same transaction as the approval);
    the reconciler sets `observed_generation` once the cluster was read back and matched. A row
    whose generations differ is dirty. `deleted` is a tombstone: the row stays until the cluster
    no longer has the resource, so a crash between the two cannot forget a deletion.
    """

    generation: int = Field(default=1)
    observed_generation: int = Field(default=0)
    # A permanent failure parks this generation: it is not retried until the desired state changes.
    failed_generation: int = Field(default=0)
    deleted: bool = Field(default=False)
    last_error: str | None = Field(default=None, max_length=2000)
    last_error_reason: str | None = Field(default=None, max_length=64)
    attempts: int = Field(default=0)
    # Transient failures back off: the reconciler skips the row until then.
    not_before: datetime | None = Field(default=None)
    applied_at: datetime | None = Field(default=None)
    updated_at: datetime = Field(default_factory=utcnow)


class TopicRow(_Reconciled, table=True):
    __tablename__ = "topic"
    # (cluster, name) also serves every lookup by cluster alone: no separate index on cluster.
    __table_args__ = (UniqueConstraint("cluster", "name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    cluster: str = Field(foreign_key="cluster.name", max_length=100)
    name: str = Field(max_length=249)
    owner_team: str = Field(foreign_key="team.name", max_length=64, index=True)
    partitions: int
    replication_factor: int
    config: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Every config key Topicdesk ever set here: an override under such a key that is no longer in
    # `config` was removed by the owner and is deleted; other overrides are drift, left alone.
    managed_config_keys: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    description: str = Field(default="", max_length=2000)
    data_contract: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # From the request's expected throughput; feeds the capacity check of later requests.
    expected_bytes_per_second: int | None = Field(default=None, sa_type=BigInteger)
    # The desired-state file (its source name) that declares this resource; None: made through the
    # portal/API. A file changes only what it manages; the portal/API may not change what a file manages.
    managed_by: str | None = Field(default=None, max_length=200)
    # Deletion phases (services/deletion.py): active -> quarantined (grants' ACLs removed, data kept
    # until quarantined_until, restorable) -> deleting (tombstone, the reconciler deletes it) -> deleted.
    lifecycle: str = Field(default="active", max_length=16)
    quarantined_until: datetime | None = Field(default=None)
    # Ids of the grants the quarantine suspended (tombstoned): a restore brings exactly these back.
    quarantined_grants: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    deletion_request_id: str | None = Field(default=None, max_length=32)
    deleted_by: str | None = Field(default=None, max_length=300)
    deleted_at: datetime | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)


class ClusterUsageRow(SQLModel, table=True):
    """A cluster's live topics summed: partitions, partition replicas, topics with an expected rate.

    Written only by triggers on `topic` (migration 0015), so every writer keeps it exact. A cluster
    has up to 16 rows (`slot`: the writing PostgreSQL backend's pid mod 16; SQLite: 0) so that
    concurrent submissions on one cluster do not queue on one row lock; its usage is their sum.
    """

    __tablename__ = "cluster_usage"

    cluster: str = Field(foreign_key="cluster.name", ondelete="CASCADE", primary_key=True, max_length=100)
    slot: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    partitions: int = Field(default=0, sa_type=BigInteger)
    replicas: int = Field(default=0, sa_type=BigInteger)
    rated_topics: int = Field(default=0, sa_type=BigInteger)


class AccessGrantRow(_Reconciled, table=True):
    __tablename__ = "access_grant"
    # The unique key leads with cluster: it also serves every lookup by cluster alone.
    __table_args__ = (
        UniqueConstraint("cluster", "topic", "pattern", "principal", "access", "group_id", "group_pattern",
                         "transactional_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    cluster: str = Field(foreign_key="cluster.name", max_length=100)
    topic: str = Field(max_length=249, index=True)
    pattern: str = Field(default="literal", max_length=16)
    principal: str = Field(max_length=300, index=True)
    access: str = Field(max_length=16)
    # "" rather than NULL: NULLs never collide in a UNIQUE constraint on PostgreSQL.
    group_id: str = Field(default="", max_length=255)
    # How group_id matches groups: literal, or prefixed (a source's prefixed group ACL that a
    # migration keeps on the target; requests and files grant literal groups).
    group_pattern: str = Field(default="literal", max_length=16)
    transactional_id: str = Field(default="", max_length=255)
    granted_team: str = Field(max_length=64, index=True)
    # When the grant ends (None: never). A request's `duration` becomes a moment at approval; the
    # reconciler turns a grant past this moment into a tombstone (services/expiry.py).
    expires_at: datetime | None = Field(default=None, index=True)
    # The desired-state file (its source name) that declares this resource; None: made through the
    # portal/API. A file changes only what it manages; the portal/API may not change what a file manages.
    managed_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class ClientQuotaRow(_Reconciled, table=True):
    __tablename__ = "client_quota"
    __table_args__ = (UniqueConstraint("cluster", "principal"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    cluster: str = Field(foreign_key="cluster.name", max_length=100, index=True)
    principal: str = Field(max_length=300)
    owner_team: str = Field(max_length=64, index=True)
    producer_byte_rate: int | None = Field(default=None, sa_type=BigInteger)
    consumer_byte_rate: int | None = Field(default=None, sa_type=BigInteger)
    request_percentage: float | None = Field(default=None)
    # The desired-state file (its source name) that declares this resource; None: made through the
    # portal/API. A file changes only what it manages; the portal/API may not change what a file manages.
    managed_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class ServiceAccountRow(_Reconciled, table=True):
    __tablename__ = "service_account"
    __table_args__ = (UniqueConstraint("cluster", "principal"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    cluster: str = Field(foreign_key="cluster.name", max_length=100, index=True)
    principal: str = Field(max_length=300)
    owner_team: str = Field(max_length=64, index=True)
    rotated_at: datetime | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)


# Managed resources by the kind name used in request links, drift links and audit subjects.
RESOURCE_TABLES: dict[str, Any] = {
    "topic": TopicRow,
    "access_grant": AccessGrantRow,
    "client_quota": ClientQuotaRow,
    "service_account": ServiceAccountRow,
}


class ClusterLeaseRow(SQLModel, table=True):
    """One reconciler at a time per cluster; another may take over once the lease expires."""

    __tablename__ = "cluster_lease"

    cluster: str = Field(foreign_key="cluster.name", primary_key=True, max_length=100)
    holder: str | None = Field(default=None, max_length=200)
    expires_at: datetime | None = Field(default=None)
    fencing_token: int = Field(default=0)


class DriftReportRow(SQLModel, table=True):
    """The latest drift scan of a cluster: when, and the unmanaged topics/ACLs it listed. The
    differences on managed resources are rows of drift_item."""

    __tablename__ = "drift_report"

    cluster: str = Field(foreign_key="cluster.name", primary_key=True, max_length=100)
    scanned_at: datetime = Field(default_factory=utcnow)
    admin_calls: int = Field(default=0)
    unmanaged_topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    unmanaged_acls: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class TopicObservationRow(SQLModel, table=True):
    """What the cluster last showed for a topic (the reconciler's read-back or a drift scan), so the
    topic page can answer without waiting for a slow cluster. `observed` is None when the topic was
    not on the cluster at `observed_at`. Keyed by name, not topic id: it describes the cluster."""

    __tablename__ = "topic_observation"

    cluster: str = Field(foreign_key="cluster.name", primary_key=True, max_length=100)
    name: str = Field(primary_key=True, max_length=249)
    observed: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    observed_at: datetime
class DriftItemRow(SQLModel, table=True):
    """One open difference between a cluster and desired state, found by a drift scan.

    The row exists while the difference does: a scan that no longer finds it, or a read back that
    shows its resource put back, deletes it (audited as drift:resolved). `id` is a hash of (kind,
    key), so the same difference keeps its id from scan to scan. drift_link names the managed
    resources it concerns.
    """

    __tablename__ = "drift_item"

    cluster: str = Field(foreign_key="cluster.name", primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=32)
    kind: str = Field(max_length=32)
    key: str = Field(max_length=1000)
    # The owning team of the resource (who may triage it) and the audit subject of its events.
    team: str = Field(max_length=64)
    subject: str = Field(max_length=600)
    expected: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    actual: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    message: str = Field(default="", max_length=2000)
    first_seen_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    # Ignored until then, as long as the cluster still shows `ignored_actual`.
    ignored_until: datetime | None = Field(default=None)
    ignore_reason: str | None = Field(default=None, max_length=2000)
    ignored_by: str | None = Field(default=None, max_length=300)
    ignored_at: datetime | None = Field(default=None)
    ignored_actual: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The last revert or adopt: {"action", "by", "at"} (+ "requests": ids, for adopt).
    triage: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class DriftLinkRow(SQLModel, table=True):
    """Which managed resource (topic, access_grant, client_quota, service_account) an open drift item concerns."""

    __tablename__ = "drift_link"

    cluster: str = Field(primary_key=True, max_length=100)
    item_id: str = Field(primary_key=True, max_length=32)
    resource_kind: str = Field(primary_key=True, max_length=32)
    resource_id: str = Field(primary_key=True, max_length=32, index=True)


class AuditEventRow(SQLModel, table=True):
    """Append-only; see domain/audit.py for the hash chain."""

    __tablename__ = "audit_event"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    event_id: str = Field(default_factory=new_id, max_length=32, unique=True)
    occurred_at: datetime = Field(index=True)
    actor: str = Field(max_length=300, index=True)
    action: str = Field(max_length=64, index=True)
    subject: str = Field(max_length=600, index=True)
    team: str | None = Field(default=None, max_length=64, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditInboxRow(SQLModel, table=True):
    """An event committed with the change it records, not yet chained (see adapters/audit_log.py).

    Writers only insert here, so they never queue on the chain's head; the sequencer moves these
    rows into audit_event, in `id` order, within seconds.
    """

    __tablename__ = "audit_inbox"

    # BIGINT on PostgreSQL; SQLite wants INTEGER for an auto-assigned row id.
    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"),
                                                          primary_key=True, autoincrement=True))
    event_id: str = Field(max_length=32, unique=True)
    occurred_at: datetime
    actor: str = Field(max_length=300)
    action: str = Field(max_length=64)
    subject: str = Field(max_length=600, index=True)
    team: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AuditHeadRow(SQLModel, table=True):
    """A single row: the chain's last sequence number and hash. Locking it serialises sequencing."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0)
    hash: str = Field(max_length=64)


class ApiTokenRow(SQLModel, table=True):
    __tablename__ = "api_token"
    __table_args__ = (UniqueConstraint("team", "name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    team: str = Field(foreign_key="team.name", max_length=64, index=True)
    name: str = Field(max_length=100)
    role: str = Field(max_length=16)
    # SHA-256 of the secret part: tokens carry 256 bits of entropy, so a slow hash adds nothing.
    secret_hash: str = Field(max_length=64)
    created_by: str = Field(max_length=300)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = Field(default=None)
    revoked_at: datetime | None = Field(default=None)
    last_used_at: datetime | None = Field(default=None)


class RequestRow(SQLModel, table=True):
    __tablename__ = "request"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    kind: str = Field(max_length=32, index=True)
    cluster: str = Field(foreign_key="cluster.name", max_length=100, index=True)
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reason: str = Field(default="", max_length=2000)
    requested_by: str = Field(max_length=300, index=True)
    requester_team: str = Field(max_length=64, index=True)
    # The team that owns what the request touches (the topic's owner for access grants).
    owner_team: str = Field(max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    status: str = Field(max_length=32, index=True)
    decision: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    approvers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    approvals: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    rejection_reason: str | None = Field(default=None, max_length=2000)
    error: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    applied_at: datetime | None = Field(default=None)
    # While the cluster refuses or cannot be reached: failed apply passes so far, Kafka's reason for the
    # last one ({reason, message}) and when the reconciler tries again. Written by the reconciler.
    attempts: int = Field(default=0)
    last_error: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    next_attempt_at: datetime | None = Field(default=None)
    # Per resource, the outcome of each of its changes (see services/outcomes.py); None until a pass
    # touched one of the request's resources.
    outcomes: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The desired-state file that submitted the request (None: portal/API): what it writes is marked
    # managed by that source, and the file's re-applies find their earlier requests by it.
    source: str | None = Field(default=None, max_length=200, index=True)
    # A topic.migrate's plan (domain/migration_plan.py), computed at submission and shown before approval.
    migration_plan: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class RequestResourceRow(SQLModel, table=True):
    """Which resource generations a request must see observed before it is `applied`."""

    __tablename__ = "request_resource"

    request_id: str = Field(foreign_key="request.id", primary_key=True, max_length=32)
    resource_kind: str = Field(primary_key=True, max_length=32)
    resource_id: str = Field(primary_key=True, max_length=32, index=True)
    generation: int


class IdempotencyKeyRow(SQLModel, table=True):
    __tablename__ = "idempotency_key"

    principal: str = Field(primary_key=True, max_length=300)
    key: str = Field(primary_key=True, max_length=200)
    body_hash: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class TopicUsageRow(SQLModel, table=True):
    """The last usage evidence gathered for a topic (domain/staleness.py): the stale report reads
    this, never the cluster. One row per (cluster, topic), overwritten by each newer gathering."""

    __tablename__ = "topic_usage"

    cluster: str = Field(foreign_key="cluster.name", primary_key=True, max_length=100)
    topic: str = Field(primary_key=True, max_length=249)
    exists: bool = Field(default=True)
    partitions: int = Field(default=0)
    last_write_at: datetime | None = Field(default=None)  # None: the topic holds no record
    gathered_at: datetime


class GroupCommitObservationRow(SQLModel, table=True):
    """Observation history of a consumer group's commits on a topic. Kafka does not say when a group
    last committed; `changed_at` is when the committed sum was last seen to change, `first_seen_at`
    when it was first seen, `seen_at` the last gathering that found it."""

    __tablename__ = "group_commit_observation"

    cluster: str = Field(foreign_key="cluster.name", primary_key=True, max_length=100)
    topic: str = Field(primary_key=True, max_length=249)
    group_id: str = Field(primary_key=True, max_length=255)
    committed_offsets: int | None = Field(default=None, sa_type=BigInteger)
    committed_partitions: int = Field(default=0)
    lag: int | None = Field(default=None, sa_type=BigInteger)
    first_seen_at: datetime
    changed_at: datetime
    seen_at: datetime


class MigrationRow(SQLModel, table=True):
    """A topic migration (domain/migration.py): created at `planned` when its topic.migrate request
    is approved; its step moves forward through the gates, and every move is kept in `history`."""

    __tablename__ = "migration"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="request.id", max_length=32, unique=True)
    source_cluster: str = Field(foreign_key="cluster.name", max_length=100, index=True)
    target_cluster: str = Field(foreign_key="cluster.name", max_length=100, index=True)
    owner_team: str = Field(max_length=64, index=True)
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    plan: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    step: str = Field(max_length=32, index=True)
    history: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Per partition counts and sampled records compared before producers switch; None until then.
    verification: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # What the driver (services/migration_driver.py) last measured on both clusters: the gate facts,
    # per-partition lag with its history, the mirror's status and the moved groups. Rewritten by
    # each pass; nothing here is needed to resume (the next pass measures again).
    facts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    facts_at: datetime | None = Field(default=None)
    lag: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    mirror: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    groups: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The step's last failed action (Kafka refusing, the mirror engine unreachable); retried next pass.
    last_error: str | None = Field(default=None, max_length=2000)
    # An owner's confirmation that producers write to the target (POST .../producers-switched).
    producers_switched_by: str | None = Field(default=None, max_length=300)
    # Set once a finished migration (done, rolled back, failed) needs nothing more from the driver:
    # the driver's one query selects rows where this is NULL.
    finished_at: datetime | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

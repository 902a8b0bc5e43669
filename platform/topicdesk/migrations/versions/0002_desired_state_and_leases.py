"""desired state and leases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 08:48:59.476882
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_grant",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("observed_generation", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("last_error_reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("applied_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=249), nullable=False),
        sa.Column("pattern", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("principal", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("access", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("group_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("transactional_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("granted_team", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster"],
            ["cluster.name"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "cluster", "topic", "pattern", "principal", "access", "group_id", "transactional_id"
        ),
    )
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_grant_cluster"), ["cluster"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_grant_granted_team"), ["granted_team"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_grant_principal"), ["principal"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_grant_topic"), ["topic"], unique=False)

    op.create_table(
        "client_quota",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("observed_generation", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("last_error_reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("applied_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("principal", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("owner_team", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("producer_byte_rate", sa.BigInteger(), nullable=True),
        sa.Column("consumer_byte_rate", sa.BigInteger(), nullable=True),
        sa.Column("request_percentage", sa.Float(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster"],
            ["cluster.name"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cluster", "principal"),
    )
    with op.batch_alter_table("client_quota", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_quota_cluster"), ["cluster"], unique=False)
        batch_op.create_index(batch_op.f("ix_client_quota_owner_team"), ["owner_team"], unique=False)

    op.create_table(
        "cluster_lease",
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("fencing_token", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster"],
            ["cluster.name"],
        ),
        sa.PrimaryKeyConstraint("cluster"),
    )
    op.create_table(
        "drift_report",
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("scanned_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("admin_calls", sa.Integer(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("unmanaged_topics", sa.JSON(), nullable=False),
        sa.Column("unmanaged_acls", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster"],
            ["cluster.name"],
        ),
        sa.PrimaryKeyConstraint("cluster"),
    )
    op.create_table(
        "service_account",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("observed_generation", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("last_error_reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("applied_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("principal", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("owner_team", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("rotated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster"],
            ["cluster.name"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cluster", "principal"),
    )
    with op.batch_alter_table("service_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_account_cluster"), ["cluster"], unique=False)
        batch_op.create_index(batch_op.f("ix_service_account_owner_team"), ["owner_team"], unique=False)

    op.create_table(
        "topic",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("observed_generation", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("last_error_reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("applied_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=249), nullable=False),
        sa.Column("owner_team", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("partitions", sa.Integer(), nullable=False),
        sa.Column("replication_factor", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("data_contract", sa.JSON(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster"],
            ["cluster.name"],
        ),
        sa.ForeignKeyConstraint(
            ["owner_team"],
            ["team.name"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cluster", "name"),
    )
    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_topic_cluster"), ["cluster"], unique=False)
        batch_op.create_index(batch_op.f("ix_topic_owner_team"), ["owner_team"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_topic_owner_team"))
        batch_op.drop_index(batch_op.f("ix_topic_cluster"))

    op.drop_table("topic")
    with op.batch_alter_table("service_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_account_owner_team"))
        batch_op.drop_index(batch_op.f("ix_service_account_cluster"))

    op.drop_table("service_account")
    op.drop_table("drift_report")
    op.drop_table("cluster_lease")
    with op.batch_alter_table("client_quota", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_quota_owner_team"))
        batch_op.drop_index(batch_op.f("ix_client_quota_cluster"))

    op.drop_table("client_quota")
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_grant_topic"))
        batch_op.drop_index(batch_op.f("ix_access_grant_principal"))
        batch_op.drop_index(batch_op.f("ix_access_grant_granted_team"))
        batch_op.drop_index(batch_op.f("ix_access_grant_cluster"))

    op.drop_table("access_grant")

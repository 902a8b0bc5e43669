"""teams and clusters

Revision ID: 0001
Revises:
Create Date: 2026-11-25 08:46:55.831420
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "cluster",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("environment", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("owner_team", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("bootstrap_servers", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("security_protocol", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("sasl_mechanism", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("admin_secret_ref", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("broker_count", sa.Integer(), nullable=False),
        sa.Column("partition_budget", sa.Integer(), nullable=False),
        sa.Column("disk_budget_bytes", sa.BigInteger(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_team"],
            ["team.name"],
        ),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("cluster", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cluster_environment"), ["environment"], unique=False)
        batch_op.create_index(batch_op.f("ix_cluster_owner_team"), ["owner_team"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cluster", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_owner_team"))
        batch_op.drop_index(batch_op.f("ix_cluster_environment"))

    op.drop_table("cluster")
    op.drop_table("team")

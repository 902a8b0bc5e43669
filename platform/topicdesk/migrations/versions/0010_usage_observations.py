"""usage observations: the last evidence per topic and the commit history per consumer group

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "topic_usage",
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=249), nullable=False),
        sa.Column("exists", sa.Boolean(), nullable=False),
        sa.Column("partitions", sa.Integer(), nullable=False),
        sa.Column("last_write_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("gathered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cluster"], ["cluster.name"]),
        sa.PrimaryKeyConstraint("cluster", "topic"),
    )
    op.create_table(
        "group_commit_observation",
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=249), nullable=False),
        sa.Column("group_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("committed_offsets", sa.BigInteger(), nullable=True),
        sa.Column("committed_partitions", sa.Integer(), nullable=False),
        sa.Column("lag", sa.BigInteger(), nullable=True),
        sa.Column("first_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("changed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cluster"], ["cluster.name"]),
        sa.PrimaryKeyConstraint("cluster", "topic", "group_id"),
    )


def downgrade() -> None:
    op.drop_table("group_commit_observation")
    op.drop_table("topic_usage")

"""topic migrations: the migration table and a request's migration plan

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 12:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("migration_plan", sa.JSON(), nullable=True))
    op.create_table(
        "migration",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("source_cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("target_cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("owner_team", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("verification", sa.JSON(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["request.id"]),
        sa.ForeignKeyConstraint(["source_cluster"], ["cluster.name"]),
        sa.ForeignKeyConstraint(["target_cluster"], ["cluster.name"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id"),
    )
    with op.batch_alter_table("migration", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_migration_owner_team"), ["owner_team"], unique=False)
        batch_op.create_index(batch_op.f("ix_migration_source_cluster"), ["source_cluster"], unique=False)
        batch_op.create_index(batch_op.f("ix_migration_step"), ["step"], unique=False)
        batch_op.create_index(batch_op.f("ix_migration_target_cluster"), ["target_cluster"], unique=False)


def downgrade() -> None:
    op.drop_table("migration")
    with op.batch_alter_table("request", schema=None) as batch_op:
        batch_op.drop_column("migration_plan")

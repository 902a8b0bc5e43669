"""request progress (attempts, last error, next attempt, per-change outcomes) and topic observations

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_error", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("outcomes", sa.JSON(), nullable=True))
    op.create_table(
        "topic_observation",
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=249), nullable=False),
        sa.Column("observed", sa.JSON(), nullable=True),
        sa.Column("observed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cluster"], ["cluster.name"]),
        sa.PrimaryKeyConstraint("cluster", "name"),
    )


def downgrade() -> None:
    op.drop_table("topic_observation")
    with op.batch_alter_table("request", schema=None) as batch_op:
        batch_op.drop_column("outcomes")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("attempts")

"""drift triage and enforcement: cluster.drift_mode, drift_item and drift_link

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 08:55:02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drift_item",
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("team", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=600), nullable=False),
        sa.Column("expected", sa.JSON(), nullable=True),
        sa.Column("actual", sa.JSON(), nullable=True),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("first_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ignored_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("ignore_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("ignored_by", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("ignored_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("ignored_actual", sa.JSON(), nullable=True),
        sa.Column("triage", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["cluster"], ["cluster.name"]),
        sa.PrimaryKeyConstraint("cluster", "id"),
    )
    op.create_table(
        "drift_link",
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("resource_kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("resource_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.PrimaryKeyConstraint("cluster", "item_id", "resource_kind", "resource_id"),
    )
    with op.batch_alter_table("drift_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drift_link_resource_id"), ["resource_id"], unique=False)
    # Existing clusters keep being reconciled as before and now also get their drift put back.
    with op.batch_alter_table("cluster", schema=None) as batch_op:
        batch_op.add_column(sa.Column("drift_mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default="enforce"))
    # The items of the last scan now live in drift_item (the next scan fills it).
    with op.batch_alter_table("drift_report", schema=None) as batch_op:
        batch_op.drop_column("items")


def downgrade() -> None:
    with op.batch_alter_table("drift_report", schema=None) as batch_op:
        batch_op.add_column(sa.Column("items", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("cluster", schema=None) as batch_op:
        batch_op.drop_column("drift_mode")
    with op.batch_alter_table("drift_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drift_link_resource_id"))
    op.drop_table("drift_link")
    op.drop_table("drift_item")

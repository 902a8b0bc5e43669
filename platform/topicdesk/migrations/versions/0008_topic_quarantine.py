"""topic deletion phases (quarantine, deleting, deleted) and per-cluster grace periods

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cluster", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quarantine_seconds", sa.Integer(), nullable=True))

    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lifecycle", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default="active"))
        batch_op.add_column(sa.Column("quarantined_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("quarantined_grants", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("deletion_request_id", sqlmodel.sql.sqltypes.AutoString(length=32),
                                      nullable=True))
        batch_op.add_column(sa.Column("deleted_by", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    # Tombstones from before the phases: gone once the cluster confirmed, else being deleted.
    op.execute(sa.text("UPDATE topic SET lifecycle = CASE WHEN observed_generation >= generation "
                       "THEN 'deleted' ELSE 'deleting' END WHERE deleted"))


def downgrade() -> None:
    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("deleted_by")
        batch_op.drop_column("deletion_request_id")
        batch_op.drop_column("quarantined_grants")
        batch_op.drop_column("quarantined_until")
        batch_op.drop_column("lifecycle")

    with op.batch_alter_table("cluster", schema=None) as batch_op:
        batch_op.drop_column("quarantine_seconds")

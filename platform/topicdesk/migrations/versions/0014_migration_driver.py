"""migration driver: measured facts, lag, mirror status, groups, last error, finish marker

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 14:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("migration", schema=None) as batch_op:
        batch_op.add_column(sa.Column("facts", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("facts_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("lag", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("mirror", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("groups", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))
        batch_op.add_column(sa.Column("producers_switched_by", sqlmodel.sql.sqltypes.AutoString(length=300),
                                      nullable=True))
        batch_op.add_column(sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_migration_finished_at"), ["finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("migration", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_migration_finished_at"))
        for column in ("finished_at", "producers_switched_by", "last_error", "groups", "mirror", "lag",
                       "facts_at", "facts"):
            batch_op.drop_column(column)

"""reconciler bookkeeping

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 08:58:25.130075
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_generation", sa.Integer(), nullable=False, server_default="0"))

    with op.batch_alter_table("client_quota", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_generation", sa.Integer(), nullable=False, server_default="0"))

    with op.batch_alter_table("service_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_generation", sa.Integer(), nullable=False, server_default="0"))

    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_generation", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("managed_config_keys", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("topic", schema=None) as batch_op:
        batch_op.drop_column("managed_config_keys")
        batch_op.drop_column("failed_generation")

    with op.batch_alter_table("service_account", schema=None) as batch_op:
        batch_op.drop_column("failed_generation")

    with op.batch_alter_table("client_quota", schema=None) as batch_op:
        batch_op.drop_column("failed_generation")

    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.drop_column("failed_generation")

"""audit inbox: events wait here until the sequencer chains them

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 11:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("occurred_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=600), nullable=False),
        sa.Column("team", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("audit_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_inbox_subject"), ["subject"], unique=False)
    # The chain's head exists from the start, so sequencers only ever lock it, never race to create it.
    op.execute(sa.text("INSERT INTO audit_head (id, seq, hash) SELECT 1, 0, :genesis "
                       "WHERE NOT EXISTS (SELECT 1 FROM audit_head WHERE id = 1)").bindparams(genesis="0" * 64))


def downgrade() -> None:
    waiting = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_inbox")).scalar()
    if waiting:
        # Dropping them would lose audit events: chain them first (`topicdesk audit verify` does).
        raise RuntimeError(f"{waiting} audit events are not chained yet; run `topicdesk audit verify` first")
    with op.batch_alter_table("audit_inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_inbox_subject"))
    op.drop_table("audit_inbox")

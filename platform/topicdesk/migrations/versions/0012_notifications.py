"""notifications: subscriptions, outbox, delivery attempts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 11:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("notification_subscription",
    sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column("team", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column("event_types", sa.JSON(), nullable=False),
    sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column("audience", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("disabled_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column("disabled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column("consecutive_failures", sa.Integer(), nullable=False),
    sa.Column("failing_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column("last_delivery_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["team"], ["team.name"], ),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("notification_subscription", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_subscription_team"), ["team"], unique=False)

    op.create_table("notification_attempt",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
    sa.Column("subscription_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("attempted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column("result", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column("duration_ms", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["subscription_id"], ["notification_subscription.id"], ),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("notification_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_attempt_subscription_id"), ["subscription_id"], unique=False)

    op.create_table("notification_outbox",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
    sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column("subscription_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=600), nullable=False),
    sa.Column("audit_event_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column("occurred_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column("data", sa.JSON(), nullable=False),
    sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column("claimed_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column("delivered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["subscription_id"], ["notification_subscription.id"], ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("event_id")
    )
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_outbox_next_attempt_at"), ["next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_outbox_subscription_id"), ["subscription_id"], unique=False)

    op.create_table("notification_expiry_notice",
    sa.Column("grant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column("announced_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("grant_id")
    )


def downgrade() -> None:
    op.drop_table("notification_expiry_notice")
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_outbox_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_notification_outbox_next_attempt_at"))

    op.drop_table("notification_outbox")
    with op.batch_alter_table("notification_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_attempt_subscription_id"))

    op.drop_table("notification_attempt")
    with op.batch_alter_table("notification_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_subscription_team"))

    op.drop_table("notification_subscription")

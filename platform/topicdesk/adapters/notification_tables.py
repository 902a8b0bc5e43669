"""The notification tables: team webhook subscriptions, the outbox, delivery attempts, expiry notices
(docs/notifications.md). Registered on SQLModel.metadata through adapters/tables.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Integer
from sqlmodel import Field, SQLModel

from topicdesk.adapters.table_base import utcnow


class NotificationSubscriptionRow(SQLModel, table=True):
    """A team's webhook endpoint and the event types it wants (docs/notifications.md).

    `secret` is the HMAC key the deliverer signs with, so it is kept (it is shown to the team once);
    `audience` `platform_admins` (set by platform admins only) also receives what is routed to them.
    """

    __tablename__ = "notification_subscription"

    id: str = Field(primary_key=True, max_length=32)
    team: str = Field(foreign_key="team.name", max_length=64, index=True)
    url: str = Field(max_length=2000)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    format: str = Field(default="cloudevents", max_length=16)
    audience: str = Field(default="team", max_length=16)
    description: str = Field(default="", max_length=200)
    secret: str = Field(max_length=100)
    enabled: bool = Field(default=True)
    disabled_reason: str | None = Field(default=None, max_length=500)
    disabled_at: datetime | None = Field(default=None)
    consecutive_failures: int = Field(default=0)
    # When the current run of failures began (None after a success): the time-based disabling reads it.
    failing_since: datetime | None = Field(default=None)
    last_delivery_at: datetime | None = Field(default=None)
    created_by: str = Field(max_length=300)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class NotificationOutboxRow(SQLModel, table=True):
    """One event to deliver to one subscription, inserted in the transaction of the audit event
    that causes it; the deliverer claims due rows (`claimed_until` is the claim's lease) and keeps
    `event_id` across retries, so a receiver de-duplicates on it."""

    __tablename__ = "notification_outbox"

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"),
                                                          primary_key=True, autoincrement=True))
    event_id: str = Field(max_length=32, unique=True)
    subscription_id: str = Field(foreign_key="notification_subscription.id", max_length=32, index=True)
    event_type: str = Field(max_length=64)
    subject: str = Field(max_length=600)
    audit_event_id: str | None = Field(default=None, max_length=32)
    occurred_at: datetime
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # pending (to deliver) | delivered
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(index=True)
    claimed_by: str | None = Field(default=None, max_length=200)
    claimed_until: datetime | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=1000)
    delivered_at: datetime | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)


class NotificationAttemptRow(SQLModel, table=True):
    """Every delivery attempt, for the endpoint's delivery history."""

    __tablename__ = "notification_attempt"

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"),
                                                          primary_key=True, autoincrement=True))
    subscription_id: str = Field(foreign_key="notification_subscription.id", max_length=32, index=True)
    event_id: str = Field(max_length=32)
    event_type: str = Field(max_length=64)
    attempt: int
    attempted_at: datetime
    # delivered | failed (the receiver answered non-2xx) | timeout | unreachable | refused (address not allowed)
    result: str = Field(max_length=16)
    status_code: int | None = Field(default=None)
    error: str | None = Field(default=None, max_length=1000)
    duration_ms: int = Field(default=0)


class NotificationExpiryNoticeRow(SQLModel, table=True):
    """A grant whose coming end was announced (`access.expiring`), for that end: a renewal moves
    `expires_at`, so the new end is announced again."""

    __tablename__ = "notification_expiry_notice"

    grant_id: str = Field(primary_key=True, max_length=32)
    expires_at: datetime
    announced_at: datetime = Field(default_factory=utcnow)

"""What every table module shares: the clock, ids, and the Core table behind a model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Table
from sqlmodel import SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a model, for statements built once without the ORM."""
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def new_id() -> str:
    return uuid.uuid4().hex

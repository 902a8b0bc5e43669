"""Helpers every view uses: the caller, pagination cursors, query flags (bodies: api/body.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

from flask import current_app, g, request
from sqlalchemy.engine import Engine

from topicdesk.domain.errors import FieldError, Unauthenticated, ValidationFailed
from topicdesk.domain.identity import Identity

MAX_PAGE = 500


def engine() -> Engine:
    value: Engine = current_app.extensions["topicdesk.engine"]
    return value


def caller() -> Identity:
    identity: Identity | None = g.get("identity")
    if identity is None:
        raise Unauthenticated("send Authorization: Bearer <token>")
    return identity


def page_args() -> tuple[int, str | None]:
    raw_limit = request.args.get("limit", "50")
    try:
        limit = int(raw_limit)
    except ValueError as exc:
        raise ValidationFailed("bad limit", errors=[FieldError("/query/limit", "must be an integer")]) from exc
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed("bad limit", errors=[FieldError("/query/limit", f"must be 1..{MAX_PAGE}")])
    return limit, request.args.get("cursor") or None


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("bad cursor", errors=[FieldError("/query/cursor", "not a cursor from this API")]
                               ) from exc
    if not isinstance(decoded, list):
        raise ValidationFailed("bad cursor", errors=[FieldError("/query/cursor", "not a cursor from this API")])
    return decoded


def query_bool(name: str) -> bool:
    value = request.args.get(name, "false").lower()
    if value not in {"true", "false", "1", "0"}:
        raise ValidationFailed(f"bad {name}", errors=[FieldError(f"/query/{name}", "must be true or false")])
    return value in {"true", "1"}

"""API tokens: team-scoped bearer tokens with a role, expiry, revocation and last use.

The token text is `tdk_<id>_<secret>`; only SHA-256 of the secret is stored, and the text is
returned once, by create.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from topicdesk.adapters.audit_log import record_event
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import ApiTokenRow, TeamRow, utcnow
from topicdesk.domain.errors import Conflict, FieldError, NotFound, Unauthenticated, ValidationFailed
from topicdesk.domain.identity import Identity, Role

TOKEN_PATTERN = re.compile(r"^tdk_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
# Last-use writes are throttled so that every API call does not become a database write.
LAST_USE_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedToken:
    id: str
    team: str
    name: str
    role: Role
    expires_at: datetime | None
    token: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    engine: Engine, *, team: str, name: str, role: Role, actor: str, expires_in: timedelta | None = None,
) -> CreatedToken:
    errors = []
    if not NAME_PATTERN.match(name):
        errors.append(FieldError("/name", "use 1-100 lowercase letters, digits, '.', '_' or '-'"))
    if errors:
        raise ValidationFailed("the token cannot be created", errors=errors)
    secret = secrets.token_urlsafe(32)
    with unit_of_work(engine) as session:
        if session.get(TeamRow, team) is None:
            raise NotFound(f"team {team!r} does not exist")
        if session.exec(select(ApiTokenRow).where(ApiTokenRow.team == team, ApiTokenRow.name == name,
                                                   col(ApiTokenRow.revoked_at).is_(None))).first():
            raise Conflict(f"team {team!r} already has a token named {name!r}; revoke it first")
        row = ApiTokenRow(team=team, name=name, role=role.value, secret_hash=_hash(secret), created_by=actor,
                          expires_at=utcnow() + expires_in if expires_in else None)
        # A revoked token keeps its row (audit); its name can be reused.
        for old in session.exec(select(ApiTokenRow).where(ApiTokenRow.team == team,
                                                           ApiTokenRow.name == name)).all():
            old.name = f"{old.name}~{old.id[:8]}"
            session.add(old)
        session.add(row)
        session.flush()
        record_event(session, actor=actor, action="token:create", subject=f"token:{row.id}", team=team,
                     data={"team": team, "name": name, "role": role.value,
                           "expires_at": row.expires_at.isoformat() if row.expires_at else None})
        return CreatedToken(row.id, team, name, role, row.expires_at, f"tdk_{row.id}_{secret}")


def list_tokens(session: Session, team: str) -> list[ApiTokenRow]:
    return list(session.exec(select(ApiTokenRow).where(ApiTokenRow.team == team)
                             .order_by(col(ApiTokenRow.created_at))).all())


def revoke_token(engine: Engine, *, token_id: str, actor: str, team: str | None = None) -> ApiTokenRow:
    with unit_of_work(engine) as session:
        row = session.get(ApiTokenRow, token_id)
        if row is None or (team is not None and row.team != team):
            raise NotFound("no such token")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(row)
            record_event(session, actor=actor, action="token:revoke", subject=f"token:{row.id}", team=row.team,
                         data={"team": row.team, "name": row.name})
        return row


def authenticate_token(engine: Engine, token: str) -> Identity:
    match = TOKEN_PATTERN.match(token)
    if not match:
        raise Unauthenticated("the bearer token is not a Topicdesk API token")
    token_id, secret = match.groups()
    with unit_of_work(engine) as session:
        row = session.get(ApiTokenRow, token_id)
        # Compare even when the row is missing, so timing does not tell which ids exist.
        stored = row.secret_hash if row else _hash("")
        if not hmac.compare_digest(stored, _hash(secret)) or row is None:
            raise Unauthenticated("the API token is not valid")
        now = utcnow()
        if row.revoked_at is not None:
            raise Unauthenticated("the API token was revoked")
        if row.expires_at is not None and row.expires_at <= now:
            raise Unauthenticated("the API token has expired")
        if row.last_used_at is None or now - row.last_used_at > LAST_USE_RESOLUTION:
            row.last_used_at = now
            session.add(row)
        role = Role(row.role)
        if role == Role.ADMIN:
            return Identity(subject=f"token:{row.team}/{row.name}", team_roles={row.team: Role.OWNER},
                            platform_admin=True, via="token", token_id=row.id)
        return Identity(subject=f"token:{row.team}/{row.name}", team_roles={row.team: role}, via="token",
                        token_id=row.id)

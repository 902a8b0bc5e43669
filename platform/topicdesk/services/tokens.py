"""API tokens: team-scoped bearer tokens with a role, expiry, revocation and last use.

The token text is `tdk_<id>_<secret>`; only SHA-256 of the secret is stored, and the text is
returned once, by create.

A token that checked out is remembered for TOKEN_CACHE_SECONDS, keyed by the SHA-256 of its whole
text, so a client making many calls does not cost a database read (and transaction) each.
revoke_token forgets it at once in this process; a revocation made by another process (the CLI,
another instance) takes effect here within TOKEN_CACHE_SECONDS. Expiry is checked on every call.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
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
# fullmatch, not match with $: "$" also matches before a trailing newline.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
# Last-use writes are throttled so that every API call does not become a database write.
LAST_USE_RESOLUTION = timedelta(minutes=1)
TOKEN_CACHE_SECONDS = 5.0
TOKEN_CACHE_SIZE = 1024


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


@dataclass(frozen=True)
class _Validated:
    identity: Identity
    expires_at: datetime | None  # the token's own expiry
    until: float  # when this entry stops being trusted (clock time)


class ValidatedTokenCache:
    """Tokens that authenticated recently: (engine, SHA-256 of the token text) -> Identity.

    Thread-safe and bounded (least recently stored dropped first). `forget` runs after a revocation
    commits; an authentication that read the row before that cannot store a stale entry, because
    storing requires the epoch it started with.
    """

    def __init__(self, *, ttl_seconds: float = TOKEN_CACHE_SECONDS, max_entries: int = TOKEN_CACHE_SIZE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[Engine, str], _Validated] = OrderedDict()
        self._lock = threading.Lock()
        self.epoch = 0

    def get(self, engine: Engine, digest: str) -> Identity | None:
        entry = self._entries.get((engine, digest))
        if entry is None or entry.until <= self._clock():
            return None
        if entry.expires_at is not None and entry.expires_at <= utcnow():
            return None
        return entry.identity

    def put(self, engine: Engine, digest: str, identity: Identity, expires_at: datetime | None, epoch: int) -> None:
        if self.ttl_seconds <= 0:
            return
        now = self._clock()
        with self._lock:
            if epoch != self.epoch:
                return  # a revocation happened meanwhile: what was read may be stale
            self._entries.pop((engine, digest), None)
            self._entries[engine, digest] = _Validated(identity, expires_at, now + self.ttl_seconds)
            # Entries are stored in time order with one TTL: the expired ones are at the front.
            while self._entries and (len(self._entries) > self._max
                                     or next(iter(self._entries.values())).until <= now):
                self._entries.popitem(last=False)

    def forget(self, token_id: str) -> None:
        with self._lock:
            self.epoch += 1
            for key in [k for k, v in self._entries.items() if v.identity.token_id == token_id]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self.epoch += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


TOKEN_CACHE = ValidatedTokenCache()


def create_token(
    engine: Engine, *, team: str, name: str, role: Role, actor: str, expires_in: timedelta | None = None,
) -> CreatedToken:
    errors = []
    if not NAME_PATTERN.fullmatch(name):
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
    try:
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
    finally:
        # After the commit: an authentication racing with it either sees the revocation or cannot cache.
        TOKEN_CACHE.forget(token_id)


def authenticate_token(engine: Engine, token: str) -> Identity:
    match = TOKEN_PATTERN.match(token)
    if not match:
        raise Unauthenticated("the bearer token is not a Topicdesk API token")
    token_id, secret = match.groups()
    digest = _hash(token)
    cached = TOKEN_CACHE.get(engine, digest)
    if cached is not None:
        return cached
    epoch = TOKEN_CACHE.epoch
    checked = _authenticate_in_database(engine, token_id, secret)
    TOKEN_CACHE.put(engine, digest, checked.identity, checked.expires_at, epoch)
    return checked.identity


@dataclass(frozen=True)
class _Authenticated:
    identity: Identity
    expires_at: datetime | None


def _authenticate_in_database(engine: Engine, token_id: str, secret: str) -> _Authenticated:
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
            identity = Identity(subject=f"token:{row.team}/{row.name}", team_roles={row.team: Role.OWNER},
                                platform_admin=True, via="token", token_id=row.id)
        else:
            identity = Identity(subject=f"token:{row.team}/{row.name}", team_roles={row.team: role}, via="token",
                                token_id=row.id)
        return _Authenticated(identity, row.expires_at)

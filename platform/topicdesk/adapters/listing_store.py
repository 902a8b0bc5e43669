"""The statements behind the filtered lists of requests and audit events (keyset pagination).

services/queries.py decides what a caller may see and shapes the rows; the WHERE clauses live
here. Every filter is an equality or a prefix on an indexed column (request: status, kind,
cluster, requester_team, owner_team, requested_by, created_at; audit_event: actor, action,
subject, team, occurred_at), so each page is an index range scan, never a scan of the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from topicdesk.adapters.tables import AuditEventRow, RequestRow

# Logins, logouts and refused attempts: most of a busy log, and rarely what a reader is after.
LOGIN_ACTION_PREFIX = "auth:"


@dataclass(frozen=True)
class RequestFilter:
    """What GET /api/v1/requests narrows to; None means "any"."""

    status: str | None = None
    kind: str | None = None
    cluster: str | None = None
    # The team on either side: the one that asked (its people and its tokens) or the one that owns
    # what the request touches.
    team: str | None = None
    requested_by: str | None = None
    pending_only: bool = False


def request_rows(session: Session, *, visible_to: tuple[str, Sequence[str]] | None, where: RequestFilter,
                 after: tuple[datetime, str] | None, offset: int, limit: int) -> Sequence[RequestRow]:
    """A page of requests newest first. `visible_to` (subject, teams) keeps those the subject asked
    for or that involve one of the teams (None: all, for platform admins)."""
    query = select(RequestRow)
    if visible_to is not None:
        subject, teams = visible_to
        query = query.where(or_(col(RequestRow.requested_by) == subject, col(RequestRow.requester_team).in_(teams),
                                col(RequestRow.owner_team).in_(teams)))
    if where.status:
        query = query.where(RequestRow.status == where.status)
    if where.pending_only:
        query = query.where(RequestRow.status == "pending_approval")
    if where.kind:
        query = query.where(RequestRow.kind == where.kind)
    if where.cluster:
        query = query.where(RequestRow.cluster == where.cluster)
    if where.team:
        query = query.where(or_(col(RequestRow.requester_team) == where.team, col(RequestRow.owner_team) == where.team))
    if where.requested_by:
        query = query.where(RequestRow.requested_by == where.requested_by)
    if after is not None:
        moment, rid = after
        query = query.where(or_(col(RequestRow.created_at) < moment,
                                (col(RequestRow.created_at) == moment) & (col(RequestRow.id) < rid)))
    query = query.order_by(col(RequestRow.created_at).desc(), col(RequestRow.id).desc())
    return session.exec(query.offset(offset).limit(limit)).all()


@dataclass(frozen=True)
class AuditFilter:
    """What GET /api/v1/audit narrows to; None means "any"."""

    since: datetime | None = None
    # The event's subject or its actor (a person, a token, `request:<id>`, `topic:<cluster>/<name>`).
    subject: str | None = None
    # An exact action (`request:approve`) or, without a colon, a family (`request`).
    action: str | None = None
    hide_logins: bool = False


def _action_clause(action: str) -> ColumnElement[bool]:
    if ":" in action:
        return col(AuditEventRow.action) == action
    # A family: the prefix with its colon, so `request` never matches a `requests:` family.
    return col(AuditEventRow.action).startswith(f"{action}:", autoescape=True)


def audit_rows(session: Session, *, teams: Sequence[str] | None, where: AuditFilter, before_seq: int | None,
               limit: int) -> Sequence[AuditEventRow]:
    """A page of the chain, newest first; `teams` keeps the events of those teams (None: all)."""
    query = select(AuditEventRow)
    if teams is not None:
        query = query.where(col(AuditEventRow.team).in_(teams))
    if where.since is not None:
        query = query.where(col(AuditEventRow.occurred_at) >= where.since)
    if where.subject:
        query = query.where(or_(col(AuditEventRow.subject) == where.subject, col(AuditEventRow.actor) == where.subject))
    if where.action:
        query = query.where(_action_clause(where.action))
    elif where.hide_logins:
        query = query.where(~col(AuditEventRow.action).startswith(LOGIN_ACTION_PREFIX))
    if before_seq is not None:
        query = query.where(col(AuditEventRow.seq) < before_seq)
    return session.exec(query.order_by(col(AuditEventRow.seq).desc()).limit(limit)).all()

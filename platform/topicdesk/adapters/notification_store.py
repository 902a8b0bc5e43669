"""The notification outbox: rows written with the audit events that cause them, claimed by deliverers.

`enqueue_notifications` runs inside the transaction that records audit events (adapters/audit_log.py
record_events, and a submission's own insert in adapters/submission_store.py): it maps each event to
its notices (domain/notifications.py), resolves their audiences here with SQL, and inserts one
outbox row per matching enabled subscription, so the change, its audit event and its notifications
commit together or not at all.

Deliverers claim due rows with one UPDATE over a sub-select (PostgreSQL: `FOR UPDATE SKIP LOCKED`,
so concurrent deliverers take different rows; SQLite: the statement runs under the database's write
lock). A claim is a lease (`claimed_until`): a deliverer killed mid-delivery leaves the row to be
claimed again when the lease ends, with the same event id, so delivery is at least once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from topicdesk.adapters.tables import (
    AccessGrantRow,
    NotificationAttemptRow,
    NotificationOutboxRow,
    NotificationSubscriptionRow,
    RequestRow,
    new_id,
    table_of,
    utcnow,
)
from topicdesk.domain.notifications import ConsumersOf, Notice, RequestSummary, notices_for

_SUBS, _OUTBOX, _ATTEMPTS = (table_of(NotificationSubscriptionRow), table_of(NotificationOutboxRow),
                             table_of(NotificationAttemptRow))
_REQUESTS, _GRANTS = table_of(RequestRow), table_of(AccessGrantRow)

PLATFORM_ADMINS = "platform_admins"

_DUE = (select(_OUTBOX.c.id)
        .join(_SUBS, _SUBS.c.id == _OUTBOX.c.subscription_id)
        .where(_OUTBOX.c.status == "pending", _OUTBOX.c.next_attempt_at <= bindparam("now"),
               or_(_OUTBOX.c.claimed_until.is_(None), _OUTBOX.c.claimed_until < bindparam("now")),
               _SUBS.c.enabled.is_(True))
        .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True, of=_OUTBOX))
_CLAIM = (update(_OUTBOX).where(_OUTBOX.c.id.in_(_DUE.scalar_subquery()))
          .values(claimed_by=bindparam("worker"), claimed_until=bindparam("until"))
          .returning(*_OUTBOX.c))


def enqueue_notifications(connection: Connection, events: Sequence[Mapping[str, Any]],
                          before_lookup: Callable[[], object] | None = None) -> int:
    """Insert the outbox rows the audit events (audit_inbox row dicts) cause; returns how many."""
    found = [(event, notice) for event in events
             for notice in notices_for(str(event["action"]), str(event["subject"]), event.get("team"),
                                       event.get("data"))]
    if not found:
        return 0
    if before_lookup is not None:
        before_lookup()  # ORM changes of this transaction (a request's new status) become visible
    if not _anyone_subscribed(connection, [notice for _, notice in found]):
        return 0
    summaries = _requests(connection, {n.request_id for _, n in found if n.request_id}
                          | {n.requester_of for _, n in found if n.requester_of})
    audiences = [(event, notice, _teams(connection, notice, summaries)) for event, notice in found]
    wanted = {team for _, _, teams in audiences for team in teams}
    to_admins = any(notice.platform_admins for _, notice, _ in audiences)
    if not wanted and not to_admins:
        return 0
    match: ColumnElement[bool] = _SUBS.c.team.in_(sorted(wanted))
    if to_admins:
        match = or_(match, _SUBS.c.audience == PLATFORM_ADMINS)
    subscriptions = connection.execute(select(_SUBS.c.id, _SUBS.c.team, _SUBS.c.audience, _SUBS.c.event_types)
                                       .where(_SUBS.c.enabled.is_(True), match)).all()
    now = utcnow()
    rows = []
    for event, notice, teams in audiences:
        data = dict(notice.data)
        if notice.request_id and notice.request_id in summaries:
            data["request"] = summaries[notice.request_id].view()
        for sub in subscriptions:
            if notice.event_type not in sub.event_types:
                continue
            if sub.team in teams or (notice.platform_admins and sub.audience == PLATFORM_ADMINS):
                rows.append({"event_id": new_id(), "subscription_id": sub.id, "event_type": notice.event_type,
                             "subject": notice.subject, "audit_event_id": event.get("event_id"),
                             "occurred_at": event.get("occurred_at") or now, "data": data, "status": "pending",
                             "attempts": 0, "next_attempt_at": now, "claimed_by": None, "claimed_until": None,
                             "last_error": None, "delivered_at": None, "created_at": now})
    if rows:
        connection.execute(insert(_OUTBOX), rows)
    return len(rows)


def _subscribed_statement(requesters: bool, admins: bool) -> Select[Any]:
    r = _REQUESTS.c
    match: ColumnElement[bool] = _SUBS.c.team.in_(bindparam("teams", expanding=True))
    if requesters:
        match = or_(match, _SUBS.c.team.in_(select(r.requester_team).where(
            r.id.in_(bindparam("requesters", expanding=True)))))
    if admins:
        match = or_(match, _SUBS.c.audience == PLATFORM_ADMINS)
    return select(_SUBS.c.event_types).where(_SUBS.c.enabled.is_(True), match)


# Composed once (composing cost more than running it): by (requesting teams asked, platform admins asked).
_SUBSCRIBED = {(requesters, admins): _subscribed_statement(requesters, admins)
               for requesters in (False, True) for admins in (False, True)}


def _anyone_subscribed(connection: Connection, notices: Sequence[Notice]) -> bool:
    """Whether an enabled subscription might want one of the notices (False: surely none does).

    Most events reach no subscription; this answers that in one statement (the requesting teams as
    a sub-select), where resolving every audience first takes two or more. Consuming teams need
    their own lookup: notices with those always go the full way."""
    if any(notice.consumers_of is not None for notice in notices):
        return True
    requesters = sorted({notice.requester_of for notice in notices if notice.requester_of})
    statement = _SUBSCRIBED[bool(requesters), any(notice.platform_admins for notice in notices)]
    teams = sorted({team for notice in notices for team in notice.teams})
    wanted = {notice.event_type for notice in notices}
    return any(wanted.intersection(types) for types in connection.execute(
        statement, {"teams": teams, "requesters": requesters} if requesters else {"teams": teams}).scalars())


def _requests(connection: Connection, ids: set[str]) -> dict[str, RequestSummary]:
    if not ids:
        return {}
    r = _REQUESTS.c
    found = connection.execute(select(r.id, r.kind, r.cluster, r.status, r.requested_by, r.requester_team,
                                      r.owner_team, r.spec).where(r.id.in_(sorted(ids)))).all()
    return {row.id: RequestSummary(row.id, row.kind, row.cluster, row.status, row.requested_by, row.requester_team,
                                   row.owner_team, dict(row.spec or {})) for row in found}


def _teams(connection: Connection, notice: Notice, summaries: Mapping[str, RequestSummary]) -> set[str]:
    teams = set(notice.teams)
    if notice.requester_of and notice.requester_of in summaries:
        teams.add(summaries[notice.requester_of].requester_team)
    if notice.consumers_of is not None:
        teams |= consuming_teams(connection, notice.consumers_of)
    return teams


def consuming_teams(connection: Connection, of: ConsumersOf) -> set[str]:
    """Teams with a consume grant on the topic (live ones, or exactly the principals named: a
    quarantine has just turned its grants into tombstones)."""
    g = _GRANTS.c
    query = select(g.granted_team).distinct().where(g.cluster == of.cluster, g.topic == of.topic,
                                                    g.access == "consume", g.pattern == "literal")
    if of.principals is None:
        query = query.where(g.deleted.is_(False))
    elif of.principals:
        query = query.where(g.principal.in_(list(of.principals)))
    else:
        return set()
    return {str(team) for team in connection.execute(query).scalars() if team}


# --- delivery -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claimed:
    """A claimed outbox row with what the deliverer needs of its subscription."""

    id: int
    event_id: str
    event_type: str
    subject: str
    occurred_at: datetime
    data: dict[str, Any]
    attempts: int
    subscription_id: str
    team: str
    url: str
    format: str
    secret: str


def claim_due(connection: Connection, worker: str, *, limit: int, lease_seconds: float,
              now: datetime | None = None) -> list[Claimed]:
    moment = now or utcnow()
    rows = connection.execute(_CLAIM, {"now": moment, "limit": limit, "worker": worker,
                                       "until": moment + timedelta(seconds=lease_seconds)}).all()
    if not rows:
        return []
    subs = {s.id: s for s in connection.execute(
        select(_SUBS.c.id, _SUBS.c.team, _SUBS.c.url, _SUBS.c.format, _SUBS.c.secret)
        .where(_SUBS.c.id.in_(sorted({r.subscription_id for r in rows})))).all()}
    return [Claimed(r.id, r.event_id, r.event_type, r.subject, r.occurred_at, dict(r.data), r.attempts,
                    r.subscription_id, subs[r.subscription_id].team, subs[r.subscription_id].url,
                    subs[r.subscription_id].format, subs[r.subscription_id].secret)
            for r in sorted(rows, key=lambda r: (r.next_attempt_at, r.id)) if r.subscription_id in subs]


@dataclass(frozen=True)
class AttemptResult:
    result: str  # delivered | failed | timeout | unreachable | refused
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0

    @property
    def delivered(self) -> bool:
        return self.result == "delivered"


def finish_attempt(connection: Connection, claimed: Claimed, worker: str, outcome: AttemptResult,
                   at: datetime, next_attempt_at: datetime | None) -> bool:
    """Record an attempt and settle or reschedule its row; False when this worker's claim had
    lapsed and another took the row over (the attempt is still in the history)."""
    attempt = claimed.attempts + 1
    connection.execute(insert(_ATTEMPTS), {
        "subscription_id": claimed.subscription_id, "event_id": claimed.event_id, "event_type": claimed.event_type,
        "attempt": attempt, "attempted_at": at, "result": outcome.result, "status_code": outcome.status_code,
        "error": (outcome.error or None) and str(outcome.error)[:1000], "duration_ms": outcome.duration_ms})
    values: dict[str, Any] = {"attempts": attempt, "claimed_by": None, "claimed_until": None}
    if outcome.delivered:
        values.update(status="delivered", delivered_at=at, last_error=None)
    else:
        values.update(next_attempt_at=next_attempt_at or at,
                      last_error=(outcome.error or outcome.result)[:1000])
    done = connection.execute(update(_OUTBOX).where(_OUTBOX.c.id == claimed.id, _OUTBOX.c.claimed_by == worker,
                                                    _OUTBOX.c.status == "pending").values(**values))
    return bool(done.rowcount)


def pending_counts(connection: Connection, subscription_ids: Sequence[str]) -> dict[str, int]:
    if not subscription_ids:
        return {}
    rows = connection.execute(select(_OUTBOX.c.subscription_id, func.count())
                              .where(_OUTBOX.c.subscription_id.in_(list(subscription_ids)),
                                     _OUTBOX.c.status == "pending")
                              .group_by(_OUTBOX.c.subscription_id)).all()
    return {str(sub): int(count) for sub, count in rows}


def attempts_page(connection: Connection, subscription_id: str, *, limit: int,
                  before: int | None) -> list[Any]:
    """A subscription's attempts, newest first (keyset on the attempt id)."""
    query = select(_ATTEMPTS).where(_ATTEMPTS.c.subscription_id == subscription_id)
    if before is not None:
        query = query.where(_ATTEMPTS.c.id < before)
    return list(connection.execute(query.order_by(_ATTEMPTS.c.id.desc()).limit(limit + 1)).all())


def enqueue_test(connection: Connection, subscription_id: str, subject: str, data: dict[str, Any]) -> str:
    """A `notification.test` event for one subscription; returns its event id."""
    now = utcnow()
    event_id = new_id()
    connection.execute(insert(_OUTBOX), {
        "event_id": event_id, "subscription_id": subscription_id, "event_type": "notification.test",
        "subject": subject, "audit_event_id": None, "occurred_at": now, "data": data, "status": "pending",
        "attempts": 0, "next_attempt_at": now, "claimed_by": None, "claimed_until": None, "last_error": None,
        "delivered_at": None, "created_at": now})
    return event_id


def delete_subscription_rows(connection: Connection, subscription_id: str) -> None:
    connection.execute(delete(_ATTEMPTS).where(_ATTEMPTS.c.subscription_id == subscription_id))
    connection.execute(delete(_OUTBOX).where(_OUTBOX.c.subscription_id == subscription_id))
    connection.execute(delete(_SUBS).where(_SUBS.c.id == subscription_id))


def resume_pending(connection: Connection, subscription_id: str, now: datetime) -> None:
    """A re-enabled endpoint: its waiting rows are due now, not at their last back-off."""
    connection.execute(update(_OUTBOX).where(and_(_OUTBOX.c.subscription_id == subscription_id,
                                                  _OUTBOX.c.status == "pending"))
                       .values(next_attempt_at=now))

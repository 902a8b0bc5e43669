"""Notification subscriptions: a team's owners create, list, change and delete webhook endpoints,
read their delivery history and send a test event. Delivery itself: services/notify_worker.py."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from topicdesk.adapters import notification_store as store
from topicdesk.adapters.audit_log import record_event
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import NotificationSubscriptionRow, TeamRow, new_id, utcnow
from topicdesk.config import NotifySettings
from topicdesk.domain.errors import FieldError, Forbidden, NotFound, ValidationFailed
from topicdesk.domain.identity import Identity
from topicdesk.domain.webhooks import UrlRules, address_problems, redacted, url_problems
from topicdesk.schemas import SCHEMA_BASE_URI, schema_errors

CREATE_SCHEMA = SCHEMA_BASE_URI + "notification-subscription.json"
UPDATE_SCHEMA = SCHEMA_BASE_URI + "notification-subscription.update.json"
MAX_PER_TEAM = 20

# host, port -> the addresses it resolves to (socket.getaddrinfo in production; tests pass their own).
Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)})


def url_rules(settings: NotifySettings) -> UrlRules:
    return UrlRules(allow_http=settings.allow_http, allow_link_local=settings.allow_link_local)


def check_url(url: str, rules: UrlRules, resolver: Resolver = resolve, path: str = "/url") -> None:
    """Refuse a webhook URL by its text, then by every address its host resolves to (so a name that
    points at a metadata address is refused too; the deliverer checks again before each POST)."""
    from urllib.parse import urlsplit

    problems = url_problems(url, rules)
    if not problems:
        parts = urlsplit(url)
        try:
            addresses = resolver(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        except OSError as exc:
            problems = [f"host {parts.hostname!r} does not resolve: {exc}"]
        else:
            problems = address_problems(addresses, rules)
    if problems:
        raise ValidationFailed("the webhook URL is not allowed", errors=[FieldError(path, p) for p in problems])


def _owner(identity: Identity, team: str) -> None:
    if not identity.is_member(team):
        raise NotFound(f"no team {team!r} among yours")
    if not identity.is_owner(team):
        raise Forbidden(f"only owners of team {team!r} manage its notifications")


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def view(row: NotificationSubscriptionRow, pending: int = 0, secret: bool = False) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": row.id, "team": row.team, "url": row.url, "event_types": list(row.event_types), "format": row.format,
        "audience": row.audience, "description": row.description, "enabled": row.enabled,
        "disabled_reason": row.disabled_reason, "disabled_at": _time(row.disabled_at),
        "consecutive_failures": row.consecutive_failures, "failing_since": _time(row.failing_since),
        "last_delivery_at": _time(row.last_delivery_at), "pending_deliveries": pending,
        "created_by": row.created_by, "created_at": _time(row.created_at), "updated_at": _time(row.updated_at)}
    if secret:
        shown["secret"] = row.secret
    return shown


def _time(moment: Any) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _validated(schema: str, body: dict[str, Any]) -> None:
    errors = schema_errors(schema, body)
    if errors:
        raise ValidationFailed("the subscription is not valid", errors=errors)


def create_subscription(engine: Engine, identity: Identity, team: str, body: dict[str, Any],
                        settings: NotifySettings, resolver: Resolver = resolve) -> dict[str, Any]:
    _owner(identity, team)
    _validated(CREATE_SCHEMA, body)
    if body.get("audience") == store.PLATFORM_ADMINS and not identity.platform_admin:
        raise ValidationFailed("only platform admins subscribe for what is routed to platform admins",
                               errors=[FieldError("/audience", "platform_admins is for platform admins only")])
    check_url(body["url"], url_rules(settings), resolver)
    with unit_of_work(engine) as session:
        if session.get(TeamRow, team) is None:
            raise NotFound(f"no team {team!r}")
        count = len(session.exec(select(NotificationSubscriptionRow.id)
                                 .where(NotificationSubscriptionRow.team == team)).all())
        if count >= MAX_PER_TEAM:
            raise ValidationFailed(f"team {team!r} has {count} subscriptions; {MAX_PER_TEAM} is the most",
                                   errors=[FieldError("", f"at most {MAX_PER_TEAM} subscriptions per team")])
        row = NotificationSubscriptionRow(
            id=new_id(), team=team, url=body["url"], event_types=list(body["event_types"]),
            format=body.get("format", "cloudevents"), audience=body.get("audience", "team"),
            description=body.get("description", ""), secret=_new_secret(), enabled=body.get("enabled", True),
            created_by=identity.subject)
        session.add(row)
        session.flush()
        record_event(session, actor=identity.subject, action="notification_subscription:create",
                     subject=f"notification_subscription:{row.id}", team=team,
                     data={"url": redacted(row.url), "event_types": row.event_types, "format": row.format,
                           "audience": row.audience})
        return view(row, secret=True)


def _subscription(session: Session, team: str, subscription_id: str, *, lock: bool = False
                  ) -> NotificationSubscriptionRow:
    query = select(NotificationSubscriptionRow).where(NotificationSubscriptionRow.id == subscription_id,
                                                      NotificationSubscriptionRow.team == team)
    row = session.exec(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound("no such subscription")
    return row


def list_subscriptions(engine: Engine, identity: Identity, team: str) -> list[dict[str, Any]]:
    _owner(identity, team)
    with unit_of_work(engine) as session:
        rows = session.exec(select(NotificationSubscriptionRow).where(NotificationSubscriptionRow.team == team)
                            .order_by(col(NotificationSubscriptionRow.created_at))).all()
        pending = store.pending_counts(session.connection(), [row.id for row in rows])
        return [view(row, pending.get(row.id, 0)) for row in rows]


def get_subscription(engine: Engine, identity: Identity, team: str, subscription_id: str) -> dict[str, Any]:
    _owner(identity, team)
    with unit_of_work(engine) as session:
        row = _subscription(session, team, subscription_id)
        return view(row, store.pending_counts(session.connection(), [row.id]).get(row.id, 0))


def update_subscription(engine: Engine, identity: Identity, team: str, subscription_id: str, body: dict[str, Any],
                        settings: NotifySettings, resolver: Resolver = resolve) -> dict[str, Any]:
    _owner(identity, team)
    _validated(UPDATE_SCHEMA, body)
    if "url" in body:
        check_url(body["url"], url_rules(settings), resolver)
    with unit_of_work(engine) as session:
        row = _subscription(session, team, subscription_id, lock=True)
        now = utcnow()
        changed: dict[str, Any] = {key: body[key] for key in ("url", "event_types", "format", "description")
                                   if key in body}
        if "url" in changed:
            changed["url"] = redacted(body["url"])
        for key in ("url", "event_types", "format", "description"):
            if key in body:
                setattr(row, key, list(body[key]) if key == "event_types" else body[key])
        if "enabled" in body and body["enabled"] != row.enabled:
            changed["enabled"] = body["enabled"]
            row.enabled = body["enabled"]
            if row.enabled:
                # A fresh start: the failure run that disabled it is over; waiting events go out now.
                row.disabled_reason = row.disabled_at = row.failing_since = None
                row.consecutive_failures = 0
                store.resume_pending(session.connection(), row.id, now)
            else:
                row.disabled_reason, row.disabled_at = f"disabled by {identity.subject}", now
        if body.get("rotate_secret"):
            row.secret = _new_secret()
            changed["rotate_secret"] = True
        row.updated_at = now
        session.add(row)
        session.flush()
        record_event(session, actor=identity.subject, action="notification_subscription:change",
                     subject=f"notification_subscription:{row.id}", team=team, data=changed)
        return view(row, store.pending_counts(session.connection(), [row.id]).get(row.id, 0),
                    secret=bool(body.get("rotate_secret")))


def delete_subscription(engine: Engine, identity: Identity, team: str, subscription_id: str) -> None:
    """Deleting an endpoint drops its waiting deliveries and its history with it."""
    _owner(identity, team)
    with unit_of_work(engine) as session:
        row = _subscription(session, team, subscription_id, lock=True)
        url = row.url
        session.expunge(row)
        store.delete_subscription_rows(session.connection(), subscription_id)
        record_event(session, actor=identity.subject, action="notification_subscription:delete",
                     subject=f"notification_subscription:{subscription_id}", team=team, data={"url": redacted(url)})


def deliveries(engine: Engine, identity: Identity, team: str, subscription_id: str, *, limit: int,
               before: int | None) -> tuple[list[dict[str, Any]], int | None]:
    """The endpoint's delivery attempts, newest first; the id to continue before."""
    _owner(identity, team)
    with unit_of_work(engine) as session:
        _subscription(session, team, subscription_id)
        rows = store.attempts_page(session.connection(), subscription_id, limit=limit, before=before)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"event_id": r.event_id, "event_type": r.event_type, "attempt": r.attempt,
              "attempted_at": _time(r.attempted_at), "result": r.result, "status_code": r.status_code,
              "error": r.error, "duration_ms": r.duration_ms} for r in rows]
    return items, (int(rows[-1].id) if more and rows else None)


def send_test_event(engine: Engine, identity: Identity, team: str, subscription_id: str) -> dict[str, Any]:
    """Queue a `notification.test` event for this endpoint; the deliverer sends it like any other."""
    _owner(identity, team)
    with unit_of_work(engine) as session:
        row = _subscription(session, team, subscription_id)
        event_id = store.enqueue_test(session.connection(), row.id, f"notification_subscription:{row.id}",
                                      {"requested_by": identity.subject, "team": team})
        record_event(session, actor=identity.subject, action="notification_subscription:test",
                     subject=f"notification_subscription:{row.id}", team=team, data={"event_id": event_id})
        return {"event_id": event_id, "event_type": "notification.test", "enabled": row.enabled,
                "detail": "queued; it shows in the delivery history once sent" if row.enabled
                else "queued; this endpoint is disabled, so it is sent once it is enabled again"}

"""Notification subscriptions of a team (/api/v1/teams/<team>/notifications/...): thin views over
services/notifications.py. Registered on the v1 blueprint, so they share its authentication."""

from __future__ import annotations

from flask import current_app, jsonify
from flask.typing import ResponseReturnValue

from topicdesk.api.body import json_body
from topicdesk.api.common import caller, engine, page_args
from topicdesk.api.v1 import v1
from topicdesk.config import NotifySettings, Settings
from topicdesk.domain.errors import FieldError, ValidationFailed
from topicdesk.domain.notifications import SUBSCRIBABLE
from topicdesk.domain.webhooks import FORMATS, REPLAY_WINDOW_SECONDS, SIGNATURE_HEADER
from topicdesk.services import notifications as service

BASE = "/teams/<team>/notifications/subscriptions"


def _settings() -> NotifySettings:
    settings: Settings = current_app.extensions["topicdesk.settings"]
    return settings.notify


@v1.get("/notifications/event-types")
def notification_event_types() -> ResponseReturnValue:
    return jsonify(event_types=list(SUBSCRIBABLE), formats=list(FORMATS), signature_header=SIGNATURE_HEADER,
                   replay_window_seconds=REPLAY_WINDOW_SECONDS)


@v1.get(BASE)
def list_notification_subscriptions(team: str) -> ResponseReturnValue:
    return jsonify(items=service.list_subscriptions(engine(), caller(), team), next_cursor=None)


@v1.post(BASE)
def create_notification_subscription(team: str) -> ResponseReturnValue:
    created = service.create_subscription(engine(), caller(), team, json_body(), _settings())
    response = jsonify(created)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"  # the secret is in this response only
    return response


@v1.get(BASE + "/<subscription_id>")
def get_notification_subscription(team: str, subscription_id: str) -> ResponseReturnValue:
    return jsonify(service.get_subscription(engine(), caller(), team, subscription_id))


@v1.patch(BASE + "/<subscription_id>")
def update_notification_subscription(team: str, subscription_id: str) -> ResponseReturnValue:
    response = jsonify(service.update_subscription(engine(), caller(), team, subscription_id, json_body(),
                                                   _settings()))
    response.headers["Cache-Control"] = "no-store"
    return response


@v1.delete(BASE + "/<subscription_id>")
def delete_notification_subscription(team: str, subscription_id: str) -> ResponseReturnValue:
    service.delete_subscription(engine(), caller(), team, subscription_id)
    return "", 204


@v1.get(BASE + "/<subscription_id>/deliveries")
def notification_deliveries(team: str, subscription_id: str) -> ResponseReturnValue:
    limit, cursor = page_args()
    before = None
    if cursor is not None:
        if not cursor.isdigit():
            raise ValidationFailed("bad cursor", errors=[FieldError("/query/cursor", "not a cursor from this API")])
        before = int(cursor)
    items, more = service.deliveries(engine(), caller(), team, subscription_id, limit=limit, before=before)
    return jsonify(items=items, next_cursor=str(more) if more is not None else None)


@v1.post(BASE + "/<subscription_id>/test")
def test_notification_subscription(team: str, subscription_id: str) -> ResponseReturnValue:
    response = jsonify(service.send_test_event(engine(), caller(), team, subscription_id))
    response.status_code = 202
    return response

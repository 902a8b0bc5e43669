"""Response schemas of the notification endpoints (components of the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from topicdesk.domain.notifications import SUBSCRIBABLE

_TIME = {"type": ["string", "null"], "format": "date-time"}

SUBSCRIPTION: dict[str, Any] = {
    "type": "object",
    "required": ["id", "team", "url", "event_types", "format", "audience", "enabled", "disabled_reason",
                 "consecutive_failures", "pending_deliveries"],
    "properties": {
        "id": {"type": "string"}, "team": {"type": "string"}, "url": {"type": "string"},
        "event_types": {"type": "array", "items": {"enum": list(SUBSCRIBABLE)}},
        "format": {"enum": ["cloudevents", "slack"]}, "audience": {"enum": ["team", "platform_admins"]},
        "description": {"type": "string"},
        "enabled": {"type": "boolean", "description": "false: disabled by an owner, or for failing (see the reason)"},
        "disabled_reason": {"type": ["string", "null"],
                            "description": "why it is disabled, e.g. after N failed deliveries in a row"},
        "disabled_at": _TIME,
        "consecutive_failures": {"type": "integer"}, "failing_since": _TIME, "last_delivery_at": _TIME,
        "pending_deliveries": {"type": "integer", "description": "events waiting to be delivered (or retried)"},
        "created_by": {"type": "string"}, "created_at": _TIME, "updated_at": _TIME,
        "secret": {"type": "string", "description": "the HMAC-SHA256 signing key: only in the answer to a create "
                                                   "or a rotate_secret"},
    },
}

DELIVERY: dict[str, Any] = {
    "type": "object", "required": ["event_id", "event_type", "attempt", "attempted_at", "result"],
    "properties": {
        "event_id": {"type": "string", "description": "the same on every attempt (Webhook-Id, CloudEvents id)"},
        "event_type": {"type": "string"}, "attempt": {"type": "integer"},
        "attempted_at": {"type": "string", "format": "date-time"},
        "result": {"enum": ["delivered", "failed", "timeout", "unreachable", "refused"],
                   "description": "failed: the receiver answered non-2xx; refused: the URL's address is not allowed"},
        "status_code": {"type": ["integer", "null"]}, "error": {"type": ["string", "null"]},
        "duration_ms": {"type": "integer"},
    },
}

NOTIFICATION_RESPONSES: dict[str, dict[str, Any]] = {
    "NotificationSubscription": SUBSCRIPTION,
    "NotificationSubscriptionList": {
        "type": "object", "required": ["items", "next_cursor"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/NotificationSubscription"}},
                       "next_cursor": {"type": ["string", "null"]}}},
    "NotificationDelivery": DELIVERY,
    "NotificationDeliveryList": {
        "type": "object", "required": ["items", "next_cursor"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/NotificationDelivery"}},
                       "next_cursor": {"type": ["string", "null"]}}},
}

"""Webhook delivery as pure functions: payload formats, the signature, back-off, disabling, URL rules.

docs/notifications.md documents each for receivers; the deliverer (services/notify_worker.py) and
the subscription service (services/notifications.py) only wire them to HTTP and the database.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

FORMATS = ("cloudevents", "slack")
SIGNATURE_HEADER = "X-Topicdesk-Signature"
REPLAY_WINDOW_SECONDS = 300
CLOUDEVENTS_SOURCE = "/topicdesk"
CLOUDEVENTS_TYPE_PREFIX = "dev.topicdesk."


@dataclass(frozen=True)
class OutgoingEvent:
    """One outbox row as the payload builders see it."""

    event_id: str
    event_type: str
    subject: str
    occurred_at: datetime
    team: str
    data: Mapping[str, Any]


def _time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def cloudevent(event: OutgoingEvent) -> dict[str, Any]:
    """CloudEvents 1.0, structured JSON mode (Content-Type: application/cloudevents+json)."""
    return {"specversion": "1.0", "id": event.event_id, "source": CLOUDEVENTS_SOURCE,
            "type": CLOUDEVENTS_TYPE_PREFIX + event.event_type, "subject": event.subject,
            "time": _time(event.occurred_at), "datacontenttype": "application/json",
            "topicdeskteam": event.team, "data": dict(event.data)}


def summary(event: OutgoingEvent) -> str:
    """One line a person reads in a chat channel."""
    data = event.data
    request = data.get("request") if isinstance(data.get("request"), dict) else None
    what = (f"{request['kind']} {request.get('target') or ''} on {request['cluster']}".replace("  ", " ")
            if request else event.subject)
    texts: dict[str, Callable[[], str]] = {
        "request.awaiting_approval": lambda: f"Request awaits your approval: {what}",
        "request.decided": lambda: f"Request {data.get('decision', 'decided')}: {what}",
        "request.applied": lambda: f"Request applied on the cluster: {what}",
        "request.failed": lambda: f"Request failed: {what}: {(data.get('error') or {}).get('message', '')}".rstrip(
            ": "),
        "drift.found": lambda: f"Drift found on {data.get('cluster')}: {data.get('kind')} {data.get('key')}",
        "topic.deletion_scheduled": lambda: f"A topic you consume is to be deleted: {data.get('topic')} "
                                            f"on {data.get('cluster')}",
        "topic.quarantined": lambda: f"A topic you consume is quarantined until {data.get('quarantined_until')} "
                                     f"and then deleted: {data.get('topic')} on {data.get('cluster')}",
        "access.expiring": lambda: f"Access ends at {data.get('expires_at')}: {data.get('principal')} "
                                   f"{data.get('access')} {data.get('topic')} on {data.get('cluster')}",
        "migration.step": lambda: f"Migration {event.subject.partition(':')[2]}: {data.get('step') or data.get('to')}"
                                  + (f"; now: {' '.join(data['now'])}" if data.get("now") else ""),
        "notification.test": lambda: "Test event from Topicdesk: this endpoint receives notifications",
    }
    return texts.get(event.event_type, lambda: f"{event.event_type}: {event.subject}")()


def slack_message(event: OutgoingEvent) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text` (the fallback and notification line) and blocks."""
    line = summary(event)
    return {"text": line, "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": event.event_type[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"`{event.subject}` · team {event.team} · "
                                                                      f"event {event.event_id}"[:3000]}]},
    ]}


def body_of(format_: str, event: OutgoingEvent) -> tuple[bytes, str]:
    """The request body and its Content-Type; the bytes are what the signature covers."""
    if format_ == "slack":
        payload, media = slack_message(event), "application/json"
    else:
        payload, media = cloudevent(event), "application/cloudevents+json; charset=utf-8"
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode(), media


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, now: float,
                     window: int = REPLAY_WINDOW_SECONDS) -> bool:
    """The receiver's check (docs/notifications.md has the same recipe to copy)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > window:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 10.0
    cap_seconds: float = 3600.0
    # Disable an endpoint after this many failures in a row (0: never by count) ...
    disable_after_failures: int = 50
    # ... or when every delivery failed for this long (0: never by time).
    disable_after_seconds: float = 24 * 3600.0


def backoff_seconds(attempt: int, policy: RetryPolicy, random: Callable[[], float]) -> float:
    """The wait after failed attempt number `attempt` (1-based): exponential, capped, with equal
    jitter (half fixed, half random) so that receivers coming back are not hit by every retry at once."""
    delay = min(policy.cap_seconds, policy.base_seconds * 2.0 ** max(0, attempt - 1))
    return float(delay / 2 + random() * delay / 2)


def disable_reason(consecutive_failures: int, failing_since: datetime | None, now: datetime,
                   policy: RetryPolicy) -> str | None:
    """Why an endpoint that keeps failing is disabled now, or None while it may go on."""
    if policy.disable_after_failures and consecutive_failures >= policy.disable_after_failures:
        return f"disabled after {consecutive_failures} failed deliveries in a row"
    if (policy.disable_after_seconds and failing_since is not None and consecutive_failures > 1
            and (now - failing_since).total_seconds() >= policy.disable_after_seconds):
        hours = (now - failing_since).total_seconds() / 3600
        return f"disabled: every delivery failed for {hours:.1f} hours ({consecutive_failures} attempts)"
    return None


# --- where a webhook may point ---------------------------------------------------------------------

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Cloud metadata services answer here; a webhook must never reach them.
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                                ipaddress.ip_address("100.100.100.200")})


@dataclass(frozen=True)
class UrlRules:
    # http:// only for localhost unless this is set (a test or an internal network without TLS).
    allow_http: bool = False
    # Link-local and metadata addresses are refused unless this is set.
    allow_link_local: bool = False


def url_problems(url: str, rules: UrlRules) -> list[str]:
    """What is wrong with a webhook URL by its text alone (the addresses are checked separately)."""
    if len(url) > 2000:
        return ["must be at most 2000 characters"]
    try:
        parts = urlsplit(url)
        if parts.port is not None and not 0 < parts.port < 65536:  # .port itself raises for non-numbers
            return ["has a port out of range"]
    except ValueError as exc:
        return [f"is not a URL: {exc}"]
    if parts.scheme not in ("https", "http"):
        return ["must be an https:// URL"]
    host = (parts.hostname or "").lower()
    if not host:
        return ["must name a host"]
    if parts.username or parts.password:
        return ["must not carry credentials; the signature authenticates Topicdesk"]
    if parts.scheme == "http" and host not in LOCAL_HOSTS and not rules.allow_http:
        return ["must be https:// (http:// only for localhost, or when TOPICDESK_NOTIFY_ALLOW_HTTP is set)"]
    return []


def redacted(url: str) -> str:
    """The URL without its path and query, which often hold a token (Slack webhook URLs do): for
    audit events, which the whole team reads."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.path.strip("/") or parts.query else f"{parts.scheme}://{parts.netloc}"


def address_problems(addresses: Iterable[str], rules: UrlRules) -> list[str]:
    """Addresses a host resolved to that a webhook must not reach."""
    problems = []
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        mapped = getattr(address, "ipv4_mapped", None)
        address = mapped or address
        if address in METADATA_ADDRESSES or address.is_link_local:
            if not rules.allow_link_local:
                problems.append(f"resolves to {address}, a link-local or metadata address "
                                "(allowed only with TOPICDESK_NOTIFY_ALLOW_LINK_LOCAL)")
        elif address.is_multicast or address.is_unspecified or address.is_reserved:
            problems.append(f"resolves to {address}, which is not a unicast address")
    return problems

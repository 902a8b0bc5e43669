"""Time-bound access: how an access.grant says when it ends, and what that means at a given moment.

A grant asks for `expires_at` (an RFC 3339 moment with its UTC offset) or `duration` (ISO 8601,
weeks/days/hours/minutes/seconds only: `PT10S`, `PT12H`, `P30D`, `P1W2D`; years and months are
refused because their length depends on the calendar), or neither (no expiry). A duration starts
when the request is approved, so access approved three days late still lasts as long as asked.
Either way the end lies at most MAX_GRANT_SECONDS ahead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from topicdesk.domain.errors import FieldError

MAX_GRANT_SECONDS = 365 * 86400
_DURATION = re.compile(r"^P(?=\d|T\d)(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def duration_seconds(text: str) -> int | None:
    """Seconds of an ISO 8601 duration in the accepted subset; None when it is not one."""
    match = _DURATION.match(text)
    if match is None:
        return None
    weeks, days, hours, minutes, seconds = (int(part) if part else 0 for part in match.groups())
    return (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_moment(text: str) -> datetime | None:
    """An RFC 3339 timestamp with an offset (Z or +hh:mm); None for anything else."""
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", text):
        return None
    try:
        return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return None


def expiry_errors(spec: Mapping[str, Any], now: datetime) -> list[FieldError]:
    """What is wrong with a (schema-valid) access.grant spec's expiry at `now`, with JSON paths."""
    errors: list[FieldError] = []
    if isinstance(spec.get("duration"), str):
        seconds = duration_seconds(spec["duration"])
        if seconds is None:
            errors.append(FieldError("/spec/duration", f"{spec['duration']!r} is not a duration: write ISO "
                                                       "8601 weeks, days, hours, minutes or seconds, e.g. P30D"))
        elif seconds < 1:
            errors.append(FieldError("/spec/duration", "a grant must last at least one second"))
        elif seconds > MAX_GRANT_SECONDS:
            errors.append(FieldError("/spec/duration", f"{spec['duration']} is longer than a grant may last "
                                                       "(365 days, P365D); ask again to renew it before it ends"))
    if isinstance(spec.get("expires_at"), str):
        moment = parse_moment(spec["expires_at"])
        if moment is None:
            errors.append(FieldError("/spec/expires_at", f"{spec['expires_at']!r} is not an RFC 3339 timestamp "
                                                         "with an offset, e.g. 2027-03-31T00:00:00Z"))
        elif moment <= now:
            errors.append(FieldError("/spec/expires_at", f"{spec['expires_at']} has already passed"))
        elif moment - now > timedelta(seconds=MAX_GRANT_SECONDS):
            errors.append(FieldError("/spec/expires_at", f"{spec['expires_at']} is more than 365 days away; "
                                                         "ask again to renew the grant before it ends"))
    return errors


def grant_expires_at(spec: Mapping[str, Any], approved_at: datetime) -> datetime | None:
    """When a grant approved at `approved_at` ends; None: it does not (the spec is already valid)."""
    if isinstance(spec.get("duration"), str):
        seconds = duration_seconds(spec["duration"])
        return approved_at + timedelta(seconds=seconds) if seconds is not None else None
    if isinstance(spec.get("expires_at"), str):
        return parse_moment(spec["expires_at"])
    return None


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")

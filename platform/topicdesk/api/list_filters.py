"""The query parameters of the request and audit lists, checked together: one 422 names every bad one."""

from __future__ import annotations

import re
from datetime import datetime

from flask import request

from topicdesk.adapters.listing_store import AuditFilter, RequestFilter
from topicdesk.api.endpoints import REQUEST_STATUSES
from topicdesk.domain.errors import FieldError, ValidationFailed
from topicdesk.schemas import FORMAT_CHECKER, REQUEST_KINDS

# `request:approve`, or a family such as `request` (every `request:*` event).
_ACTION = re.compile(r"^[a-z][a-z_]*(:[a-z][a-z_]*)?$")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
# The column widths in adapters/tables.py: a longer value cannot match, so it is a mistake to say so.
_MAX_LENGTH = {"cluster": 100, "team": 64, "subject": 600, "request": 32, "action": 64}


class _Args:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def text(self, name: str) -> str | None:
        value = request.args.get(name, "").strip()
        if not value:
            return None
        if len(value) > _MAX_LENGTH[name]:
            self.errors.append(FieldError(f"/query/{name}", f"at most {_MAX_LENGTH[name]} characters"))
            return None
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        value = request.args.get(name) or None
        if value is not None and value not in allowed:
            self.errors.append(FieldError(f"/query/{name}", f"one of {', '.join(sorted(allowed))}"))
            return None
        return value

    def boolean(self, name: str) -> bool:
        value = request.args.get(name, "false").lower()
        if value not in _BOOLEANS:
            self.errors.append(FieldError(f"/query/{name}", "must be true or false"))
            return False
        return _BOOLEANS[value]

    def moment(self, name: str) -> datetime | None:
        raw = request.args.get(name)
        if raw is None:
            return None
        # RFC 3339 as the document declares it (fromisoformat alone would take a bare date or no zone);
        # what RFC 3339 allows and Python does not (a leap second) is refused the same way.
        try:
            if not FORMAT_CHECKER.conforms(raw, "date-time"):
                raise ValueError(raw)
            return datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
        except ValueError:
            self.errors.append(FieldError(f"/query/{name}",
                                          "must be an RFC 3339 date-time with a zone, e.g. 2026-12-01T00:00:00Z"))
            return None

    def check(self, title: str) -> None:
        if self.errors:
            raise ValidationFailed(title, errors=self.errors)


def request_filter(subject: str) -> tuple[RequestFilter, bool]:
    """GET /api/v1/requests: the filter, and whether only requests awaiting the caller are wanted."""
    args = _Args()
    status = args.choice("status", REQUEST_STATUSES)
    kind = args.choice("kind", REQUEST_KINDS)
    cluster, team = args.text("cluster"), args.text("team")
    mine, awaiting_me = args.boolean("mine"), args.boolean("awaiting_me")
    args.check("bad request filter")
    return RequestFilter(status=status, kind=kind, cluster=cluster, team=team,
                         requested_by=subject if mine else None), awaiting_me


def request_cursor(values: list[object]) -> tuple[str, str]:
    """A requests cursor is [created_at, id]; anything else did not come from this API."""
    if len(values) == 2 and all(isinstance(v, str) for v in values):
        created, rid = str(values[0]), str(values[1])
        try:
            datetime.fromisoformat(created)
        except ValueError:
            pass
        else:
            return created, rid
    raise ValidationFailed("bad cursor", errors=[FieldError("/query/cursor", "not a cursor from this API")])


def audit_filter() -> AuditFilter:
    """GET /api/v1/audit: `request=<id>` is short for `subject=request:<id>`."""
    args = _Args()
    since = args.moment("since")
    subject, request_id = args.text("subject"), args.text("request")
    action = args.text("action")
    if action is not None and not _ACTION.match(action):
        args.errors.append(FieldError("/query/action",
                                      "an action such as request:approve, or a family such as request"))
        action = None
    if subject and request_id:
        args.errors.append(FieldError("/query/request", "give subject or request, not both"))
    hide_logins = args.boolean("hide_logins")
    args.check("bad audit filter")
    return AuditFilter(since=since, subject=f"request:{request_id}" if request_id else subject, action=action,
                       hide_logins=hide_logins)

"""The one place where errors become application/problem+json (RFC 9457)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from topicdesk.domain.errors import RateLimited, TopicdeskError, UnsupportedMediaType

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    problem_type: str = "about:blank",
    errors: list[dict[str, str | int]] | None = None,
    headers: dict[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """`extra`: extension members (RFC 9457 section 3.2), never replacing the standard ones."""
    body: dict[str, Any] = {
        **(extra or {}),
        "type": problem_type,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if errors is not None:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _from_domain(error: TopicdeskError) -> Response:
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after_seconds)
    if isinstance(error, UnsupportedMediaType):
        # What this endpoint takes instead (Accept-Post of the W3C Linked Data Platform; RFC 5789's
        # Accept-Patch for PATCH), which curl shows.
        headers["Accept-Patch" if request.method == "PATCH" else "Accept-Post"] = ", ".join(error.accepted)
    return problem_response(
        error.status,
        error.title,
        error.message,
        problem_type=f"https://topicdesk.dev/problems/{error.reason}",
        errors=[e.as_json() for e in error.errors] if error.errors else None,
        headers=headers,
    )


def _from_http(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        # RFC 9110 section 15.5.6: a 405 lists the methods the resource has.
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return problem_response(status, error.name, error.description or error.name, headers=headers)


def _from_unexpected(error: Exception) -> Response:
    # The stack trace goes to the log only: a response must never leak internals.
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem_response(500, "Internal Server Error", "An unexpected error occurred; it has been logged.")


def register_problem_handlers(app: Flask) -> None:
    app.register_error_handler(TopicdeskError, _from_domain)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(Exception, _from_unexpected)

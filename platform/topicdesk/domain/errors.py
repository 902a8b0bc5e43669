"""Domain errors: each carries a machine reason and a message written for the person who caused it.

The API layer turns them into problem+json; the CLI prints the message on one line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One validation error located by a JSON Pointer into the submitted document."""

    path: str
    message: str


class TopicdeskError(Exception):
    status = 400
    reason = "bad_request"
    title = "Bad request"

    def __init__(self, message: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors or [])


class MalformedInput(TopicdeskError):
    status = 400
    reason = "malformed"
    title = "Malformed request"


class Unauthenticated(TopicdeskError):
    status = 401
    reason = "unauthenticated"
    title = "Authentication required"


class Forbidden(TopicdeskError):
    status = 403
    reason = "forbidden"
    title = "Not allowed"


class NotFound(TopicdeskError):
    status = 404
    reason = "not_found"
    title = "Not found"


class Conflict(TopicdeskError):
    status = 409
    reason = "conflict"
    title = "Conflict"


class ValidationFailed(TopicdeskError):
    status = 422
    reason = "validation_failed"
    title = "Validation failed"


class RateLimited(TopicdeskError):
    status = 429
    reason = "rate_limited"
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(TopicdeskError):
    """A cluster the caller asked us to read now did not answer; nothing was stored."""

    status = 503
    reason = "cluster_unavailable"
    title = "Cluster unavailable"

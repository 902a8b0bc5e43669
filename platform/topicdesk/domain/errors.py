"""Domain errors: each carries a machine reason and a message written for the person who caused it.

The API layer turns them into problem+json; the CLI prints the message on one line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One validation error located by a JSON Pointer into the submitted document.

    A desired-state file's errors also carry where the pointer's node is in the file (1-based line
    and column) when the parser knows it; the API shows them only when set.
    """

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def as_json(self) -> dict[str, str | int]:
        shown: dict[str, str | int] = {"path": self.path, "message": self.message}
        if self.line is not None:
            shown["line"] = self.line
        if self.column is not None:
            shown["column"] = self.column
        return shown


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


class UnsupportedMediaType(TopicdeskError):
    status = 415
    reason = "unsupported_media_type"
    title = "Unsupported media type"

    def __init__(self, message: str, *, accepted: tuple[str, ...]) -> None:
        super().__init__(message)
        self.accepted = accepted


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

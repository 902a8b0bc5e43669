"""The one place where request input is read: JSON bodies, desired-state files, path and query values.

Every view that takes a body reads it through json_body() or file_body(), so each refusal is the
same everywhere and happens before a service sees anything (nothing is stored):

- 415 for a body whose Content-Type is not JSON (application/merge-patch+json too on PATCH), or
  that has none, or names a charset other than UTF-8;
- 413 past the app's MAX_CONTENT_LENGTH (TOPICDESK_MAX_BODY_BYTES), whether the body is announced
  by Content-Length or sent chunked; the detail names the limit;
- 400 for text that is not UTF-8 or not JSON, nested deeper than strict_json.MAX_DEPTH, NaN/Infinity,
  or a key given twice; 422 for a top level that is not an object, and for refused characters and
  out-of-range numbers, each with its JSON pointer (adapters/strict_json.py says which).

Path parameters and query values (check_url_values, before every request) must be at most
MAX_URL_VALUE characters and free of control and invisible format characters: a NUL in a
cluster name would otherwise reach PostgreSQL, which refuses it with an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from topicdesk.adapters import strict_json
from topicdesk.api.problems import problem_response
from topicdesk.domain.errors import FieldError, MalformedInput, UnsupportedMediaType, ValidationFailed

JSON_MEDIA = "application/json"
MERGE_PATCH_MEDIA = "application/merge-patch+json"
# Longer than any name the API has (topic names: 249) or cursor it hands out, short enough to log.
MAX_URL_VALUE = 1000


def accepted_media() -> tuple[str, ...]:
    return (JSON_MEDIA, MERGE_PATCH_MEDIA) if request.method == "PATCH" else (JSON_MEDIA,)


def _media_type(accepted: tuple[str, ...]) -> str | None:
    """The bare media type, or None when no Content-Type was sent; 415 for another one or charset."""
    header = request.headers.get("Content-Type")
    if header is None:
        return None
    kind = request.mimetype
    if kind not in accepted:
        hint = " (curl -d sends form data: add -H 'Content-Type: application/json')" \
            if kind == "application/x-www-form-urlencoded" else ""
        raise UnsupportedMediaType(f"the request body must be sent as {' or '.join(accepted)}, not "
                                   f"{kind or 'an empty Content-Type'}{hint}", accepted=accepted)
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"JSON is UTF-8, not {charset}: send {accepted[0]} (charset=utf-8 or none)",
                                   accepted=accepted)
    return kind


def raw_body(accepted: tuple[str, ...], media_type: Callable[[str], object] | None = None) -> bytes:
    """The body's bytes after the Content-Type and size checks (b"" when there is none).

    media_type: the endpoint's own Content-Type check (raising UnsupportedMediaType), else `accepted`'s.
    """
    header = request.headers.get("Content-Type")
    kind = _media_type(accepted) if media_type is None else (media_type(header) if header is not None else None)
    raw = request.get_data(cache=True)  # werkzeug stops at MAX_CONTENT_LENGTH, also for chunked bodies
    _refuse_cut_stream(raw)
    if raw and kind is None:
        raise UnsupportedMediaType(f"a request body needs a Content-Type: send {' or '.join(accepted)}",
                                   accepted=accepted)
    return raw


def _refuse_cut_stream(raw: bytes) -> None:
    """Never parse a prefix of what was sent. Under gunicorn (which terminates the input stream)
    werkzeug reads up to the limit and stops without an error in two cases: a body without
    Content-Length (chunked) that is larger than the limit, and a client that stops sending before
    its Content-Length was reached."""
    announced = request.content_length
    if announced is not None:
        if len(raw) != announced:
            raise MalformedInput(f"the request body ended after {len(raw)} of the {announced} bytes its "
                                 "Content-Length announced")
        return
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and len(raw) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()


def json_body(*, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; optional=True: {} when no body was sent."""
    raw = raw_body(accepted_media())
    if not raw:
        if optional:
            return {}
        raise MalformedInput("the request body must be a JSON object")
    try:
        document = strict_json.loads(strict_json.decode(raw))
    except strict_json.JsonRefused as exc:
        raise MalformedInput(f"the request body cannot be read: {exc.message}",
                             errors=[FieldError("", exc.message, exc.line, exc.column)]) from exc
    if not isinstance(document, dict):
        raise ValidationFailed("the request body must be a JSON object",
                               errors=[FieldError("", f"expected an object, got {_json_type(document)}")])
    found = strict_json.problems(document)
    if found.duplicate_keys:
        raise MalformedInput(f"the request body is ambiguous JSON: {_count(found.all)}", errors=found.all)
    if found.refused_values:
        raise ValidationFailed(f"the request body has values the API does not accept: {_count(found.all)}",
                               errors=found.all)
    return document


def _count(errors: list[FieldError]) -> str:
    return f"{len(errors)} problems" if len(errors) > 1 else "1 problem"


def file_body(accepted: tuple[str, ...], media_type: Callable[[str], object]) -> bytes:
    """A file upload's bytes (desired-state YAML or JSON) after the Content-Type and size checks."""
    return raw_body(accepted, media_type)


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def check_url_values() -> None:
    """Before every request: path parameters and query values are bounded and printable.

    Not /auth/*: its `next` is reduced to "/" when unsafe (so a bad link still logs in), and `state`
    and `code` are only compared with what the session holds.
    """
    if request.blueprint == "auth":
        return
    errors = []
    for name, value in (request.view_args or {}).items():
        errors += _url_value_errors(f"/path/{name}", str(value))
    for name, value in request.args.items(multi=True):
        errors += _url_value_errors(f"/query/{name}", name, what="the parameter name")
        errors += _url_value_errors(f"/query/{name}", value)
    if errors:
        raise MalformedInput("the URL has values the API does not accept", errors=errors)


def _url_value_errors(path: str, value: str, *, what: str = "the value") -> list[FieldError]:
    if len(value) > MAX_URL_VALUE:
        return [FieldError(path, f"{what} is {len(value)} characters long; at most {MAX_URL_VALUE}")]
    refused = strict_json.refused_character(value)
    return [FieldError(path, f"{what} has the character {refused}, which URLs here cannot contain")] if refused \
        else []


def _too_large(_error: RequestEntityTooLarge) -> Response:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    return problem_response(413, "Content Too Large",
                            f"the request body is larger than the limit of {limit} bytes "
                            "(TOPICDESK_MAX_BODY_BYTES)",
                            problem_type="https://topicdesk.dev/problems/body_too_large")


def register_input_checks(app: Flask) -> None:
    app.before_request(check_url_values)
    app.register_error_handler(RequestEntityTooLarge, _too_large)

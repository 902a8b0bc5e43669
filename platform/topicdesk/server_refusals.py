"""gunicorn's own refusals as problem+json, like every other answer of the API.

gunicorn refuses some requests before the app sees them: a request line past `limit_request_line`
(414: a long URL, e.g. a path value of a thousand percent-encoded characters), too many or too long
header fields (431), a malformed request line or header (400). It answers those with an HTML page
(`gunicorn.util.write_error`). Topicdesk's workers write an RFC 9457 problem instead, with the
headers every API answer has (nosniff, no framing, no caching).
"""

from __future__ import annotations

import json
import socket

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from topicdesk.api.headers import COMMON, DATA_CSP
from topicdesk.api.problems import PROBLEM_MEDIA_TYPE

# The headers of every API answer (api/headers.py), as the app's after_request hook would add them.
_HEADERS = ("Connection: close", f"Content-Type: {PROBLEM_MEDIA_TYPE}",
            *(f"{name}: {value}" for name, value in {**COMMON, "Content-Security-Policy": DATA_CSP,
                                                     "Cache-Control": "no-store"}.items()))


def problem_bytes(status: int, reason: str, detail: str) -> bytes:
    """The whole HTTP answer: a status line, the headers and a problem body (no `instance`: the
    request line itself may be what could not be read)."""
    body = json.dumps({"type": "about:blank", "title": reason, "status": status,
                       "detail": detail or reason}).encode()
    head = "\r\n".join((f"HTTP/1.1 {status} {reason}", *_HEADERS, f"Content-Length: {len(body)}"))
    return head.encode("latin-1") + b"\r\n\r\n" + body


def write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    # gunicorn's signature (util.write_error); the reason phrase is its own, ASCII.
    util.write_nonblock(sock, problem_bytes(status_int, reason, mesg))


class ProblemThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker whose refusals are problem+json (see the module's docstring)."""

    def init_process(self) -> None:
        # The worker's handle_error calls util.write_error by name; this process only serves the API.
        util.write_error = write_problem
        super().init_process()

"""Per HTTP request: the request id, one structured log line and the HTTP metrics; and /metrics.

The request id is the caller's `X-Request-ID` when it is a sane token (so a trace spans the
client and us), else a new one; either way it is returned in the response's `X-Request-ID`. The
route is the URL rule (`/api/v1/requests/<request_id>`), never the raw path: raw paths would make
a label per topic or request and leak names into logs. Query strings and headers are never logged
(/auth/callback carries a one-time code, API calls carry tokens).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from flask import Blueprint, Flask, Response, current_app, g, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from topicdesk.api.endpoints import REQUEST_ID_PATTERN
from topicdesk.api.problems import PROBLEM_MEDIA_TYPE
from topicdesk.observability import metrics_auth
from topicdesk.observability.collector import DatabaseCollector
from topicdesk.observability.metrics import exposition, record_http

log = logging.getLogger("topicdesk.http")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
COLLECTOR = "topicdesk.metrics_collector"

metrics_blueprint = Blueprint("metrics", __name__)


def request_id_from(header: str | None) -> str:
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def _begin() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))


def _finish(response: Response) -> Response:
    started = g.get("request_started")
    seconds = time.perf_counter() - started if started is not None else 0.0
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    request_id = g.get("request_id") or request_id_from(None)
    response.headers[REQUEST_ID_HEADER] = request_id
    record_http(request.method, route, response.status_code, seconds)
    identity = g.get("identity")
    level = logging.ERROR if response.status_code >= 500 else logging.INFO
    log.log(level, "%s %s %s", request.method, route, response.status_code, extra={
        "request_id": request_id, "method": request.method, "route": route, "status": response.status_code,
        "duration_ms": round(seconds * 1000, 2), "principal": identity.subject if identity is not None else None,
        "endpoint": request.endpoint})
    return response


@metrics_blueprint.get("/metrics")
def metrics() -> ResponseReturnValue:
    token = current_app.extensions["topicdesk.settings"].metrics_token
    if not metrics_auth.authorized(request.headers.get("Authorization"), token):
        return Response(json.dumps(metrics_auth.problem(request.path)), status=401, mimetype=PROBLEM_MEDIA_TYPE,
                        headers={"WWW-Authenticate": metrics_auth.CHALLENGE})
    body = exposition(current_app.extensions[COLLECTOR])
    # 0.0.4: the text format every Prometheus 2.x parses; our names need none of 1.0.0's escaping.
    return Response(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)


def install(app: Flask) -> None:
    """Register the hooks and /metrics on `app` (create_app calls this)."""
    app.extensions[COLLECTOR] = DatabaseCollector(app.extensions["topicdesk.engine"])
    app.before_request(_begin)
    app.after_request(_finish)
    app.register_blueprint(metrics_blueprint)

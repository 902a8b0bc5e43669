"""The optional bearer token on /metrics (TOPICDESK_METRICS_TOKEN), on the web server and on the
reconciler's --metrics-port alike.

Unset, /metrics stays public (for a scraper on an internal network). Set, a scrape must send
`Authorization: Bearer <the token>` (Prometheus: `authorization: {credentials_file: ...}` in the
scrape config); anything else is a 401 problem+json. It is one shared secret for the scraper, not
an API token: API tokens and sessions do not open /metrics, and the token opens nothing else.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# A WSGI application (PEP 3333), as prometheus_client.make_wsgi_app returns one.
Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

METRICS_TOKEN_ENV = "TOPICDESK_METRICS_TOKEN"
CHALLENGE = 'Bearer realm="metrics"'
DETAIL = f"/metrics needs Authorization: Bearer <the {METRICS_TOKEN_ENV} of this deployment>"


def metrics_token(env: Mapping[str, str]) -> str | None:
    """The configured token; an empty or blank value means none (public /metrics)."""
    token = env.get(METRICS_TOKEN_ENV, "").strip()
    return token or None


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an Authorization header opens /metrics: always without a token, else only the token."""
    if token is None:
        return True
    scheme, _, presented = (header or "").strip().partition(" ")
    # compare_digest takes as long for a wrong first byte as for a wrong last one: timing does not
    # tell a guesser how much of the token they have.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def problem(instance: str) -> dict[str, Any]:
    """The 401 body, the same shape as every other problem (api/problems.py)."""
    return {"type": "https://topicdesk.dev/problems/unauthenticated", "title": "Authentication required",
            "status": 401, "detail": DETAIL, "instance": instance}


def guarded_wsgi(app: Wsgi, token: str | None) -> Wsgi:
    """`app` behind the token (the reconciler's metrics port; the web server checks in its view)."""
    if token is None:
        return app

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if authorized(environ.get("HTTP_AUTHORIZATION"), token):
            return app(environ, start_response)
        body = json.dumps(problem(environ.get("PATH_INFO") or "/")).encode()
        start_response("401 Unauthorized", [("Content-Type", "application/problem+json"),
                                            ("Content-Length", str(len(body))), ("WWW-Authenticate", CHALLENGE)])
        return [body]

    return guarded

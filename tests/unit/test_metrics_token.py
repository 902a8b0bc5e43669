"""The optional bearer token on /metrics: the web server's view and the reconciler's metrics port
(its WSGI application, called as the port's server calls it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from prometheus_client import make_wsgi_app

from tests.fakes import FakeClusterPort
from tests.support import Desk, build_desk
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.observability.metrics_auth import authorized, guarded_wsgi, metrics_token

TOKEN = "scrape-9f2c0a7e41b84d6f"


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    desk = build_desk(tmp_path, FakeClusterPort(), tokens={"ada": ("platform", Role.ADMIN)},
                      env={"TOPICDESK_METRICS_TOKEN": TOKEN})
    yield desk
    desk.engine.dispose()


def test_with_a_token_the_web_servers_metrics_need_it(desk: Desk) -> None:
    client = desk.app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": f"Bearer {desk.tokens['ada']}"}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.mimetype == "application/problem+json"
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert refused.json is not None
        assert (refused.json["status"], refused.json["instance"]) == (401, "/metrics")
        assert "TOPICDESK_METRICS_TOKEN" in refused.json["detail"]
        assert "topicdesk_" not in refused.get_data(as_text=True)
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200
    assert "topicdesk_http_requests_total" in scraped.get_data(as_text=True)
    # The token opens /metrics only: it is no API credential.
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401


def test_without_a_token_metrics_stay_public(tmp_path: Path) -> None:
    desk = build_desk(tmp_path, FakeClusterPort(), tokens={}, env={"TOPICDESK_METRICS_TOKEN": "  "})
    try:
        assert desk.app.test_client().get("/metrics").status_code == 200
    finally:
        desk.engine.dispose()


def _call(app: Any, authorization: str | None) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"PATH_INFO": "/metrics"}
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    setup_testing_defaults(environ)
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], _exc_info: Any = None) -> None:
        answer.update(status=status, headers=dict(headers))

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def test_the_reconcilers_metrics_port_needs_the_same_token() -> None:
    app = guarded_wsgi(make_wsgi_app(), TOKEN)
    status, headers, body = _call(app, None)
    assert status == "401 Unauthorized"
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert json.loads(body)["status"] == 401
    assert _call(app, "Bearer nope")[0] == "401 Unauthorized"
    status, _headers, body = _call(app, f"Bearer {TOKEN}")
    assert status == "200 OK"
    assert b"process_" in body or b"python_" in body
    assert _call(guarded_wsgi(make_wsgi_app(), None), None)[0] == "200 OK"


def test_the_token_comes_from_the_environment_and_stays_out_of_reprs() -> None:
    assert metrics_token({"TOPICDESK_METRICS_TOKEN": f" {TOKEN} "}) == TOKEN
    assert metrics_token({}) is None
    settings = Settings.from_env({"TOPICDESK_METRICS_TOKEN": TOKEN, "DATABASE_URL": "sqlite://"})
    assert settings.metrics_token == TOKEN
    assert TOKEN not in repr(settings)
    assert authorized(f"bearer {TOKEN}", TOKEN)
    assert not authorized(None, TOKEN)
    assert authorized(None, None)


def test_the_openapi_document_says_the_token_may_be_required(desk: Desk) -> None:
    document = desk.app.test_client().get("/api/v1/openapi.json").json
    assert document is not None
    assert document["components"]["securitySchemes"]["metrics_token"]["scheme"] == "bearer"
    operation = document["paths"]["/metrics"]["get"]
    assert operation["security"] == [{}, {"metrics_token": []}]
    assert operation["responses"]["401"]["content"]["application/problem+json"]


def test_the_demo_reconciler_serves_metrics_and_the_banner_says_where(monkeypatch: pytest.MonkeyPatch) -> None:
    from topicdesk.demo import extra_processes, metrics_lines, reconciler_metrics_port

    settings = Settings.from_env({"DATABASE_URL": "sqlite://", "PORT": "8080"})
    monkeypatch.delenv("TOPICDESK_RECONCILER_METRICS_PORT", raising=False)
    assert reconciler_metrics_port(settings) == 8082  # 8081 is the OpenID provider's
    monkeypatch.setenv("TOPICDESK_RECONCILER_METRICS_PORT", "9464")
    assert reconciler_metrics_port(settings) == 9464
    [(_name, command)] = extra_processes("127.0.0.1", 9464)
    assert command[0] == "reconcile"
    assert command[command.index("--metrics-port") + 1] == "9464"
    assert metrics_lines(settings, 9464)[1:] == ["  the portal:     curl http://127.0.0.1:8080/metrics",
                                                 "  the reconciler: curl http://127.0.0.1:9464/metrics"]
    closed = Settings.from_env({"DATABASE_URL": "sqlite://", "TOPICDESK_METRICS_TOKEN": TOKEN})
    assert all("Bearer $TOPICDESK_METRICS_TOKEN" in line for line in metrics_lines(closed, 9464)[1:])
    assert not any(TOKEN in line for line in metrics_lines(closed, 9464))

"""Security headers on every response (api/headers.py), and Allow on 405 (api/problems.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers

from topicdesk.app import create_app
from topicdesk.config import Settings


def _app(tmp_path: Path, **env: str) -> Flask:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<!doctype html><script type="module" src="./assets/app.js"></script>')
    (dist / "assets" / "app.js").write_text("console.log(1)")
    settings = Settings.from_env({"TOPICDESK_DATA_DIR": str(tmp_path), **env})
    return create_app(Settings(**{**settings.__dict__, "frontend_dist": dist}))


def _headers(client: FlaskClient, path: str, **options: Any) -> Headers:
    """The response's headers; the response is closed (the portal's are open files)."""
    response = client.get(path, **options)
    response.close()
    return Headers(response.headers)


def test_every_response_has_the_common_headers(tmp_path: Path) -> None:
    client = _app(tmp_path).test_client()
    for path in ("/", "/assets/app.js", "/healthz", "/api/v1/me", "/nope", "/api/v1/openapi.json"):
        headers = _headers(client, path)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "camera=()" in headers["Permissions-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "Strict-Transport-Security" not in headers  # plain HTTP


def test_the_portal_policy_allows_only_this_origin_and_data_answers_nothing(tmp_path: Path) -> None:
    client = _app(tmp_path).test_client()
    portal = _headers(client, "/")["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self';", "style-src 'self';", "object-src 'none'",
                      "base-uri 'self'", "form-action 'self'"):
        assert directive in portal, directive
    assert "unsafe" not in portal
    assert _headers(client, "/api/v1/me")["Content-Security-Policy"].startswith("default-src 'none'")


def test_form_action_names_the_identity_provider_for_the_logout_redirect(tmp_path: Path) -> None:
    client = _app(tmp_path, OIDC_ISSUER="https://login.example.com/realms/x", OIDC_CLIENT_ID="td").test_client()
    assert _headers(client, "/")["Content-Security-Policy"].endswith("form-action 'self' https://login.example.com")


def test_api_answers_are_never_cached_and_the_portal_keeps_its_own_caching(tmp_path: Path) -> None:
    client = _app(tmp_path).test_client()
    assert _headers(client, "/api/v1/me")["Cache-Control"] == "no-store"
    assert _headers(client, "/api/v1/openapi.json")["Cache-Control"] == "no-store"
    assert _headers(client, "/auth/session")["Cache-Control"] == "no-store"
    assert _headers(client, "/")["Cache-Control"] == "no-cache"
    assert "immutable" in _headers(client, "/assets/app.js")["Cache-Control"]


def test_hsts_only_over_https_and_behind_a_trusted_proxy(tmp_path: Path) -> None:
    direct = _app(tmp_path).test_client()
    assert _headers(direct, "/healthz", base_url="https://td.example.com")["Strict-Transport-Security"] \
        == "max-age=31536000"
    # An untrusted X-Forwarded-Proto is anyone's say-so.
    assert "Strict-Transport-Security" not in _headers(direct, "/healthz", headers={"X-Forwarded-Proto": "https"})
    proxied = _app(tmp_path / "p", TOPICDESK_TRUSTED_PROXY="true").test_client()
    assert "Strict-Transport-Security" in _headers(proxied, "/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in _headers(proxied, "/healthz", headers={"X-Forwarded-Proto": "http"})


def test_405_lists_the_allowed_methods_as_problem_json(tmp_path: Path) -> None:
    response = _app(tmp_path).test_client().put("/healthz")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}

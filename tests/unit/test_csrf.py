"""Sessions and CSRF through Flask's test client (no sockets: the provider is a fake fetcher)."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from topicdesk import migrations
from topicdesk.adapters.audit_log import sequence
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.oidc import OidcVerifier
from topicdesk.adapters.tables import AuditEventRow, TeamRow
from topicdesk.api.auth import CSRF_HEADER, OIDC_EXTENSION, SESSION_LOGIN, SESSION_USER
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.services.tokens import create_token

ISSUER = "https://idp.example.com"


def fake_provider(url: str) -> Any:
    assert url == f"{ISSUER}/.well-known/openid-configuration", url
    return {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize", "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/jwks", "end_session_endpoint": f"{ISSUER}/logout"}


def make_app(tmp_path: Path, **env: str) -> Flask:
    url = f"sqlite:///{tmp_path / 'topicdesk.db'}"
    migrations.upgrade(url)
    settings = Settings.from_env({"TOPICDESK_DATA_DIR": str(tmp_path), "DATABASE_URL": url, "SECRET_KEY": "k" * 32,
                                  "OIDC_ISSUER": ISSUER, "OIDC_CLIENT_ID": "topicdesk",
                                  "OIDC_CLIENT_SECRET": "client-secret", **env})
    app = create_app(settings)
    assert settings.oidc is not None
    app.extensions[OIDC_EXTENSION] = OidcVerifier.from_settings(settings.oidc, fetch=fake_provider)
    with unit_of_work(app.extensions["topicdesk.engine"]) as session:
        session.add(TeamRow(name="payments", display_name="Payments"))
    return app


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def log_in(client: FlaskClient, *, expires_in: int = 3600) -> str:
    """A session as /auth/callback leaves it; returns its CSRF token."""
    with client.session_transaction() as session:
        session[SESSION_USER] = {"sub": "alice@example.com", "teams": {"payments": "owner"}, "admin": False,
                                 "exp": int(time.time()) + expires_in, "csrf": "the-csrf-token"}
    return "the-csrf-token"


def audit_rows(app: Flask, action: str) -> list[AuditEventRow]:
    engine: Engine = app.extensions["topicdesk.engine"]
    sequence(engine)  # chain what waits in the audit inbox
    with unit_of_work(engine) as session:
        return list(session.exec(select(AuditEventRow).where(AuditEventRow.action == action)
                                 .order_by(col(AuditEventRow.seq))).all())


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.json
    assert body["status"] == status
    return body


def test_session_endpoint_without_a_session_is_401(client: FlaskClient) -> None:
    assert_problem(client.get("/auth/session"), 401)
    assert_problem(client.get("/api/v1/me"), 401)


def test_session_endpoint_returns_the_user_and_the_csrf_token(client: FlaskClient) -> None:
    token = log_in(client)
    response = client.get("/auth/session")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body is not None
    assert body["subject"] == "alice@example.com"
    assert body["teams"] == ["payments"]
    assert body["roles"] == ["payments:owner"]
    assert body["csrf_token"] == token
    me = client.get("/api/v1/me")  # GET needs no CSRF token
    assert me.status_code == 200
    assert me.json is not None
    assert me.json["teams"] == ["payments"]


def test_cookie_post_without_csrf_token_is_403_and_audited(app: Flask, client: FlaskClient) -> None:
    log_in(client)
    body = assert_problem(client.post("/api/v1/requests", data="{}", content_type="application/json"), 403)
    assert CSRF_HEADER in body["detail"]
    refused = audit_rows(app, "auth:refused")
    assert [(r.subject, r.actor, r.data["detail"]) for r in refused] == [
        ("auth:csrf", "alice@example.com", "missing CSRF token")]


def test_cookie_post_with_a_wrong_csrf_token_is_403(client: FlaskClient) -> None:
    log_in(client)
    for wrong in ("nope", "the-csrf-token-", "ü"):
        response = client.post("/api/v1/requests", data="{}", content_type="application/json",
                               headers={CSRF_HEADER: wrong.encode().decode("latin-1")})
        assert_problem(response, 403)


def test_cookie_post_with_the_csrf_token_gets_past_the_check(client: FlaskClient) -> None:
    token = log_in(client)
    response = client.post("/api/v1/requests", data="not json", content_type="application/json",
                           headers={CSRF_HEADER: token})
    assert_problem(response, 400)  # the body is parsed, so CSRF passed


def test_bearer_writes_need_no_csrf_token(app: Flask, client: FlaskClient) -> None:
    created = create_token(app.extensions["topicdesk.engine"], team="payments", name="ci", role=Role.MEMBER,
                           actor="test")
    response = client.post("/api/v1/requests", data="not json", content_type="application/json",
                           headers={"Authorization": f"Bearer {created.token}"})
    assert_problem(response, 400)


def test_expired_session_is_anonymous(client: FlaskClient) -> None:
    log_in(client, expires_in=-1)
    assert_problem(client.get("/api/v1/me"), 401)
    assert_problem(client.get("/auth/session"), 401)


def test_login_redirects_with_pkce_state_and_nonce(client: FlaskClient) -> None:
    response = client.get("/auth/login?next=/requests/42")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISSUER}/authorize"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == "topicdesk"
    assert query["redirect_uri"] == "http://localhost/auth/callback"
    assert query["scope"] == "openid profile email"
    assert query["code_challenge_method"] == "S256"
    with client.session_transaction() as session:
        pending = session[SESSION_LOGIN][query["state"]]
    assert pending["nonce"] == query["nonce"]
    assert pending["next"] == "/requests/42"
    digest = hashlib.sha256(pending["verifier"].encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("topicdesk_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    client = make_app(tmp_path, TOPICDESK_PUBLIC_URL="https://topicdesk.example.com").test_client()
    response = client.get("/auth/login")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["redirect_uri"] == ["https://topicdesk.example.com/auth/callback"]
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-topicdesk=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


@pytest.mark.parametrize("target", ["//evil.example.com/x", "https://evil.example.com", "/\\evil.example.com", "",
                                    "/%09/evil.example.com", "/%0a/evil.example.com", "/ /evil.example.com"])
def test_login_never_redirects_off_site(client: FlaskClient, target: str) -> None:
    query = parse_qs(urlsplit(client.get(f"/auth/login?next={target}").headers["Location"]).query)
    with client.session_transaction() as session:
        assert session[SESSION_LOGIN][query["state"][0]]["next"] == "/"


def test_callback_with_an_unknown_state_is_refused(app: Flask, client: FlaskClient) -> None:
    client.get("/auth/login")
    assert_problem(client.get("/auth/callback?code=abc&state=forged"), 401)
    body = assert_problem(client.get("/auth/callback?error=access_denied&state=x"), 401)
    assert "access_denied" in body["detail"]
    assert [r.subject for r in audit_rows(app, "auth:refused")] == ["auth:login", "auth:login"]
    assert_problem(client.get("/auth/session"), 401)


def test_logout_needs_the_csrf_token_and_ends_the_session(app: Flask, client: FlaskClient) -> None:
    token = log_in(client)
    assert_problem(client.post("/auth/logout"), 403)
    assert client.get("/auth/session").status_code == 200
    response = client.post("/auth/logout", headers={CSRF_HEADER: token})
    assert response.status_code == 200
    assert response.json == {
        "logged_out": True,
        "redirect_to": f"{ISSUER}/logout?client_id=topicdesk&post_logout_redirect_uri=http%3A%2F%2Flocalhost%2F"}
    assert_problem(client.get("/auth/session"), 401)
    assert [r.actor for r in audit_rows(app, "auth:logout")] == ["alice@example.com"]


def test_logout_from_a_form_redirects_to_the_provider(client: FlaskClient) -> None:
    token = log_in(client)
    response = client.post("/auth/logout", data={"csrf_token": token}, headers={"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"{ISSUER}/logout?")


def test_login_is_404_when_oidc_is_not_configured(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'topicdesk.db'}"
    migrations.upgrade(url)
    app = create_app(Settings.from_env({"TOPICDESK_DATA_DIR": str(tmp_path), "DATABASE_URL": url}))
    assert_problem(app.test_client().get("/auth/login"), 404)
    # A JWT cannot be checked without an issuer: 401, not 500.
    body = assert_problem(app.test_client().get("/api/v1/me", headers={"Authorization": "Bearer a.b.c"}), 401)
    assert "no OIDC issuer" in body["detail"]

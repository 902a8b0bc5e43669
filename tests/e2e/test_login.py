"""End to end: a real oidc-provider-mock process and the real `topicdesk serve`, both on loopback.

Needs the provider fixture: `pytest -p tests.e2e.oidc_fixtures` (or the root conftest's pytest_plugins).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import generate_key
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from tests.e2e.oidc_fixtures import API_AUDIENCE, CLIENT_ID, CLIENT_SECRET, MockProvider, stop_process
from tests.support import wait_healthy
from topicdesk import migrations
from topicdesk.adapters.audit_log import NewEvent, inbox_rows, sequence
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.json_rows import insert_many
from topicdesk.adapters.tables import AuditEventRow, AuditInboxRow, TeamRow, table_of
from topicdesk.ports import free_port

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"


@dataclass
class Server:
    base: str
    engine: Engine
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def audit(self, action: str) -> list[AuditEventRow]:
        sequence(self.engine)  # chain what waits in the audit inbox (any process may)
        with unit_of_work(self.engine) as session:
            return list(session.exec(select(AuditEventRow).where(AuditEventRow.action == action)
                                     .order_by(col(AuditEventRow.seq))).all())


@pytest.fixture(scope="module")
def server(oidc_provider: MockProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("topicdesk-login")
    database_url = f"sqlite:///{data_dir / 'topicdesk.db'}"
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        for name in ("payments", "ingest", "platform"):
            session.add(TeamRow(name=name, display_name=name.title()))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(data_dir),
           "SECRET_KEY": "e2e-login-secret-key-0123456789abcdef", "TOPICDESK_PUBLIC_URL": base,
           "OIDC_ISSUER": oidc_provider.issuer, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET,
           "OIDC_AUDIENCE": API_AUDIENCE, "TOPICDESK_AUDIT_POLL_SECONDS": "0.2"}
    log_path = data_dir / "server.log"
    topicdesk = Path(sys.executable).parent / "topicdesk"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen([str(topicdesk), "serve", "--host", "127.0.0.1", "--port", str(port),
                                    "--no-migrate"], env=env, stdout=log_file, stderr=subprocess.STDOUT)
    running = Server(base, engine, log_path)
    try:
        def check_alive() -> None:
            if process.poll() is not None:
                raise RuntimeError(f"topicdesk serve exited with {process.returncode}:\n{running.log()[-4000:]}")

        wait_healthy(base, check_alive, running.log)
        yield running
    finally:
        stop_process(process)
        engine.dispose()


def browser_login(server: Server, provider: MockProvider, user: str, *, next_path: str = "/api/v1/me"
                  ) -> tuple[requests.Session, requests.Response]:
    """The redirect dance a browser does: /auth/login -> provider form -> /auth/callback -> next_path."""
    browser = requests.Session()
    form = browser.get(f"{server.base}/auth/login", params={"next": next_path}, timeout=30)
    landed = provider.choose_user(browser, form, user)
    return browser, landed


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def csrf_token(browser: requests.Session, server: Server) -> str:
    token: str = browser.get(f"{server.base}/auth/session", timeout=30).json()["csrf_token"]
    return token


@pytest.mark.parametrize("user", ["alice", "bob", "carol", "dave"])
def test_browser_login_gives_a_session_with_the_right_teams_and_roles(
        server: Server, oidc_provider: MockProvider, user: str) -> None:
    expected = oidc_provider.users[user]
    browser, landed = browser_login(server, oidc_provider, user)
    assert landed.url == f"{server.base}/api/v1/me"
    assert landed.status_code == 200, landed.text
    me = landed.json()
    assert me["subject"] == expected.email
    assert me["teams"] == expected.teams
    assert me["roles"] == expected.roles
    assert me["platform_admin"] == ("platform_admin" in expected.roles)

    callback = next(r for r in landed.history if r.url.startswith(f"{server.base}/auth/callback"))
    cookie = callback.headers["Set-Cookie"]
    assert cookie.startswith("topicdesk_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    session = browser.get(f"{server.base}/auth/session", timeout=30).json()
    assert session["subject"] == expected.email
    assert session["roles"] == expected.roles
    assert len(session["csrf_token"]) >= 32
    logins = [row for row in server.audit("auth:login") if row.actor == expected.email]
    assert logins
    assert logins[-1].data["provider_subject"] == user


def test_login_uses_pkce_state_and_nonce(server: Server, oidc_provider: MockProvider) -> None:
    browser = requests.Session()
    form = browser.get(f"{server.base}/auth/login", timeout=30)
    query = urlsplit(form.url).query
    for parameter in ("code_challenge_method=S256", "code_challenge=", "state=", "nonce=", "client_id=topicdesk"):
        assert parameter in query
    # The provider enforces PKCE (see oidc_fixtures), so a completed login proves the verifier matched.
    landed = oidc_provider.choose_user(browser, form, "bob")
    assert landed.url == f"{server.base}/"  # no ?next: the portal's home
    assert browser.get(f"{server.base}/auth/session", timeout=30).status_code == 200
    # Replaying the callback (same code and state) is refused: the state was used up.
    callback = next(r for r in landed.history if r.url.startswith(f"{server.base}/auth/callback"))
    assert_problem(browser.get(callback.url, timeout=30), 401)
    # A callback this browser did not start is refused too.
    assert_problem(requests.get(callback.url, timeout=30), 401)


def test_provider_access_token_works_as_bearer(server: Server, oidc_provider: MockProvider) -> None:
    tokens = oidc_provider.access_token("carol")
    response = requests.get(f"{server.base}/api/v1/me", timeout=30,
                            headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200, response.text
    assert response.json()["subject"] == "carol@example.com"
    assert response.json()["roles"] == ["ingest:owner", "platform_admin"]
    # Bearer writes need no CSRF token (there is no ambient credential to forge).
    write = requests.post(f"{server.base}/api/v1/requests", data="not json", timeout=30,
                          headers={"Authorization": f"Bearer {tokens['access_token']}",
                                   "Content-Type": "application/json"})
    assert_problem(write, 400)


def bearer_me(server: Server, token: str) -> dict[str, Any]:
    response = requests.get(f"{server.base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return assert_problem(response, 401)


def test_expired_token_is_401(server: Server, oidc_provider: MockProvider) -> None:
    tokens = oidc_provider.access_token("bob", lifetime=-600)
    assert "expired" in bearer_me(server, tokens["access_token"])["detail"]


def test_wrong_audience_is_401(server: Server, oidc_provider: MockProvider) -> None:
    # Issued for the login client, not for the API.
    tokens = oidc_provider.access_token("bob", resource=None)
    assert "another audience" in bearer_me(server, tokens["access_token"])["detail"]
    # Nor is an ID token an access token.
    assert "another audience" in bearer_me(server, tokens["id_token"])["detail"]
    other = oidc_provider.access_token("bob", resource="https://other-api.example.com")
    assert "another audience" in bearer_me(server, other["access_token"])["detail"]


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(segment: str) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        return decoded

    header, payload, _ = token.split(".")
    return part(header), part(payload)


def test_wrongly_signed_token_is_401(server: Server, oidc_provider: MockProvider) -> None:
    genuine = oidc_provider.access_token("bob")["access_token"]
    header, claims = _unverified(genuine)
    claims["groups"] = ["topicdesk-admins"]
    own_key = generate_key("RSA", 2048)
    # Our own key, but claiming the provider's key id: the signature check fails.
    forged = jwt.encode({"alg": "RS256", "kid": header["kid"]}, claims, own_key, algorithms=["RS256"])
    assert "signature is not valid" in bearer_me(server, forged)["detail"]
    # Our own key id: the provider does not publish it (after one JWKS re-fetch).
    unknown = jwt.encode({"alg": "RS256", "kid": "attacker-key"}, claims, own_key, algorithms=["RS256"])
    assert "does not publish" in bearer_me(server, unknown)["detail"]
    refused = [row.data for row in server.audit("auth:refused")]
    assert any(data.get("credential") == "jwt" for data in refused)
    assert not any(forged in json.dumps(data) or genuine in json.dumps(data) for data in refused)


def test_cookie_post_without_csrf_token_is_403(server: Server, oidc_provider: MockProvider) -> None:
    browser, _ = browser_login(server, oidc_provider, "alice")
    url = f"{server.base}/api/v1/requests"
    body = assert_problem(browser.post(url, json={"kind": "topic.create"}, timeout=30), 403)
    assert "X-CSRF-Token" in body["detail"]
    assert_problem(browser.post(url, json={}, headers={"X-CSRF-Token": "forged"}, timeout=30), 403)
    # With the token from /auth/session the request gets past CSRF (and fails later, on its body).
    passed = browser.post(url, data="not json", timeout=30,
                          headers={"X-CSRF-Token": csrf_token(browser, server), "Content-Type": "application/json"})
    assert_problem(passed, 400)
    assert any(row.data.get("reason") == "csrf" and row.actor == "alice@example.com"
               for row in server.audit("auth:refused"))


def test_logout_ends_the_session(server: Server, oidc_provider: MockProvider) -> None:
    browser, _ = browser_login(server, oidc_provider, "dave")
    assert_problem(browser.post(f"{server.base}/auth/logout", timeout=30), 403)
    response = browser.post(f"{server.base}/auth/logout", headers={"X-CSRF-Token": csrf_token(browser, server)},
                            timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["redirect_to"].startswith(f"{oidc_provider.issuer}/oauth2/end_session?")
    assert_problem(browser.get(f"{server.base}/api/v1/me", timeout=30), 401)
    assert_problem(browser.get(f"{server.base}/auth/session", timeout=30), 401)
    assert any(row.actor == "dave@example.com" for row in server.audit("auth:logout"))
    # The provider's end-session page answers (RP-initiated logout).
    assert requests.get(response.json()["redirect_to"], timeout=30).status_code == 200


def test_no_token_or_session_cookie_in_the_server_log(server: Server, oidc_provider: MockProvider) -> None:
    browser, _ = browser_login(server, oidc_provider, "bob")
    tokens = oidc_provider.access_token("bob")
    requests.get(f"{server.base}/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"},
                 timeout=30)
    cookie = browser.cookies.get("topicdesk_session")
    assert cookie
    log = server.log()
    assert tokens["access_token"] not in log
    assert tokens["access_token"].split(".")[2] not in log
    assert cookie not in log


def test_the_server_chains_audit_events_other_processes_left_in_the_inbox(server: Server) -> None:
    """`topicdesk serve` runs a sequencer in its worker: it finds and chains events with no request to it."""
    with unit_of_work(server.engine) as session:  # recorded, then "crashed" before chaining them
        insert_many(session.connection(), table_of(AuditInboxRow),
                    inbox_rows([NewEvent(actor="cli", action="test:left", subject="left:1")]))
    deadline = time.monotonic() + 15
    while True:
        with unit_of_work(server.engine) as session:
            chained = session.exec(select(AuditEventRow).where(AuditEventRow.subject == "left:1")).all()
            waiting = session.exec(select(AuditInboxRow)).all()
        if chained or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [e.action for e in chained] == ["test:left"]
    assert waiting == []

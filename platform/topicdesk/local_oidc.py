"""A local OpenID provider for the demo and the tests: oidc-provider-mock in its own process on loopback.

`start_provider()` runs this module as a program (`python -m topicdesk.local_oidc`), which serves
oidc-provider-mock's own Flask app under uvicorn exactly like its `oidc-provider-mock` command, with
three additions that real company providers (Keycloak, Entra ID, Okta) have and the mock lacks:

- access tokens are RFC 9068 JWTs signed with the provider's key (the mock's own are opaque strings,
  which no resource server can validate against a JWKS). `aud` is the token request's RFC 8707
  `resource` parameter, else the client id; the user's claims (email, groups) are included;
- PKCE is enforced: an authorization code is only exchanged with the `code_verifier` whose S256
  challenge was sent to the authorization endpoint (the mock ignores PKCE);
- a test-only token request parameter `x_test_lifetime` (seconds, may be negative) sets the access
  token's lifetime, so that an expired token signed by the real provider key can be had at once.

Users are predefined (DEMO_USERS) and picked on the provider's authorization form. Its pages are
styled offline: local_oidc_pages/ replaces the mock's base templates, which link a CDN stylesheet.
It depends on oidc-provider-mock 0.3.4 internals (`flask.g.oidc_provider_mock_storage`): keep it pinned.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from topicdesk.ports import free_port

CLIENT_ID = "topicdesk"
CLIENT_SECRET = "topicdesk-local-client-secret"
# What Topicdesk's API expects in `aud` (OIDC_AUDIENCE); a token for plain CLIENT_ID is for the login only.
API_AUDIENCE = "topicdesk-api"
# Templates that replace the mock's own (see serve_provider).
PAGES = Path(__file__).with_name("local_oidc_pages")
# The redirect URI used by `access_token()`; never contacted (redirects are not followed).
CLI_REDIRECT_URI = "http://127.0.0.1:9/callback"


@dataclass(frozen=True)
class MockUser:
    sub: str
    email: str
    groups: list[str]
    # What Topicdesk should make of the groups with the default mapping.
    teams: list[str]
    roles: list[str]

    def claims(self) -> dict[str, Any]:
        return {"sub": self.sub, "email": self.email, "email_verified": True, "preferred_username": self.sub,
                "name": self.sub.title(), "groups": self.groups}


DEMO_USERS = {
    user.sub: user for user in [
        MockUser("alice", "alice@example.com", ["team:payments", "team:payments:owner"],
                 ["payments"], ["payments:owner"]),
        MockUser("bob", "bob@example.com", ["team:payments", "everyone"], ["payments"], ["payments:member"]),
        MockUser("carol", "carol@example.com", ["team:ingest:owner", "topicdesk-admins"],
                 ["ingest"], ["ingest:owner", "platform_admin"]),
        MockUser("dave", "dave@example.com", ["team:ingest"], ["ingest"], ["ingest:member"]),
        MockUser("erin", "erin@example.com", ["topicdesk-admins"], [], ["platform_admin"]),
    ]
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode()).digest())


@dataclass
class MockProvider:
    """A running provider: its issuer URL, process and log, and helpers to get tokens from it."""

    issuer: str
    process: subprocess.Popen[bytes]
    log_path: Path
    users: dict[str, MockUser] = field(default_factory=lambda: dict(DEMO_USERS))

    def discovery(self) -> dict[str, Any]:
        document: dict[str, Any] = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10).json()
        return document

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def choose_user(self, http: requests.Session, form: requests.Response, user: str) -> requests.Response:
        """Submit the provider's authorization form as `user` (a browser clicking Authorize)."""
        assert form.status_code == 200, f"no authorization form at {form.url}: {form.status_code} {form.text[:500]}"
        assert form.url.startswith(f"{self.issuer}/oauth2/authorize"), form.url
        return http.post(form.url, data={"sub": user}, timeout=30)

    def access_token(
        self, user: str, *, client_id: str = CLIENT_ID, resource: str | None = API_AUDIENCE,
        lifetime: int | None = None, code_verifier: Callable[[str], str] | None = None,
    ) -> dict[str, Any]:
        """Authorization code + PKCE without a browser, as a CLI would do it; returns the token response."""
        http = requests.Session()
        verifier, state, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        params = {"client_id": client_id, "response_type": "code", "redirect_uri": CLI_REDIRECT_URI,
                  "scope": "openid profile email", "state": state, "nonce": nonce,
                  "code_challenge": s256(verifier), "code_challenge_method": "S256"}
        form = http.get(f"{self.issuer}/oauth2/authorize", params=params, timeout=30)
        answer = http.post(form.url, data={"sub": user}, allow_redirects=False, timeout=30)
        assert answer.status_code == 302, answer.text[:500]
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
        assert query["state"] == [state]
        body = {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": CLI_REDIRECT_URI,
                "code_verifier": code_verifier(verifier) if code_verifier else verifier}
        if resource is not None:
            body["resource"] = resource
        if lifetime is not None:
            body["x_test_lifetime"] = str(lifetime)
        response = http.post(f"{self.issuer}/oauth2/token", data=body, auth=(client_id, CLIENT_SECRET), timeout=30)
        tokens: dict[str, Any] = response.json()
        if response.status_code != 200:
            raise AssertionError(f"token request failed: {response.status_code} {tokens}")
        return tokens


def provider_command(port: int, users: Iterable[MockUser] = DEMO_USERS.values()) -> list[str]:
    """The command that serves the provider on `port` (the demo's supervisor restarts it with this)."""
    command = [sys.executable, "-m", "topicdesk.local_oidc", "--port", str(port)]
    for user in users:
        command += ["--user-claims", json.dumps(user.claims())]
    return command


def provider_env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1"}


def start_provider(log_path: Path, users: Iterable[MockUser] = DEMO_USERS.values(), *,
                   timeout: float = 60.0, port: int | None = None) -> MockProvider:
    port = port or free_port()
    log_file = log_path.open("wb")
    try:
        process = subprocess.Popen(provider_command(port, users), env=provider_env(), stdout=log_file,
                                   stderr=subprocess.STDOUT)
    finally:
        log_file.close()
    provider = MockProvider(issuer=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        wait_until_serving(provider, timeout)
    except RuntimeError:
        stop_process(process)
        raise
    return provider


def wait_until_serving(provider: MockProvider, timeout: float = 60.0) -> None:
    """Return once the provider serves its discovery document; RuntimeError (with its log) if it cannot."""
    process = provider.process
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"oidc-provider-mock exited with code {process.returncode} before it served its "
                               f"discovery document:\n{provider.log()[-4000:]}")
        try:
            response = requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=2)
            if response.status_code == 200 and response.json().get("issuer") == provider.issuer:
                return
        except (requests.RequestException, ValueError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"oidc-provider-mock did not serve its discovery document within {timeout:.0f} s:\n"
                               f"{provider.log()[-4000:]}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# -- the provider program (runs in its own process) ----------------------------------------------------

def _jwt_access_token(default_lifetime: int) -> Callable[..., str]:
    def generate(client: Any, grant_type: str, user: Any, scope: str, **_: Any) -> str:
        import flask
        from joserfc import jwt
        from joserfc.jwk import RSAKey

        # The mock's signing key (the one its JWKS publishes and its ID tokens are signed with).
        storage = flask.g.oidc_provider_mock_storage
        key = RSAKey.import_key(storage.jwk.as_dict(is_private=True))
        form = flask.request.form
        now = int(time.time())
        lifetime = int(form.get("x_test_lifetime", default_lifetime))
        claims = {key_: value for key_, value in user.claims.items()}
        claims.update({
            "iss": flask.request.host_url.rstrip("/"),
            "sub": user.sub,
            "aud": form.get("resource") or client.get_client_id(),
            "client_id": client.get_client_id(),
            "scope": scope,
            "iat": min(now, now + lifetime - 60),
            "exp": now + lifetime,
            "jti": secrets.token_hex(12),
        })
        return jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": key.kid}, claims, key, algorithms=["RS256"])

    return generate


class _RequirePkce:
    """WSGI middleware: the authorization endpoint needs an S256 challenge; the token endpoint the verifier."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.challenges: dict[str, str] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/oauth2/authorize" and method == "POST":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            challenge = query.get("code_challenge", [""])[0]
            if query.get("code_challenge_method") != ["S256"] or not challenge:
                return self._refuse(start_response, "invalid_request",
                                    "PKCE with code_challenge_method=S256 is required")

            def remember_code(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                for name, value in headers:
                    if name.lower() == "location":
                        code = parse_qs(urlsplit(value).query).get("code")
                        if code:
                            self.challenges[code[0]] = challenge
                return start_response(status, headers, exc_info)

            return self.app(environ, remember_code)
        if path == "/oauth2/token" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = BytesIO(body)
            form = parse_qs(body.decode("latin-1"))
            if form.get("grant_type") == ["authorization_code"]:
                expected = self.challenges.pop(form.get("code", [""])[0], None)
                verifier = form.get("code_verifier", [""])[0]
                if expected is None or not secrets.compare_digest(s256(verifier), expected):
                    return self._refuse(start_response, "invalid_grant", "PKCE verification failed")
        return self.app(environ, start_response)

    @staticmethod
    def _refuse(start_response: Any, error: str, description: str) -> list[bytes]:
        body = json.dumps({"error": error, "error_description": description}).encode()
        start_response("400 Bad Request", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def serve_provider(argv: list[str]) -> None:
    import argparse
    import logging
    from datetime import timedelta

    import flask
    import jinja2
    import oidc_provider_mock
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-max-age", type=int, default=3600)
    parser.add_argument("--user-claims", action="append", default=[])
    args = parser.parse_args(argv)
    users = []
    for raw in args.user_claims:
        claims = json.loads(raw)
        users.append(oidc_provider_mock.User(sub=claims.pop("sub"), claims=claims))

    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http on loopback, as the mock's own command does
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    # The mock's templates live in its package; naming the app after its module finds them.
    app = flask.Flask("oidc_provider_mock._app")
    # Our _base.html and error.html come first: the mock's link Pico CSS from a CDN, unstyled offline.
    app.jinja_loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(PAGES), app.jinja_loader])  # type: ignore[list-item]
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = _jwt_access_token(args.token_max_age)
    oidc_provider_mock.init_app(app, require_nonce=True, user_claims=users,
                                access_token_max_age=timedelta(seconds=args.token_max_age))
    app.secret_key = secrets.token_bytes(16)
    app.wsgi_app = _RequirePkce(app.wsgi_app)  # type: ignore[method-assign]
    uvicorn.run(app, interface="wsgi", host="127.0.0.1", port=args.port, log_config=None)


if __name__ == "__main__":
    serve_provider(sys.argv[1:])

"""Who is calling: browser login with OIDC (authorization code + PKCE), sessions, CSRF, and bearer tokens.

- `/auth/login` -> the provider -> `/auth/callback` builds a session (a signed, HttpOnly, SameSite=Lax
  cookie; Secure behind HTTPS) holding the subject, teams and roles, an expiry and a CSRF token.
- `/auth/session` tells the SPA who is logged in and hands it the CSRF token; every cookie-authenticated
  write must echo it in `X-CSRF-Token`.
- `identity_from_request` is the one place that turns a request into an Identity: API token, OIDC access
  token (JWT) or session cookie.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from flask import Blueprint, Flask, current_app, jsonify, redirect, request, session
from flask.typing import ResponseReturnValue
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from topicdesk.adapters.audit_log import record_event
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.oidc import IdentityProviderUnavailable, OidcVerifier
from topicdesk.api import ratelimit
from topicdesk.api.ratelimit import SAFE_METHODS, TokenBucket
from topicdesk.config import Settings
from topicdesk.domain.errors import Forbidden, NotFound, Unauthenticated
from topicdesk.domain.identity import Identity, Role
from topicdesk.services.tokens import authenticate_token

log = logging.getLogger(__name__)

auth = Blueprint("auth", __name__, url_prefix="/auth")

CSRF_HEADER = "X-CSRF-Token"
OIDC_EXTENSION = "topicdesk.oidc"
REFUSALS_EXTENSION = "topicdesk.refusals"
SESSION_USER = "td_user"
SESSION_LOGIN = "td_login"
# A login must come back from the provider within this time; at most this many may be in flight.
LOGIN_TIMEOUT_SECONDS = 600
MAX_PENDING_LOGINS = 4
JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
API_TOKEN_ID = re.compile(r"^tdk_([0-9a-f]{32})_")


# -- wiring -----------------------------------------------------------------------------------------

def init_auth(app: Flask, settings: Settings, *, verifier: OidcVerifier | None = None) -> None:
    """Session cookie settings, the OIDC verifier, the refusal auditor, the write limiter and /auth/*."""
    app.config.update(
        # The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only and Path=/.
        SESSION_COOKIE_NAME="__Host-topicdesk" if settings.cookie_secure else "topicdesk_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_lifetime_seconds),
    )
    if verifier is None and settings.oidc is not None:
        # Lazy: nothing is fetched from the provider until the first login or JWT arrives.
        verifier = OidcVerifier.from_settings(settings.oidc)
    app.extensions[OIDC_EXTENSION] = verifier
    app.extensions[REFUSALS_EXTENSION] = RefusalAuditor()
    ratelimit.install(app, settings)
    app.register_blueprint(auth)


def _settings() -> Settings:
    settings: Settings = current_app.extensions["topicdesk.settings"]
    return settings


def _engine() -> Engine:
    engine: Engine = current_app.extensions["topicdesk.engine"]
    return engine


def _verifier() -> OidcVerifier:
    verifier: OidcVerifier | None = current_app.extensions.get(OIDC_EXTENSION)
    settings = _settings()
    if verifier is None or settings.oidc is None:
        raise NotFound("OIDC login is not configured here (set OIDC_ISSUER and OIDC_CLIENT_ID)")
    return verifier


# -- refused attempts --------------------------------------------------------------------------------

class RefusalAuditor:
    """Writes `auth:refused` audit events, at most `per_minute` per process (bursts of `burst`).

    Refusals beyond that are counted and the count goes into the next event written, so a flood of bad
    tokens cannot grow the audit table without bound, and still leaves a trace. Every refusal is logged.
    """

    def __init__(self, *, per_minute: float = 20.0, burst: int = 20, clock: Any = time.monotonic) -> None:
        self._bucket = TokenBucket(float(burst), per_minute / 60.0, float(burst), clock())
        self._clock = clock
        self._lock = threading.Lock()
        self.suppressed = 0

    def record(self, engine: Engine, *, reason: str, actor: str, data: dict[str, Any]) -> bool:
        """Returns whether an audit event was written."""
        log.info("refused %s %s: %s (%s)", request.method, request.path, reason, data.get("detail", ""))
        with self._lock:
            if self._bucket.take(self._clock()) > 0:
                self.suppressed += 1
                return False
            suppressed, self.suppressed = self.suppressed, 0
        payload = {"reason": reason, "method": request.method, "path": request.path[:300],
                   "remote_addr": request.remote_addr, **data, "suppressed_before": suppressed}
        try:
            with unit_of_work(engine) as db:
                record_event(db, actor=actor[:300], action="auth:refused", subject=f"auth:{reason}", data=payload)
        except SQLAlchemyError:
            # The refusal itself must still answer 401/403, not 500.
            log.exception("could not write the auth:refused audit event")
            return False
        return True


def _refuse(engine: Engine, reason: str, *, actor: str = "anonymous", **data: Any) -> None:
    auditor: RefusalAuditor | None = current_app.extensions.get(REFUSALS_EXTENSION)
    if auditor is not None:
        auditor.record(engine, reason=reason, actor=actor, data=data)


# -- identity from a request -------------------------------------------------------------------------

def identity_from_request(engine: Engine, settings: Settings, oidc_verifier: OidcVerifier | None) -> Identity | None:
    """`Bearer tdk_...` -> API token; `Bearer <JWT>` -> OIDC access token; else the session cookie
    (with the CSRF check on writes); nothing -> None. Bad credentials raise, they never fall back."""
    header = request.headers.get("Authorization")
    if header is not None:
        return _bearer_identity(engine, oidc_verifier, header)
    identity = session_identity()
    if identity is not None and request.method not in SAFE_METHODS:
        check_csrf(engine, identity)
    return identity


def _bearer_identity(engine: Engine, oidc_verifier: OidcVerifier | None, header: str) -> Identity:
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    kind = "api_token" if token.startswith("tdk_") else "jwt" if JWT_SHAPE.match(token) else "unknown"
    try:
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        if kind == "api_token":
            return authenticate_token(engine, token)
        if kind == "jwt":
            if oidc_verifier is None:
                raise Unauthenticated("OIDC access tokens are not accepted here: no OIDC issuer is configured")
            return oidc_verifier.verify_access_token(token)
        raise Unauthenticated("the bearer token is neither a Topicdesk API token nor a JWT")
    except Unauthenticated as exc:
        details: dict[str, Any] = {"credential": kind, "detail": exc.message}
        token_id = API_TOKEN_ID.match(token)
        if token_id:
            # The id half of an API token is not secret (it is listed by `token list`); the rest is.
            details["token_id"] = token_id.group(1)
        _refuse(engine, "bad_credentials", **details)
        raise


def session_identity() -> Identity | None:
    """The logged-in person from the session cookie, or None (no session, expired or malformed)."""
    user = session.get(SESSION_USER)
    if not isinstance(user, dict):
        return None
    try:
        if float(user["exp"]) <= time.time():
            session.pop(SESSION_USER, None)
            return None
        roles = {str(team): Role(role) for team, role in dict(user["teams"]).items()}
        return Identity(subject=str(user["sub"]), team_roles=roles, platform_admin=bool(user["admin"]),
                        via="session")
    except (KeyError, TypeError, ValueError):
        session.pop(SESSION_USER, None)
        return None


def csrf_token() -> str | None:
    user = session.get(SESSION_USER)
    token = user.get("csrf") if isinstance(user, dict) else None
    return token if isinstance(token, str) else None


def check_csrf(engine: Engine, identity: Identity, *, allow_form_field: bool = False) -> None:
    """Synchronizer token: the value from /auth/session must come back in X-CSRF-Token."""
    expected = csrf_token()
    supplied = request.headers.get(CSRF_HEADER)
    if supplied is None and allow_form_field:
        supplied = request.form.get("csrf_token")
    if expected and supplied and hmac.compare_digest(supplied.encode(), expected.encode()):
        return
    _refuse(engine, "csrf", actor=identity.subject,
            detail="missing CSRF token" if not supplied else "wrong CSRF token")
    raise Forbidden(f"a cookie-authenticated {request.method} needs the {CSRF_HEADER} header with the "
                    "csrf_token from GET /auth/session")


# -- the login flow ----------------------------------------------------------------------------------

def _base_url() -> str:
    # Without TOPICDESK_PUBLIC_URL the request's own host is used: fine on loopback, but production sets
    # it, because the redirect URI registered with the provider must match exactly.
    return _settings().public_url or request.host_url.rstrip("/")


def _redirect_uri() -> str:
    return f"{_base_url()}/auth/callback"


def _safe_next(value: str | None) -> str:
    # Only paths on this site: no scheme, no host, no protocol-relative `//evil`, no backslash tricks, and
    # no whitespace or control characters (browsers drop tabs and newlines, so "/\t/evil" becomes "//evil").
    if (not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 2000
            or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in value)):
        return "/"
    return value


def _client(settings: Settings) -> OAuth2Session:
    assert settings.oidc is not None
    oidc = settings.oidc
    return OAuth2Session(
        client_id=oidc.client_id,
        client_secret=oidc.client_secret or None,
        scope=oidc.scopes,
        redirect_uri=_redirect_uri(),
        code_challenge_method="S256",
        # A public client (no secret) identifies itself in the body; PKCE protects the code.
        token_endpoint_auth_method="client_secret_basic" if oidc.client_secret else "none",
    )


@auth.get("/login")
def login() -> ResponseReturnValue:
    verifier, settings = _verifier(), _settings()
    metadata = verifier.metadata()
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    code_verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]: RFC 7636 §4.1
    now = time.time()
    pending = {key: value for key, value in dict(session.get(SESSION_LOGIN) or {}).items()
               if isinstance(value, dict) and now - float(value.get("at", 0)) < LOGIN_TIMEOUT_SECONDS}
    while len(pending) >= MAX_PENDING_LOGINS:
        pending.pop(next(iter(pending)))
    pending[state] = {"nonce": nonce, "verifier": code_verifier, "next": _safe_next(request.args.get("next")),
                      "at": now}
    session[SESSION_LOGIN] = pending
    session.permanent = True
    with _client(settings) as client:
        url, _ = client.create_authorization_url(metadata.authorization_endpoint, state=state, nonce=nonce,
                                                 code_verifier=code_verifier)
    response = redirect(url, 302)
    response.headers["Cache-Control"] = "no-store"
    return response


@auth.get("/callback")
def callback() -> ResponseReturnValue:
    verifier, settings, engine = _verifier(), _settings(), _engine()
    if "error" in request.args:
        error = re.sub(r"[^a-z_]", "", request.args.get("error", ""))[:64]
        _refuse(engine, "login", detail=f"the identity provider answered {error}")
        raise Unauthenticated(f"the identity provider did not log you in ({error}); start again at /auth/login")
    state, code = request.args.get("state", ""), request.args.get("code", "")
    pending = dict(session.get(SESSION_LOGIN) or {})
    entry = pending.pop(state, None) if state else None
    session[SESSION_LOGIN] = pending
    if not isinstance(entry, dict) or time.time() - float(entry.get("at", 0)) >= LOGIN_TIMEOUT_SECONDS:
        _refuse(engine, "login", detail="unknown or expired login state")
        raise Unauthenticated("this login is unknown or has expired (state mismatch); start again at /auth/login")
    if not code:
        _refuse(engine, "login", detail="no authorization code")
        raise Unauthenticated("the identity provider sent no authorization code; start again at /auth/login")
    metadata = verifier.metadata()
    try:
        with _client(settings) as client:
            tokens = client.fetch_token(metadata.token_endpoint, grant_type="authorization_code", code=code,
                                        code_verifier=entry["verifier"], timeout=10)
    except requests.RequestException as exc:
        raise IdentityProviderUnavailable(f"the identity provider's token endpoint failed ({type(exc).__name__})"
                                          ) from exc
    except AuthlibBaseError as exc:
        _refuse(engine, "login", detail=f"token exchange refused: {exc.error}")
        raise Unauthenticated(f"the identity provider refused the authorization code ({exc.error}); "
                              "start again at /auth/login") from exc
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise Unauthenticated("the identity provider returned no ID token (is the 'openid' scope allowed?)")
    try:
        claims = verifier.verify_id_token(id_token, nonce=str(entry["nonce"]))
        claims = _with_userinfo(verifier, claims, tokens.get("access_token"))
        identity = verifier.identity_from_claims(claims, via="session")
    except Unauthenticated as exc:
        _refuse(engine, "login", detail=exc.message)
        raise
    _start_session(identity, settings)
    with unit_of_work(engine) as db:
        record_event(db, actor=identity.subject, action="auth:login", subject=f"user:{identity.subject}",
                     data={"via": "oidc", "provider_subject": str(claims.get("sub")),
                           "teams": {team: role.value for team, role in sorted(identity.team_roles.items())},
                           "platform_admin": identity.platform_admin})
    return redirect(_safe_next(str(entry.get("next") or "/")), 302)


def _with_userinfo(verifier: OidcVerifier, claims: dict[str, Any], access_token: Any) -> dict[str, Any]:
    """Some providers put groups only in userinfo; ask it when the ID token has none."""
    metadata = verifier.metadata()
    if verifier.mapping.groups(claims) or not metadata.userinfo_endpoint or not isinstance(access_token, str):
        return claims
    try:
        response = requests.get(metadata.userinfo_endpoint, timeout=10,
                                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})
        response.raise_for_status()
        info = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("userinfo request failed (%s); logging in without its claims", type(exc).__name__)
        return claims
    # OIDC Core §5.3.4: userinfo about someone else must not be used.
    if not isinstance(info, dict) or info.get("sub") != claims.get("sub"):
        return claims
    return {**info, **claims, verifier.mapping.claim: info.get(verifier.mapping.claim)}


def _start_session(identity: Identity, settings: Settings) -> None:
    # A new session from scratch: nothing from before the login survives (no session fixation).
    session.clear()
    session.permanent = True
    session[SESSION_USER] = {
        "sub": identity.subject,
        "teams": {team: role.value for team, role in identity.team_roles.items()},
        "admin": identity.platform_admin,
        "exp": int(time.time()) + settings.session_lifetime_seconds,
        "csrf": secrets.token_urlsafe(32),
    }


@auth.get("/session")
def current_session() -> ResponseReturnValue:
    identity = session_identity()
    if identity is None:
        raise Unauthenticated("not logged in; start at /auth/login")
    user = session[SESSION_USER]
    response = jsonify(subject=identity.subject, teams=identity.teams, roles=identity.roles(),
                       platform_admin=identity.platform_admin,
                       expires_at=datetime.fromtimestamp(int(user["exp"]), UTC).isoformat().replace("+00:00", "Z"),
                       csrf_token=csrf_token())
    response.headers["Cache-Control"] = "no-store"
    return response


@auth.post("/logout")
def logout() -> ResponseReturnValue:
    """Ends the session. JSON callers get `redirect_to` (the provider's end-session URL, if it has one);
    a browser form post is redirected there."""
    engine = _engine()
    identity = session_identity()
    if identity is not None:
        check_csrf(engine, identity, allow_form_field=True)
        with unit_of_work(engine) as db:
            record_event(db, actor=identity.subject, action="auth:logout", subject=f"user:{identity.subject}",
                         data={"via": "session"})
    session.clear()
    redirect_to = _end_session_url()
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        return redirect(redirect_to or "/", 303)
    response = jsonify(logged_out=True, redirect_to=redirect_to)
    response.headers["Cache-Control"] = "no-store"
    return response


def _end_session_url() -> str | None:
    verifier: OidcVerifier | None = current_app.extensions.get(OIDC_EXTENSION)
    settings = _settings()
    if verifier is None or settings.oidc is None:
        return None
    try:
        endpoint = verifier.metadata().end_session_endpoint
    except IdentityProviderUnavailable:
        return None
    if not endpoint:
        return None
    query = urlencode({"client_id": settings.oidc.client_id, "post_logout_redirect_uri": f"{_base_url()}/"})
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

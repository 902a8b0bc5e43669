"""Settings read once from the environment; everything else receives a Settings object."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from topicdesk.observability.metrics_auth import metrics_token

_N = TypeVar("_N", int, float)


class ConfigError(ValueError):
    """A setting in the environment is missing or wrong; the message names it."""


def _number(env: dict[str, str], name: str, default: str, kind: type[_N]) -> _N:
    raw = env.get(name, default)
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {'an integer' if kind is int else 'a number'}, not {raw!r}") from None


def _default_data_dir() -> Path:
    return Path(os.environ.get("TOPICDESK_DATA_DIR", ".topicdesk")).resolve()


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    secret_key: str
    host: str = "127.0.0.1"
    port: int = 8080
    # Requests larger than this are refused before parsing (a 10 MB body must not reach json.loads).
    max_body_bytes: int = 1_000_000
    testing: bool = False
    # None: the default bundle in policies/.
    policy_dir: Path | None = None
    # None: frontend/dist of this checkout.
    frontend_dist: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # Where browsers reach the portal (e.g. https://topicdesk.example.com); the OIDC redirect URI is
    # <public_url>/auth/callback. Unset: derived from each request's host (fine for local use only).
    public_url: str | None = None
    # None: Secure exactly when public_url is https. Set SESSION_COOKIE_SECURE to force either way.
    session_cookie_secure: bool | None = None
    session_lifetime_seconds: int = 8 * 3600
    oidc: OidcSettings | None = None
    write_rate_per_minute: float = 60.0
    write_burst: int = 30
    # Dry runs (plans) are reads: their own budget, never the write one.
    dry_run_rate_per_minute: float = 600.0
    dry_run_burst: int = 120
    # How often the web server looks for audit events other processes recorded (it chains its own at once).
    audit_poll_seconds: float = 2.0
    # The topic page waits at most this long for a live read of the cluster (0: never reads live)
    # and otherwise shows the stored observation, `stale` when older than observation_max_age_seconds.
    topic_live_read_seconds: float = 1.0
    observation_max_age_seconds: float = 600.0
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients): believe it,
    # so that HSTS is sent for HTTPS requests. Off: only a direct HTTPS request counts.
    trusted_proxy: bool = False
    # gunicorn (see server.py): worker processes, threads per worker, seconds an idle keep-alive
    # connection is kept. The dataclass default is one worker; from_env picks by database.
    workers: int = 1
    threads: int = 8
    keepalive_seconds: int = 75
    notify: NotifySettings = field(default_factory=lambda: NotifySettings())
    # TOPICDESK_METRICS_TOKEN: when set, /metrics needs it as a bearer token (observability/metrics_auth.py).
    metrics_token: str | None = field(default=None, repr=False)

    @property
    def cookie_secure(self) -> bool:
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        return bool(self.public_url and self.public_url.lower().startswith("https://"))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env["TOPICDESK_DATA_DIR"]).resolve() if "TOPICDESK_DATA_DIR" in env else (
            _default_data_dir()
        )
        database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'topicdesk.db'}"
        # A random key per process is safe for the local demo; production sets SECRET_KEY so that
        # sessions survive restarts and several workers agree.
        secret_key = env.get("SECRET_KEY") or secrets.token_urlsafe(32)
        audit_poll_seconds = _number(env, "TOPICDESK_AUDIT_POLL_SECONDS", "2", float)
        if audit_poll_seconds <= 0:
            raise ConfigError("TOPICDESK_AUDIT_POLL_SECONDS must be a positive number of seconds")
        database_url = normalize_database_url(database_url)
        return cls(
            database_url=database_url,
            data_dir=data_dir,
            secret_key=secret_key,
            host=env.get("HOST", "127.0.0.1"),
            port=_number(env, "PORT", "8080", int),
            max_body_bytes=_number(env, "TOPICDESK_MAX_BODY_BYTES", "1000000", int),
            public_url=(env.get("TOPICDESK_PUBLIC_URL") or "").rstrip("/") or None,
            session_cookie_secure=_optional_bool(env, "SESSION_COOKIE_SECURE"),
            session_lifetime_seconds=_number(env, "SESSION_LIFETIME_SECONDS", str(8 * 3600), int),
            oidc=OidcSettings.from_env(env),
            write_rate_per_minute=_number(env, "TOPICDESK_WRITE_RATE_PER_MINUTE", "60", float),
            write_burst=_number(env, "TOPICDESK_WRITE_BURST", "30", int),
            dry_run_rate_per_minute=_number(env, "TOPICDESK_DRY_RUN_RATE_PER_MINUTE", "600", float),
            dry_run_burst=_number(env, "TOPICDESK_DRY_RUN_BURST", "120", int),
            audit_poll_seconds=audit_poll_seconds,
            topic_live_read_seconds=_non_negative(env, "TOPICDESK_TOPIC_LIVE_READ_SECONDS", "1"),
            observation_max_age_seconds=_non_negative(env, "TOPICDESK_OBSERVATION_MAX_AGE_SECONDS", "600"),
            trusted_proxy=bool(_optional_bool(env, "TOPICDESK_TRUSTED_PROXY")),
            workers=_workers(env, database_url),
            threads=_positive_int(env, "TOPICDESK_THREADS", "8"),
            keepalive_seconds=_keepalive(env),
            notify=NotifySettings.from_env(env),
            metrics_token=metrics_token(env),
        )


MAX_WORKERS = 64


def cpu_count() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _positive_int(env: dict[str, str], name: str, default: str) -> int:
    value = _number(env, name, default, int)
    if value < 1:
        raise ConfigError(f"{name} must be a positive integer, not {value}")
    return value


def _workers(env: dict[str, str], database_url: str) -> int:
    """Unset or `auto`: one per CPU on PostgreSQL (the GIL makes threads of one process share a core),
    one on SQLite, where every write takes the file's lock and more processes only queue on it."""
    raw = env.get("TOPICDESK_WORKERS", "").strip()
    if not raw or raw == "auto":
        return 1 if database_url.startswith("sqlite") else min(cpu_count(), MAX_WORKERS)
    workers = _positive_int(env, "TOPICDESK_WORKERS", raw)
    if workers > MAX_WORKERS:
        raise ConfigError(f"TOPICDESK_WORKERS must be at most {MAX_WORKERS}, not {workers}")
    return workers


def _keepalive(env: dict[str, str]) -> int:
    # Above the idle timeouts of common client pools and load balancers (60 s): the client, not the
    # server, should close an idle connection, else a request sent as the server closes is reset.
    return _positive_int(env, "TOPICDESK_KEEPALIVE", "75")


def _non_negative(env: dict[str, str], name: str, default: str) -> float:
    value = _number(env, name, default, float)
    if value < 0:
        raise ConfigError(f"{name} must be zero or a positive number of seconds")
    return value


@dataclass(frozen=True)
class NotifySettings:
    """Webhook notifications (docs/notifications.md)."""

    # http:// for hosts other than localhost, and link-local/metadata addresses: refused unless set.
    allow_http: bool = False
    allow_link_local: bool = False
    timeout_seconds: float = 5.0
    backoff_base_seconds: float = 10.0
    backoff_cap_seconds: float = 3600.0
    # An endpoint is disabled after this many failures in a row, or when it failed for this long (0: never).
    disable_after_failures: int = 50
    disable_after_seconds: float = 24 * 3600.0
    poll_seconds: float = 1.0
    batch: int = 50
    # How long a claimed delivery is a deliverer's before another may take it (> timeout).
    claim_seconds: float = 60.0
    # access.expiring is sent this long before a time-bound grant ends.
    expiring_seconds: float = 7 * 86400.0

    @classmethod
    def from_env(cls, env: dict[str, str]) -> NotifySettings:
        timeout = _non_negative(env, "TOPICDESK_NOTIFY_TIMEOUT_SECONDS", "5")
        settings = cls(
            allow_http=bool(_optional_bool(env, "TOPICDESK_NOTIFY_ALLOW_HTTP")),
            allow_link_local=bool(_optional_bool(env, "TOPICDESK_NOTIFY_ALLOW_LINK_LOCAL")),
            timeout_seconds=timeout,
            backoff_base_seconds=_non_negative(env, "TOPICDESK_NOTIFY_BACKOFF_BASE_SECONDS", "10"),
            backoff_cap_seconds=_non_negative(env, "TOPICDESK_NOTIFY_BACKOFF_CAP_SECONDS", "3600"),
            disable_after_failures=_number(env, "TOPICDESK_NOTIFY_DISABLE_AFTER_FAILURES", "50", int),
            disable_after_seconds=_non_negative(env, "TOPICDESK_NOTIFY_DISABLE_AFTER_SECONDS", str(24 * 3600)),
            poll_seconds=_non_negative(env, "TOPICDESK_NOTIFY_POLL_SECONDS", "1"),
            batch=_number(env, "TOPICDESK_NOTIFY_BATCH", "50", int),
            claim_seconds=_non_negative(env, "TOPICDESK_NOTIFY_CLAIM_SECONDS", str(max(60.0, timeout * 4))),
            expiring_seconds=_non_negative(env, "TOPICDESK_NOTIFY_EXPIRING_DAYS", "7") * 86400,
        )
        if settings.timeout_seconds <= 0 or settings.claim_seconds <= settings.timeout_seconds:
            raise ConfigError("TOPICDESK_NOTIFY_TIMEOUT_SECONDS must be positive and below "
                              "TOPICDESK_NOTIFY_CLAIM_SECONDS")
        if settings.batch < 1 or settings.disable_after_failures < 0:
            raise ConfigError("TOPICDESK_NOTIFY_BATCH must be at least 1, TOPICDESK_NOTIFY_DISABLE_AFTER_FAILURES "
                              "zero or more")
        return settings


# Only asymmetric signatures: an HS* token "signed" with the provider's public key must never verify.
ASYMMETRIC_JWT_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                                       "ES512", "EdDSA"})


@dataclass(frozen=True)
class OidcSettings:
    """The company identity provider: login for people, and JWT access tokens for the API."""

    issuer: str
    client_id: str
    client_secret: str = ""
    # The `aud` an access token must carry to be accepted by the API; defaults to the client id.
    audience: str = ""
    scopes: str = "openid profile email"
    # Claim holding the user's groups (a list, or a space/comma separated string).
    groups_claim: str = "groups"
    # `team:payments` -> member of payments; `team:payments:owner` -> owner of payments.
    team_group_prefix: str = "team:"
    owner_group_suffix: str = ":owner"
    # Members of this group are platform admins.
    admin_group: str = "topicdesk-admins"
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_seconds: int = 60

    @property
    def api_audience(self) -> str:
        return self.audience or self.client_id

    @classmethod
    def from_env(cls, env: dict[str, str]) -> OidcSettings | None:
        issuer = (env.get("OIDC_ISSUER") or "").strip()
        client_id = (env.get("OIDC_CLIENT_ID") or "").strip()
        if not issuer and not client_id:
            return None
        if not issuer or not client_id:
            raise ConfigError("set both OIDC_ISSUER and OIDC_CLIENT_ID (or neither, to turn OIDC off)")
        algorithms = tuple(a.strip() for a in env.get("OIDC_ALGORITHMS", "RS256,ES256").split(",") if a.strip())
        unsafe = set(algorithms) - ASYMMETRIC_JWT_ALGORITHMS
        if unsafe or not algorithms:
            raise ConfigError(f"OIDC_ALGORITHMS may only list asymmetric algorithms, not {sorted(unsafe)}")
        return cls(
            issuer=issuer.rstrip("/"),
            client_id=client_id,
            client_secret=env.get("OIDC_CLIENT_SECRET", ""),
            audience=env.get("OIDC_AUDIENCE", ""),
            scopes=env.get("OIDC_SCOPES", "openid profile email"),
            groups_claim=env.get("OIDC_GROUPS_CLAIM", "groups"),
            team_group_prefix=env.get("OIDC_TEAM_GROUP_PREFIX", "team:"),
            owner_group_suffix=env.get("OIDC_OWNER_GROUP_SUFFIX", ":owner"),
            admin_group=env.get("OIDC_ADMIN_GROUP", "topicdesk-admins"),
            algorithms=algorithms,
            leeway_seconds=_number(env, "OIDC_LEEWAY_SECONDS", "60", int),
        )


def _optional_bool(env: dict[str, str], name: str) -> bool | None:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return None
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def normalize_database_url(url: str) -> str:
    """Accept the common `postgres://` / `postgresql://` spellings and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url

"""Settings read once from the environment; everything else receives a Settings object."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path


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
    extra: dict[str, str] = field(default_factory=dict)

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
        return cls(
            database_url=normalize_database_url(database_url),
            data_dir=data_dir,
            secret_key=secret_key,
            host=env.get("HOST", "127.0.0.1"),
            port=int(env.get("PORT", "8080")),
            max_body_bytes=int(env.get("TOPICDESK_MAX_BODY_BYTES", "1000000")),
        )


def normalize_database_url(url: str) -> str:
    """Accept the common `postgres://` / `postgresql://` spellings and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url

"""Cluster admin credentials by reference: the database stores `env:` or `file:` refs, never secrets."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from topicdesk.domain.errors import TopicdeskError


class SecretUnavailable(TopicdeskError):
    # The cluster cannot be reached as configured (like a cluster that does not answer): 503, so that a
    # client retries later instead of reporting a bug.
    status = 503
    reason = "secret_unavailable"
    title = "Cluster credentials unavailable"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password, even in a traceback
        return f"Credentials(username={self.username!r}, password='***')"


def resolve_credentials(ref: str, env: dict[str, str] | None = None) -> Credentials:
    """`env:PREFIX` reads PREFIX_USERNAME and PREFIX_PASSWORD; `file:/path.json` reads a JSON object
    with username/password (or admin_username/admin_password, as `topicdesk local` writes them)."""
    scheme, _, target = ref.partition(":")
    if scheme == "env":
        source = os.environ if env is None else env
        username, password = source.get(f"{target}_USERNAME"), source.get(f"{target}_PASSWORD")
        if not username or not password:
            raise SecretUnavailable(f"environment variables {target}_USERNAME and {target}_PASSWORD are not set")
        return Credentials(username, password)
    if scheme == "file":
        try:
            data = json.loads(Path(target).read_text())
        except (OSError, ValueError) as exc:
            raise SecretUnavailable(f"cannot read the credentials file {target}: {type(exc).__name__}") from exc
        username = data.get("username") or data.get("admin_username")
        password = data.get("password") or data.get("admin_password")
        if not username or not password:
            raise SecretUnavailable(f"the credentials file {target} has no username/password")
        return Credentials(str(username), str(password))
    raise SecretUnavailable(f"unknown secret reference scheme {scheme!r}; use env:NAME or file:/path")


def client_config(bootstrap_servers: str, security_protocol: str, sasl_mechanism: str,
                  credentials: Credentials) -> dict[str, str]:
    config = {"bootstrap.servers": bootstrap_servers, "security.protocol": security_protocol}
    if security_protocol.startswith("SASL"):
        config.update({"sasl.mechanism": sasl_mechanism, "sasl.username": credentials.username,
                       "sasl.password": credentials.password})
    return config

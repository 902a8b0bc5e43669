"""pytest plugin: a real OpenID provider process (topicdesk.local_oidc, oidc-provider-mock) on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from topicdesk.local_oidc import (
    API_AUDIENCE,
    CLI_REDIRECT_URI,
    CLIENT_ID,
    CLIENT_SECRET,
    DEMO_USERS,
    MockProvider,
    MockUser,
    b64url,
    s256,
    start_provider,
    stop_process,
)

USERS = DEMO_USERS

__all__ = ["API_AUDIENCE", "CLIENT_ID", "CLIENT_SECRET", "CLI_REDIRECT_URI", "USERS", "MockProvider", "MockUser",
           "b64url", "s256", "start_provider", "stop_process"]


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockProvider]:
    """A real oidc-provider-mock process on a free loopback port. Fails (never skips) if it cannot start."""
    provider = start_provider(tmp_path_factory.mktemp("oidc-provider") / "provider.log")
    try:
        yield provider
    finally:
        stop_process(provider.process)

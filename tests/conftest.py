"""Shared fixtures. Services are real; a service that cannot start is an error, never a skip."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from topicdesk.adapters.audit_log import stop_sequencers
from topicdesk.local_postgres import LocalPostgres, start_local_postgres

pytest_plugins = ["tests.integration.kafka_fixtures", "tests.integration.cli_stack", "tests.e2e.oidc_fixtures",
                  "tests.e2e.portal_fixtures"]

DATABASE_BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(autouse=True)
def _stop_audit_sequencers() -> Iterator[None]:
    """Apps built in a test chain their audit events on a thread; it ends with the test."""
    yield
    stop_sequencers()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    # Under /tmp rather than pytest's tmp dir: the postgres user must be able to reach it.
    data_dir = Path("/tmp") / f"topicdesk-test-pg-{uuid.uuid4().hex[:8]}" / "data"
    server = start_local_postgres(data_dir)
    yield server
    server.stop()
    shutil.rmtree(data_dir.parent, ignore_errors=True)


@pytest.fixture(params=DATABASE_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'topicdesk.db'}"
    server: LocalPostgres = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.create_database(name)
    return server.url(name)

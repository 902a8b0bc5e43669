"""Fixtures the integration tests share (the Kafka ones are the tests.integration.kafka_fixtures plugin)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from topicdesk import migrations
from topicdesk.adapters.db import make_engine


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated, empty database on each backend in turn (a module may override it to seed more)."""
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()

"""Alembic environment: runs migrations against DATABASE_URL or the URL set by topicdesk.migrations."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import topicdesk.adapters.tables  # noqa: F401  (registers every table on SQLModel.metadata)
from topicdesk.adapters.db import make_engine
from topicdesk.adapters.topic_search import SEARCH_INDEX_OBJECTS
from topicdesk.config import Settings

config = context.config
database_url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
target_metadata = SQLModel.metadata


def include_object(_object: object, name: str | None, type_: str, reflected: bool, _compare_to: object) -> bool:
    # The catalogue's search index (revision 0016) is one dialect's object, not a model: the FTS5
    # table and its shadow tables on SQLite, the trigram indexes on PostgreSQL. Autogenerate would
    # otherwise propose dropping it; tests/integration/test_topic_search.py checks it is there.
    return not (reflected and name in SEARCH_INDEX_OBJECTS)


def run_migrations_offline() -> None:
    context.configure(url=database_url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=database_url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

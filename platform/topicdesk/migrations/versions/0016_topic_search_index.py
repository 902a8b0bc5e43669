"""catalogue search index: pg_trgm GIN indexes (PostgreSQL), an FTS5 trigram table (SQLite)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 18:00:00

What GET /api/v1/topics?q= matches (lower(name) or lower(description) LIKE '%term%') gets an index
on each database; the query keeps its meaning (adapters/topic_search.py). Neither object is a
SQLModel table or index: the model/migration drift check skips them by name (migrations/env.py).
If the database cannot have the index (pg_trgm not installable, SQLite without FTS5's trigram
tokenizer) the revision still succeeds and search keeps scanning, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

_POSTGRESQL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_topic_search_name ON topic USING gin (lower(name) gin_trgm_ops)",
    "CREATE INDEX ix_topic_search_description ON topic USING gin (lower(description) gin_trgm_ops)",
)
# External content: the index holds trigrams only, the text stays in `topic` (found by its rowid,
# which VACUUM keeps). LIKE on this table uses the trigrams to find candidates; SQLite then checks
# the LIKE itself against the row, so the matches are exactly the scan's.
_SQLITE = (
    "CREATE VIRTUAL TABLE topic_search USING fts5(name, description, content='topic', tokenize='trigram')",
    """CREATE TRIGGER topic_search_insert AFTER INSERT ON topic BEGIN
         INSERT INTO topic_search(rowid, name, description) VALUES (new.rowid, new.name, new.description);
       END""",
    """CREATE TRIGGER topic_search_delete AFTER DELETE ON topic BEGIN
         INSERT INTO topic_search(topic_search, rowid, name, description)
           VALUES ('delete', old.rowid, old.name, old.description);
       END""",
    """CREATE TRIGGER topic_search_update AFTER UPDATE OF name, description ON topic BEGIN
         INSERT INTO topic_search(topic_search, rowid, name, description)
           VALUES ('delete', old.rowid, old.name, old.description);
         INSERT INTO topic_search(rowid, name, description) VALUES (new.rowid, new.name, new.description);
       END""",
    "INSERT INTO topic_search(topic_search) VALUES ('rebuild')",
)


def upgrade() -> None:
    connection = op.get_bind()
    statements = {"postgresql": _POSTGRESQL, "sqlite": _SQLITE}.get(connection.dialect.name, ())
    # A savepoint: on PostgreSQL a failed statement would otherwise abort the whole migration's transaction.
    savepoint = connection.begin_nested()
    try:
        for statement in statements:
            connection.execute(text(statement))
    except DBAPIError as error:
        savepoint.rollback()
        log.warning("no catalogue search index (%s); GET /api/v1/topics?q= scans every topic",
                    str(error.orig).strip())
    else:
        savepoint.commit()


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        # pg_trgm stays: other objects may use it, and it costs nothing unused.
        op.execute("DROP INDEX IF EXISTS ix_topic_search_description")
        op.execute("DROP INDEX IF EXISTS ix_topic_search_name")
    elif connection.dialect.name == "sqlite":
        for trigger in ("topic_search_update", "topic_search_delete", "topic_search_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS topic_search")

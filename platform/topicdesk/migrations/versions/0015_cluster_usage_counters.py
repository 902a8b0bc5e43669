"""cluster usage counters kept by triggers on topic; drop the indexes the unique keys already give

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 18:15:00

A cluster's usage (live topics' partitions, partition replicas, topics with an expected rate) was
summed over its topics on every submission and every read of a topic.create request. Now
`cluster_usage` holds it, written by row triggers on `topic` only, so every writer (submissions,
the reconciler, deletion and expiry, imports, a later migration's UPDATE) keeps it exact without
knowing about it. A counter update happens only when a row's live state, cluster, partitions,
replication factor or rated-ness changes.

PostgreSQL: up to 16 rows per cluster, one per backend pid mod 16, so 200 concurrent submissions
on one cluster do not queue on one row lock until their commits; readers sum them. SQLite has one
writer at a time: one row (slot 0).

A later revision that rebuilds `topic` on SQLite (batch_alter_table with recreate) drops these
triggers with the old table and must create them again (tests/integration/test_cluster_usage.py
checks they exist at head).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTED = ("cluster", "partitions", "replication_factor", "expected_bytes_per_second", "deleted")

# One function for the three row triggers: take OLD out if it was live, put NEW in if it is live.
_PG_FUNCTION = """
CREATE FUNCTION topic_usage_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stripe integer := pg_backend_pid() % 16;
BEGIN
    IF TG_OP <> 'INSERT' AND NOT OLD.deleted THEN
        INSERT INTO cluster_usage AS u (cluster, slot, partitions, replicas, rated_topics)
        VALUES (OLD.cluster, stripe, -OLD.partitions, -(OLD.partitions::bigint * OLD.replication_factor),
                -(OLD.expected_bytes_per_second IS NOT NULL)::integer)
        ON CONFLICT (cluster, slot) DO UPDATE SET partitions = u.partitions + excluded.partitions,
            replicas = u.replicas + excluded.replicas, rated_topics = u.rated_topics + excluded.rated_topics;
    END IF;
    IF TG_OP <> 'DELETE' AND NOT NEW.deleted THEN
        INSERT INTO cluster_usage AS u (cluster, slot, partitions, replicas, rated_topics)
        VALUES (NEW.cluster, stripe, NEW.partitions, NEW.partitions::bigint * NEW.replication_factor,
                (NEW.expected_bytes_per_second IS NOT NULL)::integer)
        ON CONFLICT (cluster, slot) DO UPDATE SET partitions = u.partitions + excluded.partitions,
            replicas = u.replicas + excluded.replicas, rated_topics = u.rated_topics + excluded.rated_topics;
    END IF;
    RETURN NULL;
END
$$
"""
_CHANGED = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in _COUNTED)
_PG_TRIGGERS = (
    "CREATE TRIGGER topic_usage_insert AFTER INSERT ON topic FOR EACH ROW WHEN (NOT NEW.deleted)"
    " EXECUTE FUNCTION topic_usage_count()",
    "CREATE TRIGGER topic_usage_delete AFTER DELETE ON topic FOR EACH ROW WHEN (NOT OLD.deleted)"
    " EXECUTE FUNCTION topic_usage_count()",
    f"CREATE TRIGGER topic_usage_update AFTER UPDATE OF {', '.join(_COUNTED)} ON topic FOR EACH ROW"
    f" WHEN ({_CHANGED}) EXECUTE FUNCTION topic_usage_count()",
    # TRUNCATE fires no row trigger; the counters of an emptied table are empty too.
    "CREATE TRIGGER topic_usage_truncate AFTER TRUNCATE ON topic FOR EACH STATEMENT"
    " EXECUTE FUNCTION topic_usage_truncate()",
)
_PG_TRUNCATE_FUNCTION = """
CREATE FUNCTION topic_usage_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM cluster_usage;
    RETURN NULL;
END
$$
"""


def _sqlite_add(row: str, sign: str) -> str:
    """SQLite trigger steps adding (sign +) or removing (sign -) `row` (OLD/NEW) if it is live."""
    return (f"INSERT INTO cluster_usage (cluster, slot, partitions, replicas, rated_topics)"  # noqa: S608
            f" VALUES ({row}.cluster, 0, 0, 0, 0) ON CONFLICT (cluster, slot) DO NOTHING;"
            f" UPDATE cluster_usage SET partitions = partitions {sign} {row}.partitions,"
            f" replicas = replicas {sign} {row}.partitions * {row}.replication_factor,"
            f" rated_topics = rated_topics {sign} ({row}.expected_bytes_per_second IS NOT NULL)"
            f" WHERE cluster = {row}.cluster AND slot = 0 AND NOT {row}.deleted;")


_SQLITE_CHANGED = " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in _COUNTED)
_SQLITE_TRIGGERS = (
    f"CREATE TRIGGER topic_usage_insert AFTER INSERT ON topic WHEN NOT NEW.deleted"
    f" BEGIN {_sqlite_add('NEW', '+')} END",
    f"CREATE TRIGGER topic_usage_delete AFTER DELETE ON topic WHEN NOT OLD.deleted"
    f" BEGIN {_sqlite_add('OLD', '-')} END",
    f"CREATE TRIGGER topic_usage_update AFTER UPDATE OF {', '.join(_COUNTED)} ON topic WHEN {_SQLITE_CHANGED}"
    f" BEGIN {_sqlite_add('OLD', '-')} {_sqlite_add('NEW', '+')} END",
)
TRIGGERS = ("topic_usage_insert", "topic_usage_delete", "topic_usage_update")

_BACKFILL = """
INSERT INTO cluster_usage (cluster, slot, partitions, replicas, rated_topics)
SELECT cluster, 0, SUM(partitions), SUM(CAST(partitions AS BIGINT) * replication_factor),
       COUNT(expected_bytes_per_second)
FROM topic WHERE NOT deleted GROUP BY cluster
"""


def upgrade() -> None:
    op.create_table(
        "cluster_usage",
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("partitions", sa.BigInteger(), nullable=False),
        sa.Column("replicas", sa.BigInteger(), nullable=False),
        sa.Column("rated_topics", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["cluster"], ["cluster.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("cluster", "slot"),
    )
    # Prefixes of the (cluster, name) and access grant unique keys: written on every insert, never
    # needed by a read.
    op.drop_index("ix_topic_cluster", table_name="topic")
    op.drop_index("ix_access_grant_cluster", table_name="access_grant")
    # Triggers first, then the backfill: on PostgreSQL creating a trigger locks out writers to
    # `topic` until this transaction commits, so no change falls between the two.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRUNCATE_FUNCTION)
        for statement in _PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute(_BACKFILL)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in (*TRIGGERS, "topic_usage_truncate") if postgres else TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON topic" if postgres else f"DROP TRIGGER {name}")
    if postgres:
        op.execute("DROP FUNCTION topic_usage_count()")
        op.execute("DROP FUNCTION topic_usage_truncate()")
    op.create_index("ix_access_grant_cluster", "access_grant", ["cluster"], unique=False)
    op.create_index("ix_topic_cluster", "topic", ["cluster"], unique=False)
    op.drop_table("cluster_usage")

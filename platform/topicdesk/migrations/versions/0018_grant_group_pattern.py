"""access grants: the group's pattern (a migration keeps a source's prefixed group ACL prefixed)

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-01 18:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_KEY = ["cluster", "topic", "pattern", "principal", "access", "group_id", "transactional_id"]
_NEW_KEY = ["cluster", "topic", "pattern", "principal", "access", "group_id", "group_pattern", "transactional_id"]
# 0002 created the unique key unnamed: SQLite's batch copy names it by this convention so it can be
# dropped; PostgreSQL's generated name is read from the catalogue.
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
_SQLITE_KEY = "uq_access_grant_cluster"


def upgrade() -> None:
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_pattern", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default="literal"))
    _replace_key(_OLD_KEY, _NEW_KEY)


def downgrade() -> None:
    # Prefixed group grants would collide with literal ones once the column is gone.
    op.execute("DELETE FROM access_grant WHERE group_pattern <> 'literal'")
    _replace_key(_NEW_KEY, _OLD_KEY)
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.drop_column("group_pattern")


def _replace_key(old: list[str], new: list[str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("access_grant", schema=None, naming_convention=_SQLITE_NAMES) as batch_op:
            batch_op.drop_constraint(_SQLITE_KEY, type_="unique")
            batch_op.create_unique_constraint(_SQLITE_KEY, new)
        return
    [name] = [u["name"] for u in sa.inspect(bind).get_unique_constraints("access_grant") if u["column_names"] == old]
    op.drop_constraint(name, "access_grant", type_="unique")
    op.create_unique_constraint(None, "access_grant", new)

"""Topic migrations (/api/v1/migrations/...): thin views over services/migrations.py (reading) and
services/migration_commands.py (rollback, producers switched). Registered on the v1 blueprint, so
they share its authentication."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from topicdesk.adapters.db import unit_of_work
from topicdesk.api.body import json_body
from topicdesk.api.common import caller, engine, page_args
from topicdesk.api.v1 import MAX_TEXT, v1
from topicdesk.domain.errors import FieldError, ValidationFailed
from topicdesk.services import migration_commands, migrations


@v1.get("/migrations")
def list_migrations() -> ResponseReturnValue:
    identity = caller()
    limit, cursor = page_args()
    with unit_of_work(engine()) as session:
        items, nxt = migrations.list_migrations(session, identity, limit=limit, after=cursor)
    return jsonify(items=items, next_cursor=nxt)


@v1.get("/migrations/<migration_id>")
def get_migration(migration_id: str) -> ResponseReturnValue:
    identity = caller()
    with unit_of_work(engine()) as session:
        return jsonify(migrations.get_migration(session, identity, migration_id))


@v1.post("/migrations/<migration_id>/rollback")
def roll_back_migration(migration_id: str) -> ResponseReturnValue:
    return jsonify(migration_commands.roll_back_migration(engine(), caller(), migration_id, json_body()))


@v1.post("/migrations/<migration_id>/producers-switched")
def migration_producers_switched(migration_id: str) -> ResponseReturnValue:
    comment = json_body(optional=True).get("comment", "")
    if not (isinstance(comment, str) and len(comment) <= MAX_TEXT):
        raise ValidationFailed("bad comment", errors=[FieldError("/comment", f"must be a string of at most "
                                                                            f"{MAX_TEXT} characters")])
    return jsonify(migration_commands.confirm_producers_switched(engine(), caller(), migration_id, comment))

"""Storing what one submission writes: the request, new desired-state rows, links, audit events
and the idempotency key, in the caller's transaction.

The rows are plain data built by the workflow (services/requests.py). On PostgreSQL they go in
with one statement, one round trip: each table's rows travel as one JSON parameter, unpacked
with json_to_recordset in a data-modifying CTE. Elsewhere (SQLite, in-process) one statement per
table. Both write exactly the same rows; tests run the workflow on both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Select,
    String,
    bindparam,
    case,
    false,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from topicdesk.adapters.json_rows import columns, insert_many, insert_rows, json_rows, rows_of
from topicdesk.adapters.notification_store import enqueue_notifications
from topicdesk.adapters.tables import (
    AccessGrantRow,
    AuditInboxRow,
    IdempotencyKeyRow,
    RequestResourceRow,
    RequestRow,
    TopicRow,
    table_of,
)

_REQUESTS, _TOPICS, _GRANTS = table_of(RequestRow), table_of(TopicRow), table_of(AccessGrantRow)
_LINKS, _INBOX, _KEYS = table_of(RequestResourceRow), table_of(AuditInboxRow), table_of(IdempotencyKeyRow)
GRANT_KEY = ("cluster", "topic", "pattern", "principal", "access", "group_id", "group_pattern", "transactional_id")


@dataclass
class SubmissionRows:
    """Every row one submission stores (whole rows: each column has its value)."""

    request: dict[str, Any]
    # New topic rows; a topic.create that replaces a tombstone deletes it before (see requests.py).
    topics: list[dict[str, Any]] = field(default_factory=list)
    # Grants to upsert: a missing one is inserted, a deleted one revived with a new generation, a
    # live one only gets the new expires_at (a renewal). The inserted and revived ones are linked.
    grants: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)  # request_resource rows known up front
    events: list[dict[str, Any]] = field(default_factory=list)  # audit_inbox rows (audit_log.inbox_rows)
    idempotency_key: dict[str, Any] | None = None


def _grant_upsert(dialect: Any, rows: Any = None) -> Any:
    statement = dialect.insert(_GRANTS)
    if rows is not None:
        statement = statement.from_select([c.name for c in columns(_GRANTS)], rows)
    revived = _GRANTS.c.deleted.is_(True)

    def on_revival(value: Any, column: str) -> Any:
        return case((revived, value), else_=_GRANTS.c[column])

    # A deleted grant comes back with a new generation. A live one keeps its generation and its
    # reconciler bookkeeping (its ACLs do not change); only a different expires_at is written: a
    # renewal. SQL literals, not bound parameters: then SQLAlchemy sends all VALUES rows in one statement.
    return statement.on_conflict_do_update(
        index_elements=[_GRANTS.c[name] for name in GRANT_KEY],
        # A revived grant is a new one: its marker is the asker's. A live one keeps its file's marker
        # unless a file asks (a portal renewal of a file's grant passed the managed-by check as an override).
        set_={"deleted": false(), "generation": on_revival(_GRANTS.c.generation + literal_column("1"), "generation"),
              "managed_by": case((revived, statement.excluded.managed_by),
                                 else_=func.coalesce(statement.excluded.managed_by, _GRANTS.c.managed_by)),
              "expires_at": statement.excluded.expires_at, "updated_at": statement.excluded.updated_at,
              "last_error": on_revival(null(), "last_error"),
              "last_error_reason": on_revival(null(), "last_error_reason"),
              "attempts": on_revival(literal_column("0"), "attempts"), "not_before": on_revival(null(), "not_before")},
        where=or_(revived, _GRANTS.c.expires_at.is_distinct_from(statement.excluded.expires_at)),
    ).returning(_GRANTS.c.id, _GRANTS.c.generation, _GRANTS.c.observed_generation, _GRANTS.c.failed_generation)


def waits_for(row: Any) -> bool:
    """Whether a request must wait for an upserted grant: a renewal of an applied grant does not."""
    return bool(row.generation > row.observed_generation and row.generation != row.failed_generation)


# INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING: PostgreSQL and SQLite (3.35+) both speak it.
GRANT_UPSERTS = {"postgresql": _grant_upsert(postgresql), "sqlite": _grant_upsert(sqlite)}


# --- PostgreSQL: one statement ----------------------------------------------------------------------

def _pg_statement() -> Select[Any]:
    granted = _grant_upsert(postgresql, rows_of(_GRANTS, "grants")).cte("granted")
    link_rows = union_all(
        rows_of(_LINKS, "links"),
        select(bindparam("request_id", type_=String), literal("access_grant"), granted.c.id, granted.c.generation)
        .where(granted.c.generation > granted.c.observed_generation,
               granted.c.generation != granted.c.failed_generation))
    writes = [
        insert_rows(_REQUESTS, "request").cte("stored_request"),
        insert_rows(_TOPICS, "topics").cte("stored_topics"),
        granted,
        insert(_LINKS).from_select([c.name for c in columns(_LINKS)], link_rows).cte("stored_links"),
        insert_rows(_INBOX, "events").cte("stored_events"),
        insert_rows(_KEYS, "idempotency_keys").cte("stored_key"),
    ]
    # Data-modifying CTEs run once, to completion, whether or not the query reads them; foreign
    # keys are checked at the end of the statement, when the request row exists.
    return select(literal_column("1")).add_cte(*writes)


_PG_STORE = _pg_statement()


# --- the use ------------------------------------------------------------------------------------------

def store_submission(connection: Connection, rows: SubmissionRows) -> None:
    """Insert a submission's rows; grants that were inserted or revived are linked to the request."""
    if connection.dialect.name == "postgresql":
        connection.execute(_PG_STORE, {
            "request": json_rows([rows.request]), "topics": json_rows(rows.topics), "grants": json_rows(rows.grants),
            "links": json_rows(rows.links), "request_id": rows.request["id"], "events": json_rows(rows.events),
            "idempotency_keys": json_rows([rows.idempotency_key] if rows.idempotency_key else [])}).close()
    else:
        connection.execute(insert(_REQUESTS), rows.request)
        insert_many(connection, _TOPICS, rows.topics)
        links = list(rows.links)
        if rows.grants:
            links += [{"request_id": rows.request["id"], "resource_kind": "access_grant", "resource_id": row.id,
                       "generation": row.generation}
                      for row in connection.execute(GRANT_UPSERTS[connection.dialect.name], rows.grants)
                      if waits_for(row)]
        insert_many(connection, _LINKS, links)
        insert_many(connection, _INBOX, rows.events)
        insert_many(connection, _KEYS, [rows.idempotency_key] if rows.idempotency_key else [])
    # The submission's notifications commit with its audit events (the transactional outbox).
    enqueue_notifications(connection, rows.events)

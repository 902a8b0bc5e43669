"""P3 baseline: a bare Flask endpoint that stores a submitted request and nothing else.

POST /submit takes the same JSON body as POST /api/v1/requests and inserts the same row into the
same `request` table (one transaction per call, SQLAlchemy Core over psycopg, the engine and pool
settings Topicdesk uses), with an equivalent decision JSON, and answers 201 with the row as JSON.
No authentication, validation, policy, desired state or audit: the floor Topicdesk is compared to.
P6 (bench/p6_concurrency.py) also reads: GET /topics (the first page of the `topic` table in the
catalogue's order, 50 rows as JSON), GET /requests/<id> (one `request` row) and GET /me (a fixed
identity: no token lookup).

It is served by topicdesk.server.serve, so gunicorn runs with exactly the settings `topicdesk serve`
uses on the same DATABASE_URL (workers from the CPU count on PostgreSQL, gthread, 8 threads, the same
keep-alive, access log on stdout).

Usage: DATABASE_URL=postgresql+psycopg://... python bench/p3_bare_app.py --port 8081
"""

from __future__ import annotations

import argparse
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import bindparam, insert, select

from topicdesk.adapters.db import make_engine
from topicdesk.adapters.tables import RequestRow, TopicRow
from topicdesk.config import normalize_database_url
from topicdesk.server import serve

REQUESTER = "token:payments/p3-bench"
DECISION = {"outcome": "auto_approved", "rules": [], "approvers": []}


def create_bare_app(database_url: str) -> Flask:
    app = Flask("p3-bare")
    engine = make_engine(normalize_database_url(database_url))
    table = RequestRow.__table__  # type: ignore[attr-defined]

    @app.post("/submit")
    def submit() -> ResponseReturnValue:
        document: dict[str, Any] = request.get_json(force=True)
        now = datetime.now(UTC)
        row = {
            "id": uuid.uuid4().hex, "kind": document["kind"], "cluster": document["cluster"],
            "spec": document["spec"], "reason": document.get("reason", ""), "requested_by": REQUESTER,
            "requester_team": "payments", "owner_team": "payments", "created_at": now, "updated_at": now,
            "status": "approved", "decision": DECISION, "approvers": [], "approvals": [],
            "rejection_reason": None, "error": None, "applied_at": None,
        }
        with engine.begin() as connection:
            connection.execute(insert(table).values(**row))
        body = {**row, "created_at": now.isoformat(), "updated_at": now.isoformat()}
        return jsonify(body), 201, {"Location": f"/requests/{row['id']}"}

    topics = TopicRow.__table__  # type: ignore[attr-defined]
    first_page = (select(topics).where(topics.c.deleted.is_(False))
                  .order_by(topics.c.cluster, topics.c.name).limit(50))
    by_id = select(table).where(table.c.id == bindparam("id"))

    @app.get("/topics")
    def list_topics() -> ResponseReturnValue:
        with engine.connect() as connection:
            rows = connection.execute(first_page).mappings().all()
        return jsonify(items=[_jsonable(r) for r in rows], next_cursor=None)

    @app.get("/requests/<request_id>")
    def get_request(request_id: str) -> ResponseReturnValue:
        with engine.connect() as connection:
            found = connection.execute(by_id, {"id": request_id}).mappings().first()
        if found is None:
            return jsonify(title="not found"), 404
        return jsonify(_jsonable(found))

    @app.get("/me")
    def me() -> ResponseReturnValue:
        return jsonify(subject=REQUESTER, teams=["payments"], roles=["member"], platform_admin=False)

    return app


def _jsonable(row: Any) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(create_bare_app(os.environ["DATABASE_URL"]), args.host, args.port)


if __name__ == "__main__":
    main()

"""P5: the topic list's first page and the catalogue search at 10,000 and 100,000 topics.

For each database (a SQLite file, and a throwaway PostgreSQL from topicdesk.local_postgres) and each
size, a fresh database migrated to head gets teams, clusters and N live topic rows inserted directly
through the tables (10 teams, 20 clusters, team-prefixed names, a description each), plus a drift
item on some topics, as a catalogue has. Then, one call at a time and alternating call by call:

- Topicdesk: GET /api/v1/topics (first page, limit 50) with a member's API token, timed as the
  WSGI application call a server such as gunicorn makes: the request's environ is built before
  the timing (an HTTP server's parser does that), the call and the reading of its body are timed
  (authentication, the query, drift marks, the views, the JSON, the security headers, the log
  line and the metrics). The response's status and JSON are checked after the timing;
- the same call through Flask's test client, whose own work (building the environ from arguments,
  its cookie jar, wrapping the response) is a client's: printed beside it, not judged;
- baseline: one indexed SQL page query on the same database through the same engine: the same
  rows (every topic column, the same filter and order, LIMIT 51) fetched with SQLAlchemy Core,
  typed (JSON and timestamps decoded), without the drift mark, authentication, view or JSON.
  A search's baseline uses the trigram index too (revision 0016): on PostgreSQL the same LIKE,
  which the planner answers from the GIN trigram indexes; on SQLite the candidates from the FTS5
  trigram table `topic_search` (MATCH), checked by the LIKE.

Cases: the first page of everything; ?q= with a term in about 10% of the topics (`orders`); ?q= with
a term in one topic; ?q= with a term in none.

Verdict: median Topicdesk time (the WSGI call) / median baseline time <= 2 for each case. Exit
status 1 otherwise.

Usage: .venv/bin/python bench/p5_topic_list.py [--sizes 10000,100000] [--calls 200] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Select, false, func, insert, literal_column, or_, select, table, text
from sqlalchemy.engine import Engine
from werkzeug.test import EnvironBuilder

from topicdesk import migrations
from topicdesk.adapters.audit_log import stop_sequencers
from topicdesk.adapters.db import make_engine, read_connection
from topicdesk.adapters.tables import ClusterRow, DriftItemRow, DriftLinkRow, TeamRow, TopicRow, utcnow
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.local_postgres import LocalPostgres, start_local_postgres
from topicdesk.services.tokens import create_token

TEAMS = [f"team{n:02d}" for n in range(10)]
CLUSTERS = [f"{team}-{env}" for team in TEAMS for env in ("dev", "prod")]
WORDS = ["orders", "invoices", "payments", "clicks", "events", "audit", "shipments", "users", "ledger", "stock"]
CASES = {
    "first page": "",
    "search, ~10% match": "orders",
    "search, 1 match": "{rare}",
    "search, no match": "nothing-matches-this",
}
TOPIC = TopicRow.__table__  # type: ignore[attr-defined]


def baseline_query(term: str, dialect: str) -> Select[Any]:
    """What a hand-written page query of the catalogue is: every column of the topic table, typed
    (JSON and timestamps decoded, as any Python caller gets them), the same filter and order; a
    search through the trigram index (the bench's terms are plain words: one phrase)."""
    query = select(TOPIC).where(TOPIC.c.deleted == false())
    if term:
        like = f"%{term.lower()}%"
        query = query.where(or_(func.lower(TOPIC.c.name).like(like), func.lower(TOPIC.c.description).like(like)))
        if dialect == "sqlite":
            match = literal_column("topic_search").op("MATCH")(f'"{term}"')
            query = query.where(literal_column("topic.rowid").in_(
                select(literal_column("rowid")).select_from(table("topic_search")).where(match)))
    return query.order_by(TOPIC.c.cluster, TOPIC.c.name).limit(51)


def seed(engine: Engine, size: int) -> None:
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(insert(TeamRow.__table__),  # type: ignore[attr-defined]
                           [{"name": t, "display_name": t, "created_at": now} for t in TEAMS])
        connection.execute(insert(ClusterRow.__table__), [  # type: ignore[attr-defined]
            {"name": c, "environment": c.rsplit("-", 1)[1], "owner_team": c.rsplit("-", 1)[0],
             "bootstrap_servers": "127.0.0.1:1", "admin_secret_ref": "file:/nonexistent", "broker_count": 3,
             "partition_budget": 10_000_000, "disk_budget_bytes": 1024**5, "tags": [], "drift_mode": "enforce",
             "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512", "created_at": now}
            for c in CLUSTERS])
    rows, links, items = [], [], []
    for n in range(size):
        cluster = CLUSTERS[n % len(CLUSTERS)]
        team = cluster.rsplit("-", 1)[0]
        word = WORDS[(n // len(CLUSTERS)) % len(WORDS)]
        topic_id = uuid.uuid4().hex
        rows.append({"id": topic_id, "cluster": cluster, "name": f"{team}.{word}-{n:07d}-.v1",
                     "owner_team": team, "partitions": 6, "replication_factor": 3,
                     "config": {"retention.ms": "604800000"}, "managed_config_keys": ["retention.ms"],
                     "description": f"The {word} stream of {team}", "generation": 1, "observed_generation": 1,
                     "failed_generation": 0, "deleted": False, "attempts": 0, "lifecycle": "active",
                     "created_at": now, "updated_at": now})
        if n % 97 == 0:  # about 1% of topics have an open drift item
            item_id = uuid.uuid4().hex
            items.append({"id": item_id, "cluster": cluster, "kind": "config_differs",
                          "key": f"{topic_id}/retention.ms", "team": team, "subject": f"topic:{topic_id}",
                          "expected": "604800000", "actual": "86400000", "message": "retention.ms differs",
                          "first_seen_at": now, "last_seen_at": now})
            links.append({"cluster": cluster, "item_id": item_id, "resource_kind": "topic", "resource_id": topic_id})
    with engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(insert(TopicRow.__table__), rows[start:start + 5000])  # type: ignore[attr-defined]
        if items:
            connection.execute(insert(DriftItemRow.__table__), items)  # type: ignore[attr-defined]
            connection.execute(insert(DriftLinkRow.__table__), links)  # type: ignore[attr-defined]
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))


def timed(call: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one call. CPU is this thread's: on SQLite that is all the work
    (the database runs in the thread), on PostgreSQL it leaves out the server's. On a machine
    shared with other jobs, wall times of longer calls grow more (each loses the CPU more often),
    so the SQLite CPU ratio is the one that does not depend on the neighbours."""
    start, cpu = time.perf_counter(), time.thread_time()
    call()
    return (time.perf_counter() - start) * 1000, (time.thread_time() - cpu) * 1000


Result = tuple[str, float, float, float, float, float]  # case, wall ours/theirs, CPU ours/theirs, test client wall


def measure(url: str, work: Path, size: int, calls: int) -> list[Result]:
    engine = make_engine(url)
    migrations.upgrade(url)
    started = time.monotonic()
    seed(engine, size)
    print(f"  seeded {size} topics in {time.monotonic() - started:.1f} s", flush=True)
    token = create_token(engine, team=TEAMS[0], name="p5", role=Role.MEMBER, actor="p5").token
    app = create_app(Settings.from_env({"DATABASE_URL": url, "TOPICDESK_DATA_DIR": str(work)}), engine=engine)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    results = []
    for case, term in CASES.items():
        term = term.format(rare=f"-{size // 2:07d}-")
        path = "/api/v1/topics" + (f"?q={term}" if term else "")
        statement = baseline_query(term, engine.dialect.name)
        answers: list[tuple[str, bytes]] = []

        def topicdesk(environ: dict[str, Any], answers: list[tuple[str, bytes]] = answers) -> None:
            # What a WSGI server does per request once it has parsed it: call the app, send its body.
            started: list[str] = []

            def start_response(code: str, _headers: list[tuple[str, str]],
                               _exc_info: Any = None) -> Callable[[bytes], object]:
                started.append(code)
                return lambda _data: None

            body = app.wsgi_app(environ, start_response)
            try:
                content = b"".join(body)
            finally:
                getattr(body, "close", lambda: None)()
            answers[:] = [(started[0], content)]

        def through_client(path: str = path) -> None:
            client.get(path, headers=headers)

        def baseline(statement: Select[Any] = statement) -> None:
            # As the catalogue reads: deferred on SQLite, committed (prepared statements kept) on PostgreSQL.
            with read_connection(engine) as connection:
                connection.execute(statement).all()

        def environ(path: str = path) -> dict[str, Any]:
            built: dict[str, Any] = EnvironBuilder(path=path, headers=list(headers.items())).get_environ()
            return built

        for _ in range(max(5, calls // 10)):  # warm caches, plans and the token cache
            topicdesk(environ())
            through_client()
            baseline()
        ours, theirs, client_times = [], [], []
        for _ in range(calls):
            request_environ = environ()
            ours.append(timed(functools.partial(topicdesk, request_environ)))
            status, content = answers[0]
            assert status.startswith("200"), content
            theirs.append(timed(baseline))
            client_times.append(timed(through_client)[0])
        expected = len(json.loads(content)["items"])
        results.append((case, statistics.median(w for w, _ in ours), statistics.median(w for w, _ in theirs),
                        statistics.median(c for _, c in ours), statistics.median(c for _, c in theirs),
                        statistics.median(client_times)))
        _, w1, w2, c1, c2, tc = results[-1]
        print(f"  {case:<22} {expected:>3} items: Topicdesk {w1:8.2f} ms   SQL page {w2:8.2f} ms   ratio {w1 / w2:5.2f}"
              f"   (CPU {c1:.2f} / {c2:.2f} ms, ratio {c1 / c2:5.2f}; test client {tc:.2f} ms, {tc / w2:5.2f})",
              flush=True)
    stop_sequencers()
    engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per case and side")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--max-ratio", type=float, default=2.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="topicdesk-p5-", dir="/tmp"))
    pg: LocalPostgres | None = None
    table: list[tuple[str, int, Result]] = []
    try:
        for backend in args.backends.split(","):
            for size in sizes:
                print(f"{backend}, {size} topics", flush=True)
                if backend == "postgresql":
                    if pg is None:
                        pg = start_local_postgres(work / "pg")
                    database = f"p5_{size}"
                    pg.create_database(database)
                    url = pg.url(database)
                else:
                    url = f"sqlite:///{work / f'p5_{size}.db'}"
                for result in measure(url, work, size, args.calls):
                    table.append((backend, size, result))
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n| database | topics | case | Topicdesk ms | SQL page ms | ratio (target <= {args.max_ratio:g}) "
          "| Topicdesk CPU ms | SQL page CPU ms | CPU ratio | test client ms | its ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    ok = True
    for backend, size, (case, ours, theirs, ours_cpu, theirs_cpu, client_wall) in table:
        ratio = ours / theirs
        ok = ok and ratio <= args.max_ratio
        print(f"| {backend} | {size:,} | {case} | {ours:.2f} | {theirs:.2f} | {ratio:.2f} | {ours_cpu:.2f} "
              f"| {theirs_cpu:.2f} | {ours_cpu / theirs_cpu:.2f} | {client_wall:.2f} | {client_wall / theirs:.2f} |")
    print(f"\nP5: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

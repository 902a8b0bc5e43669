"""P6's request mix in one process under cProfile: where a worker's CPU goes, call by call.

A throwaway PostgreSQL (or --database-url), migrated and seeded as P6 seeds it; the Flask app that
`topicdesk serve` runs, called through its WSGI interface with a member's API token (no socket,
no gunicorn: the server's own cost is the same for bare and Topicdesk). The mix is P6's: per 10
calls 3 topic lists, 2 reads of one request, 2 /me, 3 topic.create submissions.

Prints CPU ms per call for each kind (time.process_time, after a warm-up), then the top functions
by cumulative and by own time.

Usage: .venv/bin/python bench/p6_profile.py [--calls 1000] [--top 40] [--kind all|topics|request|me|submit]
                                            [--cluster-topics N] [--pg-stats]

--cluster-topics N seeds N live topics into the cluster the submissions go to (a long P6 run adds
~1,300 per round). --pg-stats (with a --database-url whose server preloads pg_stat_statements)
prints PostgreSQL's execution time per statement over the timed calls.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from p3_submit import seed, tree_cpu_seconds
from p6_concurrency import SEED_CLUSTER, seed_topics
from topicdesk import migrations
from topicdesk.adapters.audit_log import stop_sequencers
from topicdesk.adapters.db import make_engine
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.local_postgres import LocalPostgres, start_local_postgres
from topicdesk.services.tokens import create_token

CLUSTER = "payments-p6-r1"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--kind", default="all")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-profile", action="store_true", help="CPU ms per call only (no profiler overhead)")
    parser.add_argument("--bare", action="store_true", help="the same mix against bench/p3_bare_app.py")
    parser.add_argument("--statements", action="store_true", help="print the SQL of one call of each kind")
    parser.add_argument("--cluster-topics", type=int, default=0, help="live topics seeded into the submitted cluster")
    parser.add_argument("--pg-stats", action="store_true", help="PostgreSQL time per statement (pg_stat_statements)")
    parser.add_argument("--pg-data-dir", default="", help="with --database-url: its server's data directory, for "
                        "PostgreSQL's CPU per call")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="topicdesk-p6prof-", dir="/tmp"))
    pg: LocalPostgres | None = None
    try:
        url = args.database_url
        if not url:
            pg = start_local_postgres(work / "pg")
            pg.create_database("p6")
            url = pg.url("p6")
        migrations.upgrade(url)
        engine = make_engine(url)
        seed(engine, [CLUSTER, SEED_CLUSTER])
        seed_topics(engine, 200)
        seed_topics(engine, args.cluster_topics, CLUSTER, "p6prof-seed")
        if engine.dialect.name == "postgresql":
            # Planner statistics for the seeded rows, as autovacuum would have them on a server in use.
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        token = create_token(engine, team="payments", name="p6-prof", role=Role.MEMBER, actor="p6").token
        settings = Settings.from_env({"DATABASE_URL": url, "TOPICDESK_DATA_DIR": str(work / "data"),
                                      "SECRET_KEY": "p6-profile-secret-key-0123456789",
                                      "TOPICDESK_WRITE_RATE_PER_MINUTE": "1000000000",
                                      "TOPICDESK_WRITE_BURST": "1000000000"})
        app = create_app(settings, engine=engine)
        # As in each `topicdesk serve` worker: events are chained on a background thread, in batches.
        sequencer = app.extensions.get("topicdesk.audit_sequencer")
        if sequencer is not None:
            sequencer.install().ensure_running()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        paths = {"submit": "/api/v1/requests", "topics": "/api/v1/topics", "me": "/api/v1/me", "request": ""}
        if args.bare:
            from p3_bare_app import create_bare_app

            client, headers = create_bare_app(url).test_client(), {}
            paths = {"submit": "/submit", "topics": "/topics", "me": "/me", "request": ""}

        def submit() -> None:
            body = {"kind": "topic.create", "cluster": CLUSTER, "reason": "P6 profile",
                    "spec": {"name": f"payments.p6prof-{uuid.uuid4().hex[:12]}", "partitions": 3,
                             "replication_factor": 3,
                             "config": {"retention.ms": "86400000", "cleanup.policy": "delete",
                                        "min.insync.replicas": "2"},
                             "description": "P6 profile", "producers": ["User:payments.p6-writer"],
                             "consumers": [{"principal": "User:payments.p6-reader", "group": "payments.p6-readers"}]}}
            response = client.post(paths["submit"], data=json.dumps(body), headers=headers,
                                   content_type="application/json")
            assert response.status_code == 201, response.get_data()

        submit()
        with engine.connect() as connection:
            first = connection.execute(text("SELECT id FROM request ORDER BY created_at DESC LIMIT 1")).scalar_one()
        paths["request"] = f"/{'requests' if args.bare else 'api/v1/requests'}/{first}"

        def get(path: str) -> Callable[[], None]:
            def call() -> None:
                response = client.get(path, headers=headers)
                assert response.status_code == 200, response.get_data()
            return call

        kinds: dict[str, Callable[[], None]] = {
            "topics": get(paths["topics"]), "request": get(paths["request"]), "me": get(paths["me"]), "submit": submit}
        mix = ["topics", "submit", "request", "me", "topics", "submit", "request", "me", "topics", "submit"]
        if args.kind != "all":
            mix = [args.kind]
        for _ in range(20):
            for kind in mix:
                kinds[kind]()
        if args.statements:
            seen: list[str] = []
            event.listen(engine, "before_cursor_execute", lambda _c, _cur, statement, *_a: seen.append(statement))
            for kind, call in kinds.items():
                seen.clear()
                call()
                time.sleep(0.2)  # the background sequencer's statements land in the list too
                print(f"--- {kind}: {len(seen)} statements")
                for statement in seen:
                    print("   ", " ".join(statement.split())[:160])
            stop_sequencers()
            return 0
        if args.pg_stats:
            with engine.begin() as connection:
                connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
                connection.execute(text("SELECT pg_stat_statements_reset()"))
        spent: dict[str, list[float]] = {kind: [] for kind in kinds}
        data_dir = pg.data_dir if pg is not None else Path(args.pg_data_dir) if args.pg_data_dir else None
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0]) if data_dir else None
        pg_cpu = tree_cpu_seconds(postmaster) if postmaster else 0.0
        # CPU of the calling thread only: waits on PostgreSQL and the sequencer thread are not counted.
        profiler = cProfile.Profile(time.thread_time)
        for n in range(args.calls):
            kind = mix[n % len(mix)]
            started = time.process_time()
            if not args.no_profile:
                profiler.enable()
            kinds[kind]()
            if not args.no_profile:
                profiler.disable()
            spent[kind].append(time.process_time() - started)
        for kind, times in spent.items():
            if times:
                print(f"{kind:<8} {len(times):>5} calls  {sum(times) * 1000 / len(times):6.2f} CPU ms per call "
                      "" + ("" if args.no_profile else "(profiled)"))
        time.sleep(0.5)  # the sequencer's last batch
        if postmaster:
            # Every server process: backends (parse, plan, execute, protocol), autovacuum, WAL writer.
            print(f"PostgreSQL CPU   {(tree_cpu_seconds(postmaster) - pg_cpu) * 1000 / args.calls:6.2f} ms per call")
        if args.pg_stats:
            print_pg_stats(engine, args.calls, args.top)
        for order in () if args.no_profile else ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
            print(out.getvalue())
        stop_sequencers()
        engine.dispose()
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def print_pg_stats(engine: Engine, calls: int, top: int) -> None:
    """Execution time per statement since the reset (this database only), busiest first."""
    with engine.connect() as connection:
        rows = connection.execute(text(  # planning counts with pg_stat_statements.track_planning
            "SELECT calls, total_exec_time + total_plan_time AS total_exec_time, total_plan_time, rows, query"
            " FROM pg_stat_statements"
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC")).all()
    total = sum(row.total_exec_time for row in rows)
    planning = sum(row.total_plan_time for row in rows)
    print(f"PostgreSQL planning + execution: {total:.1f} ms over {calls} calls, {total / calls:.3f} ms per call "
          f"(planning {planning / calls:.3f})")
    print(f"{'share':>6} {'calls':>6} {'ms/call':>8} {'ms/stmt':>8} {'plan ms':>8}  statement")
    for row in rows[:top]:
        print(f"{row.total_exec_time * 100 / total:5.1f}% {row.calls:>6} {row.total_exec_time / calls:8.4f} "
              f"{row.total_exec_time / row.calls:8.4f} {row.total_plan_time / row.calls:8.4f}  "
              f"{' '.join(row.query.split())[:100]}")


if __name__ == "__main__":
    sys.exit(main())

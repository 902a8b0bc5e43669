"""P3 companion: CPU per submission, one at a time, through the Flask test client (no HTTP server).

Where bench/p3_submit.py measures throughput under load, this isolates the CPU one submission
costs in the process (every thread, so the audit sequencer counts too), Topicdesk against the
bare endpoint, on a throwaway PostgreSQL. Use it to see what a change to the submit path buys;
--profile N prints the N most expensive functions (cProfile, main thread only).

Usage: .venv/bin/python bench/p3_sequential.py [--count 1500] [--kind topic.create|quota.set] [--profile 40]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from p3_bare_app import create_bare_app
from p3_submit import lua_body, seed
from topicdesk import migrations
from topicdesk.adapters.audit_log import stop_sequencers
from topicdesk.adapters.db import make_engine
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.local_postgres import start_local_postgres
from topicdesk.services.tokens import create_token


def cpu_ms_per_call(call: Callable[[int], None], count: int) -> float:
    start = time.process_time()
    for n in range(count):
        call(n)
    return (time.process_time() - start) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--kind", choices=["topic.create", "quota.set"], default="topic.create")
    parser.add_argument("--profile", type=int, default=0, help="print the N most expensive functions")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="topicdesk-p3seq-", dir="/tmp"))
    pg = start_local_postgres(work / "pg")
    try:
        urls = {}
        for name in ("topicdesk", "bare"):
            pg.create_database(f"p3s_{name}")
            urls[name] = pg.url(f"p3s_{name}")
            migrations.upgrade(urls[name])
            seed(make_engine(urls[name]), ["c1", "c2"])
        token = create_token(make_engine(urls["topicdesk"]), team="payments", name="b", role=Role.MEMBER,
                             actor="bench").token
        app = create_app(Settings.from_env({
            "DATABASE_URL": urls["topicdesk"], "TOPICDESK_DATA_DIR": str(work),
            "TOPICDESK_WRITE_RATE_PER_MINUTE": "1e9", "TOPICDESK_WRITE_BURST": "1000000000"}))
        # As `topicdesk serve` does in each worker: audit events are chained on a background thread.
        app.extensions["topicdesk.audit_sequencer"].install().ensure_running()
        client = app.test_client()
        bare = create_bare_app(urls["bare"]).test_client()
        headers = {"Authorization": f"Bearer {token}"}

        def submit(cluster: str, tag: str) -> Callable[[int], None]:
            def call(n: int) -> None:
                response = client.post("/api/v1/requests", json=lua_body(args.kind, cluster, f"payments.{tag}-{n}"),
                                       headers=headers)
                assert response.status_code == 201, response.get_data()
            return call

        def submit_bare(tag: str) -> Callable[[int], None]:
            def call(n: int) -> None:
                response = bare.post("/submit", json=lua_body(args.kind, "c1", f"payments.{tag}-{n}"))
                assert response.status_code == 201, response.get_data()
            return call

        cpu_ms_per_call(submit("c1", "warm"), 300)
        cpu_ms_per_call(submit_bare("warm"), 300)
        topicdesk = cpu_ms_per_call(submit("c1", "t"), args.count)
        baseline = cpu_ms_per_call(submit_bare("b"), args.count)
        print(f"{args.kind}, {args.count} submissions one at a time: Topicdesk {topicdesk:.2f} ms CPU each, "
              f"bare {baseline:.2f} ms; bare/Topicdesk = {baseline / topicdesk:.2f}")
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(cpu_ms_per_call, submit("c2", "p"), args.count)
            pstats.Stats(profile).sort_stats(os.environ.get("P3_SORT", "cumulative")).print_stats(args.profile)
    finally:
        stop_sequencers()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

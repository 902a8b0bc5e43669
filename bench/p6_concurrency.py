"""P6: 200 concurrent keep-alive clients on PostgreSQL, Topicdesk vs. a bare Flask app.

Setup (all on loopback, torn down at the end):
- a throwaway PostgreSQL (topicdesk.local_postgres, under /tmp) with two databases migrated to head,
  one per target; team `payments`, a dev cluster per round (90 brokers, as in P3, so the capacity
  rules never deny), and --topics topic rows in both databases, so both topic lists answer full pages;
- Topicdesk: `topicdesk serve` as a subprocess, the write rate limiter set out of reach, a member-role
  API token of team payments;
- bare: bench/p3_bare_app.py (POST /submit inserts the same `request` row; GET /topics, GET
  /requests/<id>, GET /me), served by topicdesk.server.serve: both get the same gunicorn settings
  from the same environment (TOPICDESK_WORKERS, TOPICDESK_THREADS, TOPICDESK_KEEPALIVE or defaults).

Load: wrk with bench/p6_mixed.lua, --connections keep-alive connections (default 200) over 2 wrk
threads, closed loop: 70% reads (the topic list's first page, one request, /me) and 30% topic.create
submissions with unique names (auto-approved). Each target gets a warm-up, then the timed run
(--seconds, default 60); rounds alternate which target goes first.

Checks per timed run: no answer other than 200/201, no socket error (wrk counts a connection the
server resets or closes mid-request as a read error), and every 201's Location answers 200 by GET
afterwards (Topicdesk: the request, auto-approved).

Verdict: throughput Topicdesk / bare >= 0.5 and p99 Topicdesk / bare <= 3 (median over rounds), and
every check above. Exit status 1 otherwise.

Usage: .venv/bin/python bench/p6_concurrency.py [--seconds 60] [--warmup 5] [--connections 200]
                                                [--rounds 1] [--topics 200] [--keep]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from p3_submit import postmaster_pid, seed, stop_process, tree_cpu_seconds, wait_http
from topicdesk import migrations
from topicdesk.adapters.db import make_engine
from topicdesk.adapters.tables import TopicRow, utcnow
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.local_postgres import LocalPostgres, start_local_postgres
from topicdesk.ports import free_port
from topicdesk.services.tokens import create_token

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
LUA = BENCH / "p6_mixed.lua"
VENV_BIN = Path(sys.executable).parent
SEED_CLUSTER = "payments-p6-seed"


@dataclass
class Target:
    name: str
    url: str
    paths: dict[str, str]  # submit, topics, request, me
    token: str
    process: subprocess.Popen[bytes]


@dataclass
class Run:
    target: str
    round: int
    result: dict[str, Any]
    retrievable: int
    unretrievable: list[str]
    server_cpu_ms: float
    postgres_cpu_ms: float
    wrk_cpu_ms: float

    @property
    def rps(self) -> float:
        return float(self.result["requests"]) / (float(self.result["duration_us"]) / 1e6)

    @property
    def p99_ms(self) -> float:
        return float(self.result["p99_us"]) / 1000

    @property
    def socket_errors(self) -> int:
        r = self.result
        return int(r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"])

    @property
    def answer_errors(self) -> int:
        r = self.result
        return int(r["client_errors"] + r["server_errors"] + r["other"])

    @property
    def clean(self) -> bool:
        return self.socket_errors == 0 and self.answer_errors == 0 and not self.unretrievable


# --- data ------------------------------------------------------------------------------------------

def seed_topics(engine: Engine, count: int, cluster: str = SEED_CLUSTER, prefix: str = "p6-seed") -> None:
    """`count` live topic rows, inserted directly (the catalogue the reads page through)."""
    if count <= 0:
        return
    table = TopicRow.__table__  # type: ignore[attr-defined]
    now = utcnow()
    rows = [{"id": uuid.uuid4().hex, "cluster": cluster, "name": f"payments.{prefix}-{n:06d}",
             "owner_team": "payments", "partitions": 3, "replication_factor": 3, "config": {},
             "managed_config_keys": [], "description": "P6 seeded topic", "generation": 1,
             "observed_generation": 1, "failed_generation": 0, "deleted": False, "attempts": 0,
             "lifecycle": "active", "created_at": now, "updated_at": now}
            for n in range(count)]
    with engine.begin() as connection:
        connection.execute(insert(table), rows)


# --- HTTP ------------------------------------------------------------------------------------------

def call(url: str, method: str, path: str, token: str, body: dict[str, Any] | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                           headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def first_request(target: Target, cluster: str) -> str:
    """Submit one topic.create; its Location is the request the reads fetch."""
    body = {"kind": "topic.create", "cluster": cluster, "reason": "P6 pre-flight",
            "spec": {"name": f"payments.p6pre-{target.name}", "partitions": 3, "replication_factor": 3,
                     "config": {"retention.ms": "86400000", "cleanup.policy": "delete", "min.insync.replicas": "2"},
                     "description": "P6 pre-flight", "producers": ["User:payments.p6-writer"],
                     "consumers": [{"principal": "User:payments.p6-reader", "group": "payments.p6-readers"}]}}
    status, headers, raw = call(target.url, "POST", target.paths["submit"], target.token, body)
    answer = json.loads(raw)
    if status != 201 or "location" not in headers or answer.get("status") != "approved":
        raise RuntimeError(f"{target.name}: pre-flight submit: {status} {raw[:2000]!r}")
    for kind in ("topics", "me"):
        status, _, raw = call(target.url, "GET", target.paths[kind], target.token)
        if status != 200:
            raise RuntimeError(f"{target.name}: pre-flight GET {target.paths[kind]}: {status} {raw[:500]!r}")
    return headers["location"]


def unretrievable(target: Target, locations: list[str]) -> list[str]:
    """Every Location a 201 gave, fetched again (8 keep-alive connections): those that do not answer
    200 with an approved request."""
    parts = urlsplit(target.url)
    local = threading.local()
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}

    def fetch(location: str) -> str | None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        local.connection.request("GET", location, headers=headers)
        response = local.connection.getresponse()
        raw = response.read()
        if response.status != 200 or json.loads(raw).get("status") != "approved":
            return f"{location}: {response.status} {raw[:200]!r}"
        return None

    with ThreadPoolExecutor(8) as pool:
        return [bad for bad in pool.map(fetch, locations) if bad is not None]


# --- load ------------------------------------------------------------------------------------------

def wrk(target: Target, cluster: str, prefix: str, seconds: float, args: argparse.Namespace, out: Path
        ) -> tuple[dict[str, Any], list[str]]:
    env = {**os.environ, "P6_SUBMIT": target.paths["submit"], "P6_TOPICS": target.paths["topics"],
           "P6_REQUEST": target.paths["request"], "P6_ME": target.paths["me"], "P6_CLUSTER": cluster,
           "P6_PREFIX": prefix, "P6_TOKEN": target.token, "P6_OUT": str(out)}
    result = subprocess.run(
        ["wrk", "-t", str(args.wrk_threads), "-c", str(args.connections), "-d", f"{seconds:g}s",
         "--timeout", "30s", "-s", str(LUA), target.url],
        env=env, capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("P6RESULT "):
            parsed: dict[str, Any] = json.loads(line.removeprefix("P6RESULT "))
            locations = [loc for f in sorted(out.parent.glob(out.name + "*"))
                         for loc in f.read_text().splitlines()]
            return parsed, locations
    raise RuntimeError(f"wrk gave no result (exit {result.returncode}): {result.stdout}\n{result.stderr}")


def measure(target: Target, pg_pid: int, round_no: int, cluster: str, args: argparse.Namespace,
            work: Path) -> Run:
    if args.warmup > 0:
        warm, _ = wrk(target, cluster, f"payments.p6r{round_no}w", args.warmup, args,
                      work / f"{target.name}-r{round_no}-warm-")
        if warm["requests"] == 0:
            raise RuntimeError(f"{target.name}: warm-up answered nothing: {warm}")
    server0, pg0 = tree_cpu_seconds(target.process.pid), tree_cpu_seconds(pg_pid)
    wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res, locations = wrk(target, cluster, f"payments.p6r{round_no}m", args.seconds, args,
                         work / f"{target.name}-r{round_no}-timed-")
    wrk1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server1, pg1 = tree_cpu_seconds(target.process.pid), tree_cpu_seconds(pg_pid)
    if len(locations) != res["created"]:
        raise RuntimeError(f"{target.name}: {res['created']} answers 201 but {len(locations)} Locations recorded")
    bad = unretrievable(target, locations)
    n = max(1, res["requests"])
    return Run(target=target.name, round=round_no, result=res, retrievable=len(locations) - len(bad),
               unretrievable=bad, server_cpu_ms=(server1 - server0) * 1000 / n,
               postgres_cpu_ms=(pg1 - pg0) * 1000 / n,
               wrk_cpu_ms=((wrk1.ru_utime + wrk1.ru_stime) - (wrk0.ru_utime + wrk0.ru_stime)) * 1000 / n)


# --- main ------------------------------------------------------------------------------------------

def start_targets(pg: LocalPostgres, work: Path, token: str, targets: dict[str, Target]) -> None:
    """Start both servers; each is in `targets` (and so stopped by the caller) as soon as it runs."""
    td_port, bare_port = free_port(), free_port()
    td_env = {**os.environ, "DATABASE_URL": pg.url("p6_topicdesk"), "TOPICDESK_DATA_DIR": str(work / "data"),
              "SECRET_KEY": secrets.token_urlsafe(32),
              # One token sends every write; the per-caller limiter would cap it at 60/min.
              "TOPICDESK_WRITE_RATE_PER_MINUTE": "1000000000", "TOPICDESK_WRITE_BURST": "1000000000"}
    bare_env = {**os.environ, "DATABASE_URL": pg.url("p6_bare")}
    with (work / "topicdesk.stderr").open("wb") as log:
        td = subprocess.Popen([str(VENV_BIN / "topicdesk"), "serve", "--host", "127.0.0.1", "--port", str(td_port)],
                              cwd=ROOT, env=td_env, stdout=subprocess.DEVNULL, stderr=log)
    targets["topicdesk"] = Target("topicdesk", f"http://127.0.0.1:{td_port}", {
        "submit": "/api/v1/requests", "topics": "/api/v1/topics", "me": "/api/v1/me", "request": ""}, token, td)
    with (work / "bare.stderr").open("wb") as log:
        bare = subprocess.Popen([sys.executable, str(BENCH / "p3_bare_app.py"), "--port", str(bare_port)],
                                cwd=ROOT, env=bare_env, stdout=subprocess.DEVNULL, stderr=log)
    targets["bare"] = Target("bare", f"http://127.0.0.1:{bare_port}", {
        "submit": "/submit", "topics": "/topics", "me": "/me", "request": ""}, "", bare)
    wait_http(f"http://127.0.0.1:{td_port}/healthz", td, work / "topicdesk.stderr")
    wait_http(f"http://127.0.0.1:{bare_port}/me", bare, work / "bare.stderr")


def report(runs: list[Run], args: argparse.Namespace) -> bool:
    print(f"\n{'round':>5} {'target':<10} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'201s':>6} {'non-2xx':>7} {'sock err':>8} {'GET ok':>6} {'srv cpu':>7} {'pg cpu':>7} {'wrk cpu':>7}")
    for r in runs:
        res = r.result
        print(f"{r.round:>5} {r.target:<10} {res['requests']:>8} {r.rps:>8.1f} {res['p50_us'] / 1000:>8.1f} "
              f"{r.p99_ms:>8.1f} {res['max_us'] / 1000:>8.1f} {res['created']:>6} {r.answer_errors:>7} "
              f"{r.socket_errors:>8} {r.retrievable:>6} {r.server_cpu_ms:>7.2f} {r.postgres_cpu_ms:>7.2f} "
              f"{r.wrk_cpu_ms:>7.2f}")
        for bad in r.unretrievable[:5]:
            print(f"      not retrievable: {bad}")
    print("      (cpu: ms per request; sock err: connect/read/write errors and timeouts, resets included)")
    by = {(r.target, r.round): r for r in runs}
    rounds = sorted({r.round for r in runs})
    thr = [by["topicdesk", n].rps / by["bare", n].rps for n in rounds]
    p99 = [by["topicdesk", n].p99_ms / by["bare", n].p99_ms for n in rounds]
    for n, t, p in zip(rounds, thr, p99, strict=True):
        print(f"round {n}: throughput Topicdesk/bare {t:.3f}   p99 Topicdesk/bare {p:.2f}")
    thr_ratio, p99_ratio = statistics.median(thr), statistics.median(p99)
    thr_ok, p99_ok = thr_ratio >= args.min_throughput_ratio, p99_ratio <= args.max_p99_ratio
    clean = all(r.clean for r in runs)
    print(f"\nthroughput Topicdesk/bare = {thr_ratio:.3f} (target >= {args.min_throughput_ratio:g}): "
          f"{'PASS' if thr_ok else 'FAIL'}")
    print(f"p99 Topicdesk/bare        = {p99_ratio:.2f} (target <= {args.max_p99_ratio:g}): "
          f"{'PASS' if p99_ok else 'FAIL'}")
    print(f"errors, resets, every 201 retrievable: {'PASS' if clean else 'FAIL'}")
    verdict = thr_ok and p99_ok and clean
    print(f"P6: {'PASS' if verdict else 'FAIL'}")
    return verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds per timed run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up before each timed run")
    parser.add_argument("--connections", type=int, default=200, help="concurrent keep-alive clients")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--topics", type=int, default=200, help="topic rows seeded in both databases")
    parser.add_argument("--min-throughput-ratio", type=float, default=0.5)
    parser.add_argument("--max-p99-ratio", type=float, default=3.0)
    parser.add_argument("--keep", action="store_true", help="keep the work folder under /tmp (logs, database)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="topicdesk-p6-", dir="/tmp"))
    pg: LocalPostgres | None = None
    engines: list[Engine] = []
    targets: dict[str, Target] = {}
    try:
        pg = start_local_postgres(work / "pg")
        clusters = [f"payments-p6-r{n}" for n in range(1, args.rounds + 1)]
        for database in ("p6_topicdesk", "p6_bare"):
            pg.create_database(database)
            migrations.upgrade(pg.url(database))
            engine = make_engine(pg.url(database))
            engines.append(engine)
            seed(engine, [*clusters, SEED_CLUSTER])
            seed_topics(engine, args.topics)
        token = create_token(engines[0], team="payments", name="p6-bench", role=Role.MEMBER,
                             actor="p6-bench").token
        start_targets(pg, work, token, targets)
        for target in targets.values():
            target.paths["request"] = first_request(target, clusters[0])
        server = Settings.from_env({**os.environ, "DATABASE_URL": pg.url("p6_topicdesk")})
        print(f"PostgreSQL {pg.bindir.parent.name} on port {pg.port}; gunicorn {server.workers} workers x "
              f"{server.threads} threads (gthread), keep-alive {server.keepalive_seconds:g} s, on both targets; "
              f"wrk -t{args.wrk_threads} -c{args.connections}, warm-up {args.warmup:g} s, timed {args.seconds:g} s, "
              f"{args.rounds} round(s), {args.topics} seeded topics", flush=True)
        pg_pid = postmaster_pid(pg)
        runs: list[Run] = []
        for n, cluster in enumerate(clusters, start=1):
            order = ("topicdesk", "bare") if n % 2 else ("bare", "topicdesk")
            for name in order:
                run = measure(targets[name], pg_pid, n, cluster, args, work)
                runs.append(run)
                print(f"round {n} {name:<9}: {run.rps:8.1f} req/s  p99 {run.p99_ms:8.1f} ms  "
                      f"({run.result['requests']} requests, {run.answer_errors} non-2xx, "
                      f"{run.socket_errors} socket errors, {len(run.unretrievable)} 201s not retrievable)",
                      flush=True)
        return 0 if report(runs, args) else 1
    finally:
        for target in targets.values():
            stop_process(target.process)
        for engine in engines:
            engine.dispose()
        if pg is not None:
            pg.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

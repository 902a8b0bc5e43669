"""P3: submit throughput and p99 latency on PostgreSQL, Topicdesk vs. a bare Flask endpoint.

Setup (all on loopback, torn down at the end):
- a throwaway PostgreSQL (topicdesk.local_postgres, under /tmp) with two databases migrated to
  head: one for Topicdesk, one for the bare endpoint; team `payments` and, per round, a dev cluster
  `payments-p3-r<n>` owned by it (90 brokers, so the capacity rules never start denying);
- Topicdesk: the real server, `topicdesk serve` as a subprocess (gunicorn, one gthread worker,
  8 threads), DATABASE_URL on PostgreSQL, the write rate limiter set out of reach, and a
  member-role API token of team payments;
- bare: bench/p3_bare_app.py, a Flask app served by topicdesk.server.serve (the same gunicorn
  settings) whose POST /submit inserts the same `request` row with an equivalent JSON payload,
  one transaction per call.

Load: wrk (Debian package `wrk`) with bench/p3_submit.lua: closed loop, --connections keep-alive
connections (default 16) over 2 threads, each call a topic.create with a unique topic name, a
producer and a consumer (auto-approved on a dev cluster: Topicdesk stores the request, the topic,
two grants, three request/resource links and two audit events in one transaction). Each
round runs both targets, alternating which goes first; each target gets a warm-up, then a timed
run. After every run the database is checked: every stored request auto-approved and at least as
many rows as wrk counted. `--kind quota.set` submits a lighter request instead (a produce quota
within the default for a unique principal: request, quota, one link, two audit events), for comparison.

Verdict: median over rounds of the per-round ratios, throughput Topicdesk / bare >= 0.5 and
p99 Topicdesk / bare <= 3. Exit status 1 when either is missed.

Usage: .venv/bin/python bench/p3_submit.py [--rounds 3] [--duration 20] [--warmup 5] [--connections 16]
                                           [--kind topic.create|quota.set] [--keep] [--hold]
"""

from __future__ import annotations

import argparse
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
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import ClusterRow, TeamRow
from topicdesk.domain.identity import Role
from topicdesk.local_postgres import LocalPostgres, start_local_postgres
from topicdesk.ports import free_port
from topicdesk.services.tokens import create_token

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
LUA = BENCH / "p3_submit.lua"
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    name: str
    url: str
    path: str
    token: str
    engine: Engine
    process: subprocess.Popen[bytes]


@dataclass
class Run:
    target: str
    round: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    server_cpu_ms: float  # per request, gunicorn master + worker
    postgres_cpu_ms: float  # per request, postmaster + backends
    wrk_cpu_ms: float  # per request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


# --- processes -------------------------------------------------------------------------------------

def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, utime+stime+cutime+cstime in ticks) for every live process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))
    return table


def tree_cpu_seconds(root: int) -> float:
    table = _proc_table()
    pids, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _) in table.items():
            if ppid == parent and pid not in pids:
                pids.add(pid)
                frontier.append(pid)
    return sum(table[pid][1] for pid in pids if pid in table) / CLK_TCK


def postmaster_pid(pg: LocalPostgres) -> int:
    return int((pg.data_dir / "postmaster.pid").read_text().splitlines()[0])


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback URL we built)
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# --- data ------------------------------------------------------------------------------------------

def seed(engine: Engine, clusters: list[str]) -> None:
    with unit_of_work(engine) as session:
        if session.get(TeamRow, "payments") is None:
            session.add(TeamRow(name="payments", display_name="Payments"))
    with unit_of_work(engine) as session:
        for name in clusters:
            # 90 brokers: each topic (3 partitions x RF 3) adds 0.1 replica per broker, so the
            # partitions-per-broker limit (4000) is reached only after 40,000 topics: never within a
            # round (9 brokers, i.e. 4,000 topics, was reached once Topicdesk passed ~200 req/s).
            session.add(ClusterRow(name=name, environment="dev", owner_team="payments",
                                   bootstrap_servers="127.0.0.1:1", admin_secret_ref="file:/nonexistent",
                                   broker_count=90, partition_budget=10_000_000, disk_budget_bytes=1024**5))


def lua_body(kind: str, cluster: str, name: str) -> dict[str, Any]:
    """The body p3_submit.lua sends (kept in step with it; used for the pre-flight check)."""
    if kind == "quota.set":
        return {"kind": "quota.set", "cluster": cluster, "reason": "P3 benchmark: new client",
                "spec": {"principal": f"User:{name}", "producer_byte_rate": 5242880}}
    return {"kind": "topic.create", "cluster": cluster, "reason": "P3 benchmark: new service",
            "spec": {"name": name, "partitions": 3, "replication_factor": 3,
                     "config": {"retention.ms": "86400000", "cleanup.policy": "delete", "min.insync.replicas": "2"},
                     "description": "P3 benchmark topic", "producers": ["User:payments.p3-writer"],
                     "consumers": [{"principal": "User:payments.p3-reader", "group": "payments.p3-readers"}]}}


def preflight(target: Target, kind: str, cluster: str) -> None:
    body = json.dumps(lua_body(kind, cluster, f"payments.p3pre-{target.name}")).encode()
    headers = {"Content-Type": "application/json"}
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    req = urllib.request.Request(target.url + target.path, data=body, headers=headers,  # noqa: S310
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310 (loopback URL we built)
            answer = json.loads(response.read())
            status = response.status
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{target.name}: pre-flight submit got {exc.code}: {exc.read()[:2000]!r}") from exc
    outcome = (answer.get("decision") or {}).get("outcome")
    if status != 201 or outcome != "auto_approved" or answer.get("status") != "approved":
        raise RuntimeError(f"{target.name}: pre-flight submit: {status} {json.dumps(answer)[:2000]}")


def stored(engine: Engine, cluster: str) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT status, decision->>'outcome', count(*) FROM request "
                                       "WHERE cluster = :c GROUP BY 1, 2"), {"c": cluster}).all()
    return {f"{status}/{outcome}": int(count) for status, outcome, count in rows}


# --- load ------------------------------------------------------------------------------------------

def wrk(target: Target, kind: str, cluster: str, prefix: str, seconds: float, connections: int) -> dict[str, Any]:
    env = {**os.environ, "P3_PATH": target.path, "P3_CLUSTER": cluster, "P3_PREFIX": prefix,
           "P3_TOKEN": target.token, "P3_KIND": kind}
    result = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "30s", "-s", str(LUA),
         target.url],
        env=env, capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("P3RESULT "):
            parsed: dict[str, Any] = json.loads(line.removeprefix("P3RESULT "))
            return parsed
    raise RuntimeError(f"wrk gave no result (exit {result.returncode}): {result.stdout}\n{result.stderr}")


def measure(target: Target, pg_pid: int, round_no: int, cluster: str, args: argparse.Namespace) -> Run:
    warm = wrk(target, args.kind, cluster, f"payments.p3r{round_no}w", args.warmup, args.connections)
    if warm["status_errors"] or warm["requests"] == 0:
        raise RuntimeError(f"{target.name}: warm-up failed: {warm}")
    before_rows = sum(stored(target.engine, cluster).values())
    server0, pg0 = tree_cpu_seconds(target.process.pid), tree_cpu_seconds(pg_pid)
    wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = wrk(target, args.kind, cluster, f"payments.p3r{round_no}m", args.duration, args.connections)
    wrk1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server1, pg1 = tree_cpu_seconds(target.process.pid), tree_cpu_seconds(pg_pid)
    counts = stored(target.engine, cluster)
    errors = res["status_errors"] + res["connect_errors"] + res["read_errors"] + res["write_errors"] + res["timeouts"]
    bad = {k: v for k, v in counts.items() if k != "approved/auto_approved"}
    if bad or sum(counts.values()) - before_rows < res["requests"]:
        raise RuntimeError(f"{target.name}: stored rows do not match: {counts}, {before_rows} before, wrk {res}")
    n = max(1, res["requests"])
    return Run(target=target.name, round=round_no, requests=res["requests"], seconds=res["duration_us"] / 1e6,
               p50_ms=res["p50_us"] / 1000, p90_ms=res["p90_us"] / 1000, p99_ms=res["p99_us"] / 1000,
               max_ms=res["max_us"] / 1000, errors=errors,
               server_cpu_ms=(server1 - server0) * 1000 / n, postgres_cpu_ms=(pg1 - pg0) * 1000 / n,
               wrk_cpu_ms=((wrk1.ru_utime + wrk1.ru_stime) - (wrk0.ru_utime + wrk0.ru_stime)) * 1000 / n)


# --- main ------------------------------------------------------------------------------------------

def start_targets(pg: LocalPostgres, work: Path, token: str, engines: dict[str, Engine],
                  targets: dict[str, Target]) -> None:
    """Start both servers; each is in `targets` (and so stopped by the caller) as soon as it runs."""
    td_port, bare_port = free_port(), free_port()
    td_env = {**os.environ, "DATABASE_URL": pg.url("p3_topicdesk"), "TOPICDESK_DATA_DIR": str(work / "data"),
              "SECRET_KEY": secrets.token_urlsafe(32),
              # The per-caller write limiter would cap one token at 60/min; take it out of the way.
              "TOPICDESK_WRITE_RATE_PER_MINUTE": "1000000000", "TOPICDESK_WRITE_BURST": "1000000000"}
    bare_env = {**os.environ, "DATABASE_URL": pg.url("p3_bare")}
    # The access log goes to stdout in both servers (gunicorn "-"): discarded alike.
    with (work / "topicdesk.stderr").open("wb") as log:
        td = subprocess.Popen([str(VENV_BIN / "topicdesk"), "serve", "--host", "127.0.0.1", "--port", str(td_port)],
                              cwd=ROOT, env=td_env, stdout=subprocess.DEVNULL, stderr=log)
    targets["topicdesk"] = Target("topicdesk", f"http://127.0.0.1:{td_port}", "/api/v1/requests", token,
                                  engines["topicdesk"], td)
    with (work / "bare.stderr").open("wb") as log:
        bare = subprocess.Popen([sys.executable, str(BENCH / "p3_bare_app.py"), "--port", str(bare_port)],
                                cwd=ROOT, env=bare_env, stdout=subprocess.DEVNULL, stderr=log)
    targets["bare"] = Target("bare", f"http://127.0.0.1:{bare_port}", "/submit", "", engines["bare"], bare)
    wait_http(f"http://127.0.0.1:{td_port}/healthz", td, work / "topicdesk.stderr")
    wait_http(f"http://127.0.0.1:{bare_port}/", bare, work / "bare.stderr")


def report(runs: list[Run], args: argparse.Namespace) -> bool:
    print(f"\n{'round':>5} {'target':<10} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'err':>4} {'srv cpu':>8} {'pg cpu':>8} {'wrk cpu':>8}   (cpu: ms per request)")
    for r in runs:
        print(f"{r.round:>5} {r.target:<10} {r.requests:>8} {r.rps:>8.1f} {r.p50_ms:>8.2f} {r.p90_ms:>8.2f} "
              f"{r.p99_ms:>8.2f} {r.max_ms:>8.1f} {r.errors:>4} {r.server_cpu_ms:>8.2f} {r.postgres_cpu_ms:>8.2f} "
              f"{r.wrk_cpu_ms:>8.2f}")
    by = {(r.target, r.round): r for r in runs}
    rounds = sorted({r.round for r in runs})
    thr = [by["topicdesk", n].rps / by["bare", n].rps for n in rounds]
    p99 = [by["topicdesk", n].p99_ms / by["bare", n].p99_ms for n in rounds]
    p50 = [by["topicdesk", n].p50_ms / by["bare", n].p50_ms for n in rounds]
    print("\nper-round ratios Topicdesk / bare:")
    for n, t, p, q in zip(rounds, thr, p99, p50, strict=True):
        print(f"  round {n}: throughput {t:.3f}   p99 {p:.2f}   p50 {q:.2f}")
    for target in ("topicdesk", "bare"):
        mine = [by[target, n] for n in rounds]
        print(f"median {target:<9}: {statistics.median(r.rps for r in mine):8.1f} req/s   "
              f"p50 {statistics.median(r.p50_ms for r in mine):7.2f} ms   "
              f"p99 {statistics.median(r.p99_ms for r in mine):7.2f} ms   "
              f"server cpu {statistics.median(r.server_cpu_ms for r in mine):.2f} ms/req   "
              f"postgres cpu {statistics.median(r.postgres_cpu_ms for r in mine):.2f} ms/req")
    thr_ratio, p99_ratio = statistics.median(thr), statistics.median(p99)
    thr_ok, p99_ok = thr_ratio >= args.min_throughput_ratio, p99_ratio <= args.max_p99_ratio
    print(f"\nthroughput Topicdesk/bare = {thr_ratio:.3f} (target >= {args.min_throughput_ratio:g}): "
          f"{'PASS' if thr_ok else 'FAIL'}")
    print(f"p99 Topicdesk/bare        = {p99_ratio:.2f} (target <= {args.max_p99_ratio:g}): "
          f"{'PASS' if p99_ok else 'FAIL'}")
    print(f"P3: {'PASS' if thr_ok and p99_ok else 'FAIL'}")
    return bool(thr_ok and p99_ok)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per timed run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up before each timed run")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (requests in flight)")
    parser.add_argument("--kind", choices=["topic.create", "quota.set"], default="topic.create",
                        help="what each call submits (quota.set: a lighter request, for comparison)")
    parser.add_argument("--min-throughput-ratio", type=float, default=0.5)
    parser.add_argument("--max-p99-ratio", type=float, default=3.0)
    parser.add_argument("--keep", action="store_true", help="keep the work folder under /tmp (logs, database)")
    parser.add_argument("--hold", action="store_true",
                        help="set up, print the URLs and token, and wait for Enter before the rounds (profiling)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2

    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the servers and PostgreSQL are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="topicdesk-p3-", dir="/tmp"))
    pg: LocalPostgres | None = None
    engines: dict[str, Engine] = {}
    targets: dict[str, Target] = {}
    try:
        pg = start_local_postgres(work / "pg")
        clusters = [f"payments-p3-r{n}" for n in range(1, args.rounds + 1)]
        for name, database in (("topicdesk", "p3_topicdesk"), ("bare", "p3_bare")):
            pg.create_database(database)
            migrations.upgrade(pg.url(database))
            engines[name] = make_engine(pg.url(database))
            seed(engines[name], clusters)
        token = create_token(engines["topicdesk"], team="payments", name="p3-bench", role=Role.MEMBER,
                             actor="p3-bench").token
        start_targets(pg, work, token, engines, targets)
        for target in targets.values():
            preflight(target, args.kind, clusters[0])
        print(f"PostgreSQL {pg.bindir.parent.name} on port {pg.port}; Topicdesk {targets['topicdesk'].url}, "
              f"bare {targets['bare'].url}; wrk -t2 -c{args.connections}, warm-up {args.warmup:g} s, "
              f"timed {args.duration:g} s, {args.rounds} rounds, {args.kind}", flush=True)
        if args.hold:
            print(f"token: {token}\nwork: {work}\npress Enter to run the rounds", flush=True)
            sys.stdin.readline()
        pg_pid = postmaster_pid(pg)
        runs: list[Run] = []
        for n, cluster in enumerate(clusters, start=1):
            order = ("topicdesk", "bare") if n % 2 else ("bare", "topicdesk")
            for name in order:
                run = measure(targets[name], pg_pid, n, cluster, args)
                runs.append(run)
                print(f"round {n} {name:<9}: {run.rps:8.1f} req/s  p50 {run.p50_ms:7.2f} ms  "
                      f"p99 {run.p99_ms:7.2f} ms  ({run.requests} requests, {run.errors} errors)", flush=True)
        return 0 if report(runs, args) else 1
    finally:
        for target in targets.values():
            stop_process(target.process)
        for engine in engines.values():
            engine.dispose()
        if pg is not None:
            pg.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

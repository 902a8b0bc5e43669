"""P7: how soon work resumes after a reconciler is killed with SIGKILL in the middle of an apply.

Setup (not timed): one local single-node cluster; a fresh SQLite database; a batch of --topics
topic.create requests (--partitions each, retention.ms set) submitted through the API (Flask test
client, a member token of the owning team) and auto-approved on the dev cluster.

Measured, per variant and round: `topicdesk reconcile --cluster <c> --lease-seconds L` starts as a
subprocess; as soon as its first pass marked the batch `applying` (polled every 10 ms) it gets
SIGKILL, and a second `topicdesk reconcile` with the same options starts at once. From the kill:
  - next apply: until the first request of the batch turns `applied` after the kill;
  - all applied: until every request of the batch is `applied`.
The dead process's lease is still in the database: the second waits for it to expire (it is never
released), then claims the cluster, plans against what the cluster has (whatever the first one
managed to create counts as applied) and finishes.

Variants: "heartbeat 15 s" (the default: 15 s lease renewed every 5 s) and, unless --no-baseline,
"old 60 s" (`--lease-seconds 60`, the old default; a 60 s lease is what a dead holder left behind).
Target: all applied <= 20 s after the kill with the default; the ratio printed is time / 20 s.

Usage: .venv/bin/python bench/p7_crash_recovery.py [--topics 100] [--partitions 6] [--rounds 3]
Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

import kafka_bench as kb
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import RequestRow
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.services.tokens import create_token

TARGET_SECONDS = 20.0


@dataclass
class Run:
    variant: str
    applied_at_kill: int
    next_apply: float
    all_applied: float


def submit_batch(engine: Engine, url: str, folder: Path, cluster: str, topics: int, partitions: int) -> list[str]:
    token = create_token(engine, team="payments", name=f"p7-{uuid.uuid4().hex[:6]}", role=Role.MEMBER,
                         actor="bench").token
    settings = Settings.from_env({"DATABASE_URL": url, "TOPICDESK_DATA_DIR": str(folder),
                                  "TOPICDESK_WRITE_BURST": str(topics + 10),
                                  "TOPICDESK_WRITE_RATE_PER_MINUTE": "100000"})
    client = create_app(settings, engine=engine).test_client()
    base = f"payments.p7{uuid.uuid4().hex[:6]}"
    ids = []
    for n in range(topics):
        response = client.post("/api/v1/requests", headers={"Authorization": f"Bearer {token}"}, json={
            "kind": "topic.create", "cluster": cluster, "spec": {
                "name": f"{base}.t{n:03d}", "partitions": partitions, "replication_factor": 1,
                "config": {"retention.ms": str(86_400_000 + n)}}})
        body = response.json or {}
        if response.status_code != 201 or body.get("status") != "approved":
            raise SystemExit(f"submission {n} was not auto-approved: {response.status_code} {body}")
        ids.append(str(body["id"]))
    return ids


def counts(engine: Engine, ids: list[str]) -> dict[str, int]:
    with unit_of_work(engine) as session:
        rows = session.exec(select(RequestRow.status, func.count()).where(col(RequestRow.id).in_(ids))
                            .group_by(col(RequestRow.status))).all()
    return {status: int(n) for status, n in rows}


def measure(variant: str, lease: float, local_name: str, engine: Engine, url: str, folder: Path, ids: list[str],
            timeout: float) -> Run:
    env = {**os.environ, "DATABASE_URL": url, "TOPICDESK_DATA_DIR": str(folder),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "platform")}
    command = [sys.executable, "-m", "topicdesk.cli", "reconcile", "--cluster", local_name,
               "--lease-seconds", str(lease)]
    logs = folder / f"{variant.replace(' ', '-')}-{uuid.uuid4().hex[:4]}"
    with open(f"{logs}-1.log", "wb") as first_log, open(f"{logs}-2.log", "wb") as second_log:
        return _kill_and_restart(variant, command, env, engine, ids, timeout, first_log, second_log, logs)


def _kill_and_restart(variant: str, command: list[str], env: dict[str, str], engine: Engine, ids: list[str],
                      timeout: float, first_log: IO[bytes], second_log: IO[bytes], logs: Path) -> Run:
    first = subprocess.Popen(command, env=env, stdout=first_log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while counts(engine, ids).get("applying", 0) == 0:
        if first.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the first reconciler never started applying; see {logs}-1.log")
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    first.wait(timeout=30)
    applied_at_kill = counts(engine, ids).get("applied", 0)
    second = subprocess.Popen(command, env=env, stdout=second_log, stderr=subprocess.STDOUT)
    next_apply = all_applied = None
    try:
        while all_applied is None:
            now = time.monotonic()
            applied = counts(engine, ids).get("applied", 0)
            if next_apply is None and applied > applied_at_kill:
                next_apply = now - killed
            if applied == len(ids):
                all_applied = now - killed
            elif now - killed > timeout:
                raise SystemExit(f"{variant}: only {applied}/{len(ids)} applied {timeout:.0f} s after the kill; "
                                 f"see {logs}-2.log")
            else:
                time.sleep(0.05)
    finally:
        second.send_signal(signal.SIGTERM)  # a clean stop hands the lease back for the next round
        second.wait(timeout=30)
    assert next_apply is not None
    return Run(variant, applied_at_kill, next_apply, all_applied)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--heap-mb", type=int, default=512)
    parser.add_argument("--no-baseline", action="store_true", help="skip the old 60 s lease")
    args = parser.parse_args()
    variants = [("heartbeat 15 s", 15.0)] + ([] if args.no_baseline else [("old 60 s", 60.0)])
    print(f"P7: kill -9 of the reconciler during a {args.topics}-topic apply ({args.partitions} partitions each); "
          f"{args.rounds} rounds; target: all applied <= {TARGET_SECONDS:.0f} s after the kill")
    print(f"machine: {kb.machine()}")
    runs: list[Run] = []
    with kb.clusters("topicdesk-p7-") as state_dir, tempfile.TemporaryDirectory(prefix="topicdesk-p7-db-") as tmp:
        folder = Path(tmp)
        local = kb.start(state_dir, "p7", args.heap_mb)
        for round_no in range(1, args.rounds + 1):
            for variant, lease in variants:
                name = f"p7-{uuid.uuid4().hex[:6]}"
                url = f"sqlite:///{folder / f'{name}.db'}"
                engine = kb.fresh_database(folder, name)
                cluster = kb.register_cluster(engine, local)
                ids = submit_batch(engine, url, folder, cluster, args.topics, args.partitions)
                run = measure(variant, lease, cluster, engine, url, folder, ids, timeout=lease * 3 + 60)
                engine.dispose()
                runs.append(run)
                print(f"round {round_no} {variant:>15}: {run.applied_at_kill:3d} applied at the kill; next apply "
                      f"{run.next_apply:5.1f} s, all {args.topics} applied {run.all_applied:5.1f} s after the kill "
                      f"(ratio to target {run.all_applied / TARGET_SECONDS:.2f})", flush=True)
    print()
    print("| variant | rounds | next apply (median) | all applied (median) | all applied / 20 s target |")
    print("| --- | --- | --- | --- | --- |")
    verdict = 0
    for variant, _ in variants:
        mine = [r for r in runs if r.variant == variant]
        nxt = statistics.median(r.next_apply for r in mine)
        done = statistics.median(r.all_applied for r in mine)
        worst = max(r.all_applied for r in mine)
        met = worst <= TARGET_SECONDS
        if variant == variants[0][0] and not met:
            verdict = 1
        print(f"| {variant} | {len(mine)} | {nxt:.1f} s | {done:.1f} s (worst {worst:.1f} s) | "
              f"{done / TARGET_SECONDS:.2f}{' (met)' if met else ' (missed)'} |")
    return verdict


if __name__ == "__main__":
    raise SystemExit(main())

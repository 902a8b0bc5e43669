"""Shared helpers for the Kafka benchmarks (bench/p1_provision.py, bench/p2_drift_scan.py).

Local clusters are started with `topicdesk.local_kafka.cluster.up` into a private state folder and
always stopped again (`down`) by `clusters()`, which also checks that no JVM of that folder is left.
A fresh SQLite database per measurement holds Topicdesk's desired state.
"""

from __future__ import annotations

import concurrent.futures
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from sqlalchemy.engine import Engine

from topicdesk import migrations
from topicdesk.adapters import kafka_quotas
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import ClusterRow, TeamRow
from topicdesk.local_kafka import cluster as lk
from topicdesk.local_kafka.distribution import ensure_kafka_libs

TEAMS = ("payments", "ingest", "platform")


@contextmanager
def clusters(prefix: str) -> Iterator[Path]:
    """A private state folder for local clusters; every JVM started under it is stopped at the end."""
    ensure_kafka_libs()  # fetching the jars (if ever needed) is never timed
    state_dir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield state_dir
    finally:
        lk.down(state_dir)
        left = lk.find_jvms(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
        if left:
            raise SystemExit(f"local Kafka JVMs still running after down: pids {left}")


def start(state_dir: Path, name: str, heap_mb: int) -> lk.LocalCluster:
    (cluster,) = lk.up([name], state_dir, heap_mb=heap_mb)
    return cluster


def stop(state_dir: Path, name: str) -> None:
    lk.down(state_dir, [name], purge=True)


def fresh_database(folder: Path, name: str) -> Engine:
    url = f"sqlite:///{folder / f'{name}.db'}"
    migrations.upgrade(url)
    return make_engine(url)


def register_cluster(engine: Engine, local: lk.LocalCluster, owner_team: str = "payments") -> str:
    """As tests/support.py does: teams, and the cluster row referencing the admin credentials."""
    with unit_of_work(engine) as session:
        for team in TEAMS:
            if session.get(TeamRow, team) is None:
                session.add(TeamRow(name=team, display_name=team.title()))
    with unit_of_work(engine) as session:
        session.add(ClusterRow(name=local.name, environment="dev", owner_team=owner_team,
                               bootstrap_servers=local.bootstrap, admin_secret_ref=f"file:{local.state_file}",
                               broker_count=1, partition_budget=1_000_000, disk_budget_bytes=1024**4))
    return local.name


def admin(local: lk.LocalCluster, **extra: Any) -> AdminClient:
    return AdminClient({**local.client_config(), **extra})


@contextmanager
def quota_admin(local: lk.LocalCluster, timeout_s: float = 30.0) -> Iterator[Any]:
    """kafka-python admin for AlterClientQuotas/DescribeClientQuotas (what the Topicdesk port uses)."""
    conf = kafka_quotas.admin_config_from_confluent(local.client_config(), int(timeout_s * 1000))
    with kafka_quotas.open_admin(conf) as client:
        yield client


def any_acl_filter() -> AclBindingFilter:
    return AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,  # type: ignore[arg-type]
                            AclOperation.ANY, AclPermissionType.ANY)


def results(futures: Mapping[Any, concurrent.futures.Future[Any]], timeout: float = 120.0) -> dict[Any, Any]:
    """Every future's result; raises the first failure."""
    return {key: f.result(timeout=timeout) for key, f in futures.items()}


def failures(futures: Mapping[Any, concurrent.futures.Future[Any]], timeout: float = 120.0) -> dict[Any, str]:
    out: dict[Any, str] = {}
    for key, f in futures.items():
        try:
            f.result(timeout=timeout)
        except KafkaException as exc:
            out[key] = str(exc)
    return out


def eventually(check: Callable[[], bool], timeout: float, interval: float, what: str) -> int:
    """Poll until `check()` is true; returns the number of checks made."""
    deadline = time.monotonic() + timeout
    checks = 0
    while True:
        checks += 1
        if check():
            return checks
        if time.monotonic() >= deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def chunked(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start_at in range(0, len(items), size):
        yield items[start_at:start_at + size]


# --- memory ------------------------------------------------------------------------------------


def rss_kib() -> int:
    return _status_kib("VmRSS")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_kib() -> int:
    return _status_kib("VmHWM")


def maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


# --- reporting ---------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt_s(seconds: float) -> str:
    return f"{seconds:8.2f} s"


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"

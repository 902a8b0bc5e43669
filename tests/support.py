"""Test data helpers shared by integration and e2e tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests
from sqlalchemy.engine import Engine

from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import ClusterRow, TeamRow
from topicdesk.local_kafka.cluster import LocalCluster

TEAMS = ("payments", "ingest", "platform")


def seed_teams(engine: Engine, teams: tuple[str, ...] = TEAMS) -> None:
    with unit_of_work(engine) as session:
        for team in teams:
            if session.get(TeamRow, team) is None:
                session.add(TeamRow(name=team, display_name=team.title()))


def register_cluster(engine: Engine, local: LocalCluster, owner_team: str, *, name: str | None = None,
                     environment: str = "dev", broker_count: int = 1, partition_budget: int = 100_000,
                     disk_budget_bytes: int = 1024**4) -> str:
    """Register a running local cluster; its admin credentials are referenced, not copied."""
    seed_teams(engine)
    cluster_name = name or local.name
    with unit_of_work(engine) as session:
        row = session.get(ClusterRow, cluster_name) or ClusterRow(
            name=cluster_name, environment=environment, owner_team=owner_team, bootstrap_servers=local.bootstrap,
            admin_secret_ref=f"file:{local.state_file}", broker_count=broker_count,
            partition_budget=partition_budget, disk_budget_bytes=disk_budget_bytes)
        session.add(row)
    return cluster_name


def wait_healthy(base: str, check_alive: Callable[[], None], log: Callable[[], str], timeout: float = 60.0) -> None:
    """Wait for `topicdesk serve` at base to answer /healthz; check_alive raises if a process died."""
    deadline = time.monotonic() + timeout
    while True:
        check_alive()
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"topicdesk serve was not healthy within {timeout:.0f} s:\n{log()[-4000:]}")
        time.sleep(0.1)

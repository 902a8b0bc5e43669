"""Test data helpers shared by unit, integration and e2e tests."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import requests
from flask import Flask
from sqlalchemy.engine import Engine

from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import ClusterRow, RequestResourceRow, RequestRow, TeamRow, TopicRow
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services.tokens import create_token

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


def add_offline_cluster(engine: Engine, name: str = "payments-dev", *, owner_team: str = "payments",
                        environment: str = "dev", **columns: Any) -> None:
    """A registered cluster no broker answers for: enough for what the database and the API decide."""
    seed_teams(engine)
    with unit_of_work(engine) as session:
        session.add(ClusterRow(name=name, environment=environment, owner_team=owner_team,
                               bootstrap_servers="127.0.0.1:1", admin_secret_ref="file:/nonexistent", **columns))


def member_client(engine: Engine, database_url: str, data_dir: Path, team: str = "payments") -> tuple[Any, str]:
    """An in-process app on `engine`, its test client, and a member's API token for `team`."""
    token = create_token(engine, team=team, name=f"member-{time.monotonic_ns()}", role=Role.MEMBER,
                         actor="test").token
    app = create_app(Settings.from_env({"DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(data_dir)}),
                     engine=engine)
    return app.test_client(), token


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


def desk_engine(tmp_path: Path, *, clusters: Mapping[str, str] | None = None,
                teams: tuple[str, ...] = TEAMS) -> Engine:
    """A migrated SQLite database in tmp_path with teams and dev clusters (name -> owner team; default
    c1 owned by payments) whose admin credentials point nowhere: unit tests reach them through a fake port."""
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed_teams(engine, teams)
    with unit_of_work(engine) as session:
        for name, owner in (clusters or {"c1": "payments"}).items():
            session.add(ClusterRow(name=name, environment="dev", owner_team=owner, bootstrap_servers="x:1",
                                   admin_secret_ref="env:X"))
    return engine


def approved_topic_request(engine: Engine, name: str, *, kind: str = "topic.create", partitions: int = 2,
                           config: dict[str, str] | None = None, cluster: str = "c1") -> str:
    """A payments topic at generation 1 with the approved request that asked for it, as the reconciler
    finds them after approval; returns the request id."""
    with unit_of_work(engine) as session:
        topic = TopicRow(cluster=cluster, name=name, owner_team="payments", partitions=partitions,
                         replication_factor=1, config=config or {}, managed_config_keys=sorted(config or {}))
        request = RequestRow(kind=kind, cluster=cluster, spec={"name": name}, requested_by="bob",
                             requester_team="payments", owner_team="payments", status="approved")
        session.add(topic)
        session.add(request)
        session.flush()
        session.add(RequestResourceRow(request_id=request.id, resource_kind="topic", resource_id=topic.id,
                                       generation=1))
        return request.id


@dataclass
class Desk:
    """The app over a desk_engine database and one in-memory cluster port, with a token per caller."""

    app: Flask
    engine: Engine
    # Any, not ClusterPort: tests reach into their fake's state (topics, acls, calls).
    port: Any
    tokens: dict[str, str]

    def call(self, who: str, method: str, path: str, body: Any = None, **headers: str) -> Any:
        """A request as caller `who`; a dict or list body goes as JSON, bytes or str as they are."""
        content_type = headers.pop("Content-Type", "application/json")
        kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {self.tokens[who]}", **headers}}
        if body is not None:
            kwargs.update(data=body if isinstance(body, bytes | str) else json.dumps(body), content_type=content_type)
        return self.app.test_client().open(path, method=method, **kwargs)


D = TypeVar("D", bound=Desk)


@overload
def build_desk(tmp_path: Path, port: Any, *, tokens: Mapping[str, tuple[str, Role]],
               clusters: Mapping[str, str] | None = ..., teams: tuple[str, ...] = ...,
               env: Mapping[str, str] | None = ...) -> Desk: ...


@overload
def build_desk(tmp_path: Path, port: Any, *, tokens: Mapping[str, tuple[str, Role]],
               clusters: Mapping[str, str] | None = ..., teams: tuple[str, ...] = ...,
               env: Mapping[str, str] | None = ..., kind: type[D]) -> D: ...


def build_desk(tmp_path: Path, port: Any, *, tokens: Mapping[str, tuple[str, Role]],
               clusters: Mapping[str, str] | None = None, teams: tuple[str, ...] = TEAMS,
               env: Mapping[str, str] | None = None, kind: type[Desk] = Desk) -> Desk:
    """create_app over desk_engine(tmp_path) with every cluster served by `port`; tokens maps a caller's
    name to its (team, role); kind is a Desk subclass with a test's own helpers. Writes are not rate
    limited unless env says otherwise."""
    engine = desk_engine(tmp_path, clusters=clusters, teams=teams)
    issued = {who: create_token(engine, team=team, name=who, role=role, actor="t").token
              for who, (team, role) in tokens.items()}
    settings = Settings.from_env({"DATABASE_URL": str(engine.url), "TOPICDESK_DATA_DIR": str(tmp_path),
                                  "TOPICDESK_WRITE_BURST": "1000", **(env or {})})
    app = create_app(settings, engine=engine, port_factory=lambda _cluster, **_options: port)
    return kind(app, engine, port, issued)


class ServerProcesses:
    """What the stacks of real `topicdesk` processes (the CLI and portal tests) share: each process's
    log, and a check that none has died. Subclasses are dataclasses with `logs` and `processes`."""

    logs: dict[str, Path]
    processes: dict[str, subprocess.Popen[bytes]]

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"topicdesk {name} exited with {process.returncode}:\n{self.log(name)[-4000:]}")

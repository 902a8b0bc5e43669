"""A real `topicdesk serve` and `topicdesk reconcile` on a SQLite file, with the session's local Kafka
clusters registered the way an operator would (admin credentials by `env:PREFIX`, never copied into
the database), and the `topicdesk` client run as a subprocess against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy.engine import Engine

from tests.support import ServerProcesses, seed_teams, wait_healthy
from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import ClusterRow
from topicdesk.domain.identity import Role
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.local_oidc import stop_process
from topicdesk.ports import free_port
from topicdesk.services.tokens import create_token

REPO = Path(__file__).resolve().parents[2]
# Cluster name -> env prefix of its admin credentials; both owned by team payments, environment dev.
CLUSTERS = {"gitops-dev": "GITOPS_DEV_ADMIN", "gitops-exp": "GITOPS_EXP_ADMIN"}


@dataclass
class CliStack(ServerProcesses):
    base: str
    engine: Engine
    kafka: dict[str, LocalCluster]
    logs: dict[str, Path]
    run_id: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def token(self, team: str, role: Role = Role.MEMBER) -> str:
        """A fresh API token: each test's writes get their own rate-limit bucket."""
        created = create_token(self.engine, team=team, name=f"ci-{uuid.uuid4().hex[:10]}", role=role,
                               actor="test", expires_in=timedelta(days=1))
        return created.token

    def cli(self, *args: str, token: str | None, cwd: Path | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`python -m topicdesk.cli ARGS` with TOPICDESK_URL/TOPICDESK_TOKEN set, as a CI job runs it."""
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "platform"),
                                                                      os.environ.get("PYTHONPATH", "")]),
                       "TOPICDESK_URL": self.base, "NO_COLOR": "1"}
        environment.pop("TOPICDESK_TOKEN", None)
        if token is not None:
            environment["TOPICDESK_TOKEN"] = token
        environment.update(env or {})
        return subprocess.run([sys.executable, "-m", "topicdesk.cli", *args], cwd=cwd or REPO, env=environment,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def api(self, method: str, path: str, token: str, body: Any = None) -> requests.Response:
        return requests.request(method, f"{self.base}{path}", json=body, timeout=30,
                                headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def cli_stack(kafka_clusters: list[LocalCluster], tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliStack]:
    data_dir = tmp_path_factory.mktemp("topicdesk-cli")
    with running_stack(kafka_clusters, data_dir, f"sqlite:///{data_dir / 'topicdesk.db'}") as stack:
        yield stack


@contextmanager
def running_stack(kafka_clusters: list[LocalCluster], data_dir: Path, database_url: str,
                  env: Mapping[str, str] | None = None) -> Iterator[CliStack]:
    """`topicdesk serve` and `topicdesk reconcile` on a migrated database (SQLite or PostgreSQL) with
    the clusters of CLUSTERS registered; `env` adds to or overrides the processes' environment."""
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    seed_teams(engine)
    credentials: dict[str, str] = {}
    kafka = dict(zip(CLUSTERS, kafka_clusters, strict=True))
    with unit_of_work(engine) as session:
        for name, prefix in CLUSTERS.items():
            session.add(ClusterRow(name=name, environment="dev", owner_team="payments",
                                   bootstrap_servers=kafka[name].bootstrap, admin_secret_ref=f"env:{prefix}",
                                   broker_count=1, partition_budget=100_000, disk_budget_bytes=1024**4))
            credentials[f"{prefix}_USERNAME"] = kafka[name].admin_username
            credentials[f"{prefix}_PASSWORD"] = kafka[name].admin_password
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {**os.environ, **credentials, "DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(data_dir),
                   "SECRET_KEY": "cli-client-secret-key-0123456789abcdef", "TOPICDESK_PUBLIC_URL": base,
                   "TOPICDESK_AUDIT_POLL_SECONDS": "0.2", **(env or {})}
    topicdesk = [sys.executable, "-m", "topicdesk.cli"]
    commands = {
        "serve": [*topicdesk, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"],
        "reconcile": [*topicdesk, "reconcile", "--interval", "0.3", "--drift-interval", "3600"],
    }
    stack = CliStack(base, engine, kafka, {name: data_dir / f"{name}.log" for name in commands},
                     uuid.uuid4().hex[:6])
    try:
        for name, command in commands.items():
            with stack.logs[name].open("wb") as log_file:
                stack.processes[name] = subprocess.Popen(command, env=environment, cwd=REPO, stdout=log_file,
                                                         stderr=subprocess.STDOUT)
        wait_healthy(base, stack.check_alive, lambda: stack.log("serve"))
        yield stack
        stack.check_alive()
    finally:
        for process in stack.processes.values():
            stop_process(process)
        engine.dispose()


def git_repo(root: Path, name: str) -> Path:
    """A checkout whose origin is acme/<name> on GitHub: the CLI names file sources after it."""
    root.mkdir(parents=True, exist_ok=True)
    for args in (["init", "-q"], ["remote", "add", "origin", f"git@github.com:acme/{name}.git"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


def write(repo: Path, relative: str, content: dict[str, Any] | str) -> Path:
    path = repo / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
    return path


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The process failed with exit code 1 and exactly one `error:` line on stderr, no traceback."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]

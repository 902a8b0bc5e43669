"""A real Prometheus (Debian's binary) scrapes a real `topicdesk serve --workers 2` and a real
`topicdesk reconcile --metrics-port`, with docs/prometheus/rules.yml loaded; after a topic request is
applied on real Kafka, Prometheus's own query API shows the expected series with the expected
values. Both /metrics need the metrics token (TOPICDESK_METRICS_TOKEN), which Prometheus sends from a
credentials file. The server's stderr is JSON lines carrying the request ids we sent and no secret."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka.admin import AdminClient

from tests.kafka_clients import eventually
from tests.support import ServerProcesses, seed_teams, wait_healthy
from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import ClusterRow
from topicdesk.domain.identity import Role
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.local_oidc import stop_process
from topicdesk.ports import free_port
from topicdesk.services.tokens import create_token

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CLUSTER = "metrics-dev"
ME_CALLS = 24
METRICS_TOKEN = f"scrape-{uuid.uuid4().hex}"


@dataclass
class Observed(ServerProcesses):
    base: str
    prometheus: str
    reconciler_port: int
    multiproc_dir: Path
    logs: dict[str, Path]
    tokens: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def api(self, method: str, path: str, who: str, body: Any = None, **headers: str) -> requests.Response:
        return requests.request(method, f"{self.base}{path}", json=body, timeout=30,
                                headers={"Authorization": f"Bearer {self.tokens[who]}", **headers})

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def value(self, expr: str, expected: float, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll until `expr` has exactly one series with `expected` (scrapes come every second)."""
        def check() -> list[dict[str, Any]] | None:
            result = self.query(expr)
            if len(result) == 1 and float(result[0]["value"][1]) == expected:
                return result
            return None

        try:
            return eventually(check, timeout=timeout, interval=0.5)
        except AssertionError:
            raise AssertionError(f"{expr}: wanted one series = {expected}, Prometheus has {self.query(expr)}\n"
                                 f"reconciler log:\n{self.log('reconcile')[-2000:]}") from None


def _start_prometheus(directory: Path, server_port: int, reconciler_port: int) -> tuple[subprocess.Popen[bytes], str,
                                                                                         Path]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed: apt-get install prometheus (make system-deps)"
    port = free_port()
    (directory / "rules.yml").write_text((REPO / "docs" / "prometheus" / "rules.yml").read_text())
    token_file = directory / "metrics-token"
    token_file.write_text(METRICS_TOKEN)
    token_file.chmod(0o600)
    authorization = {"type": "Bearer", "credentials_file": str(token_file)}
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
        "rule_files": [str(directory / "rules.yml")],
        "scrape_configs": [
            {"job_name": "topicdesk", "authorization": authorization,
             "static_configs": [{"targets": [f"127.0.0.1:{server_port}"]}]},
            {"job_name": "topicdesk-reconciler", "authorization": authorization,
             "static_configs": [{"targets": [f"127.0.0.1:{reconciler_port}"]}]},
        ],
    }
    (directory / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    log = directory / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen([binary, f"--config.file={directory / 'prometheus.yml'}",
                                    f"--storage.tsdb.path={directory / 'data'}",
                                    f"--web.listen-address=127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{base}/-/ready", timeout=1).status_code == 200:
                return process, base, log
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            stop_process(process)
            raise AssertionError(f"prometheus was not ready within 30 s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def observed(kafka_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    data_dir = tmp_path_factory.mktemp("topicdesk-metrics")
    database_url = f"sqlite:///{data_dir / 'topicdesk.db'}"
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    seed_teams(engine)
    with unit_of_work(engine) as session:
        session.add(ClusterRow(name=CLUSTER, environment="dev", owner_team="payments",
                               bootstrap_servers=kafka_cluster.bootstrap, admin_secret_ref="env:METRICS_DEV_ADMIN"))
    tokens = {who: create_token(engine, team=team, name=who, role=role, actor="test").token
              for who, team, role in (("alice", "payments", Role.MEMBER), ("ada", "platform", Role.ADMIN))}
    engine.dispose()
    # A directory of our choosing, holding the values of "an earlier run": serve must empty it.
    multiproc = data_dir / "prometheus-multiproc"
    multiproc.mkdir()
    (multiproc / "counter_999999.db").write_bytes(b"not a metrics file")
    port, reconciler_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(data_dir),
           "METRICS_DEV_ADMIN_USERNAME": kafka_cluster.admin_username,
           "METRICS_DEV_ADMIN_PASSWORD": kafka_cluster.admin_password,
           "SECRET_KEY": "metrics-test-secret-key-0123456789abcdef", "TOPICDESK_AUDIT_POLL_SECONDS": "0.2",
           "TOPICDESK_LOG_FORMAT": "json", "TOPICDESK_WRITE_BURST": "1000", "TOPICDESK_METRICS_TOKEN": METRICS_TOKEN}
    topicdesk = [sys.executable, "-m", "topicdesk.cli"]
    commands = {
        "serve": ([*topicdesk, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate", "--workers", "2"],
                  {"PROMETHEUS_MULTIPROC_DIR": str(multiproc)}),
        "reconcile": ([*topicdesk, "reconcile", "--interval", "0.3", "--drift-interval", "3600",
                       "--cluster", CLUSTER], {"TOPICDESK_RECONCILER_METRICS_PORT": str(reconciler_port)}),
    }
    stack = Observed(f"http://127.0.0.1:{port}", "", reconciler_port, multiproc,
                     {name: data_dir / f"{name}.log" for name in commands}, tokens)
    prometheus: subprocess.Popen[bytes] | None = None
    try:
        for name, (command, extra) in commands.items():
            with stack.logs[name].open("wb") as log_file:
                stack.processes[name] = subprocess.Popen(command, env={**env, **extra}, cwd=REPO, stdout=log_file,
                                                         stderr=subprocess.STDOUT)
        wait_healthy(stack.base, stack.check_alive, lambda: stack.log("serve"))
        prometheus, stack.prometheus, _log = _start_prometheus(data_dir, port, reconciler_port)
        yield stack
        stack.check_alive()
    finally:
        if prometheus is not None:
            stop_process(prometheus)
        for process in stack.processes.values():
            stop_process(process)


def test_prometheus_sees_a_topic_request_applied_on_real_kafka(observed: Observed,
                                                               kafka_cluster: LocalCluster) -> None:
    observed.value('up{job="topicdesk"}', 1)
    observed.value('up{job="topicdesk-reconciler"}', 1)
    # Prometheus is let in with the token; anyone else gets a 401 problem, from both processes.
    for url in (f"{observed.base}/metrics", f"http://127.0.0.1:{observed.reconciler_port}/metrics"):
        for headers in ({}, {"Authorization": f"Bearer {observed.tokens['ada']}"}):
            refused = requests.get(url, headers=headers, timeout=10)
            assert refused.status_code == 401, (url, refused.text)
            assert refused.headers["Content-Type"].startswith("application/problem+json")
            assert "topicdesk_" not in refused.text
        assert "topicdesk_" in requests.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).text
    name = f"payments.metrics-{uuid.uuid4().hex[:8]}"
    submitted = observed.api("POST", "/api/v1/requests", "alice", {
        "kind": "topic.create", "cluster": CLUSTER, "spec": {"name": name, "partitions": 2, "replication_factor": 1}},
        **{"X-Request-ID": "metrics-test.submit-1"})
    assert submitted.status_code == 201, submitted.text
    assert submitted.headers["X-Request-ID"] == "metrics-test.submit-1"
    request_id = submitted.json()["id"]
    eventually(lambda: observed.api("GET", f"/api/v1/requests/{request_id}", "alice").json()["status"] == "applied"
               or None, timeout=60)
    admin = AdminClient(kafka_cluster.client_config())
    described = admin.list_topics(timeout=10).topics[name]
    assert len(described.partitions) == 2
    quota = observed.api("POST", "/api/v1/requests", "alice", {"kind": "quota.set", "cluster": CLUSTER, "spec": {
        "principal": "User:payments.app", "consumer_byte_rate": 209715200}})
    assert quota.json()["status"] == "pending_approval", quota.text
    for _ in range(ME_CALLS):
        assert observed.api("GET", "/api/v1/me", "alice").status_code == 200

    # The web server: requests, decisions and HTTP counts summed over both workers.
    observed.value('topicdesk_requests{kind="topic.create",status="applied",job="topicdesk"}', 1)
    observed.value('topicdesk_request_decision_seconds_count{kind="topic.create",outcome="auto_approved"}', 1)
    observed.value('topicdesk_approvals_waiting{kind="quota.set"}', 1)
    assert float(observed.query("topicdesk_approvals_oldest_age_seconds")[0]["value"][1]) >= 0
    observed.value('sum(topicdesk_http_requests_total{route="/api/v1/me",status="200"})', ME_CALLS)
    observed.value('sum(topicdesk_http_requests_total{route="/api/v1/requests",method="POST",status="201"})', 2)
    assert observed.query('topicdesk_http_requests_total{route=~".*payments.*"}') == []
    observed.value('topicdesk_database_up', 1)
    observed.value(f'topicdesk_resources{{cluster="{CLUSTER}",kind="topic",state="pending"}}', 0)
    observed.value(f'topicdesk_cluster_lease_held{{cluster="{CLUSTER}"}}', 1)
    reconciler_pid = observed.processes["reconcile"].pid
    holders = observed.value(f'topicdesk_cluster_lease_holder{{cluster="{CLUSTER}"}}', 1)
    assert holders[0]["metric"]["holder"].endswith(f":{reconciler_pid}")
    observed.value('topicdesk_audit_events_unchained', 0)

    # The reconciler's own port: the pass that applied it, and the request's time to applied.
    observed.value(f'topicdesk_reconcile_changes_total{{cluster="{CLUSTER}",change="create_topic",'
                   f'result="applied",job="topicdesk-reconciler"}}', 1)
    observed.value(f'topicdesk_reconcile_resources_total{{cluster="{CLUSTER}",kind="topic",result="applied"}}', 1)
    observed.value('topicdesk_request_settle_seconds_count{kind="topic.create",status="applied"}', 1)
    settle = observed.query('topicdesk_request_settle_seconds_sum{kind="topic.create",status="applied"}')
    assert 0 < float(settle[0]["value"][1]) < 60
    observed.value(f'topicdesk_reconcile_resources_parked_total{{cluster="{CLUSTER}",kind="topic"}}', 0)
    passes = observed.query(f'topicdesk_reconcile_passes_total{{cluster="{CLUSTER}",result="ok"}}')
    assert float(passes[0]["value"][1]) >= 1
    assert float(observed.query(f'time() - topicdesk_reconcile_last_pass_timestamp_seconds{{cluster="{CLUSTER}"}}')
                 [0]["value"][1]) < 30
    observed.value('sum(topicdesk_notification_deliveries_total{result="failed"})', 0)

    # The rules loaded and evaluate: recorded series exist, and no reconciler alert fires.
    observed.value(f'topicdesk:drift_differences:max{{cluster="{CLUSTER}"}}', 0)
    observed.value('topicdesk:approvals_waiting:max{kind="quota.set"}', 1)
    rules = requests.get(f"{observed.prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert all(rule["health"] == "ok" for group in rules for rule in group["rules"]), rules
    firing = [a["labels"]["alertname"] for a in requests.get(f"{observed.prometheus}/api/v1/alerts",
                                                             timeout=10).json()["data"]["alerts"]]
    assert "TopicdeskReconcilerStalled" not in firing
    assert "TopicdeskClusterNotReconciled" not in firing

    # Both workers answered and kept their own files; the stale file of "the earlier run" is gone.
    pids = {path.stem.rsplit("_", 1)[1] for path in observed.multiproc_dir.glob("counter_*.db")}
    assert "999999" not in pids
    assert len(pids) >= 2, pids


def test_server_and_reconciler_log_json_lines_with_request_ids_and_no_secret(
        observed: Observed, kafka_cluster: LocalCluster) -> None:
    observed.api("GET", "/api/v1/me", "alice", **{"X-Request-ID": "log-test.42"})
    observed.api("GET", "/api/v1/me", "alice", **{"X-Request-ID": "not a valid id"})

    def lines() -> list[dict[str, Any]] | None:
        parsed = [json.loads(line) for line in observed.log("serve").splitlines() if line.startswith("{")]
        return parsed if any(line.get("request_id") == "log-test.42" for line in parsed) else None

    parsed = eventually(lines, timeout=10)
    mine = next(line for line in parsed if line.get("request_id") == "log-test.42")
    assert {k: mine[k] for k in ("logger", "method", "route", "status", "principal")} == {
        "logger": "topicdesk.http", "method": "GET", "route": "/api/v1/me", "status": 200,
        "principal": "token:payments/alice"}
    assert mine["duration_ms"] >= 0
    assert not [line for line in parsed if line.get("request_id") == "not a valid id"]
    passes = [json.loads(line) for line in observed.log("reconcile").splitlines() if line.startswith("{")]
    applied = [line for line in passes if line.get("cluster") == CLUSTER and line.get("applied")]
    assert applied, observed.log("reconcile")[-2000:]
    assert {"resources", "failed", "retrying", "duration_ms", "error"} <= applied[0].keys()
    everything = observed.log("serve") + observed.log("reconcile")
    for secret in [*observed.tokens.values(), *(t.split("_", 2)[2] for t in observed.tokens.values()),
                   "metrics-test-secret-key-0123456789abcdef", kafka_cluster.admin_password, METRICS_TOKEN]:
        assert secret not in everything

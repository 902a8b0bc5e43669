"""`topicdesk demo` heals itself: kill -9 its reconciler, portal, OpenID provider and a broker, and each
comes back (a log line, a new pid) and works; the restarted reconciler applies a new request. Ctrl-C
then stops everything and leaves no JVM. One demo start (two real local clusters) for all of it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from confluent_kafka.admin import AdminClient

from tests.kafka_clients import eventually
from topicdesk.local_kafka import cluster as lk
from topicdesk.local_kafka.processes import is_zombie
from topicdesk.ports import free_port

REPO = Path(__file__).resolve().parents[2]
CHILDREN = {"reconciler": "the reconciler", "portal": "the portal", "provider": "the OpenID provider",
            "broker": "the broker of local cluster ingest-dev"}


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    base: str
    issuer: str
    data_dir: Path
    log_path: Path

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "local"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log())
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r} (demo exit code {self.process.poll()}):\n"
                             f"{self.log()[-6000:]}")

    def started_pid(self, child: str) -> int:
        return int(self.wait_for(rf"started {re.escape(child)} \(pid (\d+)\)").group(1))

    def token(self, team: str, role: str) -> str:
        for line in (self.data_dir / "demo-tokens.txt").read_text().splitlines():
            parts = line.split()
            if parts[:2] == [team, role]:
                return parts[2]
        raise AssertionError(f"no demo token for {team} {role}")

    def cluster(self, name: str) -> lk.LocalCluster:
        found = lk.load_state(self.state_dir, name)
        assert found is not None, name
        return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def _gone_within(pid: int, *, zombie_ok: bool = False) -> Callable[[], bool | None]:
    return lambda: _gone(pid) or (zombie_ok and is_zombie(pid)) or None


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data_dir = tmp_path_factory.mktemp("demo")
    port, oidc_port = free_port(), free_port()
    env = {**os.environ, "TOPICDESK_DATA_DIR": str(data_dir), "PORT": str(port), "OIDC_PORT": str(oidc_port),
           "SECRET_KEY": "demo-supervisor-secret-key-0123456789", "NO_COLOR": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO / "platform"), os.environ.get("PYTHONPATH", "")])}
    env.pop("DATABASE_URL", None)
    log_path = data_dir / "demo.log"
    with log_path.open("wb") as log_file:
        # Its own process group, like a shell job: Ctrl-C is then a SIGINT to the whole group.
        process = subprocess.Popen([sys.executable, "-m", "topicdesk.cli", "demo"], env=env, cwd=REPO,
                                   stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    running = Demo(process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{oidc_port}", data_dir, log_path)
    try:
        running.wait_for(r"Press Ctrl-C to stop everything", timeout=300)
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        lk.down(running.state_dir)


def test_what_dies_is_restarted_and_the_new_reconciler_applies_a_request(demo: Demo) -> None:
    token = demo.token("payments", "member")
    ingest = demo.cluster("ingest-dev")
    ingest_admin = AdminClient({**ingest.client_config(), "log_level": 0})
    # The seeded topic is on the broker's disk before the broker is killed: it must survive the restart.
    eventually(lambda: True if "ingest.clicks.raw" in ingest_admin.list_topics(timeout=5).topics else None,
               timeout=60)
    old = {key: demo.started_pid(name) for key, name in CHILDREN.items() if key != "broker"}
    assert ingest.pid is not None
    old["broker"] = ingest.pid
    for pid in old.values():
        os.kill(pid, signal.SIGKILL)

    new = {}
    for key, name in CHILDREN.items():
        demo.wait_for(rf"{re.escape(name)} \(pid {old[key]}\) was killed by SIGKILL after [\d.]+ s; "
                      rf"restarting in [\d.]+ s at \d\d:\d\d:\d\d \(failure 1\)")
        new[key] = int(demo.wait_for(rf"restarted {re.escape(name)} as pid (\d+)", timeout=90).group(1))
        assert new[key] != old[key]
    assert "reconcile" in _cmdline(new["reconciler"])
    assert "serve" in _cmdline(new["portal"])
    assert "topicdesk.local_oidc" in _cmdline(new["provider"])

    # The broker: reaped (no zombie left behind), the same config and data folder, answering again.
    assert eventually(lambda: _gone(old["broker"]) or None, timeout=10)
    restarted = demo.cluster("ingest-dev")
    assert restarted.pid == new["broker"]
    assert "kafka.Kafka" in _cmdline(new["broker"])
    assert str(ingest.config_file) in _cmdline(new["broker"])
    assert not is_zombie(new["broker"])
    legacy = demo.cluster("legacy-monolith")
    assert set(lk.find_jvms(demo.state_dir)) == {new["broker"], demo.cluster("payments-dev").pid,
                                                 *(n.pid for n in legacy.nodes)}
    fresh_admin = AdminClient({**restarted.client_config(), "log_level": 0})
    assert eventually(lambda: fresh_admin.describe_cluster(request_timeout=5).result(timeout=6).cluster_id,
                      timeout=90) == ingest.cluster_id
    assert "ingest.clicks.raw" in eventually(lambda: fresh_admin.list_topics(timeout=5).topics, timeout=30)

    # The OpenID provider and the portal answer again; the old processes are gone.
    discovery = eventually(lambda: _get_ok(f"{demo.issuer}/.well-known/openid-configuration"), timeout=30)
    assert discovery.json()["issuer"] == demo.issuer
    eventually(lambda: _get_ok(f"{demo.base}/healthz"), timeout=60)
    for pid in old.values():
        assert eventually(_gone_within(pid), timeout=15)

    # The restarted reconciler applies a request submitted after the crash.
    me = requests.get(f"{demo.base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200, me.text
    submitted = requests.post(f"{demo.base}/api/v1/requests", timeout=30, headers={"Authorization": f"Bearer {token}"},
                              json={"kind": "topic.create", "cluster": "payments-dev", "reason": "after a crash",
                                    "spec": {"name": "payments.healed.v1", "partitions": 3,
                                             "replication_factor": 1, "config": {"retention.ms": "3600000"},
                                             "description": "Applied by a restarted reconciler"}})
    assert submitted.status_code == 201, submitted.text
    request_id = submitted.json()["id"]

    def applied() -> dict[str, object] | None:
        body: dict[str, object] = requests.get(f"{demo.base}/api/v1/requests/{request_id}", timeout=10,
                                               headers={"Authorization": f"Bearer {token}"}).json()
        assert body["status"] not in ("failed", "denied"), body
        return body if body["status"] == "applied" else None

    eventually(applied, timeout=60)
    payments = AdminClient({**demo.cluster("payments-dev").client_config(), "log_level": 0})
    topic = payments.list_topics(topic="payments.healed.v1", timeout=10).topics["payments.healed.v1"]
    assert topic.error is None
    assert len(topic.partitions) == 3
    assert demo.process.poll() is None


def test_ctrl_c_stops_everything_and_leaves_no_jvm(demo: Demo) -> None:
    pids = [demo.started_pid(name) for key, name in CHILDREN.items() if key != "broker"]
    pids += [int(p) for p in re.findall(r"restarted .+? as pid (\d+)", demo.log())]
    clients = [demo.started_pid(f"the demo {role} on legacy-monolith") for role in ("producer", "consumer")]
    pids += clients
    # The live producer and consumer move records on the legacy cluster.
    eventually(lambda: True if re.search(r"delivered [1-9]\d*, failed 0",
                                         (demo.data_dir / "demo-producer.log").read_text()) else None, timeout=60)
    eventually(lambda: True if re.search(r"read [1-9]\d* records",
                                         (demo.data_dir / "demo-consumer.log").read_text()) else None, timeout=60)
    jvms = lk.find_jvms(demo.state_dir)
    assert len(jvms) == 5  # payments-dev, ingest-dev and the three nodes of legacy-monolith
    os.killpg(demo.process.pid, signal.SIGINT)
    assert demo.process.wait(timeout=90) == 0, demo.log()[-4000:]
    assert "stopped the portal, the reconciler, the OpenID provider and the local clusters" in demo.log()
    assert lk.find_jvms(demo.state_dir) == []
    # Whatever the demo started is gone (its last zombies are init's to reap once it has exited).
    for pid in [*jvms, *pids]:
        assert eventually(_gone_within(pid, zombie_ok=True), timeout=10), _cmdline(pid)
    assert all(status.running is False for status in lk.status(demo.state_dir, probe=False))


def _get_ok(url: str) -> requests.Response | None:
    try:
        response = requests.get(url, timeout=3)
    except requests.RequestException:
        return None
    return response if response.status_code == 200 else None

"""Notifications end to end on both databases: real changes on real Kafka cause events, a real
`topicdesk notify` process delivers them to a real HTTP receiver process (tests/notify_receiver.py),
signed as docs/notifications.md says; a receiver that is down gets everything once back; a
`kill -9` of the server after its commit, or of the deliverer mid-delivery, loses nothing, and the
repeat carries the same event id. CloudEvents bodies are read with the `cloudevents` library and
Slack bodies checked against the incoming-webhook message format."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    ResourceType,
)
from sqlmodel import select

from tests.integration.test_request_workflow import Api, build_api, topic_spec
from tests.kafka_clients import eventually
from tests.support import seed_teams, wait_healthy
from tests.unit.test_notifications import documented_recipe
from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import ClusterRow, NotificationOutboxRow
from topicdesk.app import create_app
from topicdesk.bootstrap import kafka_port_for
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.local_oidc import stop_process
from topicdesk.ports import free_port
from topicdesk.services.cluster_port import close_port
from topicdesk.services.drift import scan_cluster
from topicdesk.services.tokens import create_token

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ALL_TYPES = ["request.awaiting_approval", "request.decided", "request.applied", "request.failed", "drift.found",
             "topic.deletion_scheduled", "topic.quarantined", "access.expiring"]
# Retries every fraction of a second, no disabling: the tests wait on deliveries, not on the clock.
FAST_ENV = {"TOPICDESK_NOTIFY_BACKOFF_BASE_SECONDS": "0.2", "TOPICDESK_NOTIFY_BACKOFF_CAP_SECONDS": "1",
            "TOPICDESK_NOTIFY_POLL_SECONDS": "0.2", "TOPICDESK_NOTIFY_DISABLE_AFTER_FAILURES": "0",
            "TOPICDESK_NOTIFY_DISABLE_AFTER_SECONDS": "0", "TOPICDESK_NOTIFY_TIMEOUT_SECONDS": "5"}


@dataclass
class Receiver:
    """The receiver process on a fixed port, so it can be down and come back at the same URL."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def record(self) -> Path:
        return self.directory / "received.jsonl"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, *options: str) -> None:
        self.process = subprocess.Popen([sys.executable, str(REPO / "tests" / "notify_receiver.py"), "--port",
                                         str(self.port), "--record", str(self.record), *options],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == b"ready"

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            if self.process.stdout is not None:
                self.process.stdout.close()

    def hits(self, path: str | None = None) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        found = [json.loads(line) for line in self.record.read_text().splitlines() if line]
        return [hit for hit in found if path is None or hit["path"] == path]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    made = Receiver(tmp_path)
    yield made
    made.stop()


@pytest.fixture
def api(database_url: str, kafka_clusters: list[LocalCluster], tmp_path: Path) -> Iterator[Api]:
    built = build_api(database_url, kafka_clusters, tmp_path)
    yield built
    built.engine.dispose()


@pytest.fixture
def light_api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """The app on a migrated database with a registered cluster no test here connects to: the
    events these tests need (quota requests decided by policy) never reach Kafka."""
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    seed_teams(engine)
    with unit_of_work(engine) as session:
        session.add(ClusterRow(name="payments-dev", environment="dev", owner_team="payments",
                               bootstrap_servers="127.0.0.1:1", admin_secret_ref="env:UNUSED"))
    tokens = {"payments-owner": create_token(engine, team="payments", name="o", role=Role.OWNER, actor="t").token}
    app = create_app(Settings.from_env({"DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(tmp_path)}),
                     engine=engine)
    yield Api(app, engine, "payments-dev", "", tokens, f"payments.n{uuid.uuid4().hex[:6]}")
    engine.dispose()


def _env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "platform"), os.environ.get("PYTHONPATH", "")]),
            "DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(data_dir), **FAST_ENV, **extra}


def _notify(database_url: str, data_dir: Path, *args: str, **extra: str) -> subprocess.Popen[bytes]:
    """`topicdesk notify` as its own process (its log in data_dir/notify.log)."""
    with (data_dir / "notify.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "topicdesk.cli", "notify", *args], cwd=REPO,
                                env=_env(database_url, data_dir, **extra), stdout=log, stderr=subprocess.STDOUT)


def _notify_once(database_url: str, data_dir: Path) -> None:
    process = _notify(database_url, data_dir, "--once")
    assert process.wait(timeout=120) == 0, (data_dir / "notify.log").read_text()[-3000:]


def _subscribe(api: Api, who: str, team: str, url: str, event_types: list[str], format_: str = "cloudevents",
               **more: Any) -> dict[str, Any]:
    response = api.call(who, "POST", f"/api/v1/teams/{team}/notifications/subscriptions",
                        {"url": url, "event_types": event_types, "format": format_, **more})
    assert response.status_code == 201, response.json
    created: dict[str, Any] = response.json
    return created


# --- the payload formats, checked as a receiver would --------------------------------------------------

SLACK_BLOCK_TYPES = {"section", "header", "context", "divider", "actions", "image", "input", "rich_text", "file",
                     "video", "markdown"}
SLACK_MESSAGE_KEYS = {"text", "blocks", "attachments", "thread_ts", "mrkdwn", "username", "icon_emoji", "icon_url",
                      "channel", "unfurl_links", "unfurl_media"}


def assert_slack_message(message: dict[str, Any]) -> None:
    """An incoming-webhook message: text and/or blocks of known types within Slack's limits."""
    assert set(message) <= SLACK_MESSAGE_KEYS, set(message) - SLACK_MESSAGE_KEYS
    assert (isinstance(message.get("text"), str) and message["text"].strip()) or message.get("blocks")
    blocks = message.get("blocks", [])
    assert isinstance(blocks, list)
    assert len(blocks) <= 50
    for block in blocks:
        assert block["type"] in SLACK_BLOCK_TYPES, block
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert block["text"]["type"] in ("mrkdwn", "plain_text")
            assert 0 < len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(e["type"] in ("mrkdwn", "plain_text", "image") for e in block["elements"])


def assert_delivery(hit: dict[str, Any], secret: str, format_: str) -> str:
    """The hit is signed with the subscription's secret (the documented recipe) and well formed; its type."""
    headers = {k.lower(): v for k, v in hit["headers"].items()}
    body = hit["body"].encode()
    assert documented_recipe()(secret, headers["x-topicdesk-signature"], body), hit
    event_type = str(headers["x-topicdesk-event-type"])
    if format_ == "slack":
        assert headers["content-type"] == "application/json"
        assert_slack_message(json.loads(body))
    else:
        event = from_http_event(HTTPMessage(headers=hit["headers"], body=body))
        assert event.get_type() == "dev.topicdesk." + event_type
        assert event.get_id() == headers["webhook-id"]
        assert event.get_source() == "/topicdesk"
        assert event.get_data() is not None
    return event_type


# --- every event type -------------------------------------------------------------------------------------

def _approve_all(api: Api, request: dict[str, Any]) -> None:
    tokens = {"team:payments": "payments-owner", "team:ingest": "ingest-owner", "role:platform_admin": "admin"}
    for approver in request["decision"]["approvers"]:
        done = api.call(tokens[approver], "POST", f"/api/v1/requests/{request['id']}/approve", {})
        assert done.status_code == 200, done.json
        if done.json["status"] != "pending_approval":
            return


def test_every_event_type_reaches_the_subscribed_teams_signed(
    api: Api, receiver: Receiver, kafka_clusters: list[LocalCluster], database_url: str, tmp_path: Path,
) -> None:
    receiver.start()
    payments = _subscribe(api, "payments-owner", "payments", receiver.url("/payments"), ALL_TYPES)
    ingest = _subscribe(api, "ingest-owner", "ingest", receiver.url("/ingest"), ALL_TYPES, "slack")
    admins = _subscribe(api, "admin", "platform", receiver.url("/admins"), ["request.awaiting_approval"],
                        audience="platform_admins")
    topic = f"{api.prefix}.orders"
    # payments creates a topic: decided (by policy) and applied, to payments.
    created = api.submit("payments-member", "topic.create", topic_spec(api, "orders"))
    api.reconcile_until("payments-member", created["id"])
    # ingest asks to consume it: awaiting approval (payments), decided and applied (ingest).
    grant = api.submit("ingest-member", "access.grant", {"topic": topic, "principal": "User:ingest.reader",
                                                         "access": "consume", "group": "ingest.readers"})
    assert grant["status"] == "pending_approval"
    _approve_all(api, grant)
    api.reconcile_until("ingest-member", grant["id"])
    # A quota above the default awaits the platform admins.
    assert api.submit("payments-owner", "quota.set", {"principal": f"User:{api.prefix}.q",
                                                      "consumer_byte_rate": 209715200})["status"] == "pending_approval"
    # A time-bound grant of payments' own: announced as expiring to payments.
    short = api.submit("payments-member", "access.grant", {"topic": topic, "principal": f"User:{api.prefix}.tmp",
                                                           "access": "consume", "group": f"{api.prefix}.tmp",
                                                           "duration": "P1D"})
    api.reconcile_until("payments-member", short["id"])
    # The deliverer announces it (before the deletion below suspends the topic's grants) and sends
    # what is due so far; the rest goes out with the second run at the end.
    _notify_once(database_url, tmp_path)
    # Behind Topicdesk's back: retention changed (drift found) and partitions added, so that asking
    # for fewer partitions than the cluster has fails (request.failed).
    kafka = kafka_clusters[0]
    admin = AdminClient(kafka.client_config())
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)
    with unit_of_work(api.engine) as session:
        cluster = session.get(ClusterRow, api.payments_cluster)
        assert cluster is not None

    def drift_found() -> bool | None:
        port = kafka_port_for(cluster)
        try:
            scan = scan_cluster(api.engine, api.payments_cluster, port)
        finally:
            close_port(port)
        return True if any(topic in str(item["key"]) for item in scan.items) else None

    eventually(drift_found, timeout=30)
    for future in admin.create_partitions([NewPartitions(topic, 5)]).values():
        future.result(timeout=30)
    eventually(lambda: len(admin.list_topics(topic=topic, timeout=10).topics[topic].partitions) == 5 or None)
    failing = api.submit("payments-member", "topic.update", {"name": topic, "partitions": 4})
    if failing["status"] == "pending_approval":
        _approve_all(api, failing)
    api.reconcile_until("payments-member", failing["id"], status="failed")
    # payments deletes the topic ingest consumes: deletion scheduled, then quarantined, to ingest.
    deletion = api.submit("payments-member", "topic.delete", {"name": topic})
    if deletion["status"] == "pending_approval":
        _approve_all(api, deletion)

    _notify_once(database_url, tmp_path)

    secrets = {"/payments": (payments["secret"], "cloudevents"), "/ingest": (ingest["secret"], "slack"),
               "/admins": (admins["secret"], "cloudevents")}
    types: dict[str, set[str]] = {path: set() for path in secrets}
    ids = []
    for hit in receiver.hits():
        secret, format_ = secrets[hit["path"]]
        types[hit["path"]].add(assert_delivery(hit, secret, format_))
        ids.append(hit["headers"]["Webhook-Id"])
    assert len(ids) == len(set(ids)), "one delivery per event when the receiver answers at once"
    assert types["/payments"] >= {"request.decided", "request.applied", "request.awaiting_approval",
                                  "request.failed", "drift.found", "access.expiring"}, types
    assert types["/ingest"] >= {"request.decided", "request.applied", "topic.deletion_scheduled",
                                "topic.quarantined"}, types
    assert types["/admins"] == {"request.awaiting_approval"}
    history = api.call("payments-owner", "GET",
                       f"/api/v1/teams/payments/notifications/subscriptions/{payments['id']}/deliveries").json
    assert {item["result"] for item in history["items"]} == {"delivered"}
    assert len(history["items"]) == len(receiver.hits("/payments"))


# --- a receiver that is down for a while -------------------------------------------------------------------

def test_a_receiver_that_is_down_for_a_while_gets_every_event_once_it_is_back(
    light_api: Api, receiver: Receiver, database_url: str, tmp_path: Path,
) -> None:
    api = light_api
    hook = _subscribe(api, "payments-owner", "payments", receiver.url("/hook"), ["request.decided"])
    for n in range(5):
        api.submit("payments-owner", "quota.set", {"principal": f"User:{api.prefix}.q{n}", "producer_byte_rate": 1024})
    with unit_of_work(api.engine) as session:
        expected = {row.event_id for row in session.exec(select(NotificationOutboxRow)).all()}
    assert len(expected) == 5
    deliveries = f"/api/v1/teams/payments/notifications/subscriptions/{hook['id']}/deliveries?limit=500"
    notify = _notify(database_url, tmp_path)
    try:
        def failed_twice_each() -> bool | None:
            items = api.call("payments-owner", "GET", deliveries).json["items"]
            failures = [i["event_id"] for i in items if i["result"] == "unreachable"]
            return True if all(failures.count(e) >= 2 for e in expected) else None

        eventually(failed_twice_each, timeout=60, interval=0.3)
        assert receiver.hits() == []
        receiver.start()
        eventually(lambda: {h["headers"]["Webhook-Id"] for h in receiver.hits()} == expected or None, timeout=60)
    finally:
        stop_process(notify)
    shown = api.call("payments-owner", "GET", f"/api/v1/teams/payments/notifications/subscriptions/{hook['id']}").json
    assert (shown["enabled"], shown["pending_deliveries"], shown["consecutive_failures"]) == (True, 0, 0)
    for hit in receiver.hits():
        assert assert_delivery(hit, hook["secret"], "cloudevents") == "request.decided"


# --- kill -9: of the server after its commit, of the deliverer mid-delivery -----------------------------------

def test_nothing_is_lost_across_kill_9_and_the_repeat_carries_the_same_event_id(
    light_api: Api, receiver: Receiver, database_url: str, tmp_path: Path,
) -> None:
    api = light_api
    owner = create_token(api.engine, team="payments", name="kill9", role=Role.OWNER, actor="test",
                         expires_in=timedelta(days=1)).token
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "topicdesk.cli", "serve", "--host", "127.0.0.1", "--port",
                                   str(port), "--no-migrate"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                  env=_env(database_url, tmp_path, SECRET_KEY="kill9-secret-key-0123456789abcdef"))
    try:
        def alive() -> None:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]

        wait_healthy(base, alive, lambda: (tmp_path / "serve.log").read_text())
        auth = {"Authorization": f"Bearer {owner}"}
        hook = requests.post(f"{base}/api/v1/teams/payments/notifications/subscriptions", headers=auth, timeout=30,
                             json={"url": receiver.url("/hook"), "event_types": ["request.decided"]}).json()
        submitted = requests.post(f"{base}/api/v1/requests", headers=auth, timeout=30, json={
            "kind": "quota.set", "cluster": api.payments_cluster,
            "spec": {"principal": f"User:{api.prefix}.k9", "producer_byte_rate": 2048}})
        assert submitted.status_code == 201, submitted.text
        # The 201 came after the commit; the server dies before anything could deliver.
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
    finally:
        stop_process(server)
    with unit_of_work(api.engine) as session:
        [row] = session.exec(select(NotificationOutboxRow)).all()
        assert (row.status, row.attempts) == ("pending", 0)
        event_id = row.event_id

    # The first delivery hangs (the receiver answers only after a minute); its deliverer is killed.
    receiver.start("--slow-first", "1", "--slow-seconds", "60")
    first = _notify(database_url, tmp_path, TOPICDESK_NOTIFY_TIMEOUT_SECONDS="10", TOPICDESK_NOTIFY_CLAIM_SECONDS="12")
    try:
        eventually(lambda: len(receiver.hits()) == 1 or None, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop_process(first)
    # A fresh deliverer takes the row over once the dead one's claim (12 s) has run out, and delivers it again.
    second = _notify(database_url, tmp_path)
    try:
        def delivered() -> bool | None:
            with unit_of_work(api.engine) as session:
                return True if session.exec(select(NotificationOutboxRow)).one().status == "delivered" else None

        eventually(delivered, timeout=60, interval=0.2)
    finally:
        stop_process(second)
    hits = receiver.hits()
    assert [h["headers"]["Webhook-Id"] for h in hits] == [event_id, event_id]
    assert [h["headers"]["X-Topicdesk-Delivery-Attempt"] for h in hits] == ["1", "1"]
    for hit in hits:
        assert assert_delivery(hit, hook["secret"], "cloudevents") == "request.decided"
    assert json.loads(hits[0]["body"]) == json.loads(hits[1]["body"])

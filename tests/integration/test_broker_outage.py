"""A request while its cluster's broker is stopped shows that it is retrying and why, the topic
page answers from what was last seen, and once the broker is back the request is applied.

The broker belongs to a cluster started for this module alone: the shared session clusters keep
running for the other tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

from tests.support import register_cluster
from topicdesk import migrations
from topicdesk.adapters.db import make_engine
from topicdesk.app import create_app
from topicdesk.bootstrap import kafka_port_for
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.local_kafka import cluster as lk
from topicdesk.services.executor import ApplySettings
from topicdesk.services.reconcile import ReconcilerSettings
from topicdesk.services.reconcile_loop import run_once
from topicdesk.services.tokens import create_token

pytestmark = pytest.mark.integration

SETTINGS = ReconcilerSettings(backoff_initial=0.5, backoff_max=2.0, apply=ApplySettings(
    max_attempts=2, backoff_initial=0.1, readback_timeout=20))


@pytest.fixture(scope="module")
def outage_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[lk.LocalCluster, Path]]:
    state_dir = tmp_path_factory.mktemp("outage-kafka")
    try:
        (cluster,) = lk.up(["outage"], state_dir)
        yield cluster, state_dir
    finally:
        lk.down(state_dir)


def _port(cluster: Any, **_options: Any) -> Any:
    return kafka_port_for(cluster, request_timeout=3.0)


def test_a_stopped_broker_shows_retries_and_the_request_applies_once_it_is_back(
    outage_cluster: tuple[lk.LocalCluster, Path], tmp_path: Path,
) -> None:
    local, state_dir = outage_cluster
    url = f"sqlite:///{tmp_path / 'outage.db'}"
    migrations.upgrade(url)
    engine: Engine = make_engine(url)
    cluster = register_cluster(engine, local, "payments")
    token = create_token(engine, team="payments", name="m", role=Role.MEMBER, actor="t").token
    app = create_app(Settings.from_env({"DATABASE_URL": url, "TOPICDESK_DATA_DIR": str(tmp_path)}), engine=engine)
    client: FlaskClient = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    name = f"payments.outage{uuid.uuid4().hex[:6]}"
    submitted = client.post("/api/v1/requests", headers=headers, json={
        "kind": "topic.create", "cluster": cluster, "spec": {"name": name, "partitions": 2, "replication_factor": 1}})
    assert submitted.status_code == 201, submitted.json
    request_id = submitted.json["id"]  # type: ignore[index]
    assert submitted.json["status"] == "approved"  # type: ignore[index]

    assert lk.down(state_dir, ["outage"])  # the broker stops
    [report] = run_once(engine, _port, settings=SETTINGS, clusters=[cluster])
    assert report.retrying == 1, report
    view = client.get(f"/api/v1/requests/{request_id}", headers=headers).json
    assert view is not None
    assert view["status"] == "applying"
    assert view["attempts"] >= 1
    assert view["last_error"]["reason"] in {"unavailable", "timeout"}, view["last_error"]
    assert view["last_error"]["message"]
    assert view["next_attempt_at"] is not None
    events = [(h["status"], h.get("event")) for h in view["history"]]
    assert ("applying", "applying") in events
    assert ("applying", "retry") in events
    listed = client.get(f"/api/v1/requests?cluster={cluster}", headers=headers).json
    assert listed is not None
    [item] = [i for i in listed["items"] if i["id"] == request_id]
    assert (item["attempts"], item["last_error"], item["next_attempt_at"]) == (
        view["attempts"], view["last_error"], view["next_attempt_at"])

    # The topic page does not wait for the dead broker (its live read gives up after 1 s; the
    # client's own timeouts are tens of seconds). Loose: a loaded CI machine stalls threads.
    started = time.monotonic()
    page = client.get(f"/api/v1/clusters/{cluster}/topics/{name}", headers=headers).json
    assert time.monotonic() - started < 5.0
    assert page is not None
    assert page["stale"] is True
    assert page["observed_error"]

    (back,) = lk.up(["outage"], state_dir)
    assert back.bootstrap == local.bootstrap
    deadline = time.monotonic() + 90
    while True:
        run_once(engine, _port, settings=SETTINGS, clusters=[cluster])
        view = client.get(f"/api/v1/requests/{request_id}", headers=headers).json
        assert view is not None
        if view["status"] != "applying" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert view["status"] == "applied", view
    assert (view["last_error"], view["next_attempt_at"]) == (None, None)
    assert [h.get("event") for h in view["history"]][-1] == "applied"
    admin = AdminClient(back.client_config())
    topic = admin.list_topics(topic=name, timeout=15).topics[name]
    assert len(topic.partitions) == 2
    page = client.get(f"/api/v1/clusters/{cluster}/topics/{name}", headers=headers).json
    assert page is not None
    # Live (if the just restarted broker answers within a second) or the reconciler's read-back.
    assert page["observed"]["partitions"] == 2
    assert page["observed_at"] is not None
    engine.dispose()

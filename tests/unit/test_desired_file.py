"""Desired-state files: the requests that close the gap, and applying a file twice changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakes import FakeClusterPort
from tests.support import seed_teams
from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import ClusterRow
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.desired_file import CurrentState, CurrentTopic, requests_for
from topicdesk.domain.identity import Role
from topicdesk.services.reconcile import run_once
from topicdesk.services.tokens import create_token

FILE: dict[str, Any] = {
    "version": 1, "cluster": "payments-dev", "team": "payments",
    "topics": [
        {"name": "payments.a", "partitions": 3, "replication_factor": 1, "config": {"retention.ms": "86400000"},
         "producers": ["User:payments.w"]},
        {"name": "payments.b", "partitions": 6, "replication_factor": 1, "config": {"cleanup.policy": "compact"}},
    ],
    "grants": [{"topic": "ingest.clicks", "principal": "User:payments.reader", "access": "consume",
                "group": "payments.clicks"}],
    "quotas": [{"principal": "User:payments.w", "producer_byte_rate": 1048576}],
}


def test_the_gap_becomes_requests_and_nothing_else() -> None:
    current = CurrentState(
        topics={"payments.b": CurrentTopic("payments.b", 3, 1, {"retention.ms": "1000"}),
                "payments.old": CurrentTopic("payments.old", 1, 1, {})},
        grants=frozenset({("payments.b", "User:payments.gone", "produce", "", "", "literal")}),
        quotas={"User:payments.w": {"producer_byte_rate": 1048576.0, "consumer_byte_rate": 5.0}},
    )
    documents = requests_for(FILE, current)
    summary = [(d["kind"], d["spec"].get("name") or d["spec"].get("principal")) for d in documents]
    assert summary == [
        ("topic.create", "payments.a"),
        ("topic.update", "payments.b"),
        ("access.grant", "User:payments.reader"),
        ("access.revoke", "User:payments.gone"),
        ("quota.set", "User:payments.w"),
    ]
    update = documents[1]["spec"]
    assert update == {"name": "payments.b", "partitions": 6,
                      "config": {"cleanup.policy": "compact", "retention.ms": None}}
    assert documents[4]["spec"] == {"principal": "User:payments.w", "producer_byte_rate": 1048576,
                                    "consumer_byte_rate": None}
    # A topic the file no longer lists is deleted only when pruning.
    pruned = requests_for(FILE, current, prune=True)
    assert ("topic.delete", {"name": "payments.old"}) in [(d["kind"], d["spec"]) for d in pruned]


def test_applying_a_file_twice_submits_once_and_then_reports_in_sync(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed_teams(engine)
    with unit_of_work(engine) as session:
        session.add(ClusterRow(name="payments-dev", environment="dev", owner_team="payments",
                               bootstrap_servers="x:1", admin_secret_ref="env:X"))
    token = create_token(engine, team="payments", name="ci", role=Role.MEMBER, actor="t").token
    port = FakeClusterPort()
    app = create_app(Settings.from_env({"DATABASE_URL": url, "TOPICDESK_DATA_DIR": str(tmp_path)}), engine=engine,
                     port_factory=lambda _c, **_o: port)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    file = {k: v for k, v in FILE.items() if k != "grants"}

    preview = client.post("/api/v1/desired-state?dry_run=true", json=file, headers=headers).json
    assert preview is not None
    assert [c["decision"]["outcome"] for c in preview["changes"]] == ["auto_approved"] * 3
    applied = client.post("/api/v1/desired-state", json=file, headers=headers).json
    assert applied is not None
    assert [c["submitted"]["status"] for c in applied["changes"]] == ["approved"] * 3
    run_once(engine, lambda _c, **_o: port)
    assert port.topics["payments.b"].partitions == 6
    again = client.post("/api/v1/desired-state", json=file, headers=headers).json
    assert again is not None
    assert again["in_sync"] is True
    assert again["changes"] == []

    bad = client.post("/api/v1/desired-state", json={**file, "version": 2, "colour": "red"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json is not None
    assert sorted(e["path"] for e in bad.json["errors"]) == ["/colour", "/version"]

    # A time-bound grant in a file is refused with its path, not silently made permanent.
    timed = {**file, "grants": [{"topic": "payments.b", "principal": "User:payments.reader", "access": "consume",
                                 "group": "payments.readers", "duration": "P30D"}]}
    refused = client.post("/api/v1/desired-state?dry_run=true", json=timed, headers=headers)
    assert refused.status_code == 422
    assert refused.json is not None
    assert [e["path"] for e in refused.json["errors"]] == ["/grants/0/duration"]
    assert client.post("/api/v1/desired-state", json=file, headers=headers).json == again
    engine.dispose()

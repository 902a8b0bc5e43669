"""The demo's seed goes through the real workflow and leaves one request awaiting an owner and one
exception awaiting a platform admin (so erin's inbox is not empty)."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import RequestRow
from topicdesk.demo import seed, seed_requests
from topicdesk.local_kafka.cluster import LocalCluster


def _local(name: str, port: int, tmp_path: Path) -> LocalCluster:
    return LocalCluster(name=name, cluster_id="x", client_port=port, controller_port=port + 1,
                        admin_username="admin", admin_password="secret", controller_password="secret",
                        home=tmp_path / name, state_file=tmp_path / f"{name}.json")


def test_seed_is_idempotent_and_leaves_an_access_request_and_an_exception_pending(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    clusters = [_local("payments-dev", 19092, tmp_path), _local("ingest-dev", 19094, tmp_path)]
    seed(engine, clusters)
    seed(engine, clusters)
    assert seed_requests(engine) == 5
    assert seed_requests(engine) == 0
    with unit_of_work(engine) as session:
        rows = session.exec(select(RequestRow)).all()
        statuses = sorted((r.kind, r.status) for r in rows)
        pending = {r.spec.get("name", r.spec.get("topic")): r.approvers for r in rows if r.status == "pending_approval"}
    assert statuses == [("access.grant", "pending_approval"), ("topic.create", "approved"),
                        ("topic.create", "approved"), ("topic.create", "approved"),
                        ("topic.create", "pending_approval")]
    assert pending == {"payments.invoices.v1": ["team:payments"], "payments.settlements.v1": ["role:platform_admin"]}
    engine.dispose()

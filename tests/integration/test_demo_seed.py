"""The demo's seed goes through the real workflow and leaves one request awaiting an owner and one
exception awaiting a platform admin (so erin's inbox is not empty)."""

from __future__ import annotations

import dataclasses
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


def test_legacy_monolith_is_registered_once_as_applied_prod_state(tmp_path: Path) -> None:
    from topicdesk import demo_legacy
    from topicdesk.adapters.tables import AccessGrantRow, AuditEventRow, ClusterRow, ServiceAccountRow, TopicRow
    from topicdesk.local_kafka.cluster import LocalNode

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    teams = [_local("payments-dev", 19092, tmp_path), _local("ingest-dev", 19094, tmp_path)]
    nodes = tuple(LocalNode(i, 19300 + 2 * i, 19301 + 2 * i) for i in (1, 2, 3))
    legacy = dataclasses.replace(_local(demo_legacy.LEGACY_NAME, 19302, tmp_path), kafka_version="3.9.2",
                                 nodes=nodes, client_port=19302, controller_port=19303)
    seed(engine, [*teams, legacy])
    assert demo_legacy.register(engine, legacy) is True
    assert demo_legacy.register(engine, legacy) is False
    with unit_of_work(engine) as session:
        row = session.get(ClusterRow, "legacy-monolith")
        assert row is not None
        assert (row.environment, row.owner_team, row.broker_count) == ("prod", "platform", 3)
        assert row.bootstrap_servers == "127.0.0.1:19302,127.0.0.1:19304,127.0.0.1:19306"
        topics = session.exec(select(TopicRow).where(TopicRow.cluster == "legacy-monolith")).all()
        assert {t.owner_team for t in topics} == {"payments", "ingest"}
        assert all(t.replication_factor == 3 and t.config["min.insync.replicas"] == "2" for t in topics)
        # Applied state: nothing for the reconciler to do until someone changes it.
        assert all(t.generation == t.observed_generation for t in topics)
        grants = session.exec(select(AccessGrantRow).where(AccessGrantRow.cluster == "legacy-monolith")).all()
        assert sorted((g.access, g.topic) for g in grants) == sorted(
            (a, t.name) for t in demo_legacy.LEGACY_TOPICS for a in ("consume", "produce"))
        accounts = session.exec(select(ServiceAccountRow).where(ServiceAccountRow.cluster == "legacy-monolith"))
        assert len(accounts.all()) == 6
        events = session.exec(select(AuditEventRow).where(AuditEventRow.action == "cluster:register")).all()
        assert [e.subject for e in events] == ["cluster:legacy-monolith"]
    engine.dispose()

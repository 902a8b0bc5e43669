"""Time-bound access end to end: expires_at stored on both databases, and on real Kafka a 10-second
grant lets its principal in, then the reconciler loop revokes it soon after it ends and Kafka
denies the principal, while a live grant needing the same bindings and a renewed grant keep access."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError
from sqlalchemy import update
from sqlmodel import select

from tests.integration.test_request_workflow import Api, build_api, topic_spec
from tests.kafka_clients import as_user, consume_one, eventually, produce_one
from tests.support import add_offline_cluster, member_client
from topicdesk import migrations
from topicdesk.adapters.audit_log import sequence
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import AccessGrantRow, AuditEventRow, ClusterRow, RequestResourceRow, utcnow
from topicdesk.bootstrap import kafka_port_for
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services import tokens
from topicdesk.services.expiry import expire_due_grants
from topicdesk.services.reconcile_loop import run_forever

INTERVAL = 30.0  # the loop's interval: revocation must come long before it, woken by the expiry


def _grant(api: Api, principal: str, group: str, duration: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"topic": f"{api.prefix}.orders", "principal": principal, "access": "consume",
                            "group": group}
    if duration:
        spec["duration"] = duration
    return api.submit("payments-member", "access.grant", spec)


def _row(api: Api, principal: str, group: str) -> AccessGrantRow:
    with unit_of_work(api.engine) as session:
        return session.exec(select(AccessGrantRow).where(AccessGrantRow.principal == principal,
                                                         AccessGrantRow.group_id == group)).one()


@pytest.fixture
def api(database_url: str, kafka_clusters: list[LocalCluster], tmp_path: Path) -> Iterator[Api]:
    built = build_api(database_url, kafka_clusters, tmp_path)
    yield built
    built.engine.dispose()


def test_a_ten_second_grant_is_revoked_after_it_ends_and_kafka_denies_the_principal(
    api: Api, kafka_clusters: list[LocalCluster],
) -> None:
    kafka = kafka_clusters[0]
    cluster = api.payments_cluster
    accounts = {}
    for name in ("writer", "solo", "shared", "renewed"):
        response = api.call("payments-owner", "POST", f"/api/v1/clusters/{cluster}/service-accounts",
                            {"name": f"{api.prefix}.{name}"})
        assert response.status_code == 201, response.json
        accounts[name] = response.json
    topic = f"{api.prefix}.orders"
    created = api.submit("payments-member", "topic.create", topic_spec(api, "orders",
                                                                        producers=[accounts["writer"]["principal"]]))
    api.reconcile_until("payments-member", created["id"])
    writer = as_user(kafka, accounts["writer"]["principal"], accounts["writer"]["password"])
    assert eventually(lambda: produce_one(writer, topic, b"order-1") is None or None) is True

    solo, shared, renewed = (accounts[n]["principal"] for n in ("solo", "shared", "renewed"))
    groups = {n: f"{api.prefix}.{n}" for n in ("solo", "short", "long", "renewed")}
    requests = [_grant(api, solo, groups["solo"], "PT10S"), _grant(api, shared, groups["short"], "PT10S"),
                _grant(api, shared, groups["long"], None), _grant(api, renewed, groups["renewed"], "PT10S")]
    for request in requests:
        api.reconcile_until("payments-member", request["id"])
    # Renewal before the end: the grant's expiry moves a day out; its ACLs are not touched.
    before = _row(api, renewed, groups["renewed"])
    again = _grant(api, renewed, groups["renewed"], "P1D")
    assert again["status"] == "applied"
    after = _row(api, renewed, groups["renewed"])
    assert after.generation == before.generation
    assert after.expires_at is not None
    assert after.expires_at > utcnow() + timedelta(hours=23)

    def consumer(name: str, group: str) -> dict[str, Any]:
        return as_user(kafka, accounts[name]["principal"], accounts[name]["password"], **{"group.id": group})

    assert consume_one(consumer("solo", groups["solo"]), topic) == b"order-1"
    assert consume_one(consumer("shared", groups["short"]), topic) == b"order-1"
    ends = _row(api, solo, groups["solo"]).expires_at
    assert ends is not None

    stop = threading.Event()
    loop = threading.Thread(target=run_forever, args=(api.engine, kafka_port_for), daemon=True, kwargs={
        "interval": INTERVAL, "clusters": [cluster], "stop": stop.is_set, "sleep": stop.wait,
        "drift_interval": 1e9})
    started = utcnow()
    loop.start()
    try:
        def revoked(principal: str, group: str) -> AccessGrantRow | None:
            row = _row(api, principal, group)
            return row if row.deleted and row.observed_generation == row.generation else None

        eventually(lambda: revoked(solo, groups["solo"]), timeout=INTERVAL, interval=0.2)
        lag = (utcnow() - max(ends, started)).total_seconds()
        # One pass after the later of the end and the loop's start: far less than the interval.
        assert lag < 8, f"revoked {lag:.1f} s after the grant ended (loop started {started}, grant ended {ends})"
        # The shared principal's short grant was approved a little later, so it may end a little later.
        short_ends = _row(api, shared, groups["short"]).expires_at
        assert short_ends is not None
        eventually(lambda: revoked(shared, groups["short"]), timeout=INTERVAL, interval=0.2)
        short_lag = (utcnow() - max(short_ends, started)).total_seconds()
        assert short_lag < 8, f"the short grant was revoked {short_lag:.1f} s after it ended"

        def denied(name: str, group: str) -> KafkaError | None:
            outcome = consume_one(consumer(name, group), topic)
            return outcome if isinstance(outcome, KafkaError) else None

        error = eventually(lambda: denied("solo", groups["solo"]))
        assert error.code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)
        # The expired grant's group binding is gone; the topic bindings stay for the live grant.
        error = eventually(lambda: denied("shared", groups["short"]))
        assert error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED
        assert consume_one(consumer("shared", groups["long"]), topic) == b"order-1"
        assert consume_one(consumer("renewed", groups["renewed"]), topic) == b"order-1"
        acls = {(b.principal, b.resource_type.value, b.resource_name) for b in
                kafka_port_for(_cluster(api)).describe([topic]).acls}
        assert (shared, "topic", topic) in acls
        assert (shared, "group", groups["short"]) not in acls
        assert not [a for a in acls if a[0] == solo]
    finally:
        stop.set()
        loop.join(timeout=60)
    assert not loop.is_alive()

    sequence(api.engine)
    with unit_of_work(api.engine) as session:
        events = session.exec(select(AuditEventRow).where(AuditEventRow.action == "access_grant:expire")).all()
    assert {(e.subject.rsplit("/", 1)[-1], e.team) for e in events} == {
        (f"group={groups['solo']}", "payments"), (f"group={groups['short']}", "payments")}


def _cluster(api: Api) -> ClusterRow:
    with unit_of_work(api.engine) as session:
        row = session.get(ClusterRow, api.payments_cluster)
        assert row is not None
        return row


# --- storage on both databases, without Kafka --------------------------------------------------------

def test_expires_at_is_stored_renewed_revived_and_swept_on_both_databases(database_url: str, tmp_path: Path) -> None:
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    add_offline_cluster(engine)
    client, token = member_client(engine, database_url, tmp_path)

    def submit(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        response = client.post("/api/v1/requests", json={"kind": kind, "cluster": "payments-dev", "spec": spec},
                               headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.json
        body = response.json
        assert isinstance(body, dict)
        return body

    def grant() -> AccessGrantRow:
        with unit_of_work(engine) as session:
            return session.exec(select(AccessGrantRow)).one()

    def links(request_id: str) -> set[tuple[str, int]]:
        with unit_of_work(engine) as session:
            return {(r.resource_kind, r.generation) for r in session.exec(
                select(RequestResourceRow).where(RequestResourceRow.request_id == request_id)).all()}

    def observe() -> None:
        with unit_of_work(engine) as session:
            session.execute(update(AccessGrantRow).values(observed_generation=AccessGrantRow.generation))

    try:
        spec = {"topic": "payments.events", "principal": "User:payments.reader", "access": "consume",
                "group": "payments.readers"}
        start = utcnow()
        first = submit("access.grant", {**spec, "duration": "PT90M"})
        row = grant()
        assert row.expires_at is not None
        assert start + timedelta(minutes=90) <= row.expires_at <= utcnow() + timedelta(minutes=90)
        assert row.expires_at.utcoffset() == timedelta(0)
        assert links(first["id"]) == {("access_grant", 1)}
        observe()

        end = (utcnow() + timedelta(days=3)).replace(microsecond=0)
        renewal = submit("access.grant", {**spec, "expires_at": end.isoformat()})
        assert renewal["status"] == "applied"
        assert links(renewal["id"]) == set()
        assert (grant().expires_at, grant().generation) == (end, 1)

        # A topic.create naming the consumer (the one-statement store on PostgreSQL) declares the
        # owner team's own access: no expiry, and nothing to wait for on the applied grant.
        created = submit("topic.create", {"name": "payments.events", "partitions": 1, "replication_factor": 1,
                                          "consumers": [{"principal": spec["principal"], "group": spec["group"]}]})
        assert links(created["id"]) == {("topic", 1)}
        assert (grant().expires_at, grant().generation) == (None, 1)

        submit("access.grant", {**spec, "duration": "PT1S"})
        with unit_of_work(engine) as session:
            session.execute(update(AccessGrantRow).values(expires_at=utcnow() - timedelta(seconds=1)))
        assert expire_due_grants(engine, "payments-dev", actor="test") == 1
        assert expire_due_grants(engine, "payments-dev", actor="test") == 0
        assert (grant().deleted, grant().generation) == (True, 2)

        revived = submit("access.grant", {**spec, "duration": "P1D"})
        assert links(revived["id"]) == {("access_grant", 3)}
        row = grant()
        assert (row.deleted, row.generation) == (False, 3)
        assert row.expires_at is not None
        assert row.expires_at > utcnow() + timedelta(hours=23)
    finally:
        tokens.TOKEN_CACHE.clear()
        engine.dispose()

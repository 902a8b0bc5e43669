"""The stale report on real Kafka, on SQLite and PostgreSQL: observations gathered from a real cluster
(real writes, a real group commit), "now" moved ahead instead of sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_request_workflow import Api, build_api, topic_spec
from tests.kafka_clients import as_user, consume_and_commit, eventually, produce_one
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import ClusterRow, GroupCommitObservationRow, utcnow
from topicdesk.bootstrap import kafka_port_for
from topicdesk.domain.identity import Identity, Role
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services.stale import gather_usage, stale_report

PAYMENTS = Identity("payments-member", {"payments": Role.MEMBER})


@pytest.fixture
def api(database_url: str, kafka_clusters: list[LocalCluster], tmp_path: Path) -> Iterator[Api]:
    built = build_api(database_url, kafka_clusters, tmp_path)
    yield built
    built.engine.dispose()


def _account(api: Api, name: str) -> dict[str, Any]:
    response = api.call("payments-owner", "POST", f"/api/v1/clusters/{api.payments_cluster}/service-accounts",
                        {"name": name})
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json
    return body


def _report(api: Api, **kwargs: Any) -> dict[str, Any]:
    with unit_of_work(api.engine) as session:
        return stale_report(session, PAYMENTS, cluster=api.payments_cluster, **kwargs)


def _gather(api: Api, **kwargs: Any) -> None:
    with unit_of_work(api.engine) as session:
        cluster = session.get(ClusterRow, api.payments_cluster)
        assert cluster is not None
    port = kafka_port_for(cluster, request_timeout=10)
    try:
        gather_usage(api.engine, port, api.payments_cluster, **kwargs)
    finally:
        port.close()  # type: ignore[attr-defined]


def _unused(report: dict[str, Any], topic: str) -> dict[str, tuple[str, str]]:
    return {g["principal"]: (g["status"], g["reason"]) for g in report["unused_grants"] if g["topic"] == topic}


def test_written_topics_committed_groups_and_the_observation_history_on_real_kafka(
    api: Api, kafka_clusters: list[LocalCluster],
) -> None:
    local = kafka_clusters[0]
    writer, reader, idle = (_account(api, f"{api.prefix}.{n}") for n in ("writer", "reader", "idle"))
    group, idle_group = f"{api.prefix}.readers", f"{api.prefix}.idlers"
    spec = topic_spec(api, "stale", producers=[writer["principal"]],
                      consumers=[{"principal": reader["principal"], "group": group},
                                 {"principal": idle["principal"], "group": idle_group}])
    api.reconcile_until("payments-member", api.submit("payments-member", "topic.create", spec)["id"])
    topic = spec["name"]
    producer = as_user(local, writer["principal"], writer["password"])
    assert eventually(lambda: produce_one(producer, topic, b"one") is None or None) is True
    consumer = as_user(local, reader["principal"], reader["password"], **{"group.id": group})
    assert consume_and_commit(consumer, topic) == 1

    # Gathered through the API (one bulk call to the real cluster), then answered from the store.
    refreshed = api.call("payments-owner", "POST", f"/api/v1/reports/stale/refresh?cluster={api.payments_cluster}"
                                                   "&days=1")
    assert refreshed.status_code == 200, refreshed.json
    assert topic not in [t["topic"] for t in refreshed.json["stale_topics"]]
    with unit_of_work(api.engine) as session:
        first = session.get(GroupCommitObservationRow, (api.payments_cluster, topic, group))
        assert first is not None
    assert first.committed_offsets == 1
    assert first.first_seen_at == first.changed_at == first.seen_at
    assert _unused(refreshed.json, topic)[reader["principal"]] == ("unknown_since", "first_seen_recently")

    # Recorded again, the commit unchanged: changed_at stays where it was.
    _gather(api, now=first.seen_at + timedelta(hours=1))
    with unit_of_work(api.engine) as session:
        second = session.get(GroupCommitObservationRow, (api.payments_cluster, topic, group))
        assert second is not None
    assert (second.first_seen_at, second.changed_at) == (first.first_seen_at, first.changed_at)
    assert second.seen_at == first.seen_at + timedelta(hours=1)

    now = utcnow()
    assert topic not in [t["topic"] for t in _report(api, days=1, now=now)["stale_topics"]]
    later = _report(api, days=1, now=now + timedelta(days=2))
    [stale] = [t for t in later["stale_topics"] if t["topic"] == topic]
    assert stale["reason"] == "no_writes"
    assert stale["last_write_at"] is not None
    assert stale["partitions"] == 3
    assert stale["request"] == {"kind": "topic.delete", "cluster": api.payments_cluster, "spec": {"name": topic},
                                "reason": "stale: no writes for 1 day (stale report)"}
    unused = _unused(later, topic)
    # The reader committed and is caught up: not unused. The idle group never committed: unused.
    assert reader["principal"] not in unused
    assert unused[idle["principal"]] == ("unused", "no_commits")
    assert unused[writer["principal"]] == ("unused", "no_writes")

    # Written again, and the reader's commit does not move: after a day it is unused too.
    assert produce_one(producer, topic, b"two") is None
    _gather(api, now=now + timedelta(days=2))
    with unit_of_work(api.engine) as session:
        third = session.get(GroupCommitObservationRow, (api.payments_cluster, topic, group))
        assert third is not None
    # (Lag counts only partitions the group committed on; the new record may be on another one.)
    assert (third.changed_at, third.committed_offsets) == (first.changed_at, 1)
    assert _unused(_report(api, days=1, now=now + timedelta(days=3)), topic)[reader["principal"]] == (
        "unused", "commits_not_moving")

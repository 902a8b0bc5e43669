"""Per-change outcomes on real Kafka: a request restoring a drifted topic changes retention (applied,
read back from the broker) and asks for fewer partitions (refused); the request says both."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]
from sqlalchemy.engine import Engine

from tests.support import register_cluster
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import RequestResourceRow, RequestRow, TopicRow
from topicdesk.bootstrap import kafka_port_for
from topicdesk.domain.identity import Identity, Role
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services.queries import get_request
from topicdesk.services.reconcile_loop import run_once

pytestmark = pytest.mark.integration
ADMIN = Identity("root", {"platform": Role.ADMIN}, platform_admin=True)


def test_retention_is_applied_and_the_partition_decrease_refused(engine: Engine, kafka_cluster: LocalCluster) -> None:
    cluster = register_cluster(engine, kafka_cluster, "payments")
    name = f"payments.restore{uuid.uuid4().hex[:6]}"
    admin = AdminClient(kafka_cluster.client_config())
    # Drifted: someone added partitions and changed retention behind Topicdesk's back.
    for future in admin.create_topics([NewTopic(name, num_partitions=4, replication_factor=1,
                                                config={"retention.ms": "1000"})]).values():
        future.result(timeout=30)
    with unit_of_work(engine) as session:
        topic = TopicRow(cluster=cluster, name=name, owner_team="payments", partitions=2, replication_factor=1,
                         config={"retention.ms": "86400000"}, managed_config_keys=["retention.ms"])
        request = RequestRow(kind="topic.update", cluster=cluster, spec={"name": name}, requested_by="bob",
                             requester_team="payments", owner_team="payments", status="approved")
        session.add(topic)
        session.add(request)
        session.flush()
        session.add(RequestResourceRow(request_id=request.id, resource_kind="topic", resource_id=topic.id,
                                       generation=1))
        request_id = request.id

    run_once(engine, lambda row, **_o: kafka_port_for(row), clusters=[cluster])

    resource = ConfigResource("topic", name)
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["retention.ms"].value == "86400000"
    assert len(admin.list_topics(topic=name, timeout=15).topics[name].partitions) == 4
    with unit_of_work(engine) as session:
        view = get_request(session, ADMIN, request_id)
    assert view["status"] == "failed"
    assert view["partial"] is True
    [entry] = view["outcomes"]
    statuses = {c["change"]: c["status"] for c in entry["changes"]}
    assert statuses == {"alter_topic_config": "applied", "partition_decrease": "refused"}
    assert view["error"]["reason"] == "refused"
    assert "applied: alter_topic_config" in view["error"]["message"]
    assert "partition_decrease" in view["error"]["message"]
    assert view["history"][-1]["status"] == "failed"

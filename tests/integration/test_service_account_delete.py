"""Deleting a service account on real Kafka: the list shows its grants and quota first, the delete
takes them with it (same transaction, audited), and after a reconcile pass the SCRAM credential,
the account's ACLs and its quota are gone from the cluster, so the principal can no longer connect."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError
from sqlmodel import col, select

from tests.integration.test_request_workflow import Api, build_api, observed, topic_spec
from tests.kafka_clients import as_user, authenticates, eventually
from topicdesk.adapters.audit_log import sequence
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import AccessGrantRow, AuditEventRow, ClientQuotaRow, ServiceAccountRow
from topicdesk.bootstrap import kafka_port_for
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.services.reconcile_loop import run_once


@pytest.fixture
def api(database_url: str, kafka_clusters: list[LocalCluster], tmp_path: Path) -> Iterator[Api]:
    built = build_api(database_url, kafka_clusters, tmp_path)
    yield built
    built.engine.dispose()


def _accounts(api: Api, who: str) -> list[dict[str, Any]]:
    response = api.call(who, "GET", f"/api/v1/clusters/{api.payments_cluster}/service-accounts")
    assert response.status_code == 200, response.json
    items: list[dict[str, Any]] = response.json["items"]
    return items


def test_a_deleted_service_account_loses_its_grants_quota_and_credential_on_kafka(
    api: Api, kafka_clusters: list[LocalCluster],
) -> None:
    kafka, cluster = kafka_clusters[0], api.payments_cluster
    created = api.call("payments-owner", "POST", f"/api/v1/clusters/{cluster}/service-accounts",
                       {"name": f"{api.prefix}.reader"})
    assert created.status_code == 201, created.json
    principal, password = created.json["principal"], created.json["password"]
    group = f"{api.prefix}.readers"
    topic = api.submit("payments-member", "topic.create", topic_spec(
        api, "orders", consumers=[{"principal": principal, "group": group}]))
    api.reconcile_until("payments-member", topic["id"])
    quota = api.submit("payments-owner", "quota.set", {"principal": principal, "consumer_byte_rate": 1048576})
    api.reconcile_until("payments-owner", quota["id"])
    assert authenticates(as_user(kafka, principal, password)) is None

    # What the portal shows before the delete: the grant that will go and the quota, both applied.
    [account] = [a for a in _accounts(api, "payments-member") if a["principal"] == principal]
    assert [(g["topic"], g["access"], g["group"], g["status"]) for g in account["grants"]] == [
        (f"{api.prefix}.orders", "consume", group, "applied")]
    assert account["quota"] | {"applied_at": None} == {
        "producer_byte_rate": None, "consumer_byte_rate": 1048576, "request_percentage": None,
        "status": "applied", "last_error": None, "managed_by": None, "applied_at": None}
    assert account["pending_quota_request"] is None

    path = f"/api/v1/clusters/{cluster}/service-accounts/{principal}"
    assert api.call("payments-member", "DELETE", path).status_code == 403
    assert api.call("ingest-owner", "DELETE", path).status_code == 404
    assert api.call("payments-owner", "DELETE", path).status_code == 204
    assert principal not in [a["principal"] for a in _accounts(api, "payments-owner")]
    with unit_of_work(api.engine) as session:
        grant = session.exec(select(AccessGrantRow).where(AccessGrantRow.principal == principal)).one()
        stored_quota = session.exec(select(ClientQuotaRow).where(ClientQuotaRow.principal == principal)).one()
        assert grant.deleted
        assert stored_quota.deleted
    sequence(api.engine)
    with unit_of_work(api.engine) as session:
        actions = [e.action for e in session.exec(select(AuditEventRow).where(
            col(AuditEventRow.subject).contains(principal) | col(AuditEventRow.subject).contains(grant.id)))]
    assert {"service_account:delete", "access_grant:delete"} <= set(actions)

    def gone() -> bool | None:
        run_once(api.engine, kafka_port_for)
        with unit_of_work(api.engine) as session:
            rows = [*session.exec(select(ServiceAccountRow).where(ServiceAccountRow.principal == principal)),
                    *session.exec(select(AccessGrantRow).where(AccessGrantRow.principal == principal)),
                    *session.exec(select(ClientQuotaRow).where(ClientQuotaRow.principal == principal))]
        return all(r.observed_generation == r.generation for r in rows) or None

    eventually(gone, timeout=30, interval=0.3)
    state = observed(api, f"{api.prefix}.orders")
    assert principal not in state.scram_users
    assert principal not in state.quotas
    assert not [b for b in state.acls if b.principal == principal]
    # Read back from the broker, not our rows: the principal cannot authenticate any more.
    refused = authenticates(as_user(kafka, principal, password))
    assert refused is not None
    assert refused.code() in (KafkaError._AUTHENTICATION, KafkaError._TRANSPORT), refused

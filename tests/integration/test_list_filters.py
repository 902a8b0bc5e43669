"""The filters of GET /api/v1/requests and GET /api/v1/audit on both databases: what each keeps, paging
through a filtered list, a team's requests including its API tokens', and one 422 for bad values."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_request_workflow import Api, build_api, topic_spec
from topicdesk.adapters.audit_log import record_event, sequence
from topicdesk.adapters.db import unit_of_work
from topicdesk.local_kafka.cluster import LocalCluster


@pytest.fixture
def api(database_url: str, kafka_clusters: list[LocalCluster], tmp_path: Path) -> Iterator[Api]:
    built = build_api(database_url, kafka_clusters, tmp_path)
    yield built
    built.engine.dispose()


def ids(api: Api, who: str, query: str) -> list[str]:
    response = api.call(who, "GET", f"/api/v1/requests?{query}")
    assert response.status_code == 200, response.json
    return [item["id"] for item in response.json["items"]]


def events(api: Api, who: str, query: str) -> list[dict[str, Any]]:
    response = api.call(who, "GET", f"/api/v1/audit?{query}")
    assert response.status_code == 200, response.json
    items: list[dict[str, Any]] = response.json["items"]
    return items


def test_request_filters_keep_what_they_name_and_a_team_includes_its_tokens(api: Api) -> None:
    # Tokens act for their team: the owner token's quota and topic are the payments team's requests.
    quota = api.submit("payments-owner", "quota.set", {"principal": f"User:{api.prefix}.q", "producer_byte_rate": 1024})
    topic = api.submit("payments-member", "topic.create", topic_spec(api, "orders"))
    ingest = api.submit("ingest-member", "quota.set", {"principal": "User:ingest.q", "producer_byte_rate": 1024},
                        cluster=api.ingest_cluster)

    assert ids(api, "payments-member", "team=payments") == [topic["id"], quota["id"]]
    assert ids(api, "payments-member", "kind=quota.set") == [quota["id"]]
    assert ids(api, "payments-member", "kind=quota.set&mine=true") == []
    assert ids(api, "payments-owner", "kind=quota.set&mine=true") == [quota["id"]]
    assert ids(api, "payments-member", f"cluster={api.ingest_cluster}") == []  # not theirs to see
    assert ids(api, "admin", f"cluster={api.ingest_cluster}") == [ingest["id"]]
    assert ids(api, "admin", "team=ingest&kind=quota.set") == [ingest["id"]]
    assert ids(api, "payments-member", "team=ingest") == []
    assert ids(api, "payments-member", f"status={topic['status']}&kind=topic.create") == [topic["id"]]

    # Paging a filtered list: each page holds only matching requests, and the pages add up.
    first = api.call("admin", "GET", "/api/v1/requests?kind=quota.set&limit=1").json
    assert [i["id"] for i in first["items"]] == [ingest["id"]]
    second = api.call("admin", "GET", f"/api/v1/requests?kind=quota.set&limit=1&cursor={first['next_cursor']}").json
    assert [i["id"] for i in second["items"]] == [quota["id"]]
    assert second["next_cursor"] is None


def test_bad_request_filters_are_one_422_naming_each_and_limit_is_bounded(api: Api) -> None:
    response = api.call("payments-member", "GET", f"/api/v1/requests?kind=topic.rename&status=done&mine=maybe"
                        f"&team={'x' * 65}")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert sorted(e["path"] for e in response.json["errors"]) == [
        "/query/kind", "/query/mine", "/query/status", "/query/team"]
    assert api.call("payments-member", "GET", "/api/v1/requests?limit=501").status_code == 422
    assert api.call("payments-member", "GET", "/api/v1/requests?limit=0").status_code == 422
    forged = api.call("payments-member", "GET", "/api/v1/requests?cursor=WzEsMl0")  # [1,2]
    assert forged.status_code == 422
    assert forged.json["errors"] == [{"path": "/query/cursor", "message": "not a cursor from this API"}]


def test_audit_filters_by_action_request_subject_and_hide_logins(api: Api) -> None:
    quota = api.submit("payments-owner", "quota.set", {"principal": f"User:{api.prefix}.q", "producer_byte_rate": 1024})
    api.submit("payments-member", "topic.create", topic_spec(api, "audited"))
    with unit_of_work(api.engine) as session:
        record_event(session, actor="alice", action="auth:login", subject="user:alice", data={"via": "oidc"})
    sequence(api.engine)

    of_request = events(api, "payments-member", f"request={quota['id']}")
    assert of_request
    assert {e["subject"] for e in of_request} == {f"request:{quota['id']}"}
    assert [e["action"] for e in of_request] == ["request:auto_approve", "request:submit"]
    assert [e["action"] for e in events(api, "payments-member", f"request={quota['id']}&action=request:submit")] == [
        "request:submit"]
    family = events(api, "payments-member", "action=request")
    assert family
    assert all(e["action"].startswith("request:") for e in family)
    by_actor = events(api, "payments-member", "subject=token:payments/payments-owner")
    assert by_actor
    assert all("token:payments/payments-owner" in (e["actor"], e["subject"]) for e in by_actor)

    assert "auth:login" in {e["action"] for e in events(api, "admin", "limit=500")}
    hidden = events(api, "admin", "hide_logins=true&limit=500")
    assert hidden
    assert not any(e["action"].startswith("auth:") for e in hidden)
    # Asking for the logins by name shows them even with the toggle on.
    assert [e["subject"] for e in events(api, "admin", "hide_logins=true&action=auth:login")] == ["user:alice"]

    assert events(api, "payments-member", f"request={quota['id']}&since=2000-01-01T00:00:00Z") == of_request
    assert events(api, "payments-member", f"request={quota['id']}&since=2999-01-01T00:00:00Z") == []


def test_bad_audit_filters_are_one_422_naming_each(api: Api) -> None:
    response = api.call("payments-member", "GET",
                        "/api/v1/audit?since=yesterday&action=DROP%20TABLE&request=r1&subject=x&hide_logins=2")
    assert response.status_code == 422
    assert sorted(e["path"] for e in response.json["errors"]) == [
        "/query/action", "/query/hide_logins", "/query/request", "/query/since"]

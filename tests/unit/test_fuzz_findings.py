"""What the API fuzzer (tests/integration/test_api_fuzz.py) found, each kept as an ordinary test:
the answer is a 4xx problem that says what is wrong, and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from tests.fakes import FakeClusterPort
from tests.support import Desk, build_desk, desk_engine
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import ApiTokenRow, ClusterRow, ServiceAccountRow
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.services.tokens import create_token


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return build_desk(tmp_path, FakeClusterPort(), tokens={"owner": ("payments", Role.OWNER),
                                                           "admin": ("platform", Role.ADMIN)})


@pytest.mark.parametrize("since", ["", "2026-01-01", "2026-12-01T00:00:00", "2026-12-31T23:59:60Z", "yesterday"])
def test_audit_since_must_be_an_rfc3339_date_time(desk: Desk, since: str) -> None:
    response = desk.call("owner", "GET", f"/api/v1/audit?since={since}")
    assert response.status_code == 422, response.json
    assert response.json["errors"][0]["path"] == "/query/since"


def test_audit_since_with_a_zone_is_taken(desk: Desk) -> None:
    for since in ("2026-12-01T00:00:00Z", "2026-12-01t00:00:00z", "2026-12-01T00:00:00.5%2B01:00"):
        assert desk.call("owner", "GET", f"/api/v1/audit?since={since}").status_code == 200, since


def test_a_name_with_a_trailing_newline_is_refused(desk: Desk) -> None:
    token = desk.call("owner", "POST", "/api/v1/teams/payments/tokens", {"name": "ci\n"})
    assert token.status_code == 422, token.json
    assert token.json["errors"][0]["path"] == "/name"
    account = desk.call("owner", "POST", "/api/v1/clusters/c1/service-accounts", {"name": "payments.writer\n"})
    assert account.status_code == 422, account.json
    assert desk.port.scram_users == {}
    with unit_of_work(desk.engine) as session:
        assert session.exec(select(ServiceAccountRow)).all() == []
        assert [row.name for row in session.exec(select(ApiTokenRow)).all()] == ["owner", "admin"]


def test_a_budget_beyond_64_bits_is_refused_not_a_500(desk: Desk) -> None:
    response = desk.call("admin", "POST", "/api/v1/clusters", {
        "name": "big", "environment": "dev", "owner_team": "payments", "bootstrap_servers": "k:9092",
        "admin_secret_ref": "env:BIG", "disk_budget_bytes": 2**64})
    assert response.status_code == 422, response.json
    assert response.json["errors"][0]["path"] == "/disk_budget_bytes"
    with unit_of_work(desk.engine) as session:
        assert session.get(ClusterRow, "big") is None


def test_405_says_which_methods_the_resource_has(desk: Desk) -> None:
    response = desk.call("owner", "PUT", "/api/v1/me")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert {method.strip() for method in response.headers["Allow"].split(",")} >= {"GET"}


def test_unreadable_cluster_credentials_are_503(tmp_path: Path) -> None:
    # The real port factory: the cluster's admin_secret_ref names environment variables that are not set.
    engine = desk_engine(tmp_path)
    token = create_token(engine, team="payments", name="owner", role=Role.OWNER, actor="t").token
    app = create_app(Settings.from_env({"DATABASE_URL": str(engine.url), "TOPICDESK_DATA_DIR": str(tmp_path)}),
                     engine=engine)
    response = app.test_client().post("/api/v1/clusters/c1/service-accounts", json={"name": "payments.writer"},
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503, response.json
    assert response.get_json()["type"] == "https://topicdesk.dev/problems/secret_unavailable"

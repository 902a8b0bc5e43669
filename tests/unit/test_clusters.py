"""Cluster registration: platform admins only, schema-checked, audited, never a secret in clear."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support import seed_teams
from topicdesk import migrations
from topicdesk.adapters.db import make_engine
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.services.tokens import create_token


def body(response: TestResponse) -> Any:
    return response.json


def _client(tmp_path: Path) -> tuple[FlaskClient, dict[str, str]]:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed_teams(engine)
    admin = create_token(engine, team="platform", name="a", role=Role.ADMIN, actor="t").token
    app = create_app(Settings.from_env({"DATABASE_URL": url, "TOPICDESK_DATA_DIR": str(tmp_path)}), engine=engine)
    return app.test_client(), {"Authorization": f"Bearer {admin}"}


GOOD = {"name": "payments-prod", "environment": "prod", "owner_team": "payments",
        "bootstrap_servers": "k1.internal:9093,k2.internal:9093", "security_protocol": "SASL_SSL",
        "admin_secret_ref": "env:PAYMENTS_PROD_ADMIN", "broker_count": 3, "tags": ["eu"]}


def test_admin_registers_and_changes_a_cluster_and_both_are_audited(tmp_path: Path) -> None:
    client, admin = _client(tmp_path)
    created = client.post("/api/v1/clusters", json=GOOD, headers=admin)
    assert created.status_code == 201, created.json
    assert body(created)["admin_secret_ref"] == "env:PAYMENTS_PROD_ADMIN"
    assert body(created)["drift_mode"] == "enforce"  # the default
    listed = body(client.get("/api/v1/clusters", headers=admin))["items"]
    assert [(c["name"], c["drift_mode"]) for c in listed] == [("payments-prod", "enforce")]
    assert "admin_secret_ref" not in listed[0]
    reporting = client.post("/api/v1/clusters", json={**GOOD, "name": "payments-qa", "drift_mode": "report"},
                            headers=admin)
    assert body(reporting)["drift_mode"] == "report"
    assert client.post("/api/v1/clusters", json=GOOD, headers=admin).status_code == 409
    changed = client.patch("/api/v1/clusters/payments-prod", json={"broker_count": 5}, headers=admin)
    assert changed.status_code == 200
    assert body(changed)["broker_count"] == 5
    actions = [e["action"] for e in body(client.get("/api/v1/audit", headers=admin))["items"]]
    assert actions[:3] == ["cluster:change", "cluster:register", "cluster:register"]


def test_bad_registrations_list_every_error(tmp_path: Path) -> None:
    client, admin = _client(tmp_path)
    bad = {**GOOD, "name": "-bad", "environment": "qa", "bootstrap_servers": "no port",
           "admin_secret_ref": "hunter2", "password": "x", "drift_mode": "fix"}
    response = client.post("/api/v1/clusters", json=bad, headers=admin)
    assert response.status_code == 422
    paths = sorted(e["path"] for e in body(response)["errors"])
    assert paths == ["/admin_secret_ref", "/bootstrap_servers", "/drift_mode", "/environment", "/name", "/password"]
    unknown_team = client.post("/api/v1/clusters", json={**GOOD, "owner_team": "nobody"}, headers=admin)
    assert unknown_team.status_code == 422
    assert body(unknown_team)["errors"] == [{"path": "/owner_team", "message": "no such team"}]
    assert client.patch("/api/v1/clusters/missing", json={"broker_count": 1}, headers=admin).status_code == 404

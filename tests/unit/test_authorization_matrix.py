"""Every endpoint x {anonymous, other team, member, owner, platform admin}, generated from the
endpoint table in api/endpoints.py: an endpoint without a row here (or in the table) fails.

Resources belong to team payments; the "other team" caller is an ingest member. Runs on SQLite with
an in-memory cluster port, so no sockets are opened.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.fakes import FakeClusterPort
from tests.support import seed_teams
from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.migration_store import create_migration
from topicdesk.adapters.tables import ClusterRow, utcnow
from topicdesk.api.endpoints import ENDPOINTS, Endpoint
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.drift_triage import item_id
from topicdesk.domain.identity import Role
from topicdesk.observability.logging import TextFormatter, json_formatter
from topicdesk.services.drift import scan_cluster
from topicdesk.services.reconcile_loop import run_once
from topicdesk.services.tokens import create_token

CALLERS = ("anonymous", "other_team", "member", "owner", "admin")
ADMIN_SECRET = "cluster-admin-secret-value-42"


@dataclass
class World:
    app: Flask
    tokens: dict[str, str]
    port: FakeClusterPort
    ids: dict[str, str]

    def call(self, caller: str, method: str, path: str, body: Any = None) -> Any:
        headers = {} if caller == "anonymous" else {"Authorization": f"Bearer {self.tokens[caller]}"}
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return self.app.test_client().open(path, method=method, **kwargs)


def _app(url: str, data_dir: Path, port: FakeClusterPort) -> Flask:
    settings = Settings.from_env({"DATABASE_URL": url, "TOPICDESK_DATA_DIR": str(data_dir),
                                  "TOPICDESK_WRITE_BURST": "1000"})
    return create_app(settings, engine=make_engine(url), port_factory=lambda _cluster, **_options: port)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], dict[str, str]]:
    """One database with the shared fixtures, built once; each test gets its own copy."""
    directory = tmp_path_factory.mktemp("matrix")
    url = f"sqlite:///{directory / 'matrix.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed_teams(engine)
    with unit_of_work(engine) as session:
        session.add(ClusterRow(name="payments-dev", environment="dev", owner_team="payments",
                               bootstrap_servers="127.0.0.1:1", admin_secret_ref="env:PAYMENTS_DEV_ADMIN"))
    tokens = {
        "other_team": create_token(engine, team="ingest", name="m", role=Role.MEMBER, actor="t").token,
        "member": create_token(engine, team="payments", name="m", role=Role.MEMBER, actor="t").token,
        "owner": create_token(engine, team="payments", name="o", role=Role.OWNER, actor="t").token,
        "admin": create_token(engine, team="platform", name="a", role=Role.ADMIN, actor="t").token,
    }
    engine.dispose()
    port = FakeClusterPort()
    w = World(_app(url, directory, port), tokens, port, {})
    # Shared fixtures: a topic of payments, a service account of payments, a pending access request
    # of ingest to that topic (routed to payments owners) and a pending quota request of payments.
    topic = w.call("member", "POST", "/api/v1/requests", {"kind": "topic.create", "cluster": "payments-dev", "spec": {
        "name": "payments.orders", "partitions": 3, "replication_factor": 1}})
    assert topic.status_code == 201, topic.json
    # A quarantined topic of payments (created and deleted), for the restore endpoint.
    for kind, spec in (("topic.create", {"name": "payments.old", "partitions": 1, "replication_factor": 1}),
                       ("topic.delete", {"name": "payments.old"})):
        done = w.call("member", "POST", "/api/v1/requests", {"kind": kind, "cluster": "payments-dev", "spec": spec})
        assert done.status_code == 201, done.json
        assert done.json["status"] in ("approved", "applied"), done.json
    account = w.call("owner", "POST", "/api/v1/clusters/payments-dev/service-accounts", {"name": "payments.app"})
    assert account.status_code == 201, account.json
    access = w.call("other_team", "POST", "/api/v1/requests", {"kind": "access.grant", "cluster": "payments-dev",
                    "spec": {"topic": "payments.orders", "principal": "User:ingest.reader", "access": "consume",
                             "group": "ingest.g"}})
    assert access.json["status"] == "pending_approval", access.json
    quota = w.call("member", "POST", "/api/v1/requests", {"kind": "quota.set", "cluster": "payments-dev",
                   "spec": {"principal": "User:payments.app", "consumer_byte_rate": 209715200}})
    assert quota.json["status"] == "pending_approval", quota.json
    # A difference on the topic: an override set behind Topicdesk's back, found by a drift scan.
    engine = w.app.extensions["topicdesk.engine"]
    run_once(engine, lambda _cluster, **_options: port)
    port.topics["payments.orders"].config["retention.ms"] = "1"
    scan_cluster(engine, "payments-dev", port)
    hook = w.call("owner", "POST", "/api/v1/teams/payments/notifications/subscriptions",
                  {"url": "http://localhost:9/hook", "event_types": ["request.applied"]})
    assert hook.status_code == 201, hook.json
    # A migration of payments (its row as an approved topic.migrate leaves it; here without the request).
    with unit_of_work(engine) as session:
        migration = create_migration(session, request_id=quota.json["id"], source="payments-dev",
                                     target="payments-dev", owner_team="payments", topics=["payments.orders"],
                                     plan={}, step="planned", history=[], now=utcnow())
        migration_id = migration.id
        switching = create_migration(session, request_id=topic.json["id"], source="payments-dev",
                                     target="payments-dev", owner_team="payments", topics=["payments.orders"],
                                     plan={}, step="producers_cut_over", history=[], now=utcnow())
        switching_id = switching.id
    engine.dispose()
    ids = {"subscription": hook.json["id"], "webhook_secret": hook.json["secret"], "migration": migration_id,
           "switching_migration": switching_id,
           "topic": topic.json["id"], "access": access.json["id"], "quota": quota.json["id"],
           "password": account.json["password"], "member_token": tokens["member"].split("_")[1],
           "drift": item_id("config_unmanaged", "topic:payments.orders")}
    return directory / "matrix.db", tokens, ids


@pytest.fixture
def world(template: tuple[Path, dict[str, str], dict[str, str]], tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("PAYMENTS_DEV_ADMIN_USERNAME", "admin")
    monkeypatch.setenv("PAYMENTS_DEV_ADMIN_PASSWORD", ADMIN_SECRET)
    database, tokens, ids = template
    shutil.copy(database, tmp_path / "matrix.db")
    port = FakeClusterPort()
    app = _app(f"sqlite:///{tmp_path / 'matrix.db'}", tmp_path, port)
    yield World(app, tokens, port, dict(ids))
    app.extensions["topicdesk.engine"].dispose()


OK = "ok"
DENIED = "denied"  # 403 or 404 (404 where existence itself is not the caller's business)
UNAUTH = "unauth"


@dataclass(frozen=True)
class Case:
    method: str
    path: Callable[[World], str]
    body: Callable[[World], Any] | None
    expect: dict[str, str]


def everyone(*, anonymous: str = UNAUTH) -> dict[str, str]:
    return {"anonymous": anonymous, "other_team": OK, "member": OK, "owner": OK, "admin": OK}


def team(*, member: str = OK) -> dict[str, str]:
    return {"anonymous": UNAUTH, "other_team": DENIED, "member": member, "owner": OK, "admin": OK}


def admins_only() -> dict[str, str]:
    return {"anonymous": UNAUTH, "other_team": DENIED, "member": DENIED, "owner": DENIED, "admin": OK}


_HOOKS = "/api/v1/teams/payments/notifications/subscriptions"

# One row per endpoint in api/endpoints.py, keyed by its Flask endpoint name.
CASES: dict[str, Case] = {
    "health.healthz": Case("GET", lambda w: "/healthz", None, everyone(anonymous=OK)),
    "health.readyz": Case("GET", lambda w: "/readyz", None, everyone(anonymous=OK)),
    "metrics.metrics": Case("GET", lambda w: "/metrics", None, everyone(anonymous=OK)),
    "v1.openapi": Case("GET", lambda w: "/api/v1/openapi.json", None, everyone(anonymous=OK)),
    "v1.me": Case("GET", lambda w: "/api/v1/me", None, everyone()),
    "v1.clusters": Case("GET", lambda w: "/api/v1/clusters", None, everyone()),
    "v1.register_cluster": Case("POST", lambda w: "/api/v1/clusters", lambda w: {
        "name": "ingest-prod", "environment": "prod", "owner_team": "ingest", "bootstrap_servers": "k1:9093",
        "admin_secret_ref": "env:INGEST_PROD_ADMIN"}, admins_only()),
    "v1.change_cluster": Case("PATCH", lambda w: "/api/v1/clusters/payments-dev", lambda w: {"broker_count": 3},
                              admins_only()),
    "v1.cluster_drift": Case("GET", lambda w: "/api/v1/clusters/payments-dev/drift", None, everyone()),
    "v1.triage_drift": Case("POST", lambda w: f"/api/v1/clusters/payments-dev/drift/{w.ids['drift']}/triage",
                            lambda w: {"action": "ignore", "reason": "matrix", "expires_at": _tomorrow()},
                            team(member=DENIED)),
    "v1.list_service_accounts": Case("GET", lambda w: "/api/v1/clusters/payments-dev/service-accounts", None,
                                     everyone()),  # each team sees only its own accounts (checked below)
    "v1.create_service_account": Case("POST", lambda w: "/api/v1/clusters/payments-dev/service-accounts",
                                      lambda w: {"name": "payments.new"},
                                      {**team(), "other_team": DENIED}),
    "v1.rotate_service_account": Case("POST", lambda w: "/api/v1/clusters/payments-dev/service-accounts/"
                                                        "User:payments.app/rotate", None, team(member=DENIED)),
    "v1.delete_service_account": Case("DELETE", lambda w: "/api/v1/clusters/payments-dev/service-accounts/"
                                                          "User:payments.app", None, team(member=DENIED)),
    "v1.submit": Case("POST", lambda w: "/api/v1/requests", lambda w: {
        "kind": "topic.create", "cluster": "payments-dev",
        "spec": {"name": "payments.matrix", "partitions": 1, "replication_factor": 1}}, team()),
    "v1.apply_desired_state": Case("POST", lambda w: "/api/v1/desired-state?dry_run=true", lambda w: {
        "version": 1, "cluster": "payments-dev", "team": "payments",
        "topics": [{"name": "payments.orders", "partitions": 3, "replication_factor": 1}]}, team()),
    "v1.export_desired_state": Case("GET", lambda w: "/api/v1/desired-state?cluster=payments-dev&team=payments",
                                    None, team()),
    "v1.list_requests": Case("GET", lambda w: "/api/v1/requests", None, everyone()),
    "v1.get_request": Case("GET", lambda w: f"/api/v1/requests/{w.ids['quota']}", None, team()),
    # Cross-team access is the owner team's call; platform admins approve only what is routed to them.
    "v1.list_migrations": Case("GET", lambda w: "/api/v1/migrations", None, everyone()),
    "v1.get_migration": Case("GET", lambda w: f"/api/v1/migrations/{w.ids['migration']}", None, team()),
    "v1.roll_back_migration": Case("POST", lambda w: f"/api/v1/migrations/{w.ids['migration']}/rollback",
                                   lambda w: {"reason": "matrix"}, team(member=DENIED)),
    "v1.migration_producers_switched": Case(
        "POST", lambda w: f"/api/v1/migrations/{w.ids['switching_migration']}/producers-switched", None,
        team(member=DENIED)),
    "v1.approve": Case("POST", lambda w: f"/api/v1/requests/{w.ids['access']}/approve", lambda w: {},
                       {**team(member=DENIED), "admin": DENIED}),
    "v1.reject": Case("POST", lambda w: f"/api/v1/requests/{w.ids['access']}/reject",
                      lambda w: {"reason": "no"}, {**team(member=DENIED), "admin": DENIED}),
    "v1.cancel": Case("POST", lambda w: f"/api/v1/requests/{w.ids['quota']}/cancel", None, team()),
    "v1.list_team_tokens": Case("GET", lambda w: "/api/v1/teams/payments/tokens", None, team(member=DENIED)),
    "v1.create_team_token": Case("POST", lambda w: "/api/v1/teams/payments/tokens",
                                 lambda w: {"name": "ci-pipeline", "role": "member"}, team(member=DENIED)),
    "v1.revoke_team_token": Case("DELETE", lambda w: f"/api/v1/teams/payments/tokens/{w.ids['member_token']}",
                                 None, team(member=DENIED)),
    "v1.list_topics": Case("GET", lambda w: "/api/v1/topics", None, everyone()),
    "v1.get_topic": Case("GET", lambda w: "/api/v1/clusters/payments-dev/topics/payments.orders", None,
                         everyone()),
    "v1.expiring_grants": Case("GET", lambda w: "/api/v1/grants/expiring", None,
                               everyone()),  # each team sees only its grants (tests/unit/test_grant_expiry.py)
    "v1.restore_topic": Case("POST", lambda w: "/api/v1/clusters/payments-dev/topics/payments.old/restore", None,
                             team(member=DENIED)),
    "v1.stale_report": Case("GET", lambda w: "/api/v1/reports/stale", None,
                            everyone()),  # each team sees only its report (tests/unit/test_stale_report.py)
    "v1.refresh_stale_report": Case("POST", lambda w: "/api/v1/reports/stale/refresh?cluster=payments-dev", None,
                                    team(member=DENIED)),
    "v1.notification_event_types": Case("GET", lambda w: "/api/v1/notifications/event-types", None, everyone()),
    "v1.list_notification_subscriptions": Case("GET", lambda w: _HOOKS, None, team(member=DENIED)),
    "v1.create_notification_subscription": Case("POST", lambda w: _HOOKS, lambda w: {
        "url": "https://localhost/matrix", "event_types": ["request.failed"], "format": "slack"}, team(member=DENIED)),
    "v1.get_notification_subscription": Case("GET", lambda w: f"{_HOOKS}/{w.ids['subscription']}", None,
                                             team(member=DENIED)),
    "v1.update_notification_subscription": Case("PATCH", lambda w: f"{_HOOKS}/{w.ids['subscription']}",
                                                lambda w: {"description": "matrix"}, team(member=DENIED)),
    "v1.delete_notification_subscription": Case("DELETE", lambda w: f"{_HOOKS}/{w.ids['subscription']}", None,
                                                team(member=DENIED)),
    "v1.notification_deliveries": Case("GET", lambda w: f"{_HOOKS}/{w.ids['subscription']}/deliveries", None,
                                       team(member=DENIED)),
    "v1.test_notification_subscription": Case("POST", lambda w: f"{_HOOKS}/{w.ids['subscription']}/test", None,
                                              team(member=DENIED)),
    "v1.audit": Case("GET", lambda w: "/api/v1/audit", None, everyone()),
    "v1.audit_verify": Case("GET", lambda w: "/api/v1/audit/verify", None, everyone()),
}


def _tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


def _verdict(status: int) -> str:
    if status == 401:
        return UNAUTH
    if status in (403, 404):
        return DENIED
    if 200 <= status < 300:
        return OK
    return f"unexpected {status}"


def test_every_route_has_a_table_row_and_every_row_a_matrix_case(world: World) -> None:
    # /auth/* is the browser login flow and portal.* the built portal's files: neither is API.
    routes = {rule.endpoint for rule in world.app.url_map.iter_rules()
              if not rule.endpoint.startswith(("auth.", "portal."))}
    table = {endpoint.endpoint for endpoint in ENDPOINTS}
    assert routes - table == set(), "routes without a row in api/endpoints.py"
    assert table - routes == set(), "rows in api/endpoints.py without a route"
    assert table - set(CASES) == set(), "endpoints without an authorization matrix case here"


def _endpoint(name: str) -> Endpoint:
    return next(e for e in ENDPOINTS if e.endpoint == name)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_authorization_matrix(world: World, name: str, caller: str) -> None:
    case = CASES[name]
    assert case.method == _endpoint(name).method
    response = world.call(caller, case.method, case.path(world), case.body(world) if case.body else None)
    assert _verdict(response.status_code) == case.expect[caller], (name, caller, response.status_code,
                                                                   response.get_json(silent=True))
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"


def test_matrix_rows_agree_with_the_documented_access_level() -> None:
    for name, case in CASES.items():
        access = _endpoint(name).access
        if access == "public":
            assert case.expect["anonymous"] == OK, name
        else:
            assert case.expect["anonymous"] == UNAUTH, name
        if access in ("member", "owner"):
            assert case.expect["other_team"] == DENIED, name
        if access == "owner":
            assert case.expect["member"] == DENIED, name
        if access == "platform_admin":
            assert case.expect == admins_only(), name


def test_other_teams_see_neither_requests_nor_service_accounts_of_payments(world: World) -> None:
    listed = world.call("other_team", "GET", "/api/v1/requests").json["items"]
    assert world.ids["quota"] not in [item["id"] for item in listed]
    accounts = world.call("other_team", "GET", "/api/v1/clusters/payments-dev/service-accounts").json["items"]
    assert accounts == []
    mine = world.call("member", "GET", "/api/v1/clusters/payments-dev/service-accounts").json["items"]
    assert [a["principal"] for a in mine] == ["User:payments.app"]


def test_secrets_appear_only_in_the_one_time_creation_response(
    world: World, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rotated = world.call("owner", "POST", "/api/v1/clusters/payments-dev/service-accounts/User:payments.app/rotate")
    assert rotated.status_code == 200
    secrets = [ADMIN_SECRET, world.ids["password"], rotated.json["password"], world.ids["webhook_secret"],
               *world.tokens.values(),
               *(t.split("_", 2)[2] for t in world.tokens.values())]
    bodies = []
    for name, case in CASES.items():
        if case.method != "GET":
            continue
        for caller in CALLERS:
            response = world.call(caller, "GET", case.path(world))
            bodies.append((name, caller, response.get_data(as_text=True)))
    # A secret sent where it does not belong (the query string, an oversized request id) must not
    # be logged either; and a reconcile pass logs its line.
    world.app.test_client().get(f"/api/v1/me?access_token={world.tokens['member']}",
                                headers={"X-Request-ID": f"{ADMIN_SECRET} {world.tokens['owner']}"})
    made = world.call("member", "POST", "/api/v1/requests", {"kind": "topic.create", "cluster": "payments-dev",
                      "spec": {"name": "payments.logged", "partitions": 1, "replication_factor": 1}})
    assert made.status_code == 201, made.json
    run_once(world.app.extensions["topicdesk.engine"], lambda _cluster, **_options: world.port)
    for name, caller, body in bodies:
        for secret in secrets:
            assert secret not in body, (name, caller)
    # The lines as they are written in production: JSON (every extra field) and text.
    rendered = [caplog.text] + [formatter.format(record) for record in caplog.records
                                for formatter in (json_formatter(), TextFormatter())]
    assert any('"route": "/api/v1/me"' in line for line in rendered)
    assert any('"cluster": "payments-dev"' in line and '"applied": ' in line for line in rendered)
    for secret in secrets:
        assert not [line for line in rendered if secret in line]


def test_the_rendered_table_in_the_docs_is_current() -> None:
    from topicdesk.api.endpoints import render_markdown

    rendered = (Path(__file__).resolve().parents[2] / "docs" / "authorization.md").read_text()
    assert rendered == render_markdown(), "run: python -m topicdesk.api.endpoints > docs/authorization.md"

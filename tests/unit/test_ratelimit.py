"""Write rate limits per principal, and the cap on auth:refused audit rows (no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlmodel import col, select

from topicdesk import migrations
from topicdesk.adapters.audit_log import sequence
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import AuditEventRow, ClusterRow, TeamRow
from topicdesk.api.auth import REFUSALS_EXTENSION, RefusalAuditor
from topicdesk.api.ratelimit import RateLimiter
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.errors import RateLimited
from topicdesk.domain.identity import Role
from topicdesk.services.tokens import create_token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_steady_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.retry_after("alice") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.retry_after("alice") == pytest.approx(1.0)
    with pytest.raises(RateLimited) as info:
        limiter.check("alice")
    assert info.value.retry_after_seconds == 1
    assert info.value.status == 429
    clock.now += 1.0
    assert limiter.retry_after("alice") == 0.0
    assert limiter.retry_after("alice") > 0
    # Another caller has a budget of its own.
    assert limiter.retry_after("bob") == 0.0


def test_refused_writes_do_not_dig_a_deeper_hole() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=6, burst=1, clock=clock)
    limiter.check("alice")
    for _ in range(100):
        assert limiter.retry_after("alice") == pytest.approx(10.0)
    clock.now += 10
    limiter.check("alice")


def test_bucket_refills_to_the_burst_and_no_more() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    limiter.check("alice")
    clock.now += 3600
    assert [limiter.retry_after("alice") for _ in range(3)][:2] == [0.0, 0.0]
    assert limiter.retry_after("alice") > 0


def test_zero_rate_turns_the_limit_off() -> None:
    limiter = RateLimiter(per_minute=0, burst=1)
    assert not limiter.enabled
    for _ in range(1000):
        limiter.check("alice")


def test_memory_stays_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=5, clock=clock, max_principals=100)
    for n in range(1000):
        limiter.check(f"caller-{n}")
        clock.now += 0.001
    assert len(limiter) <= 101


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    url = f"sqlite:///{tmp_path / 'topicdesk.db'}"
    migrations.upgrade(url)
    app = create_app(Settings.from_env({"TOPICDESK_DATA_DIR": str(tmp_path), "DATABASE_URL": url,
                                        "TOPICDESK_WRITE_RATE_PER_MINUTE": "1", "TOPICDESK_WRITE_BURST": "2"}))
    with unit_of_work(app.extensions["topicdesk.engine"]) as session:
        session.add(TeamRow(name="payments", display_name="Payments"))
    return app


def bearer(app: Flask, name: str) -> dict[str, str]:
    created = create_token(app.extensions["topicdesk.engine"], team="payments", name=name, role=Role.MEMBER,
                           actor="test")
    return {"Authorization": f"Bearer {created.token}"}


def test_writes_over_the_limit_get_429_with_retry_after(app: Flask) -> None:
    client = app.test_client()
    ci, other = bearer(app, "ci"), bearer(app, "other")
    statuses = [client.post("/api/v1/requests", data="x", content_type="application/json", headers=ci).status_code
                for _ in range(2)]
    assert statuses == [400, 400]  # malformed body, but within the budget
    response = client.post("/api/v1/requests", data="x", content_type="application/json", headers=ci)
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.json is not None
    assert response.json["status"] == 429
    # Reads are not limited, and other callers keep their own budget.
    assert client.get("/api/v1/me", headers=ci).status_code == 200
    assert client.post("/api/v1/requests", data="x", content_type="application/json",
                       headers=other).status_code == 400


def test_refused_attempts_are_audited_but_capped(app: Flask) -> None:
    clock = Clock()
    app.extensions[REFUSALS_EXTENSION] = RefusalAuditor(per_minute=10, burst=5, clock=clock)
    client = app.test_client()
    for n in range(50):
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer tdk_{n:032x}_{'x' * 43}"})
        assert response.status_code == 401
    engine = app.extensions["topicdesk.engine"]

    def refused() -> list[AuditEventRow]:
        sequence(engine)  # chain what waits in the audit inbox
        with unit_of_work(engine) as session:
            return list(session.exec(select(AuditEventRow).where(AuditEventRow.action == "auth:refused")
                                     .order_by(col(AuditEventRow.seq))).all())

    rows = refused()
    assert len(rows) == 5
    assert rows[0].data["credential"] == "api_token"
    assert rows[0].data["token_id"] == f"{0:032x}"
    assert "x" * 43 not in str([r.data for r in rows])  # the secret half never reaches the audit log
    clock.now += 6  # one more row allowed
    client.get("/api/v1/me", headers={"Authorization": "Bearer garbage"})
    rows = refused()
    assert len(rows) == 6
    assert rows[-1].data["suppressed_before"] == 45
    assert rows[-1].data["credential"] == "unknown"


def _dry_run_app(tmp_path: Path, **env: str) -> Flask:
    url = f"sqlite:///{tmp_path / 'dry.db'}"
    migrations.upgrade(url)
    app = create_app(Settings.from_env({"TOPICDESK_DATA_DIR": str(tmp_path), "DATABASE_URL": url,
                                        "TOPICDESK_WRITE_RATE_PER_MINUTE": "1", "TOPICDESK_WRITE_BURST": "2",
                                        **env}))
    with unit_of_work(app.extensions["topicdesk.engine"]) as session:
        session.add(TeamRow(name="payments", display_name="Payments"))
        session.flush()
        session.add(ClusterRow(name="payments-dev", environment="dev", owner_team="payments",
                               bootstrap_servers="127.0.0.1:1", admin_secret_ref="env:X"))
    return app


PLAN_FILE = {"version": 1, "cluster": "payments-dev", "team": "payments",
             "topics": [{"name": "payments.orders", "partitions": 3, "replication_factor": 1}]}
REQUEST = {"kind": "topic.create", "cluster": "payments-dev",
           "spec": {"name": "payments.orders", "partitions": 3, "replication_factor": 1}}


def test_a_hundred_plans_in_a_row_never_spend_the_write_budget(tmp_path: Path) -> None:
    app = _dry_run_app(tmp_path)
    client, ci = app.test_client(), bearer(app, "ci")
    statuses = {client.post("/api/v1/desired-state?dry_run=true", json=PLAN_FILE, headers=ci).status_code
                for _ in range(50)}
    statuses |= {client.post("/api/v1/requests?dry_run=true", json=REQUEST, headers=ci).status_code
                 for _ in range(50)}
    assert statuses == {200}
    # The write budget (2) is untouched: two writes pass, the third is limited as a write.
    assert [client.post("/api/v1/requests", json=REQUEST, headers=ci).status_code for _ in range(2)] == [201, 409]
    limited = client.post("/api/v1/desired-state", json=PLAN_FILE, headers=ci)
    assert limited.status_code == 429
    assert limited.json is not None
    assert "too many writes" in limited.json["detail"]
    # A malformed dry_run pays as a write (and is refused by the view), it is not a free pass.
    assert client.post("/api/v1/requests?dry_run=maybe", json=REQUEST, headers=ci).status_code == 429


def test_the_dry_run_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    app = _dry_run_app(tmp_path, TOPICDESK_DRY_RUN_RATE_PER_MINUTE="6", TOPICDESK_DRY_RUN_BURST="3")
    client, ci = app.test_client(), bearer(app, "ci")
    statuses = [client.post("/api/v1/desired-state?dry_run=true", json=PLAN_FILE, headers=ci).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = client.post("/api/v1/requests?dry_run=true", json=REQUEST, headers=ci)
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    assert refused.json is not None
    assert "too many dry runs" in refused.json["detail"]
    # The write budget is its own: a write still passes.
    assert client.post("/api/v1/requests", json=REQUEST, headers=ci).status_code == 201

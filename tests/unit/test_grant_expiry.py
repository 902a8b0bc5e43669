"""Time-bound access with an in-memory cluster: the expiry fields and their errors, the sweep that
revokes expired grants (keeping bindings a live grant still needs), renewal, the loop waking for
the next expiry, and who sees the grants that expire soon."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from tests import support
from tests.fakes import FAST_RECONCILE as FAST
from tests.fakes import FakeClusterPort
from tests.support import build_desk
from topicdesk.adapters.audit_log import sequence
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import AccessGrantRow, AuditEventRow, RequestRow, utcnow
from topicdesk.domain.expiry import duration_seconds, parse_moment
from topicdesk.domain.identity import Role
from topicdesk.services import tokens
from topicdesk.services.expiry import expire_due_grants, seconds_until_next_pass
from topicdesk.services.reconcile_loop import run_forever, run_once

CLUSTER = "payments-dev"
TOPIC = "payments.orders"
READER = "User:payments.reader"
INGEST = "User:ingest.reader"


class Desk(support.Desk):
    port: FakeClusterPort

    def grant(self, who: str, spec: dict[str, Any]) -> Any:
        return self.call(who, "POST", "/api/v1/requests", {"kind": "access.grant", "cluster": CLUSTER, "spec": spec})

    def reconcile(self) -> None:
        run_once(self.engine, lambda _c, **_o: self.port, settings=FAST)

    def rows(self) -> dict[tuple[str, str], AccessGrantRow]:
        with unit_of_work(self.engine) as session:
            return {(g.principal, g.group_id): g for g in session.exec(select(AccessGrantRow)).all()}

    def bindings(self, principal: str) -> set[tuple[str, str, str]]:
        return {(b.resource_type.value, b.resource_name, b.operation.value) for b in self.port.acls
                if b.principal == principal}

    def expire_now(self, principal: str, group: str) -> None:
        """As if the grant's time had run out: its end moves into the past."""
        with unit_of_work(self.engine) as session:
            session.execute(update(AccessGrantRow).where(col(AccessGrantRow.principal) == principal,
                                                         col(AccessGrantRow.group_id) == group)
                            .values(expires_at=utcnow() - timedelta(seconds=1)))


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    desk = build_desk(tmp_path, FakeClusterPort(), clusters={CLUSTER: "payments"},
                      teams=("payments", "ingest", "billing", "platform"), tokens={
                          "payments": ("payments", Role.MEMBER), "payments-owner": ("payments", Role.OWNER),
                          "ingest": ("ingest", Role.MEMBER), "billing": ("billing", Role.MEMBER),
                          "admin": ("platform", Role.ADMIN)}, kind=Desk)
    created = desk.call("payments", "POST", "/api/v1/requests", {"kind": "topic.create", "cluster": CLUSTER, "spec": {
        "name": TOPIC, "partitions": 1, "replication_factor": 1}})
    assert created.status_code == 201, created.json
    yield desk
    tokens.TOKEN_CACHE.clear()
    desk.engine.dispose()


# --- the fields ------------------------------------------------------------------------------------

def test_durations_and_moments_parse_in_the_documented_subset() -> None:
    assert duration_seconds("PT10S") == 10
    assert duration_seconds("P1W2DT3H4M5S") == ((9 * 24 + 3) * 60 + 4) * 60 + 5
    assert duration_seconds("P30D") == 30 * 86400
    for bad in ("P", "PT", "P1Y", "P1M", "10", "PT1.5S", "p1d"):
        assert duration_seconds(bad) is None, bad
    assert parse_moment("2027-03-31T00:00:00Z") == datetime(2027, 3, 31, tzinfo=UTC)
    assert parse_moment("2027-03-31T02:00:00+02:00") == datetime(2027, 3, 31, tzinfo=UTC)
    for bad in ("2027-03-31", "2027-03-31T00:00:00", "2027-13-01T00:00:00Z"):
        assert parse_moment(bad) is None, bad


def test_bad_expiry_is_422_with_the_paths_and_stores_nothing(desk: Desk) -> None:
    base = {"topic": TOPIC, "principal": READER, "access": "consume", "group": "payments.g"}
    soon = (utcnow() + timedelta(days=1)).isoformat()
    past = (utcnow() - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    far = (utcnow() + timedelta(days=400)).isoformat()
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"duration": "P1D", "expires_at": soon}, {"/spec/duration": "give either expires_at or duration, not both"}),
        ({"duration": "10s"}, {"/spec/duration": '"10s" is not a duration'}),
        ({"duration": "P1Y"}, {"/spec/duration": '"P1Y" is not a duration'}),
        ({"duration": 10}, {"/spec/duration": "must be a string"}),
        ({"duration": "P366D"}, {"/spec/duration": "P366D is longer than a grant may last"}),
        ({"duration": "PT0S"}, {"/spec/duration": "at least one second"}),
        ({"expires_at": "tomorrow"}, {"/spec/expires_at": '"tomorrow" is not an RFC 3339 timestamp'}),
        ({"expires_at": "2027-13-01T00:00:00Z"}, {"/spec/expires_at": "is not an RFC 3339 timestamp"}),
        ({"expires_at": past}, {"/spec/expires_at": "has already passed"}),
        ({"expires_at": far}, {"/spec/expires_at": "more than 365 days away"}),
    ]
    with unit_of_work(desk.engine) as session:
        before = len(session.exec(select(RequestRow)).all())
    for extra, expected in cases:
        response = desk.grant("payments", {**base, **extra})
        assert response.status_code == 422, (extra, response.json)
        assert response.content_type == "application/problem+json"
        errors = {e["path"]: e["message"] for e in response.json["errors"]}
        assert errors.keys() == expected.keys(), (extra, errors)
        for path, fragment in expected.items():
            assert fragment in errors[path], (extra, errors)
    # A dry run checks the same.
    dry = desk.call("payments", "POST", "/api/v1/requests?dry_run=true", {
        "kind": "access.grant", "cluster": CLUSTER, "spec": {**base, "expires_at": past}})
    assert dry.status_code == 422
    with unit_of_work(desk.engine) as session:
        assert len(session.exec(select(RequestRow)).all()) == before
        assert not session.exec(select(AccessGrantRow)).all()


def test_a_duration_starts_at_approval_and_shows_on_the_topic_page(desk: Desk) -> None:
    asked = desk.grant("ingest", {"topic": TOPIC, "principal": INGEST, "access": "consume", "group": "ingest.g",
                                  "duration": "P7D"})
    assert asked.json["status"] == "pending_approval"
    # Approved "late": the week starts now, not when it was asked for.
    with unit_of_work(desk.engine) as session:
        session.execute(update(RequestRow).where(col(RequestRow.id) == asked.json["id"])
                        .values(created_at=utcnow() - timedelta(days=3)))
    approved_at = utcnow()
    assert desk.call("payments-owner", "POST", f"/api/v1/requests/{asked.json['id']}/approve", {}).status_code == 200
    expires = desk.rows()[(INGEST, "ingest.g")].expires_at
    assert expires is not None
    assert approved_at + timedelta(days=7) <= expires <= utcnow() + timedelta(days=7)
    page = desk.call("ingest", "GET", f"/api/v1/clusters/{CLUSTER}/topics/{TOPIC}").json
    [view] = [g for g in page["access_grants"] if g["principal"] == INGEST]
    assert parse_moment(view["expires_at"]) == expires


def test_approving_after_the_asked_end_has_passed_is_a_conflict_and_stores_nothing(desk: Desk) -> None:
    end = (utcnow() + timedelta(hours=1)).isoformat()
    asked = desk.grant("ingest", {"topic": TOPIC, "principal": INGEST, "access": "consume", "group": "ingest.g",
                                  "expires_at": end})
    assert asked.json["status"] == "pending_approval"
    # The hour went by while the request waited.
    with unit_of_work(desk.engine) as session:
        row = session.get(RequestRow, asked.json["id"])
        assert row is not None
        row.spec = {**row.spec, "expires_at": (utcnow() - timedelta(minutes=1)).isoformat()}
        session.add(row)
    response = desk.call("payments-owner", "POST", f"/api/v1/requests/{asked.json['id']}/approve", {})
    assert response.status_code == 409
    assert "has passed" in response.json["detail"]
    assert (INGEST, "ingest.g") not in desk.rows()
    assert desk.call("ingest", "GET", f"/api/v1/requests/{asked.json['id']}").json["status"] == "pending_approval"


# --- the sweep -------------------------------------------------------------------------------------

def test_the_pass_revokes_an_expired_grant_but_keeps_bindings_a_live_grant_needs(desk: Desk) -> None:
    for group, duration in (("payments.short", "PT1H"), ("payments.long", None)):
        spec = {"topic": TOPIC, "principal": READER, "access": "consume", "group": group}
        assert desk.grant("payments", {**spec, **({"duration": duration} if duration else {})}).status_code == 201
    desk.reconcile()
    assert desk.bindings(READER) == {("topic", TOPIC, "read"), ("topic", TOPIC, "describe"),
                                     ("group", "payments.short", "read"), ("group", "payments.long", "read")}

    desk.expire_now(READER, "payments.short")
    [report] = run_once(desk.engine, lambda _c, **_o: desk.port, settings=FAST)
    assert (report.expired, report.applied, report.failed) == (1, 1, 0)
    # The topic bindings stay for the live grant; only the expired grant's group binding goes.
    assert desk.bindings(READER) == {("topic", TOPIC, "read"), ("topic", TOPIC, "describe"),
                                     ("group", "payments.long", "read")}
    short = desk.rows()[(READER, "payments.short")]
    assert (short.deleted, short.generation, short.observed_generation) == (True, 2, 2)
    sequence(desk.engine)
    with unit_of_work(desk.engine) as session:
        [event] = session.exec(select(AuditEventRow).where(AuditEventRow.action == "access_grant:expire")).all()
    assert event.team == "payments"
    assert event.subject == f"access_grant:{CLUSTER}/{TOPIC}/{READER}/consume/group=payments.short"
    assert event.data["generation"] == 2
    # Level-triggered: nothing left to do.
    assert run_once(desk.engine, lambda _c, **_o: desk.port, settings=FAST)[0].expired == 0


def test_a_crash_between_sweep_and_apply_loses_nothing(desk: Desk) -> None:
    assert desk.grant("payments", {"topic": TOPIC, "principal": READER, "access": "consume", "group": "payments.g",
                                   "duration": "PT1H"}).status_code == 201
    desk.reconcile()
    desk.expire_now(READER, "payments.g")
    # The sweep committed, then the process died before the pass applied anything.
    assert expire_due_grants(desk.engine, CLUSTER, actor="test") == 1
    assert ("group", "payments.g", "read") in desk.bindings(READER)
    [report] = run_once(desk.engine, lambda _c, **_o: desk.port, settings=FAST)
    assert (report.expired, report.applied) == (0, 1)
    assert desk.bindings(READER) == set()


def test_renewal_moves_the_expiry_without_touching_acls_and_an_expired_grant_can_be_asked_again(desk: Desk) -> None:
    spec = {"topic": TOPIC, "principal": READER, "access": "consume", "group": "payments.g"}
    assert desk.grant("payments", {**spec, "duration": "PT1H"}).status_code == 201
    desk.reconcile()
    before = desk.rows()[(READER, "payments.g")]
    desk.port.acls.clear()  # any ACL call the renewal made would show here

    renewed = desk.grant("payments", {**spec, "duration": "P2D"})
    assert renewed.json["status"] == "applied"  # nothing for the cluster to do
    after = desk.rows()[(READER, "payments.g")]
    assert (after.id, after.generation, after.observed_generation) == (before.id, before.generation,
                                                                        before.observed_generation)
    assert after.expires_at is not None
    assert after.expires_at > utcnow() + timedelta(days=1, hours=23)
    assert run_once(desk.engine, lambda _c, **_o: desk.port, settings=FAST)[0].resources == 0
    assert desk.port.acls == set()

    # Asked again without an expiry, the grant no longer ends; with one, it does again.
    assert desk.grant("payments", spec).json["status"] == "applied"
    assert desk.rows()[(READER, "payments.g")].expires_at is None
    end = (utcnow() + timedelta(days=10)).replace(microsecond=0)
    assert desk.grant("payments", {**spec, "expires_at": end.isoformat()}).json["status"] == "applied"
    assert desk.rows()[(READER, "payments.g")].expires_at == end

    # Expired and revoked, the same grant asked again comes back with a new generation and expiry.
    assert desk.grant("payments", {**spec, "duration": "PT1H"}).json["status"] == "applied"
    desk.expire_now(READER, "payments.g")
    desk.reconcile()
    assert desk.rows()[(READER, "payments.g")].deleted
    again = desk.grant("payments", {**spec, "duration": "PT2H"})
    assert again.json["status"] == "approved"
    revived = desk.rows()[(READER, "payments.g")]
    assert not revived.deleted
    assert revived.generation == 3
    desk.reconcile()
    assert ("group", "payments.g", "read") in desk.bindings(READER)


def test_the_loop_wakes_for_the_next_expiry_instead_of_sleeping_the_interval(desk: Desk) -> None:
    assert seconds_until_next_pass(desk.engine, 30.0) == 30.0
    assert desk.grant("payments", {"topic": TOPIC, "principal": READER, "access": "consume", "group": "payments.g",
                                   "duration": "PT20S"}).status_code == 201
    # 20 s, not 2: on a loaded CI machine the grant's own call can take over a second.
    assert 10.0 < seconds_until_next_pass(desk.engine, 30.0) <= 20.1
    assert seconds_until_next_pass(desk.engine, 0.5) == 0.5
    assert seconds_until_next_pass(desk.engine, 30.0, clusters=["elsewhere"]) == 30.0

    slept: list[float] = []
    # stop() is asked many times per pass (before every write); end after two waits.
    run_forever(desk.engine, lambda _c, **_o: desk.port, interval=30.0, settings=FAST, drift_interval=1e9,
                stop=lambda: len(slept) >= 2, sleep=slept.append)
    assert slept
    assert all(s <= 20.1 for s in slept)  # the expiry's time, not the 30 s interval


# --- expiring soon ---------------------------------------------------------------------------------

def test_expiring_grants_are_listed_for_the_owning_and_the_consuming_team_only(desk: Desk) -> None:
    asked = desk.grant("ingest", {"topic": TOPIC, "principal": INGEST, "access": "consume", "group": "ingest.g",
                                  "duration": "P3D"})
    assert desk.call("payments-owner", "POST", f"/api/v1/requests/{asked.json['id']}/approve", {}).status_code == 200
    for group, duration in (("payments.late", "P20D"), ("payments.forever", None)):
        spec = {"topic": TOPIC, "principal": READER, "access": "consume", "group": group}
        assert desk.grant("payments", {**spec, **({"duration": duration} if duration else {})}).status_code == 201

    def listed(who: str, query: str = "") -> list[tuple[str, str]]:
        response = desk.call(who, "GET", f"/api/v1/grants/expiring{query}")
        assert response.status_code == 200, response.json
        return [(item["principal"], item["group"]) for item in response.json["items"]]

    # The consuming team sees its grant; the owning team sees it too, with its own.
    assert listed("ingest") == [(INGEST, "ingest.g")]
    assert listed("payments") == [(INGEST, "ingest.g")]
    assert listed("payments", "?within_days=30") == [(INGEST, "ingest.g"), (READER, "payments.late")]
    assert listed("ingest", "?within_days=30") == [(INGEST, "ingest.g")]
    assert listed("billing", "?within_days=366") == []
    assert listed("admin", "?within_days=30") == [(INGEST, "ingest.g"), (READER, "payments.late")]
    item = desk.call("ingest", "GET", "/api/v1/grants/expiring").json["items"][0]
    assert (item["cluster"], item["team"], item["owner_team"], item["topic"]) == (CLUSTER, "ingest", "payments", TOPIC)
    assert parse_moment(item["expires_at"]) is not None
    # Pages.
    first = desk.call("admin", "GET", "/api/v1/grants/expiring?within_days=30&limit=1").json
    assert len(first["items"]) == 1
    assert first["next_cursor"]
    second = desk.call("admin", "GET", f"/api/v1/grants/expiring?within_days=30&limit=1&cursor={first['next_cursor']}")
    assert [i["group"] for i in second.json["items"]] == ["payments.late"]
    assert second.json["next_cursor"] is None
    # An expired grant is revoked: no longer listed.
    desk.expire_now(INGEST, "ingest.g")
    desk.reconcile()
    assert listed("ingest") == []
    for bad in ("0", "367", "x", "-1"):
        response = desk.call("payments", "GET", f"/api/v1/grants/expiring?within_days={bad}")
        assert response.status_code == 422
        assert response.json["errors"][0]["path"] == "/query/within_days"


def test_the_openapi_document_describes_the_expiry_fields_and_the_list(desk: Desk) -> None:
    document = desk.call("payments", "GET", "/api/v1/openapi.json").json
    grant = document["components"]["schemas"]["access_grant"]["properties"]
    assert {"expires_at", "duration"} <= grant.keys()
    operation = document["paths"]["/api/v1/grants/expiring"]["get"]
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == {"within_days", "limit", "cursor"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/grant-list"}
    listed = document["components"]["schemas"]["grant-list"]["$defs"]["grant"]["properties"]
    assert "expires_at" in listed

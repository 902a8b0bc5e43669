"""Stale topics and unused grants with an in-memory cluster: the rules (stale, unused, unknown_since),
the observation history (changed_at kept while commits stand still), the reconciler gathering after
its drift scan, who sees which report, bad query parameters, and the request bodies in the rows."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from tests import support
from tests.fakes import FAST_RECONCILE as FAST
from tests.fakes import FakeClusterPort, FakeGroup, RecordingClusterPort
from tests.support import build_desk
from topicdesk import schemas
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import (
    AccessGrantRow,
    GroupCommitObservationRow,
    TopicRow,
    TopicUsageRow,
)
from topicdesk.domain.identity import Identity, Role
from topicdesk.domain.staleness import (
    UNKNOWN_SINCE,
    UNUSED,
    GroupCommits,
    TopicUsage,
    consume_verdict,
    produce_verdict,
    topic_staleness,
)
from topicdesk.services import tokens
from topicdesk.services.cluster_port import Outcome, OutcomeReason
from topicdesk.services.reconcile_loop import run_forever, run_once
from topicdesk.services.stale import gather_usage, stale_report

CLUSTER = "payments-dev"
TOPIC = "payments.orders"
T0 = datetime(2027, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)

DOWN = Outcome.failure(OutcomeReason.UNAVAILABLE, "Failed to connect to the cluster", transient=True)


# --- the rules (pure) -------------------------------------------------------------------------------

def _usage(last_write: datetime | None = None, *, gathered: datetime = T0, exists: bool = True) -> TopicUsage:
    return TopicUsage(CLUSTER, TOPIC, exists, 3, last_write, gathered)


def _commits(first: datetime, changed: datetime, *, seen: datetime = T0, lag: int = 0) -> GroupCommits:
    return GroupCommits("ingest.g", 10, 3, lag, first, changed, seen)


def test_a_topic_is_stale_after_days_without_writes_or_never_written_and_old() -> None:
    now = T0
    assert topic_staleness(_usage(now - 2 * DAY), now - 90 * DAY, now=now, days=1) == "no_writes"
    assert topic_staleness(_usage(now - 2 * DAY), now - 90 * DAY, now=now, days=3) is None
    assert topic_staleness(_usage(None), now - 31 * DAY, now=now, days=30) == "never_written"
    assert topic_staleness(_usage(None), now - 29 * DAY, now=now, days=30) is None  # new, not stale
    assert topic_staleness(_usage(None, exists=False), now - 90 * DAY, now=now, days=30) is None


def test_a_consume_grant_without_commits_is_unused_once_old_enough() -> None:
    now, old_grant = T0, T0 - 60 * DAY
    verdict = consume_verdict(_usage(now - DAY), None, old_grant, now=now, days=30)
    assert verdict is not None
    assert (verdict.status, verdict.reason, verdict.since) == (UNUSED, "no_commits", None)
    young = consume_verdict(_usage(now - DAY), None, now - DAY, now=now, days=30)
    assert young is not None
    assert (young.status, young.reason, young.since) == (UNKNOWN_SINCE, "grant_too_recent", now - DAY)


def test_a_group_first_seen_recently_that_has_not_moved_is_unknown_since() -> None:
    now = T0
    first = now - 3 * DAY
    verdict = consume_verdict(_usage(now - DAY), _commits(first, first), now - 60 * DAY, now=now, days=30)
    assert verdict is not None
    assert (verdict.status, verdict.reason, verdict.since) == (UNKNOWN_SINCE, "first_seen_recently", first)


def test_a_group_that_moved_within_the_window_is_in_use() -> None:
    now = T0
    moved = consume_verdict(_usage(now), _commits(now - 90 * DAY, now - 2 * DAY), now - 90 * DAY, now=now, days=30)
    assert moved is None
    # Its offsets went away since (reset, deleted), but it moved within the window: not unused yet.
    gone = _commits(now - 90 * DAY, now - 2 * DAY, seen=now - DAY)
    assert consume_verdict(_usage(now), gone, now - 90 * DAY, now=now, days=30) is None


def test_commits_that_have_not_moved_for_days_while_there_is_something_to_read_are_unused() -> None:
    now = T0
    still = now - 40 * DAY
    written_since = consume_verdict(_usage(now - DAY), _commits(now - 90 * DAY, still), now - 90 * DAY,
                                    now=now, days=30)
    assert written_since is not None
    assert (written_since.status, written_since.reason, written_since.since) == (UNUSED, "commits_not_moving", still)
    lagging = consume_verdict(_usage(still - DAY), _commits(still, still, lag=5), now - 90 * DAY, now=now, days=30)
    assert lagging is not None
    assert lagging.reason == "commits_not_moving"
    # Caught up, and nothing written since: idle because there is nothing to read (the topic is stale).
    idle = consume_verdict(_usage(still - DAY), _commits(still, still), now - 90 * DAY, now=now, days=30)
    assert idle is None
    # Offsets gone long after their last move: Kafka expired them.
    expired = _commits(now - 90 * DAY, still, seen=now - 20 * DAY)
    verdict = consume_verdict(_usage(now - DAY), expired, now - 90 * DAY, now=now, days=30)
    assert verdict is not None
    assert (verdict.reason, verdict.since) == ("no_commits", still)


def test_a_produce_grant_is_unused_when_its_topic_had_no_writes() -> None:
    now = T0
    verdict = produce_verdict(_usage(now - 40 * DAY), now - 90 * DAY, now - 90 * DAY, now=now, days=30)
    assert verdict is not None
    assert (verdict.status, verdict.reason, verdict.since) == (UNUSED, "no_writes", now - 40 * DAY)
    assert produce_verdict(_usage(now - DAY), now - 90 * DAY, now - 90 * DAY, now=now, days=30) is None
    young = produce_verdict(_usage(now - 40 * DAY), now - 90 * DAY, now - DAY, now=now, days=30)
    assert young is not None
    assert young.status == UNKNOWN_SINCE


# --- with the app and an in-memory cluster ----------------------------------------------------------

class Desk(support.Desk):
    port: FakeClusterPort

    def submit(self, who: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        response = self.call(who, "POST", "/api/v1/requests", {"kind": kind, "cluster": CLUSTER, "spec": spec})
        assert response.status_code == 201, response.json
        body: dict[str, Any] = response.json
        return body

    def reconcile(self) -> None:
        run_once(self.engine, lambda _c, **_o: self.port, settings=FAST)

    def report(self, identity: Identity, **kwargs: Any) -> dict[str, Any]:
        with unit_of_work(self.engine) as session:
            return stale_report(session, identity, **kwargs)


PAYMENTS = Identity("payments-member", {"payments": Role.MEMBER})
INGEST = Identity("ingest-member", {"ingest": Role.MEMBER})


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    desk = build_desk(tmp_path, FakeClusterPort(), clusters={CLUSTER: "payments"},
                      teams=("payments", "ingest", "billing", "platform"), tokens={
                          "payments": ("payments", Role.MEMBER), "payments-owner": ("payments", Role.OWNER),
                          "ingest": ("ingest", Role.MEMBER), "ingest-owner": ("ingest", Role.OWNER),
                          "billing": ("billing", Role.MEMBER), "admin": ("platform", Role.ADMIN)}, kind=Desk)
    # payments.orders with a producer and an own consumer; ingest consumes it too (approved by payments).
    desk.submit("payments", "topic.create", {
        "name": TOPIC, "partitions": 3, "replication_factor": 1, "producers": ["User:payments.writer"],
        "consumers": [{"principal": "User:payments.reader", "group": "payments.readers"}]})
    access = desk.submit("ingest", "access.grant", {"topic": TOPIC, "principal": "User:ingest.reader",
                                                    "access": "consume", "group": "ingest.g"})
    approved = desk.call("payments-owner", "POST", f"/api/v1/requests/{access['id']}/approve", {})
    assert approved.status_code == 200, approved.json
    desk.submit("payments", "topic.create", {"name": "payments.events", "partitions": 1, "replication_factor": 1})
    desk.reconcile()
    yield desk
    tokens.TOKEN_CACHE.clear()
    desk.engine.dispose()


def _names(report: dict[str, Any]) -> tuple[list[str], list[tuple[str, str, str]]]:
    return ([t["topic"] for t in report["stale_topics"]],
            [(g["principal"], g["status"], g["reason"]) for g in report["unused_grants"]])


def test_the_report_from_observations_with_now_moved_ahead(desk: Desk) -> None:
    desk.port.groups["ingest.g"] = FakeGroup({(TOPIC, 0): 0})
    recording = RecordingClusterPort(desk.port)
    assert gather_usage(desk.engine, recording, CLUSTER) == 2
    assert [c.method for c in recording.calls] == ["usage_evidence"]  # one bulk call for every topic

    now_report = desk.report(PAYMENTS, days=30)
    assert now_report["stale_topics"] == []
    assert now_report["observed_at"] is not None
    # All just made: nothing can be told to be unused yet.
    assert {status for _, status, _ in _names(now_report)[1]} == {UNKNOWN_SINCE}

    later = desk.report(PAYMENTS, days=30, now=datetime.now(UTC) + 40 * DAY)
    topics, grants = _names(later)
    assert topics == ["payments.events", TOPIC]
    orders = later["stale_topics"][1]
    assert orders["reason"] == "never_written"
    assert orders["consuming_teams"] == ["ingest"]
    assert [g["principal"] for g in orders["grants"]] == [
        "User:ingest.reader", "User:payments.reader", "User:payments.writer"]
    # ingest.g committed and is caught up on a topic nobody writes: idle, not unused.
    assert sorted(grants) == [("User:payments.reader", UNUSED, "no_commits"),
                              ("User:payments.writer", UNUSED, "no_writes")]


def test_observations_keep_changed_at_while_commits_stand_still_and_ignore_older_gatherings(desk: Desk) -> None:
    desk.port.groups["ingest.g"] = FakeGroup({(TOPIC, 0): 4})

    def history() -> GroupCommitObservationRow:
        with unit_of_work(desk.engine) as session:
            row = session.get(GroupCommitObservationRow, (CLUSTER, TOPIC, "ingest.g"))
            assert row is not None
            return row

    gather_usage(desk.engine, desk.port, CLUSTER, now=T0)
    gather_usage(desk.engine, desk.port, CLUSTER, now=T0 + DAY)
    row = history()
    assert (row.first_seen_at, row.changed_at, row.seen_at, row.committed_offsets) == (T0, T0, T0 + DAY, 4)
    desk.port.groups["ingest.g"].committed[(TOPIC, 0)] = 9
    gather_usage(desk.engine, desk.port, CLUSTER, now=T0 + 2 * DAY)
    row = history()
    assert (row.first_seen_at, row.changed_at, row.committed_offsets) == (T0, T0 + 2 * DAY, 9)
    desk.port.groups["ingest.g"].committed[(TOPIC, 0)] = 1
    gather_usage(desk.engine, desk.port, CLUSTER, now=T0 + DAY)  # late: an older gathering loses
    row = history()
    assert (row.changed_at, row.seen_at, row.committed_offsets) == (T0 + 2 * DAY, T0 + 2 * DAY, 9)
    with unit_of_work(desk.engine) as session:
        usage = session.get(TopicUsageRow, (CLUSTER, TOPIC))
        assert usage is not None
        assert usage.gathered_at == T0 + 2 * DAY


def test_grants_whose_group_stopped_moving_while_the_topic_is_written_are_unused(desk: Desk) -> None:
    desk.port.groups["ingest.g"] = FakeGroup({(TOPIC, 0): 4})
    with unit_of_work(desk.engine) as session:  # made long ago
        session.execute(update(TopicRow).values(created_at=T0 - 90 * DAY))
        session.execute(update(AccessGrantRow).values(created_at=T0 - 90 * DAY))
    gather_usage(desk.engine, desk.port, CLUSTER, now=T0)
    desk.port.end_offsets[(TOPIC, 0)] = 20
    desk.port.last_write[TOPIC] = T0 + 35 * DAY
    gather_usage(desk.engine, desk.port, CLUSTER, now=T0 + 36 * DAY)
    report = desk.report(INGEST, days=30, now=T0 + 36 * DAY)
    assert report["stale_topics"] == []  # written 1 day ago; and not ingest's topic anyway
    [row] = [g for g in report["unused_grants"] if g["principal"] == "User:ingest.reader"]
    assert (row["status"], row["reason"], row["since"]) == (UNUSED, "commits_not_moving", "2027-01-01T00:00:00Z")
    assert row["committed_changed_at"] == row["group_first_seen_at"] == "2027-01-01T00:00:00Z"
    assert row["team"] == "ingest"
    assert row["owner_team"] == "payments"


def test_the_reconciler_gathers_usage_after_its_drift_scan_and_survives_a_failure(
    desk: Desk, caplog: pytest.LogCaptureFixture,
) -> None:
    def until(done: Any) -> Any:
        # stop() is asked many times per pass (before every write): stop on what the test waits for.
        deadline = time.monotonic() + 10
        return lambda: done() or time.monotonic() > deadline

    def observed() -> list[str]:
        with unit_of_work(desk.engine) as session:
            return sorted(r.topic for r in session.exec(select(TopicUsageRow)).all())

    run_forever(desk.engine, lambda _c, **_o: desk.port, interval=0, settings=FAST, drift_interval=0,
                stop=until(lambda: bool(observed())))
    assert observed() == ["payments.events", TOPIC]
    desk.port.unreachable = DOWN
    caplog.set_level(logging.ERROR)
    run_forever(desk.engine, lambda _c, **_o: desk.port, interval=0, settings=FAST, drift_interval=0,
                stop=until(lambda: "gathering usage evidence of payments-dev failed" in caplog.text))
    assert "gathering usage evidence of payments-dev failed" in caplog.text


# --- the API ----------------------------------------------------------------------------------------

def test_each_team_sees_its_report_and_another_teams_is_404(desk: Desk) -> None:
    assert desk.call("payments-owner", "POST", f"/api/v1/reports/stale/refresh?cluster={CLUSTER}").status_code == 200
    mine = desk.call("payments", "GET", "/api/v1/reports/stale")
    assert mine.status_code == 200, mine.json
    assert mine.json["teams"] == ["payments"]
    # Everything is new: the consume grants cannot be told yet, the producer's topic is not stale.
    assert {(g["principal"], g["status"]) for g in mine.json["unused_grants"]} == {
        ("User:payments.reader", UNKNOWN_SINCE), ("User:ingest.reader", UNKNOWN_SINCE)}  # on payments' topic
    theirs = desk.call("ingest", "GET", "/api/v1/reports/stale").json
    assert theirs["teams"] == ["ingest"]
    assert {g["principal"] for g in theirs["unused_grants"]} == {"User:ingest.reader"}  # held by ingest
    assert theirs["unobserved_topics"] == []
    other = desk.call("billing", "GET", "/api/v1/reports/stale?team=payments")
    assert other.status_code == 404
    assert other.mimetype == "application/problem+json"
    assert desk.call("billing", "GET", "/api/v1/reports/stale").json["unused_grants"] == []
    admin = desk.call("admin", "GET", "/api/v1/reports/stale?team=payments")
    assert admin.status_code == 200
    assert admin.json["teams"] == ["payments"]
    assert desk.call("admin", "GET", "/api/v1/reports/stale").json["teams"] == ["billing", "ingest", "payments",
                                                                                "platform"]
    assert desk.call("payments", "GET", "/api/v1/reports/stale?cluster=nowhere").status_code == 404
    assert desk.call("admin", "GET", "/api/v1/reports/stale?team=nobody").status_code == 404


def test_refresh_is_for_owners_of_the_clusters_team_and_a_silent_cluster_is_503(desk: Desk) -> None:
    path = f"/api/v1/reports/stale/refresh?cluster={CLUSTER}"
    assert desk.call("payments", "POST", path).status_code == 403
    assert desk.call("ingest-owner", "POST", path).status_code == 403
    with unit_of_work(desk.engine) as session:
        assert session.exec(select(TopicUsageRow)).all() == []
    done = desk.call("admin", "POST", path + "&team=payments&days=7")
    assert done.status_code == 200, done.json
    assert (done.json["cluster"], done.json["days"], done.json["teams"]) == (CLUSTER, 7, ["payments"])
    desk.port.unreachable = DOWN
    silent = desk.call("payments-owner", "POST", path)
    assert silent.status_code == 503
    assert silent.mimetype == "application/problem+json"
    assert "did not answer" in silent.json["detail"]
    assert desk.call("payments-owner", "POST", "/api/v1/reports/stale/refresh?cluster=nowhere").status_code == 404


@pytest.mark.parametrize(("query", "errors"), [
    ("days=0", {"/query/days"}),
    ("days=366", {"/query/days"}),
    ("days=-1", {"/query/days"}),
    ("days=ten", {"/query/days"}),
    ("team=&cluster=", {"/query/team", "/query/cluster"}),
    ("days=1.5&colour=red", {"/query/days", "/query/colour"}),
])
def test_bad_query_parameters_are_422_with_their_paths(desk: Desk, query: str, errors: set[str]) -> None:
    response = desk.call("payments", "GET", f"/api/v1/reports/stale?{query}")
    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    assert {e["path"] for e in response.json["errors"]} == errors


def test_refresh_needs_a_cluster_and_stores_nothing_on_bad_parameters(desk: Desk) -> None:
    response = desk.call("payments-owner", "POST", "/api/v1/reports/stale/refresh?days=0")
    assert response.status_code == 422
    assert {e["path"] for e in response.json["errors"]} == {"/query/cluster", "/query/days"}
    with unit_of_work(desk.engine) as session:
        assert session.exec(select(TopicUsageRow)).all() == []


def test_rows_carry_request_bodies_that_validate_and_are_accepted_as_requests(desk: Desk) -> None:
    gather_usage(desk.engine, desk.port, CLUSTER)
    report = desk.report(Identity("admin", {}, platform_admin=True), days=30, now=datetime.now(UTC) + 40 * DAY)
    assert schemas.schema_errors("https://topicdesk.dev/schemas/stale-report.json", report) == []
    rows = report["stale_topics"] + report["unused_grants"]
    assert {row["request"]["kind"] for row in rows} == {"topic.delete", "access.revoke"}
    for row in rows:
        schemas.validate_request(row["request"])
    revoke = next(r["request"] for r in report["unused_grants"] if r["principal"] == "User:payments.writer")
    assert revoke["spec"] == {"topic": TOPIC, "principal": "User:payments.writer", "access": "produce"}
    dry = desk.call("payments", "POST", "/api/v1/requests?dry_run=true", revoke)
    assert dry.status_code == 200, dry.json
    delete = next(r["request"] for r in report["stale_topics"] if r["topic"] == TOPIC)
    assert delete == {"kind": "topic.delete", "cluster": CLUSTER, "spec": {"name": TOPIC},
                      "reason": "stale: no writes for 30 days (stale report)"}
    # The API answers with the same shape.
    api = desk.call("admin", "GET", "/api/v1/reports/stale")
    assert schemas.schema_errors("https://topicdesk.dev/schemas/stale-report.json", api.json) == []


def test_topics_without_observations_are_listed_as_unobserved(desk: Desk) -> None:
    report = desk.report(PAYMENTS, days=30)
    assert report["unobserved_topics"] == [{"cluster": CLUSTER, "topic": "payments.events"},
                                           {"cluster": CLUSTER, "topic": TOPIC}]
    assert report["observed_at"] is None
    assert report["stale_topics"] == report["unused_grants"] == []
    with unit_of_work(desk.engine) as session:
        assert session.exec(select(GroupCommitObservationRow).where(
            col(GroupCommitObservationRow.cluster) == CLUSTER)).all() == []

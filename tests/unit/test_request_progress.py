"""What a request shows while the reconciler works on it: retries (attempts, Kafka's reason, the
next attempt, history), the outcome of each change, and the stored observation of its topics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from tests.fakes import FakeClusterPort, _Topic
from tests.support import approved_topic_request, desk_engine
from topicdesk.adapters.audit_log import sequence
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import (
    AuditEventRow,
    RequestRow,
    TopicObservationRow,
    utcnow,
)
from topicdesk.domain.identity import Identity, Role
from topicdesk.services.cluster_port import Outcome, OutcomeReason
from topicdesk.services.drift import scan_cluster
from topicdesk.services.executor import ApplySettings
from topicdesk.services.outcomes import RETRY_EVENTS_EVERY, RETRY_EVENTS_IN_FULL, note_progress, resource_pass
from topicdesk.services.queries import get_request
from topicdesk.services.reconcile import ReconcilerSettings
from topicdesk.services.reconcile_loop import run_once

FAST = ReconcilerSettings(backoff_initial=0, apply=ApplySettings(
    max_attempts=1, backoff_initial=0, readback_interval=0, readback_timeout=0.5, readback_max_attempts=3))
ADMIN = Identity("root", {"platform": Role.ADMIN}, platform_admin=True)
DOWN = Outcome.failure(OutcomeReason.UNAVAILABLE, "broker transport failure: connection refused", transient=True)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = desk_engine(tmp_path)
    yield engine
    engine.dispose()


def _view(engine: Engine, request_id: str) -> dict[str, object]:
    with unit_of_work(engine) as session:
        return get_request(session, ADMIN, request_id)


def test_a_request_on_an_unreachable_cluster_shows_its_retries_then_applies(engine: Engine) -> None:
    port = FakeClusterPort(unreachable=DOWN)
    request_id = approved_topic_request(engine, "payments.down")
    before = utcnow()
    [report] = run_once(engine, lambda _c, **_o: port, settings=FAST)
    assert report.retrying == 1
    view = _view(engine, request_id)
    assert view["status"] == "applying"
    assert view["attempts"] == 1
    assert view["last_error"] == {"reason": "unavailable", "message": "broker transport failure: connection refused"}
    assert isinstance(view["next_attempt_at"], str)
    assert view["next_attempt_at"] >= before.isoformat()[:19]
    assert view["error"] is None
    history = view["history"]
    assert isinstance(history, list)
    assert [(h["status"], h["event"]) for h in history] == [("applying", "applying"), ("applying", "retry")]
    assert history[1]["attempt"] == 1
    assert history[1]["error"]["reason"] == "unavailable"

    run_once(engine, lambda _c, **_o: port, settings=FAST)
    assert _view(engine, request_id)["attempts"] == 2

    port.unreachable = None
    run_once(engine, lambda _c, **_o: port, settings=FAST)
    view = _view(engine, request_id)
    assert view["status"] == "applied"
    assert (view["last_error"], view["next_attempt_at"], view["partial"]) == (None, None, False)
    assert port.topics["payments.down"].partitions == 2
    history = view["history"]
    assert isinstance(history, list)
    assert [h["event"] for h in history] == ["applying", "retry", "retry", "applied"]
    # Chained like every other event, with the reason in the audit log.
    sequence(engine)
    with unit_of_work(engine) as session:
        retries = session.exec(select(AuditEventRow).where(AuditEventRow.action == "request:retry")).all()
    assert [e.data["attempt"] for e in retries] == [1, 2]


def test_retry_events_are_capped_for_a_long_outage() -> None:
    request = RequestRow(id="r1", kind="topic.create", cluster="c1", requested_by="b", requester_team="payments",
                         owner_team="payments", status="applying")
    down = resource_pass("topic:c1/x", 1, [], DOWN, utcnow() + timedelta(seconds=300))
    events = [e for _ in range(40) if (e := note_progress(request, [down], "reconciler")) is not None]
    assert request.attempts == 40
    assert [e.data["attempt"] for e in events if e.data] == (
        list(range(1, RETRY_EVENTS_IN_FULL + 1)) + list(range(2 * RETRY_EVENTS_EVERY, 41, RETRY_EVENTS_EVERY)))


def test_a_refused_partition_decrease_next_to_a_retention_change_fails_partially(engine: Engine) -> None:
    port = FakeClusterPort()
    port.topics["payments.restore"] = _Topic(4, 1, {"retention.ms": "1000"})
    request_id = approved_topic_request(engine, "payments.restore", kind="topic.update", partitions=2,
                          config={"retention.ms": "86400000"})
    run_once(engine, lambda _c, **_o: port, settings=FAST)
    assert port.topics["payments.restore"].config["retention.ms"] == "86400000"
    assert port.topics["payments.restore"].partitions == 4
    view = _view(engine, request_id)
    assert view["status"] == "failed"
    assert view["partial"] is True
    outcomes = view["outcomes"]
    assert isinstance(outcomes, list)
    [resource] = outcomes
    assert resource["resource"] == "topic:c1/payments.restore"
    assert resource["status"] == "failed"
    by_change = {c["change"]: c for c in resource["changes"]}
    assert by_change["alter_topic_config"]["status"] == "applied"
    assert by_change["alter_topic_config"]["after"] == {"retention.ms": "86400000"}
    assert by_change["partition_decrease"]["status"] == "refused"
    assert by_change["partition_decrease"]["reason"] == "refused"
    error = view["error"]
    assert isinstance(error, dict)
    assert error["reason"] == "refused"
    assert "applied: alter_topic_config on topic:c1/payments.restore" in error["message"]
    assert "not applied: partition_decrease on topic:c1/payments.restore (refused)" in error["message"]


def test_a_transient_failure_next_to_a_refused_change_is_retried_first(engine: Engine) -> None:
    port = FakeClusterPort()
    port.topics["payments.mixed"] = _Topic(4, 1, {})
    port.script("alter_configs", "payments.mixed",
                Outcome.failure(OutcomeReason.THROTTLED, "throttled", transient=True))
    request_id = approved_topic_request(engine, "payments.mixed", kind="topic.update", partitions=2,
                          config={"retention.ms": "5000"})
    run_once(engine, lambda _c, **_o: port, settings=FAST)
    view = _view(engine, request_id)
    assert (view["status"], view["attempts"]) == ("applying", 1)
    assert view["last_error"] == {"reason": "throttled", "message": "throttled"}
    statuses = {c["change"]: c["status"] for c in view["outcomes"][0]["changes"]}  # type: ignore[index]
    assert statuses == {"alter_topic_config": "retrying", "partition_decrease": "refused"}

    run_once(engine, lambda _c, **_o: port, settings=FAST)
    view = _view(engine, request_id)
    assert (view["status"], view["partial"]) == ("failed", True)
    assert port.topics["payments.mixed"].config["retention.ms"] == "5000"


def test_the_pass_and_the_drift_scan_store_what_they_observed(engine: Engine) -> None:
    port = FakeClusterPort()
    approved_topic_request(engine, "payments.seen", config={"retention.ms": "7000"})
    run_once(engine, lambda _c, **_o: port, settings=FAST)
    with unit_of_work(engine) as session:
        row = session.get(TopicObservationRow, ("c1", "payments.seen"))
        assert row is not None
        assert row.observed == {"partitions": 2, "replication_factor": 1, "config": {"retention.ms": "7000"}}
        first = row.observed_at
    port.topics["payments.seen"].partitions = 5  # changed behind Topicdesk's back
    scan_cluster(engine, "c1", port)
    with unit_of_work(engine) as session:
        row = session.get(TopicObservationRow, ("c1", "payments.seen"))
        assert row is not None
        assert row.observed is not None
        assert row.observed["partitions"] == 5
        assert row.observed_at >= first
    del port.topics["payments.seen"]
    scan_cluster(engine, "c1", port)
    with unit_of_work(engine) as session:
        row = session.get(TopicObservationRow, ("c1", "payments.seen"))
        assert row is not None
        assert row.observed is None

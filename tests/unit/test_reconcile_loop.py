"""The reconciler's bookkeeping with an in-memory cluster: observed generations, back-off on
transient errors, parked permanent failures that fail their request, and the periodic drift scan."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from tests.fakes import FAST_RECONCILE as FAST
from tests.fakes import FakeClusterPort
from tests.support import approved_topic_request, desk_engine
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import (
    DriftItemRow,
    DriftReportRow,
    RequestRow,
    TopicRow,
)
from topicdesk.services.cluster_port import Outcome, OutcomeReason
from topicdesk.services.reconcile_loop import run_forever, run_once


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = desk_engine(tmp_path)
    yield engine
    engine.dispose()


def _status(engine: Engine, request_id: str) -> RequestRow:
    with unit_of_work(engine) as session:
        row = session.get(RequestRow, request_id)
        assert row is not None
        return row


def _topic(engine: Engine, name: str) -> TopicRow:
    with unit_of_work(engine) as session:
        return session.exec(select(TopicRow).where(TopicRow.name == name)).one()


def test_applied_generation_is_observed_and_the_request_applied(engine: Engine) -> None:
    port = FakeClusterPort()
    request_id = approved_topic_request(engine, "payments.a")
    [report] = run_once(engine, lambda _c, **_o: port, settings=FAST)
    assert (report.applied, report.failed, report.retrying) == (1, 0, 0)
    assert port.topics["payments.a"].partitions == 2
    assert _topic(engine, "payments.a").observed_generation == 1
    assert _status(engine, request_id).status == "applied"


def test_transient_error_backs_off_with_a_visible_error_then_succeeds(engine: Engine) -> None:
    port = FakeClusterPort()
    port.script("create_topics", "payments.b",
                Outcome.failure(OutcomeReason.THROTTLED, "throttled by the broker", transient=True))
    request_id = approved_topic_request(engine, "payments.b")
    [report] = run_once(engine, lambda _c, **_o: port, settings=FAST)
    assert report.retrying == 1
    topic = _topic(engine, "payments.b")
    assert topic.last_error_reason == "throttled"
    assert topic.not_before is not None
    assert _status(engine, request_id).status == "applying"
    # Still backing off: the next pass leaves it alone.
    assert run_once(engine, lambda _c, **_o: port, settings=FAST)[0].resources == 0
    with unit_of_work(engine) as session:
        row = session.exec(select(TopicRow).where(TopicRow.name == "payments.b")).one()
        row.not_before = None
        session.add(row)
    assert run_once(engine, lambda _c, **_o: port, settings=FAST)[0].applied == 1
    assert _topic(engine, "payments.b").last_error is None
    assert _status(engine, request_id).status == "applied"


def test_permanent_error_parks_the_generation_and_fails_the_request_with_kafkas_reason(engine: Engine) -> None:
    port = FakeClusterPort()
    port.script("create_topics", "payments.c",
                Outcome.failure(OutcomeReason.POLICY_VIOLATION, "Topic replication factor must be <= 1",
                                transient=False, kafka_error="POLICY_VIOLATION"))
    request_id = approved_topic_request(engine, "payments.c")
    [report] = run_once(engine, lambda _c, **_o: port, settings=FAST)
    assert report.failed == 1
    request = _status(engine, request_id)
    assert request.status == "failed"
    assert request.error == {"reason": "policy_violation", "message": "Topic replication factor must be <= 1"}
    # Parked: not retried until the desired state changes.
    assert run_once(engine, lambda _c, **_o: port, settings=FAST)[0].resources == 0


def test_the_loop_scans_for_drift_at_its_interval(engine: Engine) -> None:
    port = FakeClusterPort()
    approved_topic_request(engine, "payments.d")

    def scanned(unmanaged: list[str]) -> Callable[[], bool]:
        # stop() is asked many times per pass, so the loop stops on what it achieved, not a count.
        deadline = time.monotonic() + 20

        def check() -> bool:
            with unit_of_work(engine) as session:
                report = session.get(DriftReportRow, "c1")
                done = report is not None and report.unmanaged_topics == unmanaged
            assert time.monotonic() < deadline, "the loop never scanned"
            return done
        return check

    run_forever(engine, lambda _c, **_o: port, interval=0, settings=FAST, drift_interval=0, stop=scanned([]))
    port.topics["payments.stray"] = type(port.topics["payments.d"])(1, 1, {})
    run_forever(engine, lambda _c, **_o: port, interval=0, settings=FAST, drift_interval=0,
                stop=scanned(["payments.stray"]))
    with unit_of_work(engine) as session:
        report = session.get(DriftReportRow, "c1")
        assert report is not None
        assert session.exec(select(DriftItemRow)).all() == []
        assert report.unmanaged_topics == ["payments.stray"]


def test_the_loop_puts_back_what_its_drift_scan_found_on_an_enforcing_cluster(engine: Engine) -> None:
    port = FakeClusterPort()
    with unit_of_work(engine) as session:
        session.add(TopicRow(cluster="c1", name="payments.e", owner_team="payments", partitions=1,
                             replication_factor=1, config={"retention.ms": "3600000"},
                             managed_config_keys=["retention.ms"]))
    run_forever(engine, lambda _c, **_o: port, interval=0, settings=FAST, drift_interval=3600,
                stop=_until(lambda: "payments.e" in port.topics))
    port.topics["payments.e"].config["retention.ms"] = "1"

    def open_items() -> bool:
        with unit_of_work(engine) as session:
            return bool(session.exec(select(DriftItemRow)).all())
    # A pass scans (the interval is 0) and marks the topic dirty; the next one applies it.
    run_forever(engine, lambda _c, **_o: port, interval=0, settings=FAST, drift_interval=0,
                stop=_until(lambda: port.topics["payments.e"].config == {"retention.ms": "3600000"}
                            and not open_items()))
    assert port.topics["payments.e"].config == {"retention.ms": "3600000"}
    with unit_of_work(engine) as session:
        assert session.exec(select(DriftItemRow)).all() == []
        topic = session.exec(select(TopicRow).where(TopicRow.name == "payments.e")).one()
        assert topic.observed_generation == topic.generation == 1


def _until(done: Callable[[], bool], seconds: float = 20) -> Callable[[], bool]:
    """stop() for run_forever: it is asked many times per pass, so stop on what the test waits for."""
    deadline = time.monotonic() + seconds

    def check() -> bool:
        assert time.monotonic() < deadline, "the loop never got there"
        return done()
    return check

"""Leases renewed by heartbeat: short expiry for fast takeover, and a holder that lost its lease
stops applying and records nothing (the fencing token decides)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import select

from tests.fakes import FAST_RECONCILE as FAST
from tests.fakes import FakeClusterPort, _Topic
from tests.support import desk_engine
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import ClusterLeaseRow, ClusterRow, RequestRow, TopicRow
from topicdesk.services.leases import LeaseKeeper, claim_lease, ensure_leases, renew_lease
from topicdesk.services.reconcile import reconcile_cluster


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = desk_engine(tmp_path)
    ensure_leases(engine)
    yield engine
    engine.dispose()


def _cluster(engine: Engine) -> ClusterRow:
    with unit_of_work(engine) as session:
        row = session.get(ClusterRow, "c1")
        assert row is not None
        return row


def _steal(engine: Engine, holder: str = "other") -> None:
    """Another reconciler takes the lease, as after an expiry: holder and fencing token change."""
    with unit_of_work(engine) as session:
        session.execute(update(ClusterLeaseRow).where(ClusterLeaseRow.cluster == "c1")  # type: ignore[arg-type]
                        .values(holder=holder, fencing_token=ClusterLeaseRow.fencing_token + 1))


def test_the_heartbeat_keeps_a_short_lease_past_its_expiry(engine: Engine) -> None:
    # Lease lengths in seconds, not tenths: a loaded 2-core CI machine stalls a thread for longer.
    token = claim_lease(engine, "c1", "me", 1.5)
    assert token is not None
    keeper = LeaseKeeper(engine, "me", 1.5, every=0.1).start()
    keeper.hold("c1", token)
    try:
        time.sleep(3.0)  # twice the lease: only renewals keep it
        assert claim_lease(engine, "c1", "other", 1.5) is None
        assert keeper.holds("c1", token)
    finally:
        keeper.stop(release=True)
    # Released on a clean stop: another takes it at once, with a new fencing token.
    assert claim_lease(engine, "c1", "other", 1.5) == token + 1


def test_without_heartbeat_the_lease_expires_and_another_takes_over(engine: Engine) -> None:
    token = claim_lease(engine, "c1", "dead", 1.0)
    assert token is not None
    assert claim_lease(engine, "c1", "other", 1.0) is None
    time.sleep(1.1)
    assert claim_lease(engine, "c1", "other", 1.0) == token + 1
    assert not renew_lease(engine, "c1", "dead", token, 1.0)  # a late heartbeat of the old holder


def test_a_keeper_stops_trusting_a_lease_it_could_not_renew(engine: Engine) -> None:
    now = [0.0]
    token = claim_lease(engine, "c1", "me", 10)
    assert token is not None
    keeper = LeaseKeeper(engine, "me", 10, clock=lambda: now[0])
    keeper.hold("c1", token)
    now[0] = 7.9
    assert keeper.holds("c1", token)
    now[0] = 8.1  # 80 % of the lease without a renewal: it may lapse any moment
    assert not keeper.holds("c1", token)
    keeper.renew_all()
    assert keeper.holds("c1", token)
    _steal(engine)
    keeper.renew_all()  # the renewal finds another holder: the lease is gone for good
    assert not keeper.holds("c1", token)
    assert keeper.held() == {}


def test_a_lease_lost_mid_pass_stops_applying_and_records_nothing(engine: Engine) -> None:
    port = FakeClusterPort()
    port.topics["payments.old"] = _Topic(1, 1, {})
    with unit_of_work(engine) as session:
        session.add(TopicRow(cluster="c1", name="payments.new", owner_team="payments", partitions=1,
                             replication_factor=1))
        session.add(TopicRow(cluster="c1", name="payments.old", owner_team="payments", partitions=1,
                             replication_factor=1, config={"retention.ms": "1"}, managed_config_keys=["retention.ms"]))
    token = claim_lease(engine, "c1", "me", 30)
    assert token is not None
    keeper = LeaseKeeper(engine, "me", 30)
    keeper.hold("c1", token)

    def taken_over() -> None:
        _steal(engine)
        keeper.renew_all()  # what the heartbeat thread does every few seconds

    port.before_create = taken_over
    report = reconcile_cluster(engine, _cluster(engine), port, holder="me", token=token, settings=FAST,
                               keeper=keeper)
    assert report.error is not None
    assert "lease lost" in report.error
    # Topics are created before configs are altered: the config change was never sent.
    assert port.topics["payments.old"].config == {}
    with unit_of_work(engine) as session:
        assert all(row.observed_generation == 0 and row.attempts == 0 for row in session.exec(select(TopicRow)).all())


def test_fencing_discards_the_results_of_a_holder_whose_token_moved(engine: Engine) -> None:
    port = FakeClusterPort()
    with unit_of_work(engine) as session:
        session.add(TopicRow(cluster="c1", name="payments.fenced", owner_team="payments", partitions=1,
                             replication_factor=1))
        session.add(RequestRow(kind="topic.create", cluster="c1", spec={}, requested_by="b", requester_team="payments",
                               owner_team="payments", status="approved"))
    token = claim_lease(engine, "c1", "me", 30)
    assert token is not None
    port.before_create = lambda: _steal(engine)  # no keeper: only the fencing check can notice
    report = reconcile_cluster(engine, _cluster(engine), port, holder="me", token=token, settings=FAST)
    assert report.error == "lease lost; results discarded"
    assert "payments.fenced" in port.topics  # it did apply (a stalled holder might), but recorded nothing
    with unit_of_work(engine) as session:
        row = session.exec(select(TopicRow)).one()
        assert (row.observed_generation, row.applied_at) == (0, None)

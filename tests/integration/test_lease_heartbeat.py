"""Leases and stored observations on both databases: heartbeat renewal, expiry, takeover with a
new fencing token, and the bulk upsert of 10,000 topic observations in one go."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from tests.support import seed_teams
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import ClusterLeaseRow, ClusterRow, TopicObservationRow, new_id, utcnow
from topicdesk.domain.plan import ObservedTopic
from topicdesk.services.leases import LeaseKeeper, claim_lease, ensure_leases, renew_lease, still_holds
from topicdesk.services.observations import store_observations

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(engine: Engine) -> str:
    seed_teams(engine)
    name = f"hb-{new_id()[:8]}"
    with unit_of_work(engine) as session:
        session.add(ClusterRow(name=name, environment="dev", owner_team="payments", bootstrap_servers="x:1",
                               admin_secret_ref="env:X"))
    ensure_leases(engine)
    return name


def test_renewal_expiry_and_takeover(engine: Engine, cluster: str) -> None:
    first = claim_lease(engine, cluster, "a", 1.0)
    assert first is not None
    keeper = LeaseKeeper(engine, "a", 1.0, every=0.2).start()
    keeper.hold(cluster, first)
    try:
        deadline = time.monotonic() + 2.5  # 2.5 lease lengths: only the heartbeat keeps "a" in
        while time.monotonic() < deadline:
            assert claim_lease(engine, cluster, "b", 1.0) is None
            time.sleep(0.2)
        with unit_of_work(engine) as session:
            assert still_holds(session, cluster, "a", first)
    finally:
        keeper.stop(release=False)  # as if killed: no release, no more heartbeats
    started = time.monotonic()
    second = None
    while second is None and time.monotonic() - started < 5:
        second = claim_lease(engine, cluster, "b", 1.0)
        time.sleep(0.05)
    assert second == first + 1
    # About a lease length after the last renewal; loose because a loaded CI machine stalls threads.
    assert time.monotonic() - started < 3.0
    assert not renew_lease(engine, cluster, "a", first, 1.0)  # the old holder's late heartbeat
    with unit_of_work(engine) as session:
        assert not still_holds(session, cluster, "a", first)
        assert still_holds(session, cluster, "b", second)
        lease = session.get(ClusterLeaseRow, cluster)
        assert lease is not None
        assert lease.holder == "b"


def test_ten_thousand_observations_are_stored_in_bulk_and_replaced(engine: Engine, cluster: str) -> None:
    topics: dict[str, ObservedTopic | None] = {
        f"bulk.t{n:05d}": ObservedTopic(f"bulk.t{n:05d}", 3, 1, {"retention.ms": str(n)}) for n in range(10_000)}
    started = time.monotonic()
    with unit_of_work(engine) as session:
        store_observations(session, cluster, topics)
    elapsed = time.monotonic() - started
    topics["bulk.t00007"] = None  # deleted since
    later = utcnow()
    with unit_of_work(engine) as session:
        store_observations(session, cluster, topics, later)
    with unit_of_work(engine) as session:
        count = session.exec(select(func.count()).select_from(TopicObservationRow)
                             .where(col(TopicObservationRow.cluster) == cluster)).one()
        gone = session.get(TopicObservationRow, (cluster, "bulk.t00007"))
        kept = session.get(TopicObservationRow, (cluster, "bulk.t09999"))
    assert count == 10_000
    assert gone is not None
    assert gone.observed is None
    assert kept is not None
    assert kept.observed == {"partitions": 3, "replication_factor": 1, "config": {"retention.ms": "9999"}}
    assert abs((kept.observed_at - later).total_seconds()) < 0.001
    assert elapsed < 10, f"10,000 observations took {elapsed:.1f} s"

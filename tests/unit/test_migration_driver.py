"""The migration driver on in-memory clusters: every step's actions and gates, verification, rollback,
failed actions retried, and a crash re-derived from the clusters alone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from tests.fakes import FAST_RECONCILE, FakeClusterPort, FakeGroup, FakeMigrationProbe, FakeMirrorEngine
from tests.support import TEAMS, Desk, desk_engine
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import (
    AccessGrantRow,
    AuditEventRow,
    AuditInboxRow,
    MigrationRow,
    NotificationOutboxRow,
    RequestRow,
    TopicRow,
)
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain import migration_measure as measure
from topicdesk.domain.acls import ResourceType, bindings_for
from topicdesk.domain.identity import Role
from topicdesk.domain.migration_measure import PartitionEnds, SampledRecord
from topicdesk.domain.migration_verify import sample_offsets, verify
from topicdesk.domain.model import Access, AccessGrant, DesiredTopic, PatternType
from topicdesk.services.cluster_port import Outcome, OutcomeReason
from topicdesk.services.drift import scan_cluster
from topicdesk.services.migration_driver import drive_migrations
from topicdesk.services.mirror_port import MirrorState
from topicdesk.services.reconcile_loop import run_once
from topicdesk.services.tokens import create_token

TOPIC = "payments.invoices.v1"
GROUP = "billing.readers"
WRITER = "User:payments.invoice-writer"


@dataclass
class World:
    api: Desk
    ports: dict[str, FakeClusterPort]
    probes: dict[str, FakeMigrationProbe]
    mirror: FakeMirrorEngine

    def factory(self, cluster: Any, **_options: Any) -> FakeClusterPort:
        return self.ports[cluster.name]

    def drive(self, passes: int = 1) -> None:
        for _ in range(passes):
            run_once(self.api.engine, self.factory, settings=FAST_RECONCILE)
            drive_migrations(self.api.engine, self.factory, self.mirror,
                             probe_factory=lambda cluster, **_o: self.probes[cluster.name])

    def view(self, who: str = "owner") -> dict[str, Any]:
        [migration] = self.api.call(who, "GET", "/api/v1/migrations").json["items"]
        body: dict[str, Any] = migration
        return body

    def actions(self) -> list[str]:
        with unit_of_work(self.api.engine) as session:
            chained = [e.action for e in session.exec(select(AuditEventRow).order_by(col(AuditEventRow.seq))).all()]
            waiting = [e.action for e in session.exec(select(AuditInboxRow).order_by(col(AuditInboxRow.id))).all()]
            return [a for a in chained + waiting if a.startswith("migration:")]


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("X_USERNAME", "admin")
    monkeypatch.setenv("X_PASSWORD", "secret")
    engine = desk_engine(tmp_path, clusters={"legacy": "ingest", "payments-dev": "payments"},
                         teams=(*TEAMS, "billing"))
    ports = {"legacy": FakeClusterPort(), "payments-dev": FakeClusterPort()}
    ports["legacy"].create_topics([DesiredTopic(TOPIC, 2, 1, {"retention.ms": "86400000"})])
    # indirect "prefixed-group": the reader may use every group under "billing." (a prefixed ACL).
    reader = (AccessGrant("User:billing.reader", TOPIC, Access.CONSUME, group="billing.",
                          group_pattern=PatternType.PREFIXED)
              if getattr(request, "param", None) == "prefixed-group"
              else AccessGrant("User:billing.reader", TOPIC, Access.CONSUME, group=GROUP))
    writer = AccessGrant(WRITER, TOPIC, Access.PRODUCE)
    ports["legacy"].create_acls(sorted(bindings_for(reader) | bindings_for(writer)))
    ports["legacy"].groups[GROUP] = FakeGroup({(TOPIC, 0): 3, (TOPIC, 1): 2}, members=1)
    probes = {name: FakeMigrationProbe(port) for name, port in ports.items()}
    probes["legacy"].write(TOPIC, 0, *[f"a{n}".encode() for n in range(12)])
    probes["legacy"].write(TOPIC, 1, *[f"b{n}".encode() for n in range(7)])
    tokens = {who: create_token(engine, team=team, name=who, role=role, actor="t").token
              for who, (team, role) in {"member": ("payments", Role.MEMBER), "owner": ("payments", Role.OWNER),
                                        "ingest-owner": ("ingest", Role.OWNER), "billing": ("billing", Role.OWNER),
                                        "admin": ("platform", Role.ADMIN)}.items()}
    settings = Settings.from_env({"DATABASE_URL": str(engine.url), "TOPICDESK_DATA_DIR": str(tmp_path),
                                  "TOPICDESK_WRITE_BURST": "1000"})
    app = create_app(settings, engine=engine, port_factory=lambda cluster, **_options: ports[cluster.name])
    api = Desk(app, engine, ports["legacy"], tokens)
    submitted = api.call("member", "POST", "/api/v1/requests",
                         {"kind": "topic.migrate", "cluster": "legacy", "spec": {"target_cluster": "payments-dev",
                                                                                 "topics": [TOPIC]}})
    assert submitted.status_code == 201, submitted.json
    for who in ("owner", "ingest-owner"):
        approved = api.call(who, "POST", f"/api/v1/requests/{submitted.json['id']}/approve", {})
        assert approved.status_code == 200, approved.json
    yield World(api, ports, probes, FakeMirrorEngine(probes))
    engine.dispose()


def _cut_consumers_over(world: World) -> None:
    world.ports["legacy"].groups[GROUP].members = 0
    world.ports["payments-dev"].groups.setdefault(GROUP, FakeGroup()).members = 1


def test_a_migration_is_driven_through_every_gate_to_done(world: World) -> None:
    world.drive()  # desired state written and the SCRAM users set; not on the target yet
    view = world.view()
    assert view["step"] == "planned"
    assert {g["fact"]: g["passes"] for g in view["gate"]} == {"target_topics_created": False,
                                                              "target_grants_created": False}
    target = world.ports["payments-dev"]
    assert {"User:billing.reader", WRITER} <= set(target.scram_users)
    world.drive()  # the reconciler applied it; the gate reads the target back
    assert target.topics[TOPIC].partitions == 2
    assert target.topics[TOPIC].config["retention.ms"] == "86400000"
    view = world.view()
    assert view["step"] == "mirroring", view
    assert view["history"][-1]["facts"]["target_topics_created"] is True

    world.drive()
    view = world.view()
    assert view["step"] == "consumers_cut_over", (view["facts"], view["last_error"])
    assert view["lag"]["total"] == 0
    assert [p["source_end"] for p in view["lag"]["partitions"]] == [12, 7]
    assert view["mirror"]["state"] == "running"
    assert view["groups"] == [{"group": GROUP, "team": "billing", "source_members": 1, "target_members": 0,
                               "offsets_translated": True, "ready_on_target": False, "translation": "mirrormaker",
                               "translation_note": "running on the source"}]
    consumer = next(a for a in view["team_actions"] if a["role"] == "consumer")
    assert consumer["team"] == "billing"
    assert not consumer["done"]
    assert "Stop group billing.readers" in consumer["now"][0]

    world.drive()  # the group still runs on the source: writes stay allowed
    assert world.view()["step"] == "consumers_cut_over"
    assert not measure.write_deny([TOPIC]) <= world.ports["legacy"].acls

    _cut_consumers_over(world)
    world.drive()
    view = world.view()
    assert measure.write_deny([TOPIC]) <= world.ports["legacy"].acls
    assert view["step"] == "producers_cut_over", (view["gate"], view["last_error"])
    assert view["verification"]["passed"] is True
    assert [(p["source_count"], p["target_count"], p["identical"]) for p in view["verification"]["partitions"]] == [
        (12, 12, True), (7, 7, True)]
    assert view["can_roll_back"] is False

    world.drive()  # the mirror is stopped; nobody writes to the target yet
    view = world.view()
    assert view["step"] == "producers_cut_over"
    assert world.mirror.running == {}
    assert view["facts"]["mirror_stopped"] is True
    assert {g["fact"]: g["passes"] for g in view["gate"]} == {"producers_active_on_target": False,
                                                              "mirror_stopped": True}
    world.probes["payments-dev"].write(TOPIC, 0, b"first on the target")
    world.drive(2)
    view = world.view()
    assert view["step"] == "done", (view["gate"], view["last_error"])
    assert measure.quarantine_deny([TOPIC]) <= world.ports["legacy"].acls
    assert TOPIC in world.ports["legacy"].topics  # quarantined, never deleted
    assert view["finished_at"] is not None
    with unit_of_work(world.api.engine) as session:
        request = session.exec(select(RequestRow)).one()
        assert request.status == "applied"
    assert world.actions() == ["migration:create", "migration:prepare", "migration:advance",
                               "migration:mirror-access", "migration:advance", "migration:verify",
                               "migration:advance", "migration:mirror-cleanup", "migration:advance",
                               "migration:advance", "migration:done"]
    assert drive_migrations(world.api.engine, world.factory, world.mirror) == 0  # nothing left to drive


def _at_consumers_cut_over(world: World, gap: int) -> FakeGroup:
    """The group committed 3 and 2 on the source; MirrorMaker's sync lags `gap` records behind."""
    world.mirror.translation_gap = gap
    world.drive(3)
    assert world.view()["step"] == "consumers_cut_over"
    return world.ports["payments-dev"].groups[GROUP]


def _consumer_now(world: World) -> str:
    consumer = next(a for a in world.view()["team_actions"] if a["role"] == "consumer")
    now: str = consumer["now"][0]
    return now


def test_a_group_idle_on_both_sides_gets_exact_offsets_on_the_target(world: World) -> None:
    on_target = _at_consumers_cut_over(world, gap=2)
    assert on_target.committed == {(TOPIC, 0): 1, (TOPIC, 1): 0}  # MirrorMaker's coarse translation
    assert world.probes["payments-dev"].commits == []  # still running on the source: nothing committed
    assert "wait until it shows ready" in _consumer_now(world)

    world.ports["legacy"].groups[GROUP].members = 0  # stopped on the source, not started on the target
    world.drive()
    assert world.probes["payments-dev"].commits == [(GROUP, {(TOPIC, 0): 3, (TOPIC, 1): 2})]
    assert on_target.committed == {(TOPIC, 0): 3, (TOPIC, 1): 2}
    [row] = world.view()["groups"]
    assert (row["ready_on_target"], row["translation"], row["translation_note"]) == (True, "exact", "")
    assert _consumer_now(world).startswith(f"Start group {GROUP} on payments-dev now")

    world.drive()  # MirrorMaker's sync does not move it back; nothing left to commit
    assert on_target.committed == {(TOPIC, 0): 3, (TOPIC, 1): 2}
    assert len(world.probes["payments-dev"].commits) == 1
    on_target.members = 1
    world.drive()
    assert world.view()["step"] == "producers_cut_over"


def test_a_differing_boundary_record_keeps_mirrormakers_translation(world: World) -> None:
    on_target = _at_consumers_cut_over(world, gap=2)
    copied = world.probes["payments-dev"].records[(TOPIC, 0)]
    copied[2] = SampledRecord(None, b"not what the source has", (), copied[2].timestamp)
    world.ports["legacy"].groups[GROUP].members = 0
    world.drive()
    [row] = world.view()["groups"]
    assert (row["ready_on_target"], row["translation"]) == (False, "mirrormaker")
    assert f"{TOPIC}-0: the target's record at 2 differs" in row["translation_note"]
    # Partition 1's boundary matched: exact there; partition 0 keeps MirrorMaker's offset.
    assert world.probes["payments-dev"].commits == [(GROUP, {(TOPIC, 1): 2})]
    assert on_target.committed == {(TOPIC, 0): 1, (TOPIC, 1): 2}
    assert "MirrorMaker's translated offsets" in _consumer_now(world)


def test_no_exact_commit_while_the_group_has_members_on_the_target(world: World) -> None:
    on_target = _at_consumers_cut_over(world, gap=2)
    on_target.members = 1  # started on the target before it stopped on the source
    world.drive()
    world.ports["legacy"].groups[GROUP].members = 0
    world.drive()
    assert world.probes["payments-dev"].commits == []
    assert on_target.committed == {(TOPIC, 0): 1, (TOPIC, 1): 0}
    [row] = world.view()["groups"]
    assert (row["ready_on_target"], row["translation"]) == (False, "mirrormaker")


def test_the_mirror_not_yet_past_the_commit_is_pending_not_refused(world: World) -> None:
    on_target = _at_consumers_cut_over(world, gap=2)
    world.mirror.paused = True
    world.probes["legacy"].write(TOPIC, 0, b"a12", b"a13")
    world.ports["legacy"].groups[GROUP].committed[(TOPIC, 0)] = 14  # read past what the target has
    world.ports["legacy"].groups[GROUP].members = 0
    world.drive()
    [row] = world.view()["groups"]
    assert (row["ready_on_target"], row["translation"]) == (False, "mirrormaker")
    assert "not copied offset 13" in row["translation_note"]
    assert "wait until it shows ready" in _consumer_now(world)
    world.mirror.paused = False
    world.drive()
    assert on_target.committed[(TOPIC, 0)] == 14
    assert world.view()["groups"][0]["ready_on_target"] is True


def test_lag_above_the_threshold_or_untranslated_offsets_hold_the_mirroring_step(world: World) -> None:
    world.drive(2)
    assert world.view()["step"] == "mirroring"
    world.mirror.paused = True
    world.probes["legacy"].write(TOPIC, 0, *[b"x"] * 1500)
    world.drive()
    view = world.view()
    assert view["step"] == "mirroring"
    assert view["lag"]["max"] >= 1500
    failing = [g["fact"] for g in view["gate"] if not g["passes"]]
    assert "max_partition_lag" in failing
    world.mirror.paused = False
    world.drive()
    assert world.view()["step"] == "consumers_cut_over"
    assert len(world.view()["lag"]["history"]) >= 2


def test_a_refused_action_is_kept_as_last_error_and_retried(world: World) -> None:
    world.drive(4)
    _cut_consumers_over(world)
    for binding in measure.write_deny([TOPIC]):
        world.ports["legacy"].script("create_acls", binding.key,
                                     Outcome.failure(OutcomeReason.NOT_AUTHORIZED, "no", transient=False))
    world.drive()
    view = world.view()
    assert view["step"] == "consumers_cut_over"
    assert "DENY WRITE" in view["last_error"]
    world.drive()
    view = world.view()
    assert view["step"] == "producers_cut_over"
    assert view["last_error"] is None


def test_an_unreachable_cluster_or_mirror_engine_is_an_error_not_a_step(world: World) -> None:
    world.drive(2)
    assert world.view()["step"] == "mirroring"
    world.probes["payments-dev"].unreachable = "target down"
    world.drive()
    assert world.view()["last_error"] == "target down"
    world.probes["payments-dev"].unreachable = None
    world.mirror.state = MirrorState.UNREACHABLE
    world.drive()
    view = world.view()
    assert view["step"] == "mirroring"
    assert view["mirror"]["state"] == "unreachable"


def test_a_crash_is_re_derived_from_the_clusters(world: World) -> None:
    """Actions already taken by a pass that died before recording them are found again, not repeated."""
    world.drive(4)
    _cut_consumers_over(world)
    # The "crashed" pass added the DENY ACLs and died: the row knows nothing of it.
    world.ports["legacy"].create_acls(sorted(measure.write_deny([TOPIC])))
    before = len(world.ports["legacy"].acls)
    world.drive()
    assert world.view()["step"] == "producers_cut_over"
    assert len(world.ports["legacy"].acls) == before
    with unit_of_work(world.api.engine) as session:
        # Desired state written once, however many passes ran.
        assert len(session.exec(select(TopicRow).where(TopicRow.cluster == "payments-dev")).all()) == 1
        assert len(session.exec(select(AccessGrantRow).where(AccessGrantRow.cluster == "payments-dev")).all()) == 2
    assert world.actions().count("migration:prepare") == 1


def test_rollback_stops_the_mirror_and_gives_the_source_back(world: World) -> None:
    world.drive(4)
    _cut_consumers_over(world)
    world.ports["legacy"].create_acls(sorted(measure.write_deny([TOPIC])))  # as if the driver had
    migration_id = world.view()["id"]
    path = f"/api/v1/migrations/{migration_id}/rollback"
    assert world.api.call("member", "POST", path, {"reason": "no"}).status_code == 403
    assert world.api.call("owner", "POST", path, {"reason": "  "}).status_code == 422
    assert world.api.call("billing", "GET", f"/api/v1/migrations/{migration_id}").status_code == 404
    rolled = world.api.call("ingest-owner", "POST", path, {"reason": "the target is too small"})
    assert rolled.status_code == 200, rolled.json
    assert rolled.json["step"] == "rolled_back"
    owner = next(a for a in rolled.json["team_actions"] if a["role"] == "owner")
    assert "kept" in owner["now"][0]
    drive_migrations(world.api.engine, world.factory, world.mirror,
                     probe_factory=lambda cluster, **_o: world.probes[cluster.name])
    view = world.view()
    assert world.mirror.running == {}
    assert not measure.write_deny([TOPIC]) & world.ports["legacy"].acls
    assert TOPIC in world.ports["payments-dev"].topics  # the target topics are kept
    assert view["finished_at"] is not None
    with unit_of_work(world.api.engine) as session:
        request = session.exec(select(RequestRow)).one()
        assert (request.status, (request.error or {}).get("reason")) == ("failed", "rolled_back")
    assert world.api.call("owner", "POST", path, {"reason": "again"}).status_code == 409


def test_no_rollback_once_producers_switch_and_owners_confirm_the_switch(world: World) -> None:
    world.drive(4)
    migration_id = world.view()["id"]
    switched = f"/api/v1/migrations/{migration_id}/producers-switched"
    assert world.api.call("owner", "POST", switched).status_code == 409  # not at producers_cut_over yet
    _cut_consumers_over(world)
    world.drive()
    assert world.view()["step"] == "producers_cut_over"
    refused = world.api.call("owner", "POST", f"/api/v1/migrations/{migration_id}/rollback", {"reason": "x"})
    assert refused.status_code == 409
    assert "lose" in refused.json["detail"]
    assert world.api.call("ingest-owner", "POST", switched).status_code == 403
    confirmed = world.api.call("owner", "POST", switched)
    assert confirmed.status_code == 200, confirmed.json
    assert confirmed.json["producers_switched_by"]
    world.drive(2)
    assert world.view()["step"] == "done"


def test_without_a_mirror_engine_nothing_is_driven(world: World) -> None:
    assert drive_migrations(world.api.engine, world.factory, None) == 0
    with unit_of_work(world.api.engine) as session:
        assert session.exec(select(MigrationRow)).one().facts == {}


def _record(value: bytes, stamp: int = 1) -> SampledRecord:
    return SampledRecord(b"k", value, (("h", b"v"),), stamp)


def test_verification_compares_counts_and_sampled_records_at_mapped_offsets() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    source = {("t", 0): PartitionEnds(100, 200)}
    target = {("t", 0): PartitionEnds(0, 100)}
    offsets = sample_offsets(source[("t", 0)], 5)
    assert offsets[0] == 100
    assert offsets[-1] == 199
    assert len(offsets) == 7
    src = {("t", 0, o): _record(str(o).encode()) for o in offsets}
    tgt = {("t", 0, o - 100): _record(str(o).encode()) for o in offsets}
    result = verify(source, target, src, tgt, at=at)
    assert result["passed"] is True
    assert result["partitions"] == [{"topic": "t", "partition": 0, "source_count": 100, "target_count": 100,
                                     "sampled": 7, "identical": True}]
    tgt[("t", 0, offsets[3] - 100)] = _record(str(offsets[3]).encode(), stamp=2)
    broken = verify(source, target, src, tgt, at=at)
    assert broken["passed"] is False
    assert broken["mismatches"][0]["problem"] == "records differ in timestamp"
    short = verify(source, {("t", 0): PartitionEnds(0, 99)}, src, tgt, at=at)
    assert short["mismatches"][0]["problem"] == "record counts differ"
    assert verify({}, {}, {}, {}, at=at)["passed"] is False  # nothing compared proves nothing


def test_lag_is_counted_per_partition_and_clamped() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    view = measure.lag_view({("t", 0): PartitionEnds(10, 30), ("t", 1): PartitionEnds(0, 5)},
                            {("t", 0): PartitionEnds(0, 15), ("t", 1): PartitionEnds(0, 9)}, at)
    assert [p["lag"] for p in view["partitions"]] == [5, 0]
    assert (view["total"], view["max"]) == (5, 5)
    history: dict[str, Any] = {"history": [{"at": "x", "total": 1, "max": 1}] * 130}
    assert len(measure.lag_view({}, {}, at, history)["history"]) == measure.LAG_HISTORY


def test_teams_concerned_are_notified_of_each_step_in_the_transition(world: World) -> None:
    hook = world.api.call("billing", "POST", "/api/v1/teams/billing/notifications/subscriptions",
                          {"url": "http://localhost:9/hook", "event_types": ["migration.step"]})
    assert hook.status_code == 201, hook.json
    world.drive(3)
    assert world.view()["step"] == "consumers_cut_over"
    with unit_of_work(world.api.engine) as session:
        sent = session.exec(select(NotificationOutboxRow).where(
            NotificationOutboxRow.subscription_id == hook.json["id"])).all()
    assert [(n.event_type, n.data["to"]) for n in sent] == [("migration.step", "mirroring"),
                                                            ("migration.step", "consumers_cut_over")]
    assert "Consuming teams" in sent[-1].data["now"][0]


@pytest.mark.parametrize("world", ["prefixed-group"], indirect=True)
def test_a_prefixed_group_grant_is_prefixed_on_the_target(world: World) -> None:
    """The target gets the source's prefixed group ACL as it was (not a literal group named "billing."),
    as desired state the reconciler applies and the drift scan finds managed."""
    world.drive(2)
    assert world.view()["step"] == "mirroring", world.view()["facts"]
    target = world.ports["payments-dev"]
    groups = {(b.resource_name, b.pattern) for b in target.acls
              if b.resource_type is ResourceType.GROUP and b.principal == "User:billing.reader"}
    assert groups == {("billing.", PatternType.PREFIXED)}
    with unit_of_work(world.api.engine) as session:
        grant = session.exec(select(AccessGrantRow).where(AccessGrantRow.cluster == "payments-dev",
                                                          AccessGrantRow.access == "consume")).one()
        assert (grant.group_id, grant.group_pattern) == ("billing.", "prefixed")
    scan = scan_cluster(world.api.engine, "payments-dev", target)
    assert not [b for b in scan.unmanaged_acls if b["principal"] == "User:billing.reader"]
    world.drive()  # written once: the next passes find it in place
    assert world.actions().count("migration:prepare") == 1


def test_the_migrations_deny_acls_are_not_drift_on_the_source(world: World) -> None:
    world.drive(4)
    _cut_consumers_over(world)
    world.drive()
    assert measure.write_deny([TOPIC]) <= world.ports["legacy"].acls
    scan = scan_cluster(world.api.engine, "legacy", world.ports["legacy"])
    assert not [b for b in scan.unmanaged_acls if b["principal"] == "User:*"]
    assert not [i for i in scan.items if "User:*" in str(i)]


def test_a_group_without_commits_on_the_source_is_ready_on_the_target_at_once() -> None:
    from topicdesk.domain.migration_measure import GroupObservation, group_facts

    moved = [{"group": "billing.new-readers", "team": "billing", "members": 0}]
    source = {"billing.new-readers": GroupObservation("billing.new-readers", 0, "EMPTY", {})}
    rows, _facts = group_facts(moved, source, {})
    assert rows[0]["ready_on_target"] is True
    assert rows[0]["translation_pending"] is False
    assert "auto.offset.reset" in rows[0]["translation_note"]
    running = {"billing.new-readers": GroupObservation("billing.new-readers", 2, "STABLE", {})}
    rows, _ = group_facts(moved, running, {})
    assert rows[0]["ready_on_target"] is False
    assert rows[0]["translation_note"] == "running on the source"

"""The migration driver: moves each migration through its steps, level-triggered (issue 15 items 5, 6).

`drive_migrations` runs in every reconcile pass (services/reconcile_loop.py) for the migrations
whose TARGET cluster this process holds the lease of, so one process drives a migration. For the
current step it

  (a) performs the step's actions, idempotently (desired-state rows on the target, the mirror,
      DENY ACLs on the source),
  (b) measures the next gate's facts from the real clusters (bulk reads on both),
  (c) stores facts, lag, mirror status and groups on the row,
  (d) advances with domain/migration.advance when the gate passes: the new step, its audit event
      (`migration:advance`, with the facts) and the teams' notifications in one transaction.

Nothing is kept in memory between passes: a crash anywhere is re-derived by the next pass from
the clusters (the mirror process outlives the reconciler). A failed action or read is stored as
the row's `last_error` and tried again next pass; it never moves the step.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from topicdesk.adapters import migration_store
from topicdesk.adapters.audit_log import NewEvent, record_events
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.migration_clients import kafka_probe_for
from topicdesk.adapters.tables import ClusterRow, MigrationRow, RequestRow, utcnow
from topicdesk.domain import migration_measure as measure
from topicdesk.domain import migration_offsets as offsets
from topicdesk.domain.migration import DEFAULT_LAG_THRESHOLD, TERMINAL, Step, TransitionRefused, advance
from topicdesk.domain.migration_verify import DEFAULT_SAMPLES, samples, verify
from topicdesk.services import migration_mirror
from topicdesk.services.cluster_port import ClusterPort, ScramCredential, close_port
from topicdesk.services.migration_probe import GroupObservation, MigrationProbe, PartitionEnds, ProbeUnavailable
from topicdesk.services.mirror_port import MirrorEngine, MirrorState, MirrorStatus

log = logging.getLogger(__name__)

ACTOR = "migration-driver"
PortFactory = Callable[..., ClusterPort]
ProbeFactory = Callable[..., MigrationProbe]
STOPPED = frozenset({MirrorState.ABSENT, MirrorState.STOPPED})


@dataclass(frozen=True)
class DriverSettings:
    lag_threshold: int = DEFAULT_LAG_THRESHOLD
    samples: int = DEFAULT_SAMPLES  # spread samples per partition, besides the first and the last record
    offset_lag_max: int = 100  # MirrorSpec.offset_lag_max; the exact translation bounds the re-read, not this
    request_timeout: float = 10.0


@dataclass
class Measured:
    """One pass's readings of a migration: what the row gets, and the events to record with it."""

    facts: dict[str, Any] = field(default_factory=dict)
    lag: dict[str, Any] | None = None
    mirror: dict[str, Any] | None = None
    groups: list[dict[str, Any]] | None = None
    verification: dict[str, Any] | None = None
    events: list[NewEvent] = field(default_factory=list)
    error: str | None = None
    finished: bool = False


class _Sides:
    """Ports and probes of both clusters, opened on first use in a pass and closed after it."""

    def __init__(self, engine: Engine, source: ClusterRow, target: ClusterRow, ports: PortFactory,
                 probes: ProbeFactory, timeout: float) -> None:
        self.engine, self.source, self.target = engine, source, target
        self._ports, self._probes, self._timeout = ports, probes, timeout
        self._open: dict[tuple[str, str], Any] = {}

    def port(self, side: str) -> ClusterPort:
        key = ("port", side)
        if key not in self._open:
            self._open[key] = self._ports(self.source if side == "source" else self.target,
                                          request_timeout=self._timeout)
        port: ClusterPort = self._open[key]
        return port

    def probe(self, side: str) -> MigrationProbe:
        key = ("probe", side)
        if key not in self._open:
            self._open[key] = self._probes(self.source if side == "source" else self.target,
                                           request_timeout=self._timeout)
        probe: MigrationProbe = self._open[key]
        return probe

    def close(self) -> None:
        for opened in self._open.values():
            close_port(opened)
        self._open.clear()


def drive_migrations(engine: Engine, port_factory: PortFactory, mirror_engine: MirrorEngine | None, *,
                     clusters: Collection[str] | None = None, probe_factory: ProbeFactory | None = None,
                     settings: DriverSettings | None = None, now: Callable[[], datetime] = utcnow) -> int:
    """Drive every unfinished migration whose target is in `clusters` (the leases held; None: all).
    Without a mirror engine nothing is driven. Returns how many migrations were looked at."""
    if mirror_engine is None:
        return 0
    with unit_of_work(engine) as session:
        ids = migration_store.unfinished_migrations(session, clusters)
    for migration_id in ids:
        try:
            drive_one(engine, migration_id, port_factory, mirror_engine, probe_factory=probe_factory,
                      settings=settings, now=now)
        except Exception as exc:  # one broken migration must not stop the others, nor the reconciler
            log.exception("driving migration %s failed", migration_id)
            _store_error(engine, migration_id, f"{type(exc).__name__}: {exc}", now())
    return len(ids)


def drive_one(engine: Engine, migration_id: str, port_factory: PortFactory, mirror_engine: MirrorEngine, *,
              probe_factory: ProbeFactory | None = None, settings: DriverSettings | None = None,
              now: Callable[[], datetime] = utcnow) -> None:
    cfg = settings or DriverSettings()
    with unit_of_work(engine) as session:
        row = migration_store.migration_by_id(session, migration_id)
        if row is None or row.finished_at is not None:
            return
        source, target = session.get(ClusterRow, row.source_cluster), session.get(ClusterRow, row.target_cluster)
        session.expunge(row)
    if source is None or target is None:
        return
    step = Step(row.step)
    sides = _Sides(engine, source, target, port_factory, probe_factory or kafka_probe_for, cfg.request_timeout)
    try:
        measured = _STEPS[step](row, sides, mirror_engine, cfg, now())
    except ProbeUnavailable as exc:
        measured = Measured(error=str(exc))
    except Exception as exc:  # a cluster refusing or unreachable: stored, retried next pass
        log.warning("migration %s at %s: %s", migration_id, step, exc)
        measured = Measured(error=f"{type(exc).__name__}: {exc}")
    finally:
        sides.close()
    _record(engine, row, step, measured, cfg, now(), source.owner_team)


# --- the steps ----------------------------------------------------------------------------------

def _planned_topics(row: MigrationRow) -> list[dict[str, Any]]:
    return [t for t in row.plan.get("topics", ()) if not t.get("refused") and t["name"] in row.topics]


def _needed_accounts(row: MigrationRow) -> list[dict[str, Any]]:
    return [s for s in row.plan.get("service_accounts", ()) if s.get("action") == "create_scram_credentials"]


def _planned(row: MigrationRow, sides: _Sides, _mirror: MirrorEngine, _cfg: DriverSettings,
             at: datetime) -> Measured:
    """Create the plan's topics, grants and service accounts on the target through desired state;
    measure whether the target cluster has them."""
    out = Measured()
    topics = _planned_topics(row)
    grants = measure.planned_grants(row.plan, row.topics)
    port = sides.port("target")
    observed = port.describe([t["name"] for t in topics])
    missing_users = [s for s in _needed_accounts(row) if s["principal"] not in observed.scram_users]
    if missing_users:
        # A password nobody knows yet: the owning team takes its own with a rotate (shown once).
        outcomes = port.upsert_scram_users([ScramCredential(s["principal"], secrets.token_urlsafe(32))
                                            for s in missing_users])
        refused = [f"{p}: {o.message}" for p, o in outcomes.items() if not o.ok]
        if refused:
            out.error = "the target refused SCRAM credentials: " + "; ".join(refused)
    specs = [{"name": t["name"], "partitions": t["partitions"], "replication_factor": t["replication_factor"],
              "config": dict(t.get("config") or {}),
              "description": f"migrated from {row.source_cluster} (migration {row.id})"} for t in topics]
    wanted = [(g.topic, g.principal, str(g.access), g.group or "", str(g.group_pattern), g.transactional_id or "")
              for g in grants]
    with unit_of_work(sides.engine) as session:
        written = migration_store.write_target_desired_state(session, row.target_cluster, row.owner_team, specs,
                                                             wanted)
        accounts = [s["principal"] for s in _needed_accounts(row)
                    if migration_store.ensure_service_account(session, row.target_cluster, s["principal"],
                                                              str(s.get("team") or row.owner_team))]
        if written["topics"] or written["grants"] or accounts:
            record_events(session, [NewEvent(ACTOR, "migration:prepare", f"migration:{row.id}", team=row.owner_team,
                                             data={"target": row.target_cluster, **written,
                                                   "service_accounts": accounts})])
    users = set(observed.scram_users) | {s["principal"] for s in missing_users if out.error is None}
    not_yet = measure.topics_not_as_planned(topics, observed.topics)
    missing = measure.grants_missing(grants, observed.acls, [s["principal"] for s in _needed_accounts(row)],
                                     frozenset(users))
    # The reasons are facts too: the API shows what the target still lacks.
    out.facts = {"target_topics_created": not not_yet, "target_grants_created": not missing,
                 "target_topics_pending": not_yet, "target_grants_pending": missing}
    return out


def _run_mirror(row: MigrationRow, sides: _Sides, mirror: MirrorEngine, cfg: DriverSettings,
                out: Measured) -> MirrorStatus:
    """The mirror as its own principal, granted first (services/migration_mirror.py)."""
    done = migration_mirror.run(row, sides.port, {"source": sides.source, "target": sides.target}, mirror,
                                offset_lag_max=cfg.offset_lag_max, actor=ACTOR)
    out.mirror, out.error, out.events = done.view, done.error, [*out.events, *done.events]
    return done.status


def _clean_up(row: MigrationRow, sides: _Sides, status: MirrorStatus, out: Measured, at: datetime) -> bool:
    done = migration_mirror.clean_up(row, sides.port, status, at, actor=ACTOR)
    out.mirror, out.events, out.error = done.view, [*out.events, *done.events], done.error or out.error
    return done.clean


def _ends(sides: _Sides, row: MigrationRow) -> tuple[dict[Any, PartitionEnds], dict[Any, PartitionEnds]]:
    return sides.probe("source").partition_ends(row.topics), sides.probe("target").partition_ends(row.topics)


def _groups(sides: _Sides, row: MigrationRow, *, exact: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The moved groups' rows and facts; with `exact`, first the exact offsets of the groups idle
    on both sides are committed on the target (domain/migration_offsets.py)."""
    moved = row.plan.get("consumer_groups", ())
    names = [str(g["group"]) for g in moved]
    on_source = sides.probe("source").groups(names, row.topics)
    on_target = sides.probe("target").groups(names, row.topics)
    translated = _translate_exactly(sides, row, on_source, on_target) if exact else None
    if translated:
        on_target = {**on_target, **translated[1]}
    return measure.group_facts(moved, on_source, on_target, row.groups, translated[0] if translated else None)


def _translate_exactly(sides: _Sides, row: MigrationRow, on_source: Mapping[str, GroupObservation],
                       on_target: Mapping[str, GroupObservation]
                       ) -> tuple[dict[str, dict[str, Any]], dict[str, GroupObservation]] | None:
    """Commit the exact target offsets of every moved group with no members on either side; its row
    fields, and its target observation as committed now. One boundary read per side for all groups,
    one commit per group."""
    idle = {name: group for name, group in on_source.items() if group.members == 0 and group.committed
            and (on_target.get(name) is None or on_target[name].members == 0)}
    if not idle:
        return None
    source, target = _ends(sides, row)
    src_offsets, tgt_offsets = offsets.boundary_offsets(idle, source, target)
    src_records = sides.probe("source").read_records(src_offsets) if src_offsets else {}
    tgt_records = sides.probe("target").read_records(tgt_offsets) if tgt_offsets else {}
    fields: dict[str, dict[str, Any]] = {}
    committed: dict[str, GroupObservation] = {}
    for name, group in idle.items():
        before = on_target.get(name)
        translation = offsets.translate(group, before, source, target, src_records, tgt_records)
        exact, pending, note = translation.exact, translation.pending, translation.note
        if translation.commit:
            try:
                sides.probe("target").commit_offsets(name, translation.commit)
            except ProbeUnavailable as exc:  # it started on the target meanwhile, or a refusal: next pass
                exact, pending, note = False, True, str(exc)
            else:
                committed[name] = GroupObservation(name, 0, before.state if before else "EMPTY",
                                                   {**(before.committed if before else {}), **translation.commit})
        fields[name] = {"ready_on_target": exact, "translation": offsets.EXACT if exact else offsets.MIRRORMAKER,
                        "translation_note": note, "translation_pending": pending}
    return fields, committed


def _mirroring(row: MigrationRow, sides: _Sides, mirror: MirrorEngine, cfg: DriverSettings,
               at: datetime) -> Measured:
    """Keep the mirror running; measure its lag per partition and the groups' translated offsets."""
    out = Measured()
    status = _run_mirror(row, sides, mirror, cfg, out)
    source, target = _ends(sides, row)
    out.lag = lag = measure.lag_view(source, target, at, row.lag)
    out.groups, group_facts = _groups(sides, row)
    out.facts = {"mirror_running": status.running, "max_partition_lag": lag["max"], "total_lag": lag["total"],
                 **group_facts}
    return out


def _consumers_cut_over(row: MigrationRow, sides: _Sides, mirror: MirrorEngine, cfg: DriverSettings,
                        at: datetime) -> Measured:
    """Consumers move; once none is left on the source and they run on the target, writes to the
    source are denied; once the mirror drained, the counts and samples are verified."""
    out = Measured()
    status = _run_mirror(row, sides, mirror, cfg, out)
    groups, group_facts = _groups(sides, row, exact=True)
    out.groups = groups
    port = sides.port("source")
    deny = measure.write_deny(row.topics)
    acls = port.describe(row.topics).acls
    moved = group_facts["groups_active_on_source"] == 0 and group_facts["groups_active_on_target"]
    if moved and not deny <= acls:
        outcomes = port.create_acls(sorted(deny - acls, key=lambda b: b.key))
        refused = [o.message for o in outcomes.values() if not o.ok]
        if refused:
            out.error = "; ".join(filter(None, [out.error, "the source refused the DENY WRITE ACLs: "
                                                + "; ".join(refused)]))
        acls = port.describe(row.topics).acls
    removed = deny <= acls
    # Ends after the ACLs: with writes denied, a drained mirror stays drained.
    source, target = _ends(sides, row)
    lag = measure.lag_view(source, target, at, row.lag)
    out.lag = lag
    out.facts = {"mirror_running": status.running, "max_partition_lag": lag["max"], "total_lag": lag["total"],
                 **group_facts, "source_write_access_removed": removed}
    if removed and lag["max"] == 0:
        src_offsets, tgt_offsets = samples(source, target, cfg.samples)
        result = verify(source, target, sides.probe("source").read_records(src_offsets),
                        sides.probe("target").read_records(tgt_offsets), at=at, k=cfg.samples)
        out.verification = result
        out.facts["counts_verified"] = result["passed"]
        previous = row.verification or {}
        if previous.get("passed") is not result["passed"] or "at" not in previous:
            out.events.append(NewEvent(ACTOR, "migration:verify", f"migration:{row.id}", team=row.owner_team,
                                       data={"passed": result["passed"], "partitions": len(result["partitions"]),
                                             "mismatches": result["mismatches"][:20],
                                             "teams": _teams(row, sides.source.owner_team)}))
    else:
        out.facts["counts_verified"] = None
    return out


def _producers_cut_over(row: MigrationRow, sides: _Sides, mirror: MirrorEngine, _cfg: DriverSettings,
                        at: datetime) -> Measured:
    """The mirror stops and its principal and internal topics go; producers switch to the target
    (seen as records past the verified counts, or confirmed by an owner)."""
    status = mirror.stop(row.id)
    if status.state not in STOPPED:
        status = mirror.status(row.id)
    verified = {(p["topic"], p["partition"]): p["target_count"]
                for p in (row.verification or {}).get("partitions", ())}
    target = sides.probe("target").partition_ends(row.topics)
    writing = any(ends.count > (verified.get(partition) or 0) for partition, ends in target.items())
    out = Measured()
    _clean_up(row, sides, status, out, at)  # last: nothing after it may fail and lose its record
    out.facts = {"mirror_stopped": status.state in STOPPED,
                 "producers_active_on_target": writing or row.producers_switched_by is not None,
                 "producers_seen_on_target": writing}
    return out


def _source_quarantined(row: MigrationRow, sides: _Sides, _mirror: MirrorEngine, _cfg: DriverSettings,
                        _at: datetime) -> Measured:
    """Deny everyone everything on the migrated topics on the source; the topics and data stay."""
    port = sides.port("source")
    deny = measure.quarantine_deny(row.topics)
    acls = port.describe(row.topics).acls
    out = Measured()
    if not deny <= acls:
        outcomes = port.create_acls(sorted(deny - acls, key=lambda b: b.key))
        refused = [o.message for o in outcomes.values() if not o.ok]
        if refused:
            out.error = "the source refused the quarantine ACLs: " + "; ".join(refused)
        acls = port.describe(row.topics).acls
    out.facts = {"source_access_removed": deny <= acls}
    return out


def _finished(row: MigrationRow, sides: _Sides, mirror: MirrorEngine, _cfg: DriverSettings,
              at: datetime) -> Measured:
    """Rolled back or failed: the mirror stopped and cleaned up, and after a rollback the source's DENY
    ACLs removed. Done needs nothing (cleaned up at producers_cut_over)."""
    step = Step(row.step)
    if step is Step.DONE:
        return Measured(finished=True)
    status = mirror.stop(row.id)
    out = Measured()
    if step is Step.ROLLED_BACK and status.state in STOPPED:
        _restore_source_writes(row, sides, out)  # first: a failure here must not lose the clean-up's record
    cleaned = _clean_up(row, sides, status, out, at)
    out.finished = cleaned and (step is not Step.ROLLED_BACK or out.facts.get("source_write_access_restored") is True)
    return out


def _restore_source_writes(row: MigrationRow, sides: _Sides, out: Measured) -> None:
    """A rollback removes the DENY ACLs Topicdesk added on the source."""
    port = sides.port("source")
    added = (measure.write_deny(row.topics) | measure.quarantine_deny(row.topics)) & port.describe(row.topics).acls
    if added:
        outcomes = port.delete_acls(sorted(added, key=lambda b: b.key))
        refused = [o.message for o in outcomes.values() if not o.ok]
        if refused:
            out.error = "the source refused removing the DENY ACLs: " + "; ".join(refused)
            return
    remaining = (measure.write_deny(row.topics) | measure.quarantine_deny(row.topics)) & port.describe(row.topics).acls
    out.facts = {"source_write_access_restored": not remaining}


_STEPS: dict[Step, Callable[[MigrationRow, _Sides, MirrorEngine, DriverSettings, datetime], Measured]] = {
    Step.PLANNED: _planned, Step.MIRRORING: _mirroring, Step.CONSUMERS_CUT_OVER: _consumers_cut_over,
    Step.PRODUCERS_CUT_OVER: _producers_cut_over, Step.SOURCE_QUARANTINED: _source_quarantined,
    Step.DONE: _finished, Step.ROLLED_BACK: _finished, Step.FAILED: _finished,
}


# --- recording ----------------------------------------------------------------------------------

def teams_concerned(plan: Mapping[str, Any], owner_team: str, source_owner: str) -> list[str]:
    teams = [owner_team, source_owner, *(str(c["team"]) for c in plan.get("team_changes", ()))]
    return list(dict.fromkeys(t for t in teams if t and not t.startswith("(")))


def _teams(row: MigrationRow, source_owner: str) -> list[str]:
    return teams_concerned(row.plan, row.owner_team, source_owner)


# What the teams are told on entering each step (the notification's `now`).
ENTERING: dict[Step, str] = {
    Step.MIRRORING: "The target topics, grants and service accounts exist; MirrorMaker copies the records. "
                    "Owners of the new service accounts: take their passwords with a rotate (shown once).",
    Step.CONSUMERS_CUT_OVER: "Consuming teams: stop your consumers on the source; once a group shows ready on the "
                             "target, start it there with the same group id: it resumes where it stopped.",
    Step.PRODUCERS_CUT_OVER: "Verified: nothing was lost. Producing teams: switch your producers to the target now "
                             "(writes to the source are refused).",
    Step.SOURCE_QUARANTINED: "Producers write to the target; the mirror is stopped. The source topics are being "
                             "quarantined (no access; data kept).",
    Step.DONE: "Done. The source topics are quarantined and kept; deleting them is a separate topic.delete request.",
}


def _record(engine: Engine, before: MigrationRow, step: Step, measured: Measured, cfg: DriverSettings,
            at: datetime, source_owner: str) -> None:
    with unit_of_work(engine) as session:
        row = migration_store.lock_migration(session, before.id)
        if row is None or row.step != str(step) or row.finished_at is not None:
            return  # moved meanwhile (a rollback through the API): the next pass starts from there
        events = list(measured.events)
        if measured.facts or step not in TERMINAL:
            if measured.facts != row.facts:
                log.info("migration %s at %s measured %s", row.id, step, measured.facts,
                         extra={"migration": row.id, "step": str(step)})
            row.facts, row.facts_at = {**measured.facts}, at
        if measured.lag is not None:
            row.lag = measured.lag
        if measured.mirror is not None:
            row.mirror = measured.mirror
        if measured.groups is not None:
            row.groups = measured.groups
        if measured.verification is not None:
            row.verification = measured.verification
        row.last_error = measured.error[:2000] if measured.error else None
        row.updated_at = at
        if measured.finished:
            row.finished_at = at
            if step is Step.ROLLED_BACK:
                events += _settle(session, row, "failed", {"reason": "rolled_back",
                                                           "message": _last_reason(row) or "rolled back"})
        elif step not in TERMINAL and measured.error is None:
            try:
                transition = advance(step, row.facts, at=at, by=ACTOR, lag_threshold=cfg.lag_threshold)
            except TransitionRefused:
                transition = None
            if transition is not None:
                row.step = str(transition.target)
                row.history = [*row.history, transition.to_dict()]
                teams = _teams(row, source_owner)
                events.append(NewEvent(ACTOR, "migration:advance", f"migration:{row.id}", team=row.owner_team,
                                       data={"from": str(step), "to": str(transition.target), "step": row.step,
                                             "facts": dict(row.facts), "source": row.source_cluster,
                                             "target": row.target_cluster, "topics": list(row.topics),
                                             "teams": teams, "now": [ENTERING.get(transition.target, "")]}))
                if transition.target is Step.DONE:
                    row.finished_at = at
                    events.append(NewEvent(ACTOR, "migration:done", f"migration:{row.id}", team=row.owner_team,
                                           data={"source": row.source_cluster, "target": row.target_cluster,
                                                 "topics": list(row.topics), "teams": teams,
                                                 "now": [ENTERING[Step.DONE]]}))
                    events += _settle(session, row, "applied", None)
        session.add(row)
        record_events(session, events)


def _last_reason(row: MigrationRow) -> str:
    return str(row.history[-1].get("reason") or "") if row.history else ""


def _settle(session: Any, row: MigrationRow, status: str, error: dict[str, Any] | None) -> list[NewEvent]:
    """The topic.migrate request ends with its migration: applied when done, failed when rolled back."""
    request = session.get(RequestRow, row.request_id)
    if request is None or request.status not in ("approved", "applying"):
        return []
    now = utcnow()
    request.status, request.updated_at, request.error = status, now, error
    if status == "applied":
        request.applied_at = now
    session.add(request)
    action = "request:applied" if status == "applied" else "request:failed"
    return [NewEvent(ACTOR, action, f"request:{request.id}", team=request.requester_team,
                     data={"status": status} if error is None else {"error": error, "partial": False})]


def _store_error(engine: Engine, migration_id: str, error: str, at: datetime) -> None:
    try:
        with unit_of_work(engine) as session:
            row = migration_store.lock_migration(session, migration_id)
            if row is not None:
                row.last_error, row.updated_at = error[:2000], at
                session.add(row)
    except Exception:
        log.exception("could not store the error of migration %s", migration_id)

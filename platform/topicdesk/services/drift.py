"""Drift scan (managed resources vs. the cluster, plus unmanaged topics and ACLs), enforcement, import.

A scan is a handful of bulk Admin calls per cluster whatever the number of topics: one describe
of all topics, one of their configs, one of all ACLs, one of quotas, one of SCRAM users.

What a scan found is kept as open drift items (adapters/drift_store.py), one per difference,
linked to the managed resources it concerns, and compared with what the previous scan found:
a new difference is audited once (`drift:found`), one no longer there is resolved
(`drift:resolved`). A difference on a resource that is not reconciled yet (generation ahead of
observed) is pending work, not drift, and is not opened.

Enforcement is level-triggered like everything else: on a cluster in `enforce` mode the scan
marks the resources of every difference it can put back dirty (observed_generation goes back to
generation - 1, `drift:revert`), in the same transaction as the items. The ordinary reconcile
pass then plans, applies in batches and reads back; a confirmed apply resolves the resource's
revertible items (`resolve_applied`). A crash in between loses nothing: the rows stay dirty, and
the next scan finds the difference again anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from topicdesk.adapters import drift_store as store
from topicdesk.adapters import migration_store
from topicdesk.adapters.audit_log import NewEvent, record_event, record_events
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.drift_store import Resource
from topicdesk.adapters.tables import (
    RESOURCE_TABLES,
    AccessGrantRow,
    ClusterRow,
    DriftItemRow,
    DriftReportRow,
    TeamRow,
    TopicRow,
    utcnow,
)
from topicdesk.domain import migration_measure as measure
from topicdesk.domain.acls import bindings_for, grant_key
from topicdesk.domain.drift import DriftItem, DriftKind, drift, unmanaged
from topicdesk.domain.drift_triage import blocks_topic_revert, item_id, revert_refusal, settled_by_apply
from topicdesk.domain.errors import Conflict, FieldError, NotFound, ValidationFailed
from topicdesk.domain.plan import DesiredState
from topicdesk.services import migration_mirror
from topicdesk.services.cluster_port import ClusterPort
from topicdesk.services.desired import (
    LiveRows,
    grant_value,
    live_rows,
    load_live_rows,
    resource_subject,
    resource_team,
)
from topicdesk.services.observations import store_scan_observations

SCANNER = "drift-scan"
RECONCILER = "reconciler"


@dataclass(frozen=True)
class DriftScan:
    cluster: str
    items: list[dict[str, object]]
    unmanaged_topics: list[str]
    unmanaged_acls: list[dict[str, str]]


@dataclass(frozen=True)
class _Resource:
    """A managed row as the scan read it: its generation then is what the cluster was compared with.
    (Ids only: the scan must not keep tens of thousands of ORM rows alive while it describes.)"""

    kind: str
    id: str
    generation: int

    @property
    def ref(self) -> Resource:
        return (self.kind, self.id)


def _resource(kind: str, row: Any) -> _Resource:
    return _Resource(kind, row.id, row.generation)


@dataclass
class _Index:
    """A cluster's live managed rows by the keys drift items name them with."""

    cluster: ClusterRow
    topics: dict[str, _Resource] = field(default_factory=dict)
    grants: dict[str, _Resource] = field(default_factory=dict)  # grant_key -> grant
    quotas: dict[str, _Resource] = field(default_factory=dict)  # principal -> quota
    accounts: dict[str, _Resource] = field(default_factory=dict)  # principal -> service account
    principal_teams: dict[str, str] = field(default_factory=dict)
    # Bindings of revoked grants not yet removed: pending work, not drift.
    pending_bindings: frozenset[str] = frozenset()

    @classmethod
    def build(cls, cluster: ClusterRow, live: LiveRows, revoking: Iterable[AccessGrantRow]) -> _Index:
        index = cls(cluster)
        index.topics = {r.name: _resource("topic", r) for r in live.topics}
        index.grants = {grant_key(grant_value(r)): _resource("access_grant", r) for r in live.grants}
        index.quotas = {r.principal: _resource("client_quota", r) for r in live.quotas}
        index.accounts = {r.principal: _resource("service_account", r) for r in live.accounts}
        index.principal_teams = {r.principal: r.granted_team for r in live.grants}
        index.principal_teams.update({r.principal: r.owner_team for r in live.accounts})
        index.pending_bindings = frozenset(b.key for r in revoking for b in bindings_for(grant_value(r)))
        return index

    def resources(self, item: DriftItem) -> list[_Resource]:
        found: list[_Resource | None]
        if item.key.startswith("topic:"):
            found = [self.topics.get(item.key.removeprefix("topic:"))]
        elif item.kind is DriftKind.ACL_MISSING:
            found = [self.grants.get(key) for key in item.grants]
        elif item.kind is DriftKind.ACL_EXTRA:
            binding = item.actual if isinstance(item.actual, dict) else {}
            on_topic = (self.topics.get(binding.get("resource_name", ""))
                        if binding.get("resource_type") == "topic" and binding.get("pattern") == "literal" else None)
            found = [on_topic or self.accounts.get(binding.get("principal", ""))]
        elif item.kind in (DriftKind.QUOTA_MISSING, DriftKind.QUOTA_DIFFERS):
            found = [self.quotas.get(item.key.removeprefix("quota:"))]
        else:  # quota_extra, service_account_missing: the principal's service account, if Topicdesk made it
            found = [self.accounts.get(item.key.partition(":")[2])]
        return [r for r in found if r is not None]

    def team(self, item: DriftItem) -> str:
        """For an item that concerns no managed row: the team of its principal (an extra binding or
        quota of a principal Topicdesk grants to), else the cluster's owners."""
        if item.kind is DriftKind.ACL_EXTRA and isinstance(item.actual, dict):
            principal = str(item.actual.get("principal", ""))
        else:
            principal = item.key.partition(":")[2]
        return self.principal_teams.get(principal, self.cluster.owner_team)


def _read_desired(engine: Engine, cluster: str) -> tuple[DesiredState, _Index]:
    with unit_of_work(engine) as session:
        row = session.get(ClusterRow, cluster)
        if row is None:
            raise NotFound(f"no cluster named {cluster!r}")
        live = load_live_rows(session, cluster)
        revoking = session.exec(select(AccessGrantRow).where(
            AccessGrantRow.cluster == cluster, col(AccessGrantRow.deleted).is_(True),
            col(AccessGrantRow.generation) > col(AccessGrantRow.observed_generation))).all()
        return live.desired(), _Index.build(row, live, revoking)


def scan_cluster(engine: Engine, cluster: str, port: ClusterPort) -> DriftScan:
    desired, index = _read_desired(engine, cluster)
    observed = port.describe(None)
    with unit_of_work(engine) as session:
        denied = migration_store.topics_denied_by_migrations(session, cluster)
        mirrors = [(migration_mirror.access_of(m, dedicated=True), "source" if m.source_cluster == cluster
                    else "target") for m in migration_store.mirrors_on_cluster(session, cluster)]
    for access, side in mirrors:
        # The mirror principal's ACLs and internal topics are the migration's while it needs them.
        observed = replace(observed, acls=observed.acls - access.acls(side), topics={
            name: t for name, t in observed.topics.items() if name not in access.target_internal_topics})
    if denied:
        # A migration's DENY ACLs on its source (services/migration_driver.py) are Topicdesk's own
        # doing, not drift: leave them out of the comparison.
        held = measure.write_deny(denied) | measure.quarantine_deny(denied)
        observed = replace(observed, acls=observed.acls - held)
    scanned_at = utcnow()
    found = drift(desired, observed)
    extra = unmanaged(desired, observed)
    result = DriftScan(cluster, [{"id": item_id(i.kind, i.key), **i.as_dict()} for i in found],
                       [t.name for t in extra.topics], [b.as_dict() for b in extra.acls])
    with unit_of_work(engine) as session:
        current = session.get(ClusterRow, cluster)
        if current is None:
            raise NotFound(f"no cluster named {cluster!r}")
        events = _record_items(session, current, index, found, scanned_at)
        report = session.get(DriftReportRow, cluster) or DriftReportRow(cluster=cluster)
        report.scanned_at = scanned_at
        report.unmanaged_topics = result.unmanaged_topics
        report.unmanaged_acls = result.unmanaged_acls
        session.add(report)
        store_scan_observations(session, cluster, [t.name for t in desired.topics], observed, scanned_at)
        record_events(session, events)
    return result


def drift_event(action: str, actor: str, row: DriftItemRow, **data: Any) -> NewEvent:
    """An audit event about a drift item: its subject is the resource, its team the owning team."""
    return NewEvent(actor=actor, action=action, subject=row.subject, team=row.team,
                    data={"cluster": row.cluster, "item": row.id, "kind": row.kind, "key": row.key, **data})


def ignored(row: DriftItemRow, now: datetime) -> bool:
    return row.ignored_until is not None and row.ignored_until > now


def clear_ignore(row: DriftItemRow) -> None:
    row.ignored_until = row.ignore_reason = row.ignored_by = row.ignored_at = row.ignored_actual = None


def _clean(fresh: dict[Resource, tuple[int, int]], resource: _Resource) -> bool:
    """Reconciled at the generation the scan compared with (and not changed since)."""
    generation, observed = fresh.get(resource.ref, (-1, -1))
    return generation == resource.generation and observed >= generation


def _record_items(session: Session, cluster: ClusterRow, index: _Index, found: list[DriftItem],
                  now: datetime) -> list[NewEvent]:
    stored = {row.id: row for row in store.open_items(session, cluster.name)}
    links = store.links_of(session, cluster.name)
    wanted = [(item, index.resources(item)) for item in found]
    fresh = store.generations(session, [r.ref for _, resources in wanted for r in resources])
    events: list[NewEvent] = []
    seen: set[str] = set()
    for item, resources in wanted:
        iid = item_id(item.kind, item.key)
        seen.add(iid)
        refs = sorted({r.ref for r in resources})
        row = stored.get(iid)
        if row is None:
            if item.key in index.pending_bindings or not all(_clean(fresh, r) for r in resources):
                continue  # the reconciler has yet to apply this resource: pending, not drift
            kind = resources[0].kind if resources else ""
            first = session.get(RESOURCE_TABLES[kind], resources[0].id) if resources else None
            row = DriftItemRow(cluster=cluster.name, id=iid, kind=str(item.kind), key=item.key,
                               team=resource_team(kind, first) if first else index.team(item),
                               subject=resource_subject(kind, first) if first else f"cluster:{cluster.name}",
                               expected=item.expected, actual=item.actual, message=item.message[:2000],
                               first_seen_at=now, last_seen_at=now)
            session.add(row)
            store.set_links(session, cluster.name, iid, refs)
            stored[iid], links[iid] = row, refs
            events.append(drift_event("drift:found", SCANNER, row, expected=row.expected, actual=row.actual,
                                      message=row.message))
            continue
        if row.ignored_until is not None and (row.ignored_until <= now or row.ignored_actual != item.actual):
            why = "the ignore expired" if row.ignored_until <= now else "the cluster's value changed"
            clear_ignore(row)
            events.append(drift_event("drift:found", SCANNER, row, expected=item.expected, actual=item.actual,
                                      message=item.message, again=why))
        row.expected, row.actual, row.message, row.last_seen_at = item.expected, item.actual, item.message[:2000], now
        session.add(row)
        if refs and refs != links.get(iid):
            store.set_links(session, cluster.name, iid, refs)
            links[iid] = refs
    gone = [row for iid, row in stored.items() if iid not in seen]
    events += [drift_event("drift:resolved", SCANNER, row, how="no longer found") for row in gone]
    store.delete_items(session, cluster.name, [row.id for row in gone])
    if cluster.drift_mode == "enforce":
        still_open = [row for iid, row in stored.items() if iid in seen]
        events += _enforce(session, still_open, links, now)
    return events


def _enforce(session: Session, rows: list[DriftItemRow], links: dict[str, list[Resource]],
             now: datetime) -> list[NewEvent]:
    """Mark the resources of every difference that can be put back dirty; audit each once."""
    blocked = {row.key for row in rows if blocks_topic_revert(row.kind, row.expected, row.actual)}
    adopting = store.open_requests(session, [rid for row in rows for rid in adopt_request_ids(row)])
    chosen = [row for row in rows if revert_conflict(row, blocked) is None and not ignored(row, now)
              and not adopting & set(adopt_request_ids(row)) and links.get(row.id)]
    marked = store.mark_dirty(session, [ref for row in chosen for ref in links[row.id]])
    events: list[NewEvent] = []
    for row in chosen:
        if marked & set(links[row.id]):
            row.triage = {"action": "revert", "by": RECONCILER, "at": rfc3339(now)}
            session.add(row)
            events.append(drift_event("drift:revert", RECONCILER, row, mode="enforce", expected=row.expected,
                                      actual=row.actual))
    return events


def adopt_request_ids(row: DriftItemRow) -> list[str]:
    triage = row.triage or {}
    return list(triage.get("requests", [])) if triage.get("action") == "adopt" else []


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def resolve_applied(session: Session, cluster: str, resources: Iterable[Resource], actor: str) -> list[NewEvent]:
    """Resources just applied and read back match desired state: their differences that applying
    settles are gone. Returns the drift:resolved events (the caller records them)."""
    rows = [row for row in store.items_linked_to(session, cluster, resources) if settled_by_apply(row.kind)]
    store.delete_items(session, cluster, [row.id for row in rows])
    return [drift_event("drift:resolved", actor, row, how="applied and read back") for row in rows]


def blocked_keys(session: Session, rows: Iterable[DriftItemRow]) -> set[str]:
    """Topic keys among these rows' with a difference the planner would refuse to put back."""
    by_cluster: dict[str, set[str]] = {}
    for row in rows:
        if row.key.startswith("topic:"):
            by_cluster.setdefault(row.cluster, set()).add(row.key)
    return {other.key for cluster, keys in by_cluster.items() for other in store.items_with_keys(session, cluster, keys)
            if blocks_topic_revert(other.kind, other.expected, other.actual)}


def revert_conflict(row: DriftItemRow, blocked: set[str]) -> str | None:
    """Why this difference cannot be put back now (`blocked`: from blocked_keys), or None."""
    refusal = revert_refusal(row.kind, row.expected, row.actual)
    if refusal is None and row.key in blocked:
        return ("applying the topic would be refused while its partition count or replication factor differs; "
                "adopt or ignore that difference first")
    return refusal


# --- import and a live look at one topic ----------------------------------------------------------------

def import_topics(engine: Engine, cluster: str, names: list[str], owner_team: str, port: ClusterPort,
                  actor: str) -> list[str]:
    """Adopt existing topics: desired state is taken from the cluster as it is, so nothing changes."""
    observed = port.describe(names)
    missing = [n for n in names if n not in observed.topics]
    if missing:
        raise ValidationFailed("some topics do not exist on the cluster",
                               errors=[FieldError("/names", f"no topic {n!r} on cluster {cluster!r}") for n in missing])
    with unit_of_work(engine) as session:
        if session.get(ClusterRow, cluster) is None:
            raise NotFound(f"no cluster named {cluster!r}")
        if session.get(TeamRow, owner_team) is None:
            raise NotFound(f"no team named {owner_team!r}")
        managed = {r.name for r in live_rows(session, TopicRow, cluster)}
        already = sorted(set(names) & managed)
        if already:
            raise Conflict(f"already managed: {', '.join(already)}")
        for name in names:
            topic = observed.topics[name]
            old = session.exec(select(TopicRow).where(TopicRow.cluster == cluster, TopicRow.name == name)).first()
            if old is not None:
                session.delete(old)
                session.flush()
            session.add(TopicRow(cluster=cluster, name=name, owner_team=owner_team, partitions=topic.partitions,
                                 replication_factor=topic.replication_factor, config=dict(topic.config),
                                 managed_config_keys=sorted(topic.config), description="imported",
                                 generation=1, observed_generation=1, applied_at=utcnow()))
            record_event(session, actor=actor, action="topic:import", subject=f"topic:{cluster}/{name}",
                         team=owner_team, data={"partitions": topic.partitions,
                                                "replication_factor": topic.replication_factor,
                                                "config": dict(topic.config)})
    return sorted(names)


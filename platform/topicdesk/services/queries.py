"""Read-side use cases: lists with keyset pagination, filtered to what the caller may see."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from topicdesk.adapters.drift_store import items_linked_to
from topicdesk.adapters.listing_store import AuditFilter, RequestFilter, audit_rows, request_rows
from topicdesk.adapters.migration_store import migration_ids_of_requests
from topicdesk.adapters.request_detail import request_history, request_row
from topicdesk.adapters.request_store import cluster_usage
from topicdesk.adapters.tables import (
    AccessGrantRow,
    AuditEventRow,
    ClientQuotaRow,
    ClusterRow,
    DriftReportRow,
    RequestRow,
    TopicRow,
    utcnow,
)

# TOPIC_STATUSES: what GET /api/v1/topics?status= accepts.
from topicdesk.adapters.topic_catalogue import TOPIC_STATUSES as TOPIC_STATUSES
from topicdesk.adapters.topic_catalogue import TopicRecord, topic_page
from topicdesk.domain.errors import NotFound
from topicdesk.domain.expiry import rfc3339
from topicdesk.domain.identity import Identity
from topicdesk.services.deletion import lifecycle_status, lifecycle_view
from topicdesk.services.drift_triage import item_views
from topicdesk.services.request_changes import WRITTEN, current_changes, with_changes
from topicdesk.services.request_views import request_view
from topicdesk.services.requests import can_see, may_approve


def list_clusters(session: Session) -> list[dict[str, Any]]:
    # Cluster coordinates are not secret: every team needs them to connect its clients.
    items = []
    for row in session.exec(select(ClusterRow).order_by(col(ClusterRow.name))).all():
        usage = cluster_usage(session, row.name)
        items.append({**row.public_view(), "broker_count": row.broker_count, "tags": row.tags, "capacity": {
            "partitions_used": usage["replicas"], "partition_budget": row.partition_budget,
            "disk_bytes_used": usage["disk_bytes"], "disk_budget_bytes": row.disk_budget_bytes}})
    return items


def list_requests(
    session: Session, identity: Identity, *, limit: int, after: tuple[str, str] | None, where: RequestFilter,
    awaiting_me: bool,
) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
    # awaiting_me keeps only requests the caller may approve (checked below), which they may see even
    # when routed to them from another team, so the team filter does not apply there.
    visible_to = None if awaiting_me or identity.platform_admin else (identity.subject, identity.teams)
    if awaiting_me:
        where = replace(where, pending_only=True)
    keyset = (datetime.fromisoformat(after[0]), after[1]) if after is not None else None
    items: list[dict[str, Any]] = []
    last: RequestRow | None = None
    # awaiting_me filters in Python (approver sets are JSON), so keep reading until the page is full.
    offset = 0
    while len(items) <= limit:
        rows = request_rows(session, visible_to=visible_to, where=where, after=keyset, offset=offset, limit=limit + 1)
        if not rows:
            break
        offset += len(rows)
        for row in rows:
            if awaiting_me and (row.requested_by == identity.subject or not may_approve(identity, row)):
                continue
            if len(items) == limit:
                return _page(session, items), (last.created_at.isoformat(), last.id) if last else None
            items.append(request_view(row))
            last = row
        if len(rows) < limit + 1:
            break
    return _page(session, items), None


def _page(session: Session, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lists carry current -> new for the requests that wait for a decision (the approvals inbox), and
    each approved topic.migrate names its migration (one query for the page)."""
    started = migration_ids_of_requests(session, [i["id"] for i in items if i["kind"] == "topic.migrate"])
    for item in items:
        if item["id"] in started:
            item["migration_id"] = started[item["id"]]
    waiting = [item for item in items if item["status"] == "pending_approval"]
    return with_changes(items, current_changes(session, waiting))


STATUS_BY_ACTION = {"request:submit": "pending_approval", "request:auto_approve": "approved",
                    "request:approve": "approved", "request:reject": "rejected", "request:cancel": "cancelled",
                    "request:applying": "applying", "request:retry": "applying",
                    "request:applied": "applied", "request:failed": "failed"}


def get_request(session: Session, identity: Identity, request_id: str) -> dict[str, Any]:
    connection = session.connection()
    row = request_row(connection, request_id)
    if row is None or not can_see(identity, row):
        raise NotFound("no such request")
    # The status timeline comes from the audit log: each transition was recorded with its actor.
    # Chained events, then those still waiting in the inbox to be chained (one statement, so an event
    # chained meanwhile is read once; kept once should both tables ever hold it).
    events = []
    seen: set[str] = set()
    for event in request_history(connection, f"request:{row.id}"):
        if event.event_id not in seen:
            seen.add(event.event_id)
            events.append(event)
    history = []
    for event in events:
        status = STATUS_BY_ACTION.get(event.action)
        if event.action == "request:submit":
            outcome = str((event.data.get("decision") or {}).get("outcome"))
            # An auto-approved request's next event says `approved`; the submit adds nothing to show.
            status = {"denied": "denied", "needs_approval": "pending_approval"}.get(outcome)
        if status:
            entry: dict[str, Any] = {"status": status, "at": event.occurred_at.isoformat().replace("+00:00", "Z"),
                                     "by": event.actor, "event": event.action.removeprefix("request:")}
            if event.action == "request:retry":
                # A retry keeps the request `applying`; the entry says why and when the next try is.
                entry.update({"attempt": event.data.get("attempt"), "error": event.data.get("error"),
                              "next_attempt_at": event.data.get("next_attempt_at")})
            # A topic.delete's approval quarantined the topic: say until when, in the timeline.
            if isinstance(event.data.get("quarantine"), dict):
                entry["note"] = event.data["quarantine"]["message"]
            history.append(entry)
    started = migration_ids_of_requests(session, [row.id]) if row.kind == "topic.migrate" else {}
    view = request_view(dict(row._mapping), started.get(row.id))
    # Once approved, desired state holds the new values: the approval's event kept current -> new.
    approval = next((e.data for e in reversed(events) if e.action in ("request:approve", "request:auto_approve")
                     and "changes" in e.data), None)
    if row.status in WRITTEN and row.kind != "topic.create":
        computed = {"changes": approval.get("changes"), "impact": approval.get("impact")} if approval else {}
    else:
        computed = current_changes(session, [view])[row.id]
    return {**view, "changes": computed.get("changes"), "impact": computed.get("impact"), "history": history}


def topic_view(row: TopicRecord, drifted: bool = False) -> dict[str, Any]:
    return {
        "cluster": row.cluster,
        "name": row.name,
        "owner_team": row.owner_team,
        "partitions": row.partitions,
        "replication_factor": row.replication_factor,
        "config": row.config,
        "description": row.description,
        # A deletion phase (quarantined, deleting, deleted) decides the status while there is one.
        "status": lifecycle_status(row) or _resource_status(row, drifted),
        "last_error": row.last_error,
        # The desired-state file that manages the topic (None: the portal/API).
        "managed_by": row.managed_by,
        **lifecycle_view(row),
    }


def _resource_status(row: Any, drifted: bool = False) -> str:
    """applied: the cluster was read back matching desired state, and no drift scan has found it
    differing since (else drifted); pending / error: not reconciled yet (error: the last attempt
    failed); deleting / deleted for tombstones. See docs/architecture.md, "Drift"."""
    if row.observed_generation >= row.generation:
        if row.deleted:
            return "deleted"
        return "drifted" if drifted else "applied"
    if row.last_error:
        return "error"
    return "deleting" if row.deleted else "pending"


def list_topics(
    connection: Connection, *, limit: int, after: tuple[str, str] | None, cluster: str | None, team: str | None,
    q: str | None, status: str | None = None,
) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
    # The catalogue is visible to every team: discovering topics is how cross-team access starts.
    rows = topic_page(connection, now=utcnow(), limit=limit, after=after, cluster=cluster, team=team, q=q,
                      status=status)
    more = len(rows) > limit
    rows = rows[:limit]
    return ([topic_view(r, r.drifted) for r in rows],
            (rows[-1].cluster, rows[-1].name) if more and rows else None)


def grant_view(row: AccessGrantRow, drifted: bool = False) -> dict[str, Any]:
    return {"principal": row.principal, "topic": row.topic, "pattern": row.pattern, "access": row.access,
            "group": row.group_id or None, "group_pattern": row.group_pattern if row.group_id else None,
            "transactional_id": row.transactional_id or None,
            "team": row.granted_team, "status": _resource_status(row, drifted), "last_error": row.last_error,
            "expires_at": rfc3339(row.expires_at) if row.expires_at else None, "managed_by": row.managed_by}


def quota_view(row: ClientQuotaRow) -> dict[str, Any]:
    """A principal's desired client quota and how far the cluster has it (applied, pending, error)."""
    return {"producer_byte_rate": row.producer_byte_rate, "consumer_byte_rate": row.consumer_byte_rate,
            "request_percentage": row.request_percentage, "status": _resource_status(row),
            "last_error": row.last_error, "managed_by": row.managed_by,
            "applied_at": rfc3339(row.applied_at) if row.applied_at else None}


def get_topic(session: Session, cluster: str, name: str) -> dict[str, Any]:
    # There is one row per name: the live topic, or the tombstone of a deleted one, whose page stays.
    row = session.exec(select(TopicRow).where(TopicRow.cluster == cluster, TopicRow.name == name)).first()
    if row is None:
        raise NotFound(f"no topic {name!r} on cluster {cluster!r}")
    grants = session.exec(select(AccessGrantRow).where(
        AccessGrantRow.cluster == cluster, AccessGrantRow.topic == name,
        col(AccessGrantRow.deleted).is_(False)).order_by(col(AccessGrantRow.principal))).all()
    suspended = session.exec(select(AccessGrantRow).where(
        col(AccessGrantRow.id).in_(row.quarantined_grants or [])).order_by(col(AccessGrantRow.principal))).all()
    history = session.exec(select(RequestRow).where(RequestRow.cluster == cluster)
                           .order_by(col(RequestRow.created_at).desc()).limit(200)).all()
    drift = session.get(DriftReportRow, cluster)
    # The topic's own differences and those of its grants' ACLs.
    resources = [("topic", row.id), *(("access_grant", g.id) for g in grants)]
    topic_drift = item_views(session, items_linked_to(session, cluster, resources), utcnow())
    drifted = {r["id"] for item in topic_drift if item["drifted"] for r in item["resources"]}
    return {
        **topic_view(row, row.id in drifted),
        "desired": {"partitions": row.partitions, "replication_factor": row.replication_factor,
                    "config": row.config},
        "generation": row.generation,
        "observed_generation": row.observed_generation,
        "applied_at": row.applied_at.isoformat() if row.applied_at else None,
        "drift": topic_drift,
        "drift_scanned_at": drift.scanned_at.isoformat() if drift else None,
        "access_grants": [grant_view(g, g.id in drifted) for g in grants],
        # The grants a quarantine suspended: a restore brings these back.
        "quarantined_grants": [grant_view(g) for g in suspended],
        "deletion": _deletion(session, row),
        "history": [request_view(r) for r in history
                    if r.spec.get("name") == name or r.spec.get("topic") == name],
    }


def _deletion(session: Session, row: TopicRow) -> dict[str, Any] | None:
    """Who deleted the topic: the topic.delete request, its requester and approvers."""
    if row.deletion_request_id is None:
        return None
    request = session.get(RequestRow, row.deletion_request_id)
    phase = lifecycle_view(row)
    return {"request_id": row.deletion_request_id, "requested_by": row.deleted_by,
            "approved_by": [a["by"] for a in request.approvals] if request else [],
            "decided_by": "policy" if request is not None and not request.approvals else None,
            "quarantined_until": phase["quarantined_until"], "deleted_at": phase["deleted_at"]}


def audit_view(row: AuditEventRow) -> dict[str, Any]:
    return {"id": str(row.seq), "event_id": row.event_id, "occurred_at": row.occurred_at.isoformat(),
            "actor": row.actor, "action": row.action, "subject": row.subject, "team": row.team,
            "data": row.data, "hash": row.hash, "prev_hash": row.prev_hash}


def list_audit(
    session: Session, identity: Identity, *, limit: int, before_seq: int | None, where: AuditFilter,
) -> tuple[list[dict[str, Any]], int | None]:
    teams = None if identity.platform_admin else identity.teams
    rows = audit_rows(session, teams=teams, where=where, before_seq=before_seq, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return [audit_view(r) for r in rows], (rows[-1].seq if more and rows else None)

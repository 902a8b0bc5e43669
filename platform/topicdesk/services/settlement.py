"""Settling requests: after a pass records its outcomes, move the requests that waited on them.

A request is `applied` once every resource generation it is linked to (`request_resource`) is
observed, and `failed` as soon as one of them is parked as a permanent failure. Runs in the same
transaction as the resource rows it reads, so a request never moves ahead of what was recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlmodel import Session, col, select

from topicdesk.adapters.audit_log import NewEvent
from topicdesk.adapters.tables import RequestResourceRow, RequestRow, utcnow
from topicdesk.observability import metrics
from topicdesk.services.desired import load_rows, resource_subject
from topicdesk.services.outcomes import (
    ResourcePass,
    failure_message,
    is_partial,
    merge_outcomes,
    note_progress,
    pending_entry,
)


def settle_requests(session: Session, resources: Iterable[tuple[str, str]],
                    passes: Mapping[tuple[str, str], ResourcePass] | None = None, *, actor: str = "reconciler",
                    chunk: int = 900) -> list[NewEvent]:
    """Requests whose every resource generation is observed become `applied`; any parked as a
    permanent failure makes the request `failed` with Kafka's reason and which parts were applied.
    Every open request touched gets this pass's per-change outcomes and retry progress (see
    services/outcomes.py). Returns the audit events."""
    ids = [rid for _, rid in resources]
    request_ids: set[str] = set()
    for start in range(0, len(ids), chunk):
        request_ids.update(session.exec(select(RequestResourceRow.request_id).where(
            col(RequestResourceRow.resource_id).in_(ids[start:start + chunk]))).all())
    if not request_ids:
        return []
    wanted = sorted(request_ids)
    open_requests: list[RequestRow] = []
    links: dict[str, list[RequestResourceRow]] = {}
    for start in range(0, len(wanted), chunk):
        part = wanted[start:start + chunk]
        open_requests += session.exec(select(RequestRow).where(
            col(RequestRow.id).in_(part), col(RequestRow.status).in_(["approved", "applying"]))
            .with_for_update()).all()
        for link in session.exec(select(RequestResourceRow).where(col(RequestResourceRow.request_id).in_(part))).all():
            links.setdefault(link.request_id, []).append(link)
    resources_needed = [(link.resource_kind, link.resource_id) for request in open_requests
                        for link in links.get(request.id, [])]
    rows = load_rows(session, resources_needed)
    events: list[NewEvent] = []
    now = utcnow()
    by_resource = passes or {}
    for request in open_requests:
        done, failure = True, None
        mine = [p for link in links.get(request.id, [])
                if (p := by_resource.get((link.resource_kind, link.resource_id))) is not None]
        retry_event = note_progress(request, mine, actor) if mine else None
        for link in links.get(request.id, []):
            row = rows.get((link.resource_kind, link.resource_id))
            if row is None or row.observed_generation >= link.generation:
                continue
            done = False
            if row.failed_generation >= link.generation:
                failure = {"reason": row.last_error_reason or "failed", "message": row.last_error or ""}
        if failure is not None:
            reached = {str(e["resource"]) for e in request.outcomes or []}
            request.outcomes = merge_outcomes(request.outcomes, [
                pending_entry(resource_subject(link.resource_kind, row), link.generation)
                for link in links.get(request.id, [])
                if (row := rows.get((link.resource_kind, link.resource_id))) is not None
                and resource_subject(link.resource_kind, row) not in reached])
            failure["message"] = failure_message(failure["message"], request.outcomes)[:4000]
            request.status, request.error, request.updated_at = "failed", failure, now
            metrics.settled(session, request.kind, "failed", request.created_at)
            request.last_error = request.next_attempt_at = None
            events.append(NewEvent(actor="reconciler", action="request:failed", subject=f"request:{request.id}",
                                   team=request.requester_team,
                                   data={"error": failure, "partial": is_partial("failed", request.outcomes)}))
        elif done:
            request.status, request.applied_at, request.updated_at = "applied", now, now
            metrics.settled(session, request.kind, "applied", request.created_at)
            request.last_error = request.next_attempt_at = None
            events.append(NewEvent(actor="reconciler", action="request:applied", subject=f"request:{request.id}",
                                   team=request.requester_team, data={"status": "applied"}))
        elif retry_event is not None:
            request.updated_at = now
            events.append(retry_event)
    return events

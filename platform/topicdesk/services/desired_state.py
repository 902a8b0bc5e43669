"""Desired-state files: a team declares its topics, grants and quotas on a cluster; Topicdesk turns
the difference into ordinary requests, each validated and decided by policy like any other.

The file manages exactly what it declares (domain/desired_file.py); each outcome and the HTTP
status are domain/desired_result.py's. Requests the apply submits carry the file's `source`, so
what they write is marked managed by it and a re-apply finds them again.
"""

from __future__ import annotations

from typing import Any

from topicdesk.adapters import desired_state_store as store
from topicdesk.adapters.audit_log import record_event
from topicdesk.adapters.db import unit_of_work
from topicdesk.domain.desired_file import CurrentState, PlannedChange, plan_file
from topicdesk.domain.desired_result import (
    change_view,
    outcome_before_asking,
    outcome_of_decision,
    outcome_of_request,
    summary,
)
from topicdesk.domain.errors import FieldError, Forbidden, TopicdeskError, ValidationFailed
from topicdesk.domain.identity import Identity
from topicdesk.schemas import SCHEMA_BASE_URI, SchemaSet, default_schemas
from topicdesk.services.requests import RequestDeps, evaluate_request, submit_request

DESIRED_STATE_SCHEMA_ID = SCHEMA_BASE_URI + "desired-state.json"
MAX_SOURCE = 200


def default_source(file: dict[str, Any]) -> str:
    return f"desired-state:{file['team']}/{file['cluster']}"


def source_errors(source: str) -> list[FieldError]:
    if not 1 <= len(source) <= MAX_SOURCE or not source.isprintable():
        return [FieldError("/query/source", f"must be 1..{MAX_SOURCE} printable characters, e.g. "
                                            "acme/payments-topics:kafka/payments-dev.yaml")]
    return []


def current_state(session: Any, cluster: str, team: str) -> CurrentState:
    return store.current_state(session, cluster, team)


def _check_file(file: dict[str, Any], identity: Identity, source: str | None, schemas: SchemaSet | None) -> str:
    errors = (schemas or default_schemas()).errors(DESIRED_STATE_SCHEMA_ID, file)
    if errors:
        raise ValidationFailed("the desired-state file does not match its schema",
                               errors=errors + (source_errors(source) if source is not None else []))
    bad_source = source_errors(source) if source is not None else []
    if bad_source:
        raise ValidationFailed("bad source", errors=bad_source)
    # The file's grants share access.grant's schema, but a file has no way yet to say what an expiry
    # means on every re-apply (renew? keep?), so a time-bound grant is refused rather than made permanent.
    timed = [FieldError(f"/grants/{i}/{key}", "time-bound grants are requested through POST /api/v1/requests, "
                                              "not through a desired-state file")
             for i, grant in enumerate(file.get("grants") or []) for key in ("expires_at", "duration") if key in grant]
    if timed:
        raise ValidationFailed("the desired-state file asks for time-bound grants", errors=timed)
    if not identity.is_member(file["team"]):
        raise Forbidden(f"only members of team {file['team']!r} apply its desired-state file")
    return source if source is not None else default_source(file)


def _error_view(exc: TopicdeskError) -> dict[str, Any]:
    return {"status": exc.status, "reason": exc.reason, "message": exc.message,
            "errors": [{"path": e.path, "message": e.message} for e in exc.errors]}


def apply_desired_state(
    deps: RequestDeps, identity: Identity, file: dict[str, Any], *, dry_run: bool, allow_destroy: bool = False,
    source: str | None = None, schemas: SchemaSet | None = None,
) -> dict[str, Any]:
    """Plan (dry_run) or apply a parsed desired-state file from `source` (default
    desired-state:<team>/<cluster>). The result lists every change with its outcome; its HTTP status
    is desired_result.result_status."""
    source = _check_file(file, identity, source, schemas)
    cluster = file["cluster"]
    with unit_of_work(deps.engine) as session:
        if not store.cluster_exists(session, cluster):
            raise ValidationFailed("unknown cluster", errors=[FieldError("/cluster", "no such cluster")])
        plan = plan_file(file, store.current_state(session, cluster, file["team"]), source=source)
        earlier = store.earlier_requests(session, cluster, source)
    changes: list[dict[str, Any]] = []
    adoptions: list[tuple[PlannedChange, dict[str, Any]]] = []
    submitted = 0
    for change in plan.changes:
        previous = earlier.get(store.change_hash(change.request)) if change.request else None
        outcome = outcome_before_asking(change, allow_destroy=allow_destroy, earlier=previous)
        if outcome is None:
            outcome = _ask(deps, identity, change, source, dry_run=dry_run)
            submitted += bool(outcome.pop("submitted", False))
        view = change_view(change, outcome)
        if change.action == "adopt" and change.request is None and view["outcome"] == "auto_approved":
            adoptions.append((change, view))
        changes.append(view)
    if adoptions:
        _record_adoptions(deps, identity, file, source, adoptions)
    return {"cluster": cluster, "team": file["team"], "source": source, "dry_run": dry_run,
            "allow_destroy": allow_destroy, "in_sync": not changes,
            "summary": summary(changes, plan.in_sync, submitted), "changes": changes}


def _ask(deps: RequestDeps, identity: Identity, change: PlannedChange, source: str, *, dry_run: bool
         ) -> dict[str, Any]:
    """The policy's word on one change: its dry-run decision, or the request stored for it."""
    if change.request is None:
        # An adoption that only records the marker: nothing for policy to decide.
        return {"outcome": "planned" if dry_run else "auto_approved"}
    document = {k: change.request[k] for k in ("kind", "cluster", "spec", "reason")}
    try:
        if dry_run:
            return outcome_of_decision(evaluate_request(deps, identity, document, source=source)["decision"])
        return outcome_of_request(submit_request(deps, identity, document, source=source).body)
    except TopicdeskError as exc:
        # One refused change must not hide what happens to the others.
        return {"outcome": "error", "error": _error_view(exc)}


def _record_adoptions(deps: RequestDeps, identity: Identity, file: dict[str, Any], source: str,
                      adoptions: list[tuple[PlannedChange, dict[str, Any]]]) -> None:
    """Mark adopted resources as the file's, each with its audit event, in one transaction. One that
    another file adopted meanwhile is an error of this apply."""
    with unit_of_work(deps.engine) as session:
        for change, view in adoptions:
            if store.adopt(session, file["cluster"], change.resource_type, change.target, source):
                record_event(session, actor=identity.subject, action=f"{change.resource_type}:adopt",
                             subject=f"{change.resource_type}:{file['cluster']}/{change.name}", team=file["team"],
                             data={"managed_by": source, "before": change.managed_by})
            else:
                view["outcome"] = "error"
                view["error"] = {"status": 409, "reason": "conflict", "errors": [],
                                 "message": f"{change.name} was changed or adopted meanwhile; plan again"}

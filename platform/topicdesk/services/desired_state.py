"""Desired-state files: a team declares its topics, grants and quotas on a cluster; Topicdesk turns
the difference into ordinary requests, each validated and decided by policy like any other."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import AccessGrantRow, ClientQuotaRow, ClusterRow, RequestRow, TopicRow
from topicdesk.domain.desired_file import QUOTA_KEYS, CurrentState, CurrentTopic, requests_for
from topicdesk.domain.errors import FieldError, Forbidden, TopicdeskError, ValidationFailed
from topicdesk.domain.identity import Identity
from topicdesk.schemas import SCHEMA_BASE_URI, SchemaSet, default_schemas
from topicdesk.services.requests import RequestDeps, body_hash, evaluate_request, submit_request

DESIRED_STATE_SCHEMA_ID = SCHEMA_BASE_URI + "desired-state.json"


def current_state(session: Session, cluster: str, team: str) -> CurrentState:
    owns_cluster = session.exec(select(ClusterRow.owner_team).where(ClusterRow.name == cluster)).first() == team
    topics = {}
    if owns_cluster:
        for row in session.exec(select(TopicRow).where(TopicRow.cluster == cluster, TopicRow.owner_team == team,
                                                       col(TopicRow.deleted).is_(False))).all():
            topics[row.name] = CurrentTopic(row.name, row.partitions, row.replication_factor, dict(row.config),
                                            row.description)
    prefix = f"User:{team}."
    grants = frozenset(
        (g.topic, g.principal, g.access, g.group_id, g.transactional_id, g.pattern)
        for g in session.exec(select(AccessGrantRow).where(AccessGrantRow.cluster == cluster,
                                                           col(AccessGrantRow.principal).startswith(prefix),
                                                           col(AccessGrantRow.deleted).is_(False))).all())
    quotas = {}
    for q in session.exec(select(ClientQuotaRow).where(ClientQuotaRow.cluster == cluster,
                                                       col(ClientQuotaRow.principal).startswith(prefix),
                                                       col(ClientQuotaRow.deleted).is_(False))).all():
        values = {k: getattr(q, k) for k in QUOTA_KEYS if getattr(q, k) is not None}
        if values:
            quotas[q.principal] = values
    return CurrentState(topics=topics, grants=grants, quotas=quotas)


def apply_desired_state(
    deps: RequestDeps, identity: Identity, file: dict[str, Any], *, dry_run: bool, prune: bool = False,
    schemas: SchemaSet | None = None,
) -> dict[str, Any]:
    errors = (schemas or default_schemas()).errors(DESIRED_STATE_SCHEMA_ID, file)
    if errors:
        raise ValidationFailed("the desired-state file does not match its schema", errors=errors)
    # The file's grants share access.grant's schema, but a file has no way yet to say what an expiry
    # means on every re-apply (renew? keep?), so a time-bound grant is refused rather than made permanent.
    timed = [FieldError(f"/grants/{i}/{key}", "time-bound grants are requested through POST /api/v1/requests, "
                                              "not through a desired-state file")
             for i, grant in enumerate(file.get("grants") or []) for key in ("expires_at", "duration") if key in grant]
    if timed:
        raise ValidationFailed("the desired-state file asks for time-bound grants", errors=timed)
    if not identity.is_member(file["team"]):
        raise Forbidden(f"only members of team {file['team']!r} apply its desired-state file")
    with unit_of_work(deps.engine) as session:
        if session.get(ClusterRow, file["cluster"]) is None:
            raise ValidationFailed("unknown cluster", errors=[FieldError("/cluster", "no such cluster")])
        documents = requests_for(file, current_state(session, file["cluster"], file["team"]), prune=prune)
        # A change already waiting for approval is not asked for twice when the file is applied again.
        pending = {body_hash({"kind": r.kind, "cluster": r.cluster, "spec": r.spec})
                   for r in session.exec(select(RequestRow).where(RequestRow.cluster == file["cluster"],
                                                                  RequestRow.requester_team == file["team"],
                                                                  col(RequestRow.status).in_(
                                                                      ["pending_approval", "approved", "applying"])
                                                                  )).all()}
    changes = []
    for document in documents:
        if body_hash({k: document[k] for k in ("kind", "cluster", "spec")}) in pending:
            changes.append({"request": document, "result": "already_requested"})
            continue
        try:
            if dry_run:
                outcome = evaluate_request(deps, identity, document)
                changes.append({"request": document, "decision": outcome["decision"]})
            else:
                submitted = submit_request(deps, identity, document)
                changes.append({"request": document, "submitted": submitted.body})
        except TopicdeskError as exc:
            # One refused change must not hide what happens to the others.
            changes.append({"request": document, "error": {"status": exc.status, "reason": exc.reason,
                                                           "message": exc.message,
                                                           "errors": [{"path": e.path, "message": e.message}
                                                                      for e in exc.errors]}})
    return {"cluster": file["cluster"], "team": file["team"], "dry_run": dry_run, "prune": prune,
            "in_sync": not documents, "changes": changes}

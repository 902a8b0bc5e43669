"""The request workflow: submit (validate, evaluate, store), approve, reject, cancel.

Every transition is one unit of work holding the request row, the desired-state change it makes
and its audit event, so a crash can never leave one without the others. What a request touches
and who may ask for it is services/request_context.py; the API's views are services/request_views.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from topicdesk.adapters import deletion_store
from topicdesk.adapters import request_store as store
from topicdesk.adapters.audit_log import NewEvent, inbox_rows, record_event, record_events, recorded
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.submission_store import SubmissionRows, store_submission
from topicdesk.adapters.tables import (
    ClusterRow,
    RequestRow,
    new_id,
    utcnow,
)
from topicdesk.domain.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from topicdesk.domain.evidence import TopicEvidence, evidence_facts, unavailable
from topicdesk.domain.expiry import expiry_errors
from topicdesk.domain.identity import Identity
from topicdesk.observability import metrics
from topicdesk.services import deletion
from topicdesk.services import migration_request as migrate
from topicdesk.services.request_changes import snapshot
from topicdesk.services.request_context import RequestContext, check_managed_by, resolve_context
from topicdesk.services.request_views import DecisionLike, decision_view, request_view, rfc3339

log = logging.getLogger(__name__)

OPEN_STATUSES = {"pending_approval"}


@dataclass(frozen=True)
class RequestDeps:
    engine: Engine
    validate: Callable[[dict[str, Any]], None]
    # Takes the evaluation document (see policy.build_evaluation_document) and decides.
    evaluate: Callable[[dict[str, Any]], DecisionLike]
    build_document: Callable[..., dict[str, Any]]
    # Usage evidence of topics from their cluster (cluster row, topic names -> {topic: evidence});
    # asked before a topic.delete is decided. It may raise (e.g. ClusterUnavailable): the evidence
    # is then unavailable, which policy never takes for "unused". None: no source, also unavailable.
    usage_evidence: Callable[[ClusterRow, Sequence[str]], Mapping[str, TopicEvidence]] | None = None
    # Ports to clusters (cluster row, request_timeout=) for the snapshot a topic.migrate is planned on;
    # None: no snapshot, and policy denies the migration with that reason.
    cluster_ports: migrate.PortFactory | None = None


@dataclass(frozen=True)
class SubmitResult:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def body_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _gather_evidence(deps: RequestDeps, identity: Identity, document: dict[str, Any]) -> dict[str, Any] | None:
    """Usage evidence for a topic.delete, asked outside any transaction (it talks to the cluster).

    The context is resolved first, so only a caller who may delete the topic makes Topicdesk ask.
    """
    if document["kind"] != "topic.delete":
        return None
    with unit_of_work(deps.engine) as session:
        resolve_context(session, identity, document)
        cluster = session.get(ClusterRow, document["cluster"])
    name = document["spec"]["name"]
    now = utcnow()
    if deps.usage_evidence is None or cluster is None:
        return unavailable("no usage evidence source is configured", now)
    try:
        found = deps.usage_evidence(cluster, [name])
    except Exception as exc:  # whatever failed, the evidence is unknown, never "unused"
        log.warning("usage evidence of %s on %s unavailable: %s", name, cluster.name, exc)
        return unavailable(str(exc) or type(exc).__name__, now)
    return evidence_facts(found.get(name), now)


def _requester(identity: Identity, team: str) -> dict[str, Any]:
    # The request is made on behalf of one team: rules see that team, not every team of the person,
    # so a person in two teams cannot skip the owner's approval by being in both.
    return {"subject": identity.subject, "teams": [team],
            "roles": ["platform_admin"] if identity.platform_admin else [identity.team_roles.get(team, "member")]}


def _gather_migration(deps: RequestDeps, identity: Identity, document: dict[str, Any]
                      ) -> migrate.MigrationAssessment | None:
    """A topic.migrate's plan, from a snapshot of both clusters taken outside any transaction."""
    if document["kind"] != migrate.KIND:
        return None
    with unit_of_work(deps.engine) as session:
        team = migrate.resolve_sides(session, identity, document).requester_team
    judge = migrate.judge_with_policies(deps.evaluate, deps.build_document, _requester(identity, team))
    return migrate.assess(partial(unit_of_work, deps.engine), deps.cluster_ports, identity, document, judge)


def _document(deps: RequestDeps, session: Session, identity: Identity, document: dict[str, Any],
              context: RequestContext, evidence: dict[str, Any] | None = None,
              migration: migrate.MigrationAssessment | None = None) -> dict[str, Any]:
    cluster = context.cluster
    topic = context.topic
    return deps.build_document(
        request={"kind": document["kind"], "cluster": cluster.name, "spec": document["spec"]},
        requester=_requester(identity, context.requester_team),
        cluster={"name": cluster.name, "environment": cluster.environment, "owner_team": cluster.owner_team,
                 "tags": cluster.tags, "broker_count": cluster.broker_count,
                 "partition_budget": cluster.partition_budget, "disk_budget_bytes": cluster.disk_budget_bytes,
                 "usage": context.usage},
        topic=None if topic is None else {
            "name": topic.name, "owner_team": topic.owner_team, "partitions": topic.partitions,
            "replication_factor": topic.replication_factor, "config": topic.config,
            "expected_bytes_per_second": topic.expected_bytes_per_second,
            "grants": [{"principal": g.principal, "access": g.access, "group": g.group_id or None}
                       for g in store.live_grants_on(session, cluster.name, topic.name)]},
        **({"evidence": evidence} if evidence is not None else {}),
        **({"migration": migration.facts} if migration is not None else {}),
    )


def _settle(request: RequestRow | dict[str, Any], links: Sequence[store.Link]) -> None:
    """Nothing to wait for (e.g. a grant that already existed): applied at once."""
    if isinstance(request, dict):
        request["status"] = "approved" if links else "applied"
        if not links:
            request["applied_at"] = utcnow()
        return
    request.status = "approved" if links else "applied"
    if not links:
        request.applied_at = utcnow()


def _write_desired_state(session: Session, request: RequestRow | dict[str, Any], actor: str, *,
                         tombstone: Any = store.LOOK_UP) -> tuple[list[store.Link], list[NewEvent], dict[str, Any]]:
    """An approved request's desired-state rows; a topic.delete quarantines the topic (services/deletion.py).

    Returns the links to wait for, audit events beyond the request's own, and a note for its history.
    """
    get: Callable[[str], Any] = request.__getitem__ if isinstance(request, dict) else partial(getattr, request)
    if get("kind") == "topic.delete":
        quarantine = deletion_store.quarantine(session, get("cluster"), get("spec")["name"], request_id=get("id"),
                                               requested_by=get("requested_by"), now=utcnow())
        return (quarantine.links, [deletion.quarantine_event(actor, quarantine, get("id"))],
                {"quarantine": deletion.quarantine_note(quarantine)})
    links = store.write_desired_state(session, get("kind"), get("cluster"), get("spec"), get("owner_team"),
                                      tombstone=tombstone, managed_by=get("source"))
    return links, [], {}


def apply_to_desired_state(session: Session, request: RequestRow, actor: str = "policy"
                           ) -> tuple[list[NewEvent], dict[str, Any]]:
    """Turn an approved (ORM-loaded) request into desired-state rows with new generations (same transaction).

    Returns the extra audit events (e.g. `topic:quarantine`) and the note for the approval event.
    """
    links, events, note = _write_desired_state(session, request, actor)
    if links:
        if request in session.new:
            session.flush()  # the links reference the request row
        store.insert_links(session.connection(), request.id, links)
    _settle(request, links)
    return events, note


# --- use cases --------------------------------------------------------------------------------------

STATUS_BY_OUTCOME = {"auto_approved": "approved", "needs_approval": "pending_approval", "denied": "denied"}


def validate_expiry(document: dict[str, Any]) -> None:
    """An access.grant's expires_at / duration, beyond its schema: in the future, at most a year."""
    if document["kind"] == "access.grant":
        errors = expiry_errors(document["spec"], utcnow())
        if errors:
            count = f"{len(errors)} problems" if len(errors) > 1 else "1 problem"
            raise ValidationFailed(f"The grant's expiry is not usable: {count}.", errors=errors)


def evaluate_request(deps: RequestDeps, identity: Identity, document: dict[str, Any], *, source: str | None = None,
                     override_managed_by: bool = False) -> dict[str, Any]:
    """dry_run: validate and decide; nothing is stored."""
    deps.validate(document)
    validate_expiry(document)
    evidence = _gather_evidence(deps, identity, document)
    migration = _gather_migration(deps, identity, document)
    with unit_of_work(deps.engine) as session:
        context = resolve_context(session, identity, document)
        check_managed_by(session, identity, document, context.topic, source=source, override=override_managed_by)
        evaluated = _document(deps, session, identity, document, context, evidence, migration)
        decision = deps.evaluate(evaluated)
        out = {"decision": _decision_of(document, decision, evaluated), "dry_run": True}
        if migration is not None:
            out["migration_plan"] = _plan_dict(migration)
        return out


def _decision_of(document: dict[str, Any], decision: DecisionLike, evaluated: dict[str, Any]) -> dict[str, Any]:
    view = decision_view(decision, evaluated.get("evidence"))
    if document["kind"] == migrate.KIND:
        view["approval"] = migrate.EVERY_APPROVER
    return view


def _plan_dict(migration: migrate.MigrationAssessment) -> dict[str, Any] | None:
    return migration.plan.to_dict() if migration.plan is not None else None


# Called in a submission's transaction with its session and the stored request's view; the events it
# returns are recorded with the submission's own (e.g. drift triage noting what it asked for).
AlsoRecord = Callable[[Session, dict[str, Any]], Sequence[NewEvent]]


def submit_request(
    deps: RequestDeps, identity: Identity, document: dict[str, Any], *, idempotency_key: str | None = None,
    also: AlsoRecord | None = None,
    source: str | None = None, override_managed_by: bool = False,
) -> SubmitResult:
    """Validate, decide and store a request. `source`: the desired-state file submitting it (None:
    portal/API); `override_managed_by`: a platform admin changes a file-managed resource anyway."""
    deps.validate(document)
    validate_expiry(document)
    digest = body_hash(document) if idempotency_key is not None else ""
    evidence = _gather_evidence(deps, identity, document)
    migration = _gather_migration(deps, identity, document)
    try:
        with unit_of_work(deps.engine) as session:
            if idempotency_key is not None:
                replay = _replay(session, identity, idempotency_key, digest)
                if replay is not None:
                    return replay
            context = resolve_context(session, identity, document)
            overridden = check_managed_by(session, identity, document, context.topic, source=source,
                                          override=override_managed_by)
            evaluated = _document(deps, session, identity, document, context, evidence, migration)
            decision = deps.evaluate(evaluated)
            decision_dict = _decision_of(document, decision, evaluated)
            now = utcnow()
            row: dict[str, Any] = {
                "id": new_id(), "kind": document["kind"], "cluster": context.cluster.name, "spec": document["spec"],
                "reason": document.get("reason", ""), "requested_by": identity.subject,
                "requester_team": context.requester_team, "owner_team": context.owner_team, "created_at": now,
                "updated_at": now, "status": STATUS_BY_OUTCOME[decision.outcome], "decision": decision_dict,
                "approvers": list(decision.approvers), "approvals": [], "rejection_reason": None, "error": None,
                "applied_at": None, "attempts": 0, "last_error": None, "next_attempt_at": None, "outcomes": None,
                "source": source, "migration_plan": _plan_dict(migration) if migration is not None else None}
            submitted = {"kind": row["kind"], "cluster": row["cluster"], "spec": row["spec"], "reason": row["reason"],
                         "decision": decision_dict}
            if source is not None:
                submitted["source"] = source
            if overridden is not None:
                # The admin's override is part of the request's own history, with the file it overrode.
                submitted["override_managed_by"] = {"managed_by": overridden}
            events = [NewEvent(actor=identity.subject, action="request:submit", subject=f"request:{row['id']}",
                               team=context.requester_team, data=submitted)]
            rows = SubmissionRows(request=row)
            if row["status"] == "approved" and row["kind"] == migrate.KIND:
                # A bundle without the migration policy approves at once: the migration starts now.
                events.append(NewEvent(actor="policy", action="request:auto_approve", subject=f"request:{row['id']}",
                                       team=context.requester_team, data={"status": row["status"]}))
            elif row["status"] == "approved":
                # An auto-approved request updates desired state in the same transaction. A new topic
                # and its grants are stored with the request; other kinds change rows first.
                links: list[store.Link]
                more: list[NewEvent] = []
                note: dict[str, Any] = {}
                # A creation's current values are always none: its page computes them, no queries here.
                changes = snapshot(session, row) if row["kind"] != "topic.create" else {}
                if row["kind"] == "topic.create" and context.tombstone_id is None:
                    topic, wanted = store.new_topic(row["cluster"], row["spec"], row["owner_team"], source)
                    rows.topics = [topic]
                    rows.grants = store.grant_rows(row["cluster"], topic["name"], "literal", wanted,
                                                   managed_by=source)
                    links = [store.link("topic", topic["id"], topic["generation"])]
                else:
                    links, more, note = _write_desired_state(session, row, "policy", tombstone=context.tombstone_id)
                rows.links = [{"request_id": row["id"], **link} for link in links]
                _settle(row, links)
                events.append(NewEvent(actor="policy", action="request:auto_approve",
                                       subject=f"request:{row['id']}", team=context.requester_team,
                                       data={"status": row["status"], **note, **changes}))
                events += more
            result = SubmitResult(201, request_view(row))
            if idempotency_key is not None:
                rows.idempotency_key = {
                    "principal": identity.subject, "key": idempotency_key, "body_hash": digest,
                    "status_code": result.status_code, "response": result.body, "created_at": now}
            if also is not None:
                events += also(session, result.body)
            rows.events = inbox_rows(events)
            store_submission(session.connection(), rows)
            if row["status"] == "approved" and row["kind"] == migrate.KIND:
                record_events(session, [migrate.start_migration(session, row, "policy", now)])
            recorded(session)
            if decision.outcome != "needs_approval":
                metrics.decided(session, row["kind"], decision.outcome, now)
            if row["status"] == "applied":
                metrics.settled(session, row["kind"], "applied", now)
            return result
    except IntegrityError as exc:
        # Two submissions with one Idempotency-Key raced: the loser replays the winner's answer.
        if idempotency_key is not None:
            with unit_of_work(deps.engine) as session:
                replay = _replay(session, identity, idempotency_key, digest)
            if replay is not None:
                return replay
        # Another submission wrote the same resource (e.g. the same new topic) between this one's
        # checks and its write; nothing of this one was stored.
        raise Conflict("another request changed the same resource at the same moment; nothing was stored. "
                       "Look at its current state, then submit again if it still applies") from exc


def _replay(session: Session, identity: Identity, key: str, digest: str) -> SubmitResult | None:
    stored = store.stored_response(session, identity.subject, key)
    if stored is None:
        return None
    if stored.body_hash != digest:
        raise ValidationFailed("this Idempotency-Key was used with a different body",
                               errors=[FieldError("/headers/Idempotency-Key", "reused with another body")])
    return SubmitResult(stored.status_code, stored.response, replayed=True)


def _lock_request(session: Session, request_id: str) -> RequestRow:
    row = store.lock_request(session, request_id)
    if row is None:
        raise NotFound("no such request")
    return row


def can_see(identity: Identity, row: RequestRow | Row[Any]) -> bool:
    # Routed approvers see what they are asked to approve (e.g. a consuming team, for a topic.delete).
    return (identity.platform_admin or row.requested_by == identity.subject
            or identity.is_member(row.requester_team) or identity.is_member(row.owner_team)
            or routed_to(identity, row))


def may_approve(identity: Identity, row: RequestRow | Row[Any]) -> bool:
    if row.kind == migrate.KIND:
        # Every approver approves once, each for what is still uncovered (approval_roles).
        return migrate.may_approve(identity, row)
    return routed_to(identity, row)


def routed_to(identity: Identity, row: RequestRow | Row[Any]) -> bool:
    """Whether the request is routed to one of the identity's roles: it keeps seeing the request
    after it approved its part of a topic.migrate, even with nothing left for it to approve."""
    for approver in row.approvers:
        kind, _, value = approver.partition(":")
        if kind == "team" and identity.is_owner(value) and value in identity.team_roles:
            return True
        if kind == "role" and value == "platform_admin" and identity.platform_admin:
            return True
    return False


def approve_request(engine: Engine, identity: Identity, request_id: str, comment: str | None) -> dict[str, Any]:
    with unit_of_work(engine) as session:
        row = _lock_request(session, request_id)
        if not can_see(identity, row):
            raise NotFound("no such request")
        if row.status not in OPEN_STATUSES:
            raise Conflict(f"the request is {row.status}; only pending requests can be approved")
        if row.requested_by == identity.subject:
            raise Forbidden("nobody approves their own request")
        if not may_approve(identity, row):
            raise Forbidden(f"this request awaits approval by {', '.join(row.approvers)}")
        if row.kind == migrate.KIND:
            return _approve_migration(session, identity, row, comment)
        row.approvals = [*row.approvals, {"by": identity.subject, "at": rfc3339(utcnow()),
                                          "comment": comment or ""}]
        row.updated_at = utcnow()
        # Current -> new as the approver saw it: after this, desired state holds the new values.
        changes = snapshot(session, {"id": row.id, "kind": row.kind, "cluster": row.cluster, "spec": row.spec})
        more, note = apply_to_desired_state(session, row, identity.subject)
        session.add(row)
        record_event(session, actor=identity.subject, action="request:approve", subject=f"request:{row.id}",
                     team=row.owner_team, data={"before": "pending_approval", "after": row.status,
                                                "comment": comment or "", **note, **changes})
        record_events(session, more)
        if row.status != "pending_approval":
            metrics.decided(session, row.kind, "approved", row.created_at)
        if row.status == "applied":
            metrics.settled(session, row.kind, "applied", row.created_at)
        return request_view(row)


def _approve_migration(session: Session, identity: Identity, row: RequestRow, comment: str | None
                       ) -> dict[str, Any]:
    """One approval of a topic.migrate, for the approvers it covers; the last one starts the migration."""
    roles = migrate.approval_roles(identity, row)
    now = utcnow()
    row.approvals = [*row.approvals, {"by": identity.subject, "at": rfc3339(now), "comment": comment or "",
                                      "as": roles}]
    row.updated_at = now
    events: list[NewEvent] = []
    migration_id = None
    if migrate.fully_approved(row):
        row.status = "approved"
        started = migrate.start_migration(session, {"id": row.id, "cluster": row.cluster, "spec": row.spec,
                                                    "owner_team": row.owner_team,
                                                    "migration_plan": row.migration_plan},
                                          identity.subject, now)
        events.append(started)
        migration_id = started.subject.removeprefix("migration:")
    session.add(row)
    session.flush()  # the migration row references the request
    awaiting = [a for a in row.approvers if a not in migrate.covered(row)]
    record_event(session, actor=identity.subject, action="request:approve", subject=f"request:{row.id}",
                 team=row.owner_team, data={"before": "pending_approval", "after": row.status,
                                            "comment": comment or "", "as": roles, "awaiting": awaiting})
    record_events(session, events)
    return request_view(row, migration_id)


def reject_request(engine: Engine, identity: Identity, request_id: str, reason: str) -> dict[str, Any]:
    if not reason.strip():
        raise ValidationFailed("a rejection needs a reason", errors=[FieldError("/reason", "must not be empty")])
    with unit_of_work(engine) as session:
        row = _lock_request(session, request_id)
        if not can_see(identity, row):
            raise NotFound("no such request")
        if row.status not in OPEN_STATUSES:
            raise Conflict(f"the request is {row.status}; only pending requests can be rejected")
        if not may_approve(identity, row):
            raise Forbidden(f"this request awaits a decision by {', '.join(row.approvers)}")
        row.status = "rejected"
        row.rejection_reason = reason.strip()
        row.updated_at = utcnow()
        session.add(row)
        record_event(session, actor=identity.subject, action="request:reject", subject=f"request:{row.id}",
                     team=row.owner_team, data={"before": "pending_approval", "after": "rejected",
                                                "reason": row.rejection_reason})
        metrics.decided(session, row.kind, "rejected", row.created_at)
        return request_view(row)


def cancel_request(engine: Engine, identity: Identity, request_id: str) -> dict[str, Any]:
    with unit_of_work(engine) as session:
        row = _lock_request(session, request_id)
        if not can_see(identity, row):
            raise NotFound("no such request")
        if row.requested_by != identity.subject and not identity.is_owner(row.requester_team):
            raise Forbidden("only the requester or an owner of the requesting team can cancel")
        if row.status not in OPEN_STATUSES:
            raise Conflict(f"the request is {row.status}; only pending requests can be cancelled")
        row.status = "cancelled"
        row.updated_at = utcnow()
        session.add(row)
        record_event(session, actor=identity.subject, action="request:cancel", subject=f"request:{row.id}",
                     team=row.requester_team, data={"before": "pending_approval", "after": "cancelled"})
        return request_view(row)

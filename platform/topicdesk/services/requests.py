"""The request workflow: submit (validate, evaluate, store), approve, reject, cancel.

Every transition is one unit of work holding the request row, the desired-state change it makes
and its audit event, so a crash can never leave one without the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from topicdesk.adapters import deletion_store
from topicdesk.adapters import request_store as store
from topicdesk.adapters.audit_log import NewEvent, inbox_rows, record_event, record_events, recorded
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.request_store import SubmissionContext
from topicdesk.adapters.submission_store import SubmissionRows, store_submission
from topicdesk.adapters.tables import (
    ClusterRow,
    RequestRow,
    TopicRow,
    new_id,
    utcnow,
)
from topicdesk.domain.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from topicdesk.domain.evidence import TopicEvidence, evidence_facts, unavailable
from topicdesk.domain.expiry import expiry_errors
from topicdesk.domain.identity import Identity
from topicdesk.domain.model import team_of_principal
from topicdesk.services import deletion
from topicdesk.services.outcomes import progress_view

log = logging.getLogger(__name__)

TOPIC_KINDS = {"topic.create", "topic.update", "topic.delete"}
OPEN_STATUSES = {"pending_approval"}


class RuleLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def effect(self) -> str: ...
    @property
    def message(self) -> str: ...


class DecisionLike(Protocol):
    @property
    def outcome(self) -> str: ...
    @property
    def rules(self) -> Sequence[RuleLike]: ...
    @property
    def approvers(self) -> Sequence[str]: ...


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


@dataclass(frozen=True)
class SubmitResult:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def decision_view(decision: DecisionLike, evidence: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The stored decision; a topic.delete's also keeps the evidence it was decided on."""
    view: dict[str, Any] = {
        "outcome": decision.outcome,
        "rules": [{"id": r.id, "effect": r.effect, "message": r.message} for r in decision.rules],
        "approvers": list(decision.approvers),
    }
    if evidence is not None:
        view["evidence"] = dict(evidence)
    return view


def request_view(row: RequestRow | Mapping[str, Any]) -> dict[str, Any]:
    """The API's view of a request: from a loaded row, or from the values just inserted."""
    get: Callable[[str], Any] = row.__getitem__ if isinstance(row, Mapping) else partial(getattr, row)
    applied_at = get("applied_at")
    return {
        "id": get("id"),
        "kind": get("kind"),
        "cluster": get("cluster"),
        "spec": get("spec"),
        "reason": get("reason"),
        "requested_by": get("requested_by"),
        "requester_team": get("requester_team"),
        "owner_team": get("owner_team"),
        "created_at": _rfc3339(get("created_at")),
        "updated_at": _rfc3339(get("updated_at")),
        "status": get("status"),
        "decision": get("decision"),
        "approvals": get("approvals"),
        "rejection_reason": get("rejection_reason"),
        "error": get("error"),
        "applied_at": _rfc3339(applied_at) if applied_at else None,
        "source": get("source"),
        **progress_view(row),
    }


def _rfc3339(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


def body_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --- context: what the request touches -------------------------------------------------------------

@dataclass
class _Context:
    cluster: SubmissionContext
    requester_team: str
    owner_team: str
    topic: TopicRow | None
    usage: dict[str, int]
    # The deleted row a topic.create of the same name replaces (None: there is none).
    tombstone_id: str | None = None


def _resolve_context(session: Session, identity: Identity, document: dict[str, Any]) -> _Context:
    kind, spec = document["kind"], document["spec"]
    if kind in TOPIC_KINDS:
        topic_name = spec["name"]
    elif kind in ("access.grant", "access.revoke") and spec.get("pattern", "literal") == "literal":
        topic_name = spec["topic"]
    else:
        topic_name = None
    cluster = store.load_context(session, document["cluster"], topic_name)
    if cluster is None:
        raise ValidationFailed("the request names an unknown cluster",
                               errors=[FieldError("/cluster", f"no cluster named {document['cluster']!r}")])
    usage, live_id = cluster.usage, cluster.live_topic_id
    if kind in TOPIC_KINDS or kind == "quota.set":
        # Producer-owner model: only the cluster's owner team changes its topics and quotas.
        if not identity.is_member(cluster.owner_team):
            raise Forbidden(f"only members of team {cluster.owner_team!r}, which owns cluster {cluster.name!r}, "
                            f"can request {kind}")
        topic = None
        if kind in TOPIC_KINDS:
            if kind == "topic.create" and live_id is not None:
                live = store.topic_by_id(session, live_id)
                if live is not None and live.lifecycle == deletion_store.QUARANTINED:
                    raise Conflict(f"topic {spec['name']!r} on cluster {cluster.name!r} is quarantined until "
                                   f"{_rfc3339(live.quarantined_until)}: restore it, or create it again once "
                                   "it is deleted")
                raise Conflict(f"topic {spec['name']!r} already exists on cluster {cluster.name!r}")
            if kind == "topic.create" and cluster.tombstone_id is not None:
                tombstone = store.topic_by_id(session, cluster.tombstone_id)
                if tombstone is not None and tombstone.lifecycle == deletion_store.DELETING:
                    # Replacing the tombstone now would keep the old topic (and its data) on the cluster.
                    raise Conflict(f"topic {spec['name']!r} on cluster {cluster.name!r} is being deleted; "
                                   "create it again once that is done")
            if kind != "topic.create" and live_id is None:
                raise ValidationFailed("the request names an unknown topic",
                                       errors=[FieldError("/spec/name", f"no topic {spec['name']!r} on "
                                                                        f"cluster {cluster.name!r}")])
            topic = store.topic_by_id(session, live_id)
            _refuse_if_quarantined(topic, kind)
        return _Context(cluster, cluster.owner_team, cluster.owner_team, topic, usage, cluster.tombstone_id)
    # access.grant / access.revoke: asked by the team that owns the principal (or the topic owner).
    principal_team = team_of_principal(spec["principal"])
    # A grant may name a topic that does not exist yet (policy warns); a revoke must name a grant.
    topic = store.topic_by_id(session, live_id)
    _refuse_if_quarantined(topic, kind)
    if kind == "access.revoke" and not store.matching_grants(session, cluster.name, spec):
        raise ValidationFailed("nothing to revoke",
                               errors=[FieldError("/spec", f"{spec['principal']} has no {spec['access']} grant on "
                                                           f"{spec['topic']!r} on cluster {cluster.name!r}")])
    owner_team = topic.owner_team if topic else cluster.owner_team
    if identity.is_member(principal_team) and principal_team in identity.team_roles:
        requester_team = principal_team
    elif identity.is_member(owner_team):
        requester_team = owner_team
    elif identity.platform_admin:
        requester_team = principal_team or owner_team
    else:
        raise Forbidden(f"principal {spec['principal']!r} does not belong to your team; "
                        f"request access for your own team's principals")
    return _Context(cluster, requester_team, owner_team, topic, usage)


def managed_by_of(session: Session, document: dict[str, Any], topic: TopicRow | None) -> str | None:
    """The desired-state file managing what a request changes (None: the portal/API manages it).

    A new grant on a file's topic changes no file-managed resource (another team asking to consume
    is the point of the portal), so grants are judged by the grant rows, not by their topic.
    """
    kind, spec = document["kind"], document["spec"]
    if kind in ("topic.update", "topic.delete"):
        return topic.managed_by if topic is not None else None
    if kind in ("access.grant", "access.revoke"):
        return next((g.managed_by for g in store.matching_grants(session, document["cluster"], spec)
                     if g.managed_by is not None), None)
    if kind == "quota.set":
        quota = store.live_quota(session, document["cluster"], spec["principal"])
        return quota.managed_by if quota is not None else None
    return None


def check_managed_by(session: Session, identity: Identity, document: dict[str, Any], topic: TopicRow | None, *,
                     source: str | None, override: bool) -> str | None:
    """Refuse (409) a change to a file-managed resource unless it comes from that file, or a platform
    admin overrides. Returns the overridden file's source (for the audit event), else None."""
    if override and not identity.platform_admin:
        raise Forbidden("only platform admins may pass override_managed_by=true")
    managed_by = managed_by_of(session, document, topic)
    if managed_by is None or managed_by == source:
        return None
    if override:
        return managed_by
    raise Conflict(f"managed by desired-state file {managed_by}; change the file, or a platform admin overrides "
                   "with ?override_managed_by=true")


def _refuse_if_quarantined(topic: TopicRow | None, kind: str) -> None:
    if topic is not None and topic.lifecycle == deletion_store.QUARANTINED:
        raise Conflict(f"topic {topic.name!r} is quarantined until {_rfc3339(topic.quarantined_until)} "
                       f"(deleted by {topic.deleted_by}); restore it before asking for {kind}")


def _gather_evidence(deps: RequestDeps, identity: Identity, document: dict[str, Any]) -> dict[str, Any] | None:
    """Usage evidence for a topic.delete, asked outside any transaction (it talks to the cluster).

    The context is resolved first, so only a caller who may delete the topic makes Topicdesk ask.
    """
    if document["kind"] != "topic.delete":
        return None
    with unit_of_work(deps.engine) as session:
        _resolve_context(session, identity, document)
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


def _document(deps: RequestDeps, session: Session, identity: Identity, document: dict[str, Any],
              context: _Context, evidence: dict[str, Any] | None = None) -> dict[str, Any]:
    cluster = context.cluster
    topic = context.topic
    return deps.build_document(
        request={"kind": document["kind"], "cluster": cluster.name, "spec": document["spec"]},
        # The request is made on behalf of one team: rules see that team, not every team of the person,
        # so a person in two teams cannot skip the owner's approval by being in both.
        requester={"subject": identity.subject, "teams": [context.requester_team],
                   "roles": ["platform_admin"] if identity.platform_admin else
                   [identity.team_roles.get(context.requester_team, "member")]},
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
    with unit_of_work(deps.engine) as session:
        context = _resolve_context(session, identity, document)
        check_managed_by(session, identity, document, context.topic, source=source, override=override_managed_by)
        evaluated = _document(deps, session, identity, document, context, evidence)
        decision = deps.evaluate(evaluated)
        return {"decision": decision_view(decision, evaluated.get("evidence")), "dry_run": True}


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
    try:
        with unit_of_work(deps.engine) as session:
            if idempotency_key is not None:
                replay = _replay(session, identity, idempotency_key, digest)
                if replay is not None:
                    return replay
            context = _resolve_context(session, identity, document)
            overridden = check_managed_by(session, identity, document, context.topic, source=source,
                                          override=override_managed_by)
            evaluated = _document(deps, session, identity, document, context, evidence)
            decision = deps.evaluate(evaluated)
            decision_dict = decision_view(decision, evaluated.get("evidence"))
            now = utcnow()
            row: dict[str, Any] = {
                "id": new_id(), "kind": document["kind"], "cluster": context.cluster.name, "spec": document["spec"],
                "reason": document.get("reason", ""), "requested_by": identity.subject,
                "requester_team": context.requester_team, "owner_team": context.owner_team, "created_at": now,
                "updated_at": now, "status": STATUS_BY_OUTCOME[decision.outcome], "decision": decision_dict,
                "approvers": list(decision.approvers), "approvals": [], "rejection_reason": None, "error": None,
                "applied_at": None, "attempts": 0, "last_error": None, "next_attempt_at": None, "outcomes": None,
                "source": source}
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
            if row["status"] == "approved":
                # An auto-approved request updates desired state in the same transaction. A new topic
                # and its grants are stored with the request; other kinds change rows first.
                links: list[store.Link]
                more: list[NewEvent] = []
                note: dict[str, Any] = {}
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
                                       data={"status": row["status"], **note}))
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
            recorded(session)
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


def can_see(identity: Identity, row: RequestRow) -> bool:
    # Routed approvers see what they are asked to approve (e.g. a consuming team, for a topic.delete).
    return (identity.platform_admin or row.requested_by == identity.subject
            or identity.is_member(row.requester_team) or identity.is_member(row.owner_team)
            or may_approve(identity, row))


def may_approve(identity: Identity, row: RequestRow) -> bool:
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
        row.approvals = [*row.approvals, {"by": identity.subject, "at": _rfc3339(utcnow()),
                                          "comment": comment or ""}]
        row.updated_at = utcnow()
        more, note = apply_to_desired_state(session, row, identity.subject)
        session.add(row)
        record_event(session, actor=identity.subject, action="request:approve", subject=f"request:{row.id}",
                     team=row.owner_team, data={"before": "pending_approval", "after": row.status,
                                                "comment": comment or "", **note})
        record_events(session, more)
        return request_view(row)


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

"""The request workflow: submit (validate, evaluate, store), approve, reject, cancel.

Every transition is one unit of work holding the request row, the desired-state change it makes
and its audit event, so a crash can never leave one without the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from topicdesk.adapters.audit_log import NewEvent, record_event, record_events
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import (
    AccessGrantRow,
    ClientQuotaRow,
    ClusterRow,
    IdempotencyKeyRow,
    RequestResourceRow,
    RequestRow,
    TopicRow,
    utcnow,
)
from topicdesk.domain.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from topicdesk.domain.identity import Identity

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


@dataclass(frozen=True)
class SubmitResult:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def decision_view(decision: DecisionLike) -> dict[str, Any]:
    return {
        "outcome": decision.outcome,
        "rules": [{"id": r.id, "effect": r.effect, "message": r.message} for r in decision.rules],
        "approvers": list(decision.approvers),
    }


def request_view(row: RequestRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "cluster": row.cluster,
        "spec": row.spec,
        "reason": row.reason,
        "requested_by": row.requested_by,
        "requester_team": row.requester_team,
        "owner_team": row.owner_team,
        "created_at": _rfc3339(row.created_at),
        "updated_at": _rfc3339(row.updated_at),
        "status": row.status,
        "decision": row.decision,
        "approvals": row.approvals,
        "rejection_reason": row.rejection_reason,
        "error": row.error,
        "applied_at": _rfc3339(row.applied_at) if row.applied_at else None,
    }


def _rfc3339(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


def body_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --- context: what the request touches -------------------------------------------------------------

@dataclass
class _Context:
    cluster: ClusterRow
    requester_team: str
    owner_team: str
    topic: TopicRow | None


def _team_of_principal(principal: str) -> str:
    name = principal.partition(":")[2]
    return name.split(".", 1)[0] if "." in name else ""


def _live_topic(session: Session, cluster: str, name: str) -> TopicRow | None:
    return session.exec(select(TopicRow).where(TopicRow.cluster == cluster, TopicRow.name == name,
                                               col(TopicRow.deleted).is_(False))).first()


def _resolve_context(session: Session, identity: Identity, document: dict[str, Any]) -> _Context:
    kind, spec = document["kind"], document["spec"]
    cluster = session.get(ClusterRow, document["cluster"])
    if cluster is None:
        raise ValidationFailed("the request names an unknown cluster",
                               errors=[FieldError("/cluster", f"no cluster named {document['cluster']!r}")])
    if kind in TOPIC_KINDS or kind == "quota.set":
        # Producer-owner model: only the cluster's owner team changes its topics and quotas.
        if not identity.is_member(cluster.owner_team):
            raise Forbidden(f"only members of team {cluster.owner_team!r}, which owns cluster {cluster.name!r}, "
                            f"can request {kind}")
        topic = None
        if kind in TOPIC_KINDS:
            topic = _live_topic(session, cluster.name, spec["name"])
            if kind == "topic.create" and topic is not None:
                raise Conflict(f"topic {spec['name']!r} already exists on cluster {cluster.name!r}")
            if kind != "topic.create" and topic is None:
                raise ValidationFailed("the request names an unknown topic",
                                       errors=[FieldError("/spec/name", f"no topic {spec['name']!r} on "
                                                                        f"cluster {cluster.name!r}")])
        return _Context(cluster, cluster.owner_team, cluster.owner_team, topic)
    # access.grant / access.revoke: asked by the team that owns the principal (or the topic owner).
    principal_team = _team_of_principal(spec["principal"])
    pattern = spec.get("pattern", "literal")
    # A grant may name a topic that does not exist yet (policy warns); a revoke must name a grant.
    topic = _live_topic(session, cluster.name, spec["topic"]) if pattern == "literal" else None
    if kind == "access.revoke" and not _matching_grants(session, cluster.name, spec):
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
    return _Context(cluster, requester_team, owner_team, topic)


def cluster_usage(session: Session, cluster: str) -> dict[str, int]:
    """Desired partitions, partition replicas and disk (expected bytes/s x retention x RF) of a cluster."""
    partitions, replicas = session.exec(
        select(func.coalesce(func.sum(TopicRow.partitions), 0),
               func.coalesce(func.sum(TopicRow.partitions * TopicRow.replication_factor), 0))
        .where(TopicRow.cluster == cluster, col(TopicRow.deleted).is_(False))).one()
    topics = session.exec(select(TopicRow.config, TopicRow.expected_bytes_per_second, TopicRow.replication_factor)
                          .where(TopicRow.cluster == cluster, col(TopicRow.deleted).is_(False),
                                 col(TopicRow.expected_bytes_per_second).is_not(None))).all()
    disk = 0
    for config, rate, rf in topics:
        retention_ms = int(config.get("retention.ms", "604800000"))
        if rate and retention_ms > 0:
            disk += rate * (retention_ms // 1000) * rf
    return {"partitions": int(partitions), "replicas": int(replicas), "disk_bytes": disk}


def _document(deps: RequestDeps, session: Session, identity: Identity, document: dict[str, Any],
              context: _Context) -> dict[str, Any]:
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
                 "usage": cluster_usage(session, cluster.name)},
        topic=None if topic is None else {
            "name": topic.name, "owner_team": topic.owner_team, "partitions": topic.partitions,
            "replication_factor": topic.replication_factor, "config": topic.config,
            "expected_bytes_per_second": topic.expected_bytes_per_second,
            "grants": [{"principal": g.principal, "access": g.access, "group": g.group_id or None}
                       for g in session.exec(select(AccessGrantRow).where(
                           AccessGrantRow.cluster == cluster.name, AccessGrantRow.topic == topic.name,
                           col(AccessGrantRow.deleted).is_(False))).all()]},
    )


# --- desired state ----------------------------------------------------------------------------------

def _bump(row: Any) -> None:
    row.generation += 1
    row.updated_at = utcnow()
    row.last_error = None
    row.last_error_reason = None
    row.attempts = 0
    row.not_before = None


def _link(session: Session, request: RequestRow, kind: str, row: Any) -> None:
    session.add(RequestResourceRow(request_id=request.id, resource_kind=kind, resource_id=row.id,
                                   generation=row.generation))


def _upsert_grants(session: Session, request: RequestRow, cluster: str, topic: str, pattern: str,
                   wanted: Sequence[tuple[str, str, str, str]]) -> None:
    """Grant each (principal, access, group, transactional_id) on one topic; one query finds those that exist."""
    if not wanted:
        return
    found = session.exec(select(AccessGrantRow).where(
        AccessGrantRow.cluster == cluster, AccessGrantRow.topic == topic, AccessGrantRow.pattern == pattern,
        col(AccessGrantRow.principal).in_({w[0] for w in wanted}),
        col(AccessGrantRow.access).in_({w[1] for w in wanted}))).all()
    existing = {(g.principal, g.access, g.group_id, g.transactional_id): g for g in found}
    for principal, access, group, transactional_id in wanted:
        row = existing.get((principal, access, group, transactional_id))
        if row is None:
            row = AccessGrantRow(cluster=cluster, topic=topic, pattern=pattern, principal=principal, access=access,
                                 group_id=group, transactional_id=transactional_id,
                                 granted_team=_team_of_principal(principal))
            session.add(row)
            existing[principal, access, group, transactional_id] = row
        elif row.deleted:
            row.deleted = False
            _bump(row)
        else:
            continue  # already granted (or named twice): nothing changes, nothing to wait for
        # Ids are made client-side: the links need no flush; one flush at the end batches the inserts.
        _link(session, request, "access_grant", row)


def _matching_grants(session: Session, cluster: str, spec: dict[str, Any]) -> list[AccessGrantRow]:
    grants = session.exec(select(AccessGrantRow).where(
        AccessGrantRow.cluster == cluster, AccessGrantRow.topic == spec["topic"],
        AccessGrantRow.pattern == spec.get("pattern", "literal"), AccessGrantRow.principal == spec["principal"],
        AccessGrantRow.access == spec["access"], col(AccessGrantRow.deleted).is_(False))).all()
    return [g for g in grants
            if ("group" not in spec or g.group_id == spec["group"])
            and ("transactional_id" not in spec or g.transactional_id == spec["transactional_id"])]


def apply_to_desired_state(session: Session, request: RequestRow) -> None:
    """Turn an approved request into desired-state rows with new generations (same transaction)."""
    spec, cluster = request.spec, request.cluster
    if request.kind == "topic.create":
        rate = (spec.get("expected_throughput") or {}).get("bytes_per_second")
        topic = TopicRow(cluster=cluster, name=spec["name"], owner_team=request.owner_team,
                         partitions=spec["partitions"], replication_factor=spec["replication_factor"],
                         config=dict(spec.get("config") or {}), description=spec.get("description", ""),
                         managed_config_keys=sorted(spec.get("config") or {}),
                         data_contract=spec.get("data_contract"), expected_bytes_per_second=rate)
        # A topic deleted earlier keeps a tombstone until the cluster confirms; a re-create replaces it.
        old = session.exec(select(TopicRow).where(TopicRow.cluster == cluster, TopicRow.name == spec["name"])).first()
        if old is not None:
            session.delete(old)
            session.flush()
        session.add(topic)
        _link(session, request, "topic", topic)
        _upsert_grants(session, request, cluster, topic.name, "literal",
                       [(principal, "produce", "", "") for principal in spec.get("producers") or []]
                       + [(consumer["principal"], "consume", consumer.get("group", ""), "")
                          for consumer in spec.get("consumers") or []])
    elif request.kind == "topic.update":
        current = _live_topic(session, cluster, spec["name"])
        if current is None:
            raise Conflict(f"topic {spec['name']!r} no longer exists")
        topic = current
        if "partitions" in spec:
            topic.partitions = spec["partitions"]
        if "config" in spec:
            merged = dict(topic.config)
            for key, value in spec["config"].items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            topic.config = merged
            topic.managed_config_keys = sorted(set(topic.managed_config_keys) | set(spec["config"]))
        if "description" in spec:
            topic.description = spec["description"]
        if "expected_throughput" in spec:
            topic.expected_bytes_per_second = (spec["expected_throughput"] or {}).get("bytes_per_second")
        _bump(topic)
        session.add(topic)
        session.flush()
        _link(session, request, "topic", topic)
    elif request.kind == "topic.delete":
        doomed = _live_topic(session, cluster, spec["name"])
        if doomed is None:
            raise Conflict(f"topic {spec['name']!r} no longer exists")
        topic = doomed
        topic.deleted = True
        _bump(topic)
        session.add(topic)
        for grant in session.exec(select(AccessGrantRow).where(
                AccessGrantRow.cluster == cluster, AccessGrantRow.topic == topic.name,
                AccessGrantRow.pattern == "literal", col(AccessGrantRow.deleted).is_(False))).all():
            grant.deleted = True
            _bump(grant)
            session.add(grant)
            session.flush()
            _link(session, request, "access_grant", grant)
        session.flush()
        _link(session, request, "topic", topic)
    elif request.kind == "access.grant":
        _upsert_grants(session, request, cluster, spec["topic"], spec.get("pattern", "literal"),
                       [(spec["principal"], spec["access"], spec.get("group", ""), spec.get("transactional_id", ""))])
    elif request.kind == "access.revoke":
        for grant in _matching_grants(session, cluster, spec):
            grant.deleted = True
            _bump(grant)
            session.add(grant)
            session.flush()
            _link(session, request, "access_grant", grant)
    elif request.kind == "quota.set":
        quota = session.exec(select(ClientQuotaRow).where(ClientQuotaRow.cluster == cluster,
                                                          ClientQuotaRow.principal == spec["principal"])).first()
        if quota is None:
            quota = ClientQuotaRow(cluster=cluster, principal=spec["principal"], owner_team=request.owner_team)
        else:
            _bump(quota)
        quota.deleted = False
        # Quotas the spec does not name keep their value; null removes one (schemas/quota.set.json).
        for key in ("producer_byte_rate", "consumer_byte_rate", "request_percentage"):
            if key in spec:
                setattr(quota, key, spec[key])
        if quota.producer_byte_rate is None and quota.consumer_byte_rate is None and quota.request_percentage is None:
            quota.deleted = True
        session.add(quota)
        session.flush()
        _link(session, request, "client_quota", quota)
    # Nothing to wait for (e.g. a grant that already existed): applied at once.
    has_links = session.exec(select(RequestResourceRow).where(RequestResourceRow.request_id == request.id)).first()
    request.status = "approved" if has_links else "applied"
    if not has_links:
        request.applied_at = utcnow()


# --- use cases --------------------------------------------------------------------------------------

STATUS_BY_OUTCOME = {"auto_approved": "approved", "needs_approval": "pending_approval", "denied": "denied"}


def evaluate_request(deps: RequestDeps, identity: Identity, document: dict[str, Any]) -> dict[str, Any]:
    """dry_run: validate and decide; nothing is stored."""
    deps.validate(document)
    with unit_of_work(deps.engine) as session:
        context = _resolve_context(session, identity, document)
        decision = deps.evaluate(_document(deps, session, identity, document, context))
        return {"decision": decision_view(decision), "dry_run": True}


def submit_request(
    deps: RequestDeps, identity: Identity, document: dict[str, Any], *, idempotency_key: str | None = None,
) -> SubmitResult:
    deps.validate(document)
    digest = body_hash(document)
    try:
        with unit_of_work(deps.engine) as session:
            if idempotency_key is not None:
                replay = _replay(session, identity, idempotency_key, digest)
                if replay is not None:
                    return replay
            context = _resolve_context(session, identity, document)
            decision = deps.evaluate(_document(deps, session, identity, document, context))
            decision_dict = decision_view(decision)
            row = RequestRow(kind=document["kind"], cluster=context.cluster.name, spec=document["spec"],
                             reason=document.get("reason", ""), requested_by=identity.subject,
                             requester_team=context.requester_team, owner_team=context.owner_team,
                             status=STATUS_BY_OUTCOME[decision.outcome], decision=decision_dict,
                             approvers=list(decision.approvers))
            session.add(row)
            session.flush()
            events = [NewEvent(actor=identity.subject, action="request:submit", subject=f"request:{row.id}",
                               team=context.requester_team,
                               data={"kind": row.kind, "cluster": row.cluster, "spec": row.spec,
                                     "reason": row.reason, "decision": decision_dict})]
            if row.status == "approved":
                apply_to_desired_state(session, row)
                events.append(NewEvent(actor="policy", action="request:auto_approve", subject=f"request:{row.id}",
                                       team=context.requester_team, data={"status": row.status}))
            session.add(row)
            result = SubmitResult(201, request_view(row))
            if idempotency_key is not None:
                session.add(IdempotencyKeyRow(principal=identity.subject, key=idempotency_key, body_hash=digest,
                                              status_code=result.status_code, response=result.body))
            # Last, so the audit head's lock is held only for the append and the commit: submissions
            # queue on that one row, and everything above runs concurrently.
            record_events(session, events)
            return result
    except IntegrityError:
        # Two submissions with one Idempotency-Key raced: the loser replays the winner's answer.
        if idempotency_key is None:
            raise
        with unit_of_work(deps.engine) as session:
            replay = _replay(session, identity, idempotency_key, digest)
        if replay is None:
            raise
        return replay


def _replay(session: Session, identity: Identity, key: str, digest: str) -> SubmitResult | None:
    stored = session.get(IdempotencyKeyRow, (identity.subject, key))
    if stored is None:
        return None
    if stored.body_hash != digest:
        raise ValidationFailed("this Idempotency-Key was used with a different body",
                               errors=[FieldError("/headers/Idempotency-Key", "reused with another body")])
    return SubmitResult(stored.status_code, stored.response, replayed=True)


def _lock_request(session: Session, request_id: str) -> RequestRow:
    row = session.exec(select(RequestRow).where(RequestRow.id == request_id).with_for_update()).first()
    if row is None:
        raise NotFound("no such request")
    return row


def can_see(identity: Identity, row: RequestRow) -> bool:
    return (identity.platform_admin or row.requested_by == identity.subject
            or identity.is_member(row.requester_team) or identity.is_member(row.owner_team))


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
        apply_to_desired_state(session, row)
        session.add(row)
        record_event(session, actor=identity.subject, action="request:approve", subject=f"request:{row.id}",
                     team=row.owner_team, data={"before": "pending_approval", "after": row.status,
                                                "comment": comment or ""})
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

"""The request workflow: submit (validate, evaluate, store), approve, reject, cancel.

Every transition is one unit of work holding the request row, the desired-state change it makes
and its audit event, so a crash can never leave one without the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from pydantic_core import PydanticUndefined
from sqlalchemy import Boolean, and_, bindparam, case, delete, insert, literal_column, null, true
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import ScalarSelect
from sqlmodel import Session, SQLModel, col, func, select

from topicdesk.adapters.audit_log import NewEvent, inbox_rows, record_event, recorded
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.submission_store import GRANT_UPSERTS, SubmissionRows, store_submission
from topicdesk.adapters.tables import (
    AccessGrantRow,
    ClientQuotaRow,
    ClusterRow,
    IdempotencyKeyRow,
    RequestResourceRow,
    RequestRow,
    TopicRow,
    new_id,
    table_of,
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
    }


def _rfc3339(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


def body_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --- Core statements on the hot path ------------------------------------------------------------------
# Submitting writes a request, its desired state, its links and audit events. Those go through
# SQLAlchemy Core with statements built once (their cache keys are memoized), not through ORM
# units of work: ORM object construction and flush bookkeeping cost several times the SQL itself.

_CLUSTERS, _TOPICS, _GRANTS = table_of(ClusterRow), table_of(TopicRow), table_of(AccessGrantRow)
_QUOTAS, _LINKS = table_of(ClientQuotaRow), table_of(RequestResourceRow)
_INSERT_LINKS, _INSERT_TOPIC = insert(_LINKS), insert(_TOPICS)
_DELETE_TOPIC = delete(_TOPICS).where(_TOPICS.c.id == bindparam("topic_id"))


def _defaults(model: type[SQLModel]) -> tuple[tuple[str, Any, Callable[[], Any] | None], ...]:
    return tuple((name, field.default, field.default_factory)  # type: ignore[misc]
                 for name, field in model.model_fields.items())


_FIELD_DEFAULTS: dict[type[SQLModel], tuple[tuple[str, Any, Callable[[], Any] | None], ...]] = {
    model: _defaults(model) for model in (TopicRow, AccessGrantRow, ClientQuotaRow)}


def _row_values(model: type[SQLModel], **values: Any) -> dict[str, Any]:
    """Every column of a new row, with the model's defaults where `values` says nothing."""
    for name, default, factory in _FIELD_DEFAULTS[model]:
        if name not in values:
            if factory is not None:
                values[name] = factory()
            elif default is PydanticUndefined:
                raise TypeError(f"{model.__name__}.{name} is required")
            else:
                values[name] = default
    return values


def _topic_id(deleted: bool) -> ScalarSelect[Any]:
    return (core_select(_TOPICS.c.id).where(_TOPICS.c.cluster == bindparam("cluster"),
                                            _TOPICS.c.name == bindparam("topic"), _TOPICS.c.deleted.is_(deleted))
            .scalar_subquery())


# A cluster's usage in one pass over its live topics: partitions, partition replicas, and how many
# topics declare an expected throughput (only those count against the disk budget; they are read
# one by one, and only when there are any).
_LIVE_TOPICS = and_(_TOPICS.c.cluster == bindparam("cluster"), _TOPICS.c.deleted.is_(False))
_USAGE = core_select(
    func.coalesce(func.sum(_TOPICS.c.partitions), 0).label("used_partitions"),
    func.coalesce(func.sum(_TOPICS.c.partitions * _TOPICS.c.replication_factor), 0).label("used_replicas"),
    func.count(_TOPICS.c.expected_bytes_per_second).label("rated_topics"),
).where(_LIVE_TOPICS)
_RATED_TOPICS = core_select(_TOPICS.c.config, _TOPICS.c.expected_bytes_per_second, _TOPICS.c.replication_factor
                            ).where(_LIVE_TOPICS, _TOPICS.c.expected_bytes_per_second.is_not(None))
# One round trip for what a submission needs to know before policy runs: the cluster, its usage and
# the topic the request names (live, or the tombstone a topic.create replaces). No row: no cluster.
_USAGE_TABLE = _USAGE.subquery("usage")
_CONTEXT = (
    core_select(
        _CLUSTERS.c.name, _CLUSTERS.c.environment, _CLUSTERS.c.owner_team, _CLUSTERS.c.tags,
        _CLUSTERS.c.broker_count, _CLUSTERS.c.partition_budget, _CLUSTERS.c.disk_budget_bytes,
        _USAGE_TABLE.c.used_partitions, _USAGE_TABLE.c.used_replicas, _USAGE_TABLE.c.rated_topics,
        _topic_id(False).label("live_topic_id"), _topic_id(True).label("tombstone_id"))
    .select_from(_CLUSTERS.join(_USAGE_TABLE, true()))
    .where(_CLUSTERS.c.name == bindparam("cluster"))
)


def _usage(connection: Connection, cluster: str, totals: Any) -> dict[str, int]:
    """Usage from a row with used_partitions, used_replicas and rated_topics."""
    disk = 0
    if totals.rated_topics:
        disk = _disk_bytes(connection.execute(_RATED_TOPICS, {"cluster": cluster}).all())
    return {"partitions": int(totals.used_partitions), "replicas": int(totals.used_replicas), "disk_bytes": disk}


# --- context: what the request touches -------------------------------------------------------------

@dataclass(frozen=True)
class _Cluster:
    name: str
    environment: str
    owner_team: str
    tags: list[str]
    broker_count: int
    partition_budget: int
    disk_budget_bytes: int


@dataclass
class _Context:
    cluster: _Cluster
    requester_team: str
    owner_team: str
    topic: TopicRow | None
    usage: dict[str, int]
    # The deleted row a topic.create of the same name replaces (None: there is none).
    tombstone_id: str | None = None


def _team_of_principal(principal: str) -> str:
    name = principal.partition(":")[2]
    return name.split(".", 1)[0] if "." in name else ""


def _live_topic(session: Session, cluster: str, name: str) -> TopicRow | None:
    return session.exec(select(TopicRow).where(TopicRow.cluster == cluster, TopicRow.name == name,
                                               col(TopicRow.deleted).is_(False))).first()


def _disk_bytes(topics: Sequence[tuple[Mapping[str, str], int | None, int]]) -> int:
    """Expected bytes/s x retention x RF, summed over (config, expected_bytes_per_second, RF)."""
    disk = 0
    for config, rate, rf in topics:
        retention_ms = int(config.get("retention.ms", "604800000"))
        if rate and retention_ms > 0:
            disk += rate * (retention_ms // 1000) * rf
    return disk


def _resolve_context(session: Session, identity: Identity, document: dict[str, Any]) -> _Context:
    kind, spec = document["kind"], document["spec"]
    if kind in TOPIC_KINDS:
        topic_name = spec["name"]
    elif kind in ("access.grant", "access.revoke") and spec.get("pattern", "literal") == "literal":
        topic_name = spec["topic"]
    else:
        topic_name = None
    connection = session.connection()
    first = connection.execute(_CONTEXT, {"cluster": document["cluster"], "topic": topic_name}).first()
    if first is None:
        raise ValidationFailed("the request names an unknown cluster",
                               errors=[FieldError("/cluster", f"no cluster named {document['cluster']!r}")])
    cluster = _Cluster(first.name, first.environment, first.owner_team, first.tags, first.broker_count,
                       first.partition_budget, first.disk_budget_bytes)
    usage = _usage(connection, cluster.name, first)
    live_id: str | None = first.live_topic_id
    if kind in TOPIC_KINDS or kind == "quota.set":
        # Producer-owner model: only the cluster's owner team changes its topics and quotas.
        if not identity.is_member(cluster.owner_team):
            raise Forbidden(f"only members of team {cluster.owner_team!r}, which owns cluster {cluster.name!r}, "
                            f"can request {kind}")
        topic = None
        if kind in TOPIC_KINDS:
            if kind == "topic.create" and live_id is not None:
                raise Conflict(f"topic {spec['name']!r} already exists on cluster {cluster.name!r}")
            if kind != "topic.create" and live_id is None:
                raise ValidationFailed("the request names an unknown topic",
                                       errors=[FieldError("/spec/name", f"no topic {spec['name']!r} on "
                                                                        f"cluster {cluster.name!r}")])
            topic = session.get(TopicRow, live_id) if live_id is not None else None
        return _Context(cluster, cluster.owner_team, cluster.owner_team, topic, usage, first.tombstone_id)
    # access.grant / access.revoke: asked by the team that owns the principal (or the topic owner).
    principal_team = _team_of_principal(spec["principal"])
    # A grant may name a topic that does not exist yet (policy warns); a revoke must name a grant.
    topic = session.get(TopicRow, live_id) if live_id is not None else None
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
    return _Context(cluster, requester_team, owner_team, topic, usage)


def cluster_usage(session: Session, cluster: str) -> dict[str, int]:
    """Desired partitions, partition replicas and disk (expected bytes/s x retention x RF) of a cluster."""
    connection = session.connection()
    return _usage(connection, cluster, connection.execute(_USAGE, {"cluster": cluster}).one())


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
                 "usage": context.usage},
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


Link = dict[str, Any]  # a request_resource row without its request_id


def _link(kind: str, resource_id: str, generation: int) -> Link:
    return {"resource_kind": kind, "resource_id": resource_id, "generation": generation}


def _insert_links(connection: Connection, request_id: str, links: Sequence[Link]) -> None:
    if links:
        connection.execute(_INSERT_LINKS, [{"request_id": request_id, **link} for link in links])


def _grant_rows(cluster: str, topic: str, pattern: str,
                wanted: Sequence[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    """New access_grant rows for each (principal, access, group, transactional_id) on one topic.

    Named twice: once. Sorted, so concurrent upserts lock existing rows in the same order.
    """
    now = utcnow()
    return [_row_values(AccessGrantRow, cluster=cluster, topic=topic, pattern=pattern, principal=principal,
                        access=access, group_id=group, transactional_id=transactional_id,
                        granted_team=_team_of_principal(principal), updated_at=now, created_at=now)
            for principal, access, group, transactional_id in sorted(set(wanted))]


def _upsert_grants(connection: Connection, cluster: str, topic: str, pattern: str,
                   wanted: Sequence[tuple[str, str, str, str]]) -> list[Link]:
    """Grant each (principal, access, group, transactional_id) on one topic, in one statement.

    A missing grant is inserted, a deleted one comes back with a new generation, a live one is left
    alone (nothing changes, nothing to wait for). RETURNING gives exactly the rows to link.
    """
    if not wanted:
        return []
    statement = GRANT_UPSERTS[connection.dialect.name]
    return [_link("access_grant", row.id, row.generation)
            for row in connection.execute(statement, _grant_rows(cluster, topic, pattern, wanted))]


def _matching_grants(session: Session, cluster: str, spec: dict[str, Any]) -> list[AccessGrantRow]:
    grants = session.exec(select(AccessGrantRow).where(
        AccessGrantRow.cluster == cluster, AccessGrantRow.topic == spec["topic"],
        AccessGrantRow.pattern == spec.get("pattern", "literal"), AccessGrantRow.principal == spec["principal"],
        AccessGrantRow.access == spec["access"], col(AccessGrantRow.deleted).is_(False))).all()
    return [g for g in grants
            if ("group" not in spec or g.group_id == spec["group"])
            and ("transactional_id" not in spec or g.transactional_id == spec["transactional_id"])]


_LOOK_UP = object()  # write_desired_state: find a topic.create's tombstone itself


def _new_topic(cluster: str, spec: dict[str, Any], owner_team: str
               ) -> tuple[dict[str, Any], list[tuple[str, str, str, str]]]:
    """A topic.create's topic row and the grants it asks for (principal, access, group, transactional id)."""
    rate = (spec.get("expected_throughput") or {}).get("bytes_per_second")
    config = spec.get("config") or {}
    now = utcnow()
    topic = _row_values(TopicRow, cluster=cluster, name=spec["name"], owner_team=owner_team,
                        partitions=spec["partitions"], replication_factor=spec["replication_factor"],
                        config=dict(config), description=spec.get("description", ""),
                        managed_config_keys=sorted(config), data_contract=spec.get("data_contract"),
                        expected_bytes_per_second=rate, updated_at=now, created_at=now)
    grants = ([(principal, "produce", "", "") for principal in spec.get("producers") or []]
              + [(consumer["principal"], "consume", consumer.get("group", ""), "")
                 for consumer in spec.get("consumers") or []])
    return topic, grants


def _write_desired_state(session: Session, kind: str, cluster: str, spec: dict[str, Any], owner_team: str,
                        *, tombstone: Any = _LOOK_UP) -> list[Link]:
    """Write an approved request's desired-state rows with new generations (the caller's transaction).

    Returns the links (resource kind, id, generation) the request must see observed before it is
    applied; none means nothing changed. `tombstone` is the id of the deleted topic row a
    topic.create replaces (None: there is none), when the caller already looked.
    """
    connection = session.connection()
    if kind == "topic.create":
        topic, grants = _new_topic(cluster, spec, owner_team)
        # A topic deleted earlier keeps a tombstone until the cluster confirms; a re-create replaces it.
        if tombstone is _LOOK_UP:
            tombstone = connection.execute(core_select(_TOPICS.c.id).where(
                _TOPICS.c.cluster == cluster, _TOPICS.c.name == spec["name"])).scalar()
        if tombstone is not None:
            connection.execute(_DELETE_TOPIC, {"topic_id": tombstone})
        connection.execute(_INSERT_TOPIC, topic)
        return [_link("topic", topic["id"], topic["generation"]),
                *_upsert_grants(connection, cluster, spec["name"], "literal", grants)]
    links: list[Link] = []
    if kind == "topic.update":
        current = _live_topic(session, cluster, spec["name"])
        if current is None:
            raise Conflict(f"topic {spec['name']!r} no longer exists")
        topic_row = current
        if "partitions" in spec:
            topic_row.partitions = spec["partitions"]
        if "config" in spec:
            merged = dict(topic_row.config)
            for key, value in spec["config"].items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            topic_row.config = merged
            topic_row.managed_config_keys = sorted(set(topic_row.managed_config_keys) | set(spec["config"]))
        if "description" in spec:
            topic_row.description = spec["description"]
        if "expected_throughput" in spec:
            topic_row.expected_bytes_per_second = (spec["expected_throughput"] or {}).get("bytes_per_second")
        _bump(topic_row)
        session.add(topic_row)
        links.append(_link("topic", topic_row.id, topic_row.generation))
    elif kind == "topic.delete":
        doomed = _live_topic(session, cluster, spec["name"])
        if doomed is None:
            raise Conflict(f"topic {spec['name']!r} no longer exists")
        topic_row = doomed
        topic_row.deleted = True
        _bump(topic_row)
        session.add(topic_row)
        for grant in session.exec(select(AccessGrantRow).where(
                AccessGrantRow.cluster == cluster, AccessGrantRow.topic == topic_row.name,
                AccessGrantRow.pattern == "literal", col(AccessGrantRow.deleted).is_(False))).all():
            grant.deleted = True
            _bump(grant)
            session.add(grant)
            links.append(_link("access_grant", grant.id, grant.generation))
        links.append(_link("topic", topic_row.id, topic_row.generation))
    elif kind == "access.grant":
        links = _upsert_grants(connection, cluster, spec["topic"], spec.get("pattern", "literal"),
                               [(spec["principal"], spec["access"], spec.get("group", ""),
                                 spec.get("transactional_id", ""))])
    elif kind == "access.revoke":
        for grant in _matching_grants(session, cluster, spec):
            grant.deleted = True
            _bump(grant)
            session.add(grant)
            links.append(_link("access_grant", grant.id, grant.generation))
    elif kind == "quota.set":
        links.append(_set_quota(connection, cluster, spec, owner_team))
    return links


_QUOTA_KEYS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage")


def _quota_upsert(dialect: Any) -> Any:
    """Set a principal's quotas in one statement: insert, or update the row with a new generation.

    Quotas the spec does not name keep their value; null removes one (schemas/quota.set.json); a
    row left with no quota is a tombstone. `named_<key>` says whether the spec names that key.
    """
    upsert = dialect.insert(_QUOTAS)
    kept = {key: case((bindparam(f"named_{key}", type_=Boolean), upsert.excluded[key]), else_=_QUOTAS.c[key])
            for key in _QUOTA_KEYS}
    return upsert.on_conflict_do_update(
        index_elements=[_QUOTAS.c.cluster, _QUOTAS.c.principal],
        set_={**kept, "deleted": and_(*(value.is_(None) for value in kept.values())),
              "generation": _QUOTAS.c.generation + literal_column("1"), "updated_at": upsert.excluded.updated_at,
              "last_error": null(), "last_error_reason": null(), "attempts": literal_column("0"),
              "not_before": null()},
    ).returning(_QUOTAS.c.id, _QUOTAS.c.generation)


_QUOTA_UPSERTS = {"postgresql": _quota_upsert(postgresql), "sqlite": _quota_upsert(sqlite)}


def _set_quota(connection: Connection, cluster: str, spec: dict[str, Any], owner_team: str) -> Link:
    rates = {key: spec.get(key) for key in _QUOTA_KEYS}
    now = utcnow()
    row = _row_values(ClientQuotaRow, cluster=cluster, principal=spec["principal"], owner_team=owner_team,
                      deleted=all(value is None for value in rates.values()), updated_at=now, created_at=now,
                      **rates)
    stored = connection.execute(_QUOTA_UPSERTS[connection.dialect.name],
                                {**row, **{f"named_{key}": key in spec for key in _QUOTA_KEYS}}).one()
    return _link("client_quota", stored.id, stored.generation)


def _settle(request: RequestRow | dict[str, Any], links: Sequence[Link]) -> None:
    """Nothing to wait for (e.g. a grant that already existed): applied at once."""
    if isinstance(request, dict):
        request["status"] = "approved" if links else "applied"
        if not links:
            request["applied_at"] = utcnow()
        return
    request.status = "approved" if links else "applied"
    if not links:
        request.applied_at = utcnow()


def apply_to_desired_state(session: Session, request: RequestRow) -> None:
    """Turn an approved (ORM-loaded) request into desired-state rows with new generations (same transaction)."""
    links = _write_desired_state(session, request.kind, request.cluster, request.spec, request.owner_team)
    if links:
        if request in session.new:
            session.flush()  # the links reference the request row
        _insert_links(session.connection(), request.id, links)
    _settle(request, links)


# --- use cases --------------------------------------------------------------------------------------

STATUS_BY_OUTCOME = {"auto_approved": "approved", "needs_approval": "pending_approval", "denied": "denied"}


def evaluate_request(deps: RequestDeps, identity: Identity, document: dict[str, Any]) -> dict[str, Any]:
    """dry_run: validate and decide; nothing is stored."""
    deps.validate(document)
    with unit_of_work(deps.engine) as session:
        context = _resolve_context(session, identity, document)
        decision = deps.evaluate(_document(deps, session, identity, document, context))
        return {"decision": decision_view(decision), "dry_run": True}


# Called in a submission's transaction with its session and the stored request's view; the events it
# returns are recorded with the submission's own (e.g. drift triage noting what it asked for).
AlsoRecord = Callable[[Session, dict[str, Any]], Sequence[NewEvent]]


def submit_request(
    deps: RequestDeps, identity: Identity, document: dict[str, Any], *, idempotency_key: str | None = None,
    also: AlsoRecord | None = None,
) -> SubmitResult:
    deps.validate(document)
    digest = body_hash(document) if idempotency_key is not None else ""
    try:
        with unit_of_work(deps.engine) as session:
            if idempotency_key is not None:
                replay = _replay(session, identity, idempotency_key, digest)
                if replay is not None:
                    return replay
            context = _resolve_context(session, identity, document)
            decision = deps.evaluate(_document(deps, session, identity, document, context))
            decision_dict = decision_view(decision)
            now = utcnow()
            row: dict[str, Any] = {
                "id": new_id(), "kind": document["kind"], "cluster": context.cluster.name, "spec": document["spec"],
                "reason": document.get("reason", ""), "requested_by": identity.subject,
                "requester_team": context.requester_team, "owner_team": context.owner_team, "created_at": now,
                "updated_at": now, "status": STATUS_BY_OUTCOME[decision.outcome], "decision": decision_dict,
                "approvers": list(decision.approvers), "approvals": [], "rejection_reason": None, "error": None,
                "applied_at": None}
            events = [NewEvent(actor=identity.subject, action="request:submit", subject=f"request:{row['id']}",
                               team=context.requester_team,
                               data={"kind": row["kind"], "cluster": row["cluster"], "spec": row["spec"],
                                     "reason": row["reason"], "decision": decision_dict})]
            rows = SubmissionRows(request=row)
            if row["status"] == "approved":
                # An auto-approved request updates desired state in the same transaction. A new topic
                # and its grants are stored with the request; other kinds change rows first.
                links: list[Link]
                if row["kind"] == "topic.create" and context.tombstone_id is None:
                    topic, wanted = _new_topic(row["cluster"], row["spec"], row["owner_team"])
                    rows.topics = [topic]
                    rows.grants = _grant_rows(row["cluster"], topic["name"], "literal", wanted)
                    links = [_link("topic", topic["id"], topic["generation"])]
                else:
                    links = _write_desired_state(session, row["kind"], row["cluster"], row["spec"],
                                                 row["owner_team"], tombstone=context.tombstone_id)
                rows.links = [{"request_id": row["id"], **link} for link in links]
                _settle(row, links)
                events.append(NewEvent(actor="policy", action="request:auto_approve",
                                       subject=f"request:{row['id']}", team=context.requester_team,
                                       data={"status": row["status"]}))
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

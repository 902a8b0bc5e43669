"""A topic.migrate request: who asks, the plan it is decided on, its approvals, the migration it starts.

The request's cluster is the source; spec.target_cluster the cluster the topics move to, owned by
the producing team (the requester's). Before policy runs, the workflow takes one snapshot of both
clusters through the cluster port (outside any transaction: it talks to Kafka), computes the plan
(domain/migration_plan.py), lets the target's topic.create policies judge each planned topic, and
hands policy the plan's summary (`migration_facts`, the evaluation document's `migration`).

Every approver the decision names must approve (the source's owners release the topics, the
target's owners take them in), unlike other kinds where one of them is enough. The last approval
creates the migration at `planned` in the same transaction, with its audit event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlmodel import Session

from topicdesk.adapters import migration_store
from topicdesk.adapters import request_store as store
from topicdesk.adapters.audit_log import NewEvent
from topicdesk.adapters.tables import ClusterRow, RequestRow
from topicdesk.domain.errors import FieldError, Forbidden, ValidationFailed
from topicdesk.domain.identity import Identity
from topicdesk.domain.migration import Step
from topicdesk.domain.migration_plan import MigrationPlan, SourceSnapshot, TargetFacts, plan_migration, refuse_topic
from topicdesk.services.cluster_port import ClusterPort, close_port

log = logging.getLogger(__name__)

KIND = "topic.migrate"
# The decision's approvers are all needed, not any one of them.
EVERY_APPROVER = "every"

PortFactory = Callable[..., ClusterPort]


@dataclass(frozen=True)
class MigrationSides:
    """The two clusters of a topic.migrate, as the workflow loaded them."""

    source: store.SubmissionContext
    target: store.SubmissionContext
    requester_team: str


def resolve_sides(session: Session, identity: Identity, document: dict[str, Any]) -> MigrationSides:
    """Load both clusters; refuse (422) unknown or identical ones, (403) callers in no team.

    A requester outside the target's owner team is not refused here: policy denies it with the
    reason, so the portal's preview shows it like any other rule.
    """
    spec = document["spec"]
    source = store.load_context(session, document["cluster"], None)
    if source is None:
        raise ValidationFailed("the request names an unknown cluster",
                               errors=[FieldError("/cluster", f"no cluster named {document['cluster']!r}")])
    if spec["target_cluster"] == source.name:
        raise ValidationFailed("a migration moves topics to another cluster",
                               errors=[FieldError("/spec/target_cluster", "must differ from the source cluster")])
    target = store.load_context(session, spec["target_cluster"], None)
    if target is None:
        raise ValidationFailed("the request names an unknown target cluster",
                               errors=[FieldError("/spec/target_cluster",
                                                  f"no cluster named {spec['target_cluster']!r}")])
    if identity.is_member(target.owner_team) and (target.owner_team in identity.team_roles
                                                  or identity.platform_admin):
        requester_team = target.owner_team
    elif identity.primary_team() is not None:
        requester_team = str(identity.primary_team())
    else:
        raise Forbidden(f"only members of team {target.owner_team!r}, which owns cluster {target.name!r}, "
                        "can migrate topics to it")
    return MigrationSides(source, target, requester_team)


@dataclass(frozen=True)
class MigrationAssessment:
    plan: MigrationPlan | None
    facts: dict[str, Any]


def _side(context: store.SubmissionContext) -> dict[str, Any]:
    return {"name": context.name, "environment": context.environment, "owner_team": context.owner_team,
            "broker_count": context.broker_count}


def _unavailable(sides: MigrationSides, error: str) -> MigrationAssessment:
    return MigrationAssessment(None, {**_base_facts(sides), "available": False, "error": error})


def _base_facts(sides: MigrationSides) -> dict[str, Any]:
    approving = list(dict.fromkeys([sides.source.owner_team, sides.target.owner_team]))
    return {"source": _side(sides.source), "target": _side(sides.target),
            "requester_owns_target": sides.requester_team == sides.target.owner_team,
            "approving_teams": approving}


def migration_facts(sides: MigrationSides, plan: MigrationPlan,
                    exceptions: Sequence[Mapping[str, str]] = ()) -> dict[str, Any]:
    """The evaluation document's `migration`: the plan as policy reads it."""
    owner = sides.target.owner_team
    topics = [t.name for t in plan.topics]
    conflicts = set(plan.conflicting_topics)
    refused = [t for t in plan.topics if t.refused and t.name not in conflicts]
    teams = {c["team"] for c in plan.team_changes}
    return {
        **_base_facts(sides), "available": True, "error": None,
        "topics": topics, "missing_topics": list(plan.missing_topics),
        "conflicting_topics": list(plan.conflicting_topics),
        "foreign_topics": [name for name in topics if name.partition(".")[0] != owner],
        "refused_topics": [t.name for t in refused],
        "refusals": [{"topic": t.name, "reason": reason} for t in refused for reason in t.refusals],
        "adjusted_topics": [t.name for t in plan.topics if t.adjustments],
        "exception_topics": sorted({e["topic"] for e in exceptions}),
        "exceptions": [dict(e) for e in exceptions],
        "consumer_groups": [g.group for g in plan.consumer_groups],
        "consuming_teams": sorted(t for t in teams if t != owner and not t.startswith("(")),
    }


def _snapshot(port_factory: PortFactory, source_row: ClusterRow, target_row: ClusterRow, spec: Mapping[str, Any],
              target_topics_in_topicdesk: Callable[[Sequence[str]], set[str]],
              request_timeout: float) -> tuple[SourceSnapshot, TargetFacts]:
    """One bulk read of each cluster: the source's topics, ACLs and group usage; the target's
    topics of the same names and its SCRAM users."""
    named = spec.get("topics")
    source_port: Any = port_factory(source_row, request_timeout=request_timeout)
    try:
        observed = source_port.describe(named)
        prefix = spec.get("prefix")
        topics = {n: t for n, t in observed.topics.items() if named is not None or n.startswith(str(prefix))}
        evidence = source_port.usage_evidence(sorted(topics)) if topics else {}
    finally:
        close_port(source_port)
    wanted = sorted(set(topics) | set(named or ()))
    target_port: Any = port_factory(target_row, request_timeout=request_timeout)
    try:
        on_target = target_port.describe(wanted)
    finally:
        close_port(target_port)
    existing = frozenset(on_target.topics) | frozenset(target_topics_in_topicdesk(wanted))
    snapshot = SourceSnapshot(source_row.name, source_row.bootstrap_servers, topics, observed.acls, evidence)
    return snapshot, TargetFacts(target_row.name, target_row.owner_team, target_row.bootstrap_servers,
                                 broker_count=target_row.broker_count, partition_budget=target_row.partition_budget,
                                 existing_topics=existing, scram_users=frozenset(on_target.scram_users))


def assess(engine_session: Callable[[], Any], port_factory: PortFactory | None, identity: Identity,
           document: dict[str, Any], judge_on_target: Callable[[MigrationSides, MigrationPlan], MigrationPlan]
           | None = None, *, request_timeout: float = 10.0) -> MigrationAssessment:
    """The plan of a topic.migrate and its facts for policy; never raises for an unreachable cluster
    (the facts say the snapshot is unavailable, and policy denies)."""
    with engine_session() as session:
        sides = resolve_sides(session, identity, document)
        source_row = session.get(ClusterRow, sides.source.name)
        target_row = session.get(ClusterRow, sides.target.name)
        used = sides.target.usage.get("partitions", 0)
    if port_factory is None or source_row is None or target_row is None:
        return _unavailable(sides, "no cluster port is configured")

    def in_topicdesk(names: Sequence[str]) -> set[str]:
        with engine_session() as session:
            return migration_store.live_topic_names(session, sides.target.name, names)

    try:
        snapshot, target = _snapshot(port_factory, source_row, target_row, document["spec"], in_topicdesk,
                                     request_timeout)
    except Exception as exc:  # whatever failed, there is no plan to decide on
        log.warning("migration snapshot of %s -> %s unavailable: %s", sides.source.name, sides.target.name, exc)
        return _unavailable(sides, str(exc) or type(exc).__name__)
    spec = document["spec"]
    plan = plan_migration(snapshot, replace(target, partitions_used=used),
                          topics=spec.get("topics"), prefix=spec.get("prefix"),
                          consumer_groups=spec.get("consumer_groups") or ())
    if judge_on_target is not None:
        plan = judge_on_target(sides, plan)
    return MigrationAssessment(plan, migration_facts(sides, plan, _exceptions_of(plan)))


# The target's topic.create policies: a denied topic is refused in the plan, an exception (needs a
# platform admin) routes the migration to one too. Kept in the plan's notes as "<topic>: <message>".
EXCEPTION_NOTE = "target policy exception: "


def judge_with_policies(evaluate: Callable[[dict[str, Any]], Any], build_document: Callable[..., dict[str, Any]],
                        requester: Mapping[str, Any]) -> Callable[[MigrationSides, MigrationPlan], MigrationPlan]:
    """Evaluate each planned topic as a topic.create on the target with the same bundle."""
    def judge(sides: MigrationSides, plan: MigrationPlan) -> MigrationPlan:
        target = sides.target
        cluster = {"name": target.name, "environment": target.environment, "owner_team": target.owner_team,
                   "tags": target.tags, "broker_count": target.broker_count,
                   "partition_budget": target.partition_budget, "disk_budget_bytes": target.disk_budget_bytes,
                   "usage": target.usage}
        notes = list(plan.notes)
        for topic in plan.topics:
            if topic.refused:
                continue
            spec = {"name": topic.name, "partitions": topic.partitions,
                    "replication_factor": topic.replication_factor, "config": dict(topic.config)}
            decision = evaluate(build_document(request={"kind": "topic.create", "cluster": target.name, "spec": spec},
                                               requester=requester, cluster=cluster, topic=None))
            denials = [f"{rule.message} ({rule.id})" for rule in decision.rules if rule.effect == "deny"]
            if denials:
                plan = refuse_topic(plan, topic.name, denials)
            notes += [f"{EXCEPTION_NOTE}{topic.name}: {rule.message} ({rule.id})" for rule in decision.rules
                      if rule.effect == "require_approval" and "role:platform_admin" in rule.approvers]
        return replace(plan, notes=tuple(notes))
    return judge


def _exceptions_of(plan: MigrationPlan) -> list[dict[str, str]]:
    out = []
    for note in plan.notes:
        if note.startswith(EXCEPTION_NOTE):
            topic, _, reason = note.removeprefix(EXCEPTION_NOTE).partition(": ")
            out.append({"topic": topic, "reason": reason})
    return out


# --- approvals ---------------------------------------------------------------------------------------

def _satisfies(identity: Identity, approver: str) -> bool:
    kind, _, value = approver.partition(":")
    if kind == "team":
        return identity.is_owner(value) and (value in identity.team_roles or identity.platform_admin)
    return kind == "role" and value == "platform_admin" and identity.platform_admin


def may_approve(identity: Identity, row: RequestRow | Row[Any]) -> bool:
    """Whether the identity can still approve for an approver nobody has covered yet: an owner of an
    approving team, or a platform admin (who approves for every team still waiting, e.g. when the
    requester is the target's only owner and may not approve their own request)."""
    done = covered(row)
    return any(a not in done and _satisfies(identity, a) for a in row.approvers)


def covered(row: RequestRow | Row[Any]) -> set[str]:
    return {entry for approval in row.approvals for entry in approval.get("as", ())}


def approval_roles(identity: Identity, row: RequestRow) -> list[str]:
    """The approvers, not yet covered, this identity approves as; refuses when there are none."""
    done = covered(row)
    roles = [a for a in row.approvers if a not in done and _satisfies(identity, a)]
    if not roles:
        waiting = [a for a in row.approvers if a not in done]
        raise Forbidden(f"this migration awaits approval by {', '.join(waiting)}; you cannot approve for them")
    return roles


def fully_approved(row: RequestRow) -> bool:
    return set(row.approvers) <= covered(row)


def start_migration(session: Session, request: Mapping[str, Any], actor: str, now: datetime) -> NewEvent:
    """The approved request's migration, at `planned`; returns its audit event (same transaction).

    `request` holds the request's id, cluster (the source), spec, owner_team and migration_plan."""
    plan = request.get("migration_plan") or {}
    topics = [t["name"] for t in plan.get("topics", ())]
    target = request["spec"]["target_cluster"]
    history = [{"from": None, "to": str(Step.PLANNED), "at": now.isoformat().replace("+00:00", "Z"), "by": actor,
                "reason": f"request {request['id']} approved", "facts": None}]
    migration = migration_store.create_migration(
        session, request_id=request["id"], source=request["cluster"], target=target,
        owner_team=request["owner_team"], topics=topics, plan=plan, step=str(Step.PLANNED), history=history,
        now=now)
    session.flush()
    return NewEvent(actor=actor, action="migration:create", subject=f"migration:{migration.id}",
                    team=request["owner_team"],
                    data={"request": request["id"], "source": request["cluster"], "target": target,
                          "topics": topics, "step": str(Step.PLANNED)})

"""Stale topics and unused grants: recording usage observations, and the report per team and cluster.

Observations are gathered in one bulk `usage_evidence` call per cluster (for all its managed
topics) by the reconciler after each drift scan, or on demand (`refresh_report`), and stored
(adapters/usage_store.py). The report answers from what is stored, never from the cluster, and
says how old it is (`observed_at`). The rules are pure (domain/staleness.py). Every row carries the
ordinary request that acts on it (topic.delete, access.revoke): a client POSTs it to
/api/v1/requests, where policy and approvals apply as to any request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from topicdesk.adapters import usage_store as store
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import AccessGrantRow, ClusterRow, TeamRow, TopicRow, utcnow
from topicdesk.domain.errors import Forbidden, NotFound, Unavailable
from topicdesk.domain.evidence import TopicEvidence
from topicdesk.domain.expiry import rfc3339
from topicdesk.domain.identity import Identity
from topicdesk.domain.staleness import (
    GroupCommits,
    TopicUsage,
    Verdict,
    consume_verdict,
    produce_verdict,
    topic_staleness,
    usage_rows,
)
from topicdesk.services.cluster_port import ClusterPort, ClusterUnavailable, close_port

log = logging.getLogger(__name__)

PortFactory = Callable[..., ClusterPort]
# A refresh asks the cluster while the caller waits: bounded, like the topic page's live read.
REFRESH_TIMEOUT = 10.0


def _days(days: int) -> str:
    return "1 day" if days == 1 else f"{days} days"


def _moment(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


# --- recording ----------------------------------------------------------------------------------------

def record_usage(engine: Engine, cluster: str, evidence: Mapping[str, TopicEvidence], gathered_at: datetime) -> None:
    """Store one gathering: the last evidence per topic and the commit history per group."""
    topics, groups = usage_rows(cluster, evidence, gathered_at)
    with unit_of_work(engine) as session:
        store.record_usage(session.connection(), topics, groups)


def gather_usage(engine: Engine, port: ClusterPort, cluster: str, *, now: datetime | None = None) -> int:
    """Ask the cluster for the evidence of all its managed topics (one bulk call) and record it.
    Returns how many topics were observed; raises ClusterUnavailable."""
    with unit_of_work(engine) as session:
        names = store.managed_topic_names(session, cluster)
    if not names:
        return 0
    evidence = port.usage_evidence(names)
    record_usage(engine, cluster, evidence, now or utcnow())
    return len(evidence)




def refresh_report(engine: Engine, port_factory: PortFactory, identity: Identity, cluster_name: str, *,
                   days: int, team: str | None) -> dict[str, Any]:
    """Gather and record the cluster's usage now, then answer the report for that cluster."""
    with unit_of_work(engine) as session:
        cluster = session.get(ClusterRow, cluster_name)
    if cluster is None:
        raise NotFound(f"no cluster named {cluster_name!r}")
    if not identity.is_owner(cluster.owner_team):
        raise Forbidden(f"only owners of team {cluster.owner_team!r} or platform admins refresh "
                        f"the usage observations of {cluster_name}")
    port: ClusterPort | None = None
    try:
        port = port_factory(cluster, request_timeout=REFRESH_TIMEOUT)
        gather_usage(engine, port, cluster_name)
    except ClusterUnavailable as exc:
        raise Unavailable(f"cluster {cluster_name} did not answer: {exc.outcome.message}; "
                          f"the stored observations are unchanged") from exc
    finally:
        close_port(port)
    with unit_of_work(engine) as session:
        return stale_report(session, identity, days=days, cluster=cluster_name, team=team)


# --- the report -----------------------------------------------------------------------------------------

def _teams_in_scope(session: Session, identity: Identity, team: str | None) -> list[str]:
    if team is not None:
        known = session.get(TeamRow, team) is not None
        if not known or not identity.is_member(team):
            raise NotFound(f"no team {team!r} among yours")
        return [team]
    if identity.platform_admin:
        return list(session.exec(select(TeamRow.name).order_by(col(TeamRow.name))).all())
    return identity.teams


def _grant_spec(grant: AccessGrantRow) -> dict[str, Any]:
    spec: dict[str, Any] = {"topic": grant.topic, "principal": grant.principal, "access": grant.access}
    if grant.group_id:
        spec["group"] = grant.group_id
    if grant.transactional_id:
        spec["transactional_id"] = grant.transactional_id
    return spec


def _grant_ref(grant: AccessGrantRow) -> dict[str, Any]:
    return {"principal": grant.principal, "access": grant.access, "group": grant.group_id or None,
            "transactional_id": grant.transactional_id or None, "team": grant.granted_team}


def _group_team(group: str, grants: Sequence[AccessGrantRow]) -> str | None:
    for grant in grants:
        if grant.group_id == group:
            return grant.granted_team
    team, dot, rest = group.partition(".")
    return team if dot and team and rest else None


def _stale_topic(topic: TopicRow, usage: TopicUsage, reason: str, grants: Sequence[AccessGrantRow],
                 commits: Sequence[GroupCommits], days: int) -> dict[str, Any]:
    groups = [{"group": c.group, "team": _group_team(c.group, grants), "committed_changed_at": _moment(c.changed_at),
               "committed_now": c.seen_at >= usage.gathered_at} for c in commits]
    consuming = {g.granted_team for g in grants if g.access == "consume"}
    consuming |= {str(g["team"]) for g in groups if g["team"] and g["committed_now"]}
    return {
        "cluster": topic.cluster, "topic": topic.name, "team": topic.owner_team, "reason": reason,
        "last_write_at": _moment(usage.last_write_at), "created_at": _moment(topic.created_at),
        "partitions": usage.partitions, "observed_at": _moment(usage.gathered_at),
        "grants": [_grant_ref(g) for g in grants],
        "consumer_groups": groups,
        "consuming_teams": sorted(consuming - {topic.owner_team}),
        "request": {"kind": "topic.delete", "cluster": topic.cluster, "spec": {"name": topic.name},
                    "reason": f"stale: no writes for {_days(days)} (stale report)"},
    }


def _unused_grant(grant: AccessGrantRow, topic: TopicRow, usage: TopicUsage, commits: GroupCommits | None,
                  verdict: Verdict, days: int) -> dict[str, Any]:
    return {
        **_grant_ref(grant), "cluster": grant.cluster, "topic": grant.topic, "owner_team": topic.owner_team,
        "status": verdict.status, "reason": verdict.reason, "since": _moment(verdict.since),
        "unknown_since": _moment(verdict.since) if verdict.status == "unknown_since" else None,
        "committed_changed_at": _moment(commits.changed_at) if commits else None,
        "group_first_seen_at": _moment(commits.first_seen_at) if commits else None,
        "last_write_at": _moment(usage.last_write_at), "created_at": _moment(grant.created_at),
        "observed_at": _moment(usage.gathered_at),
        "request": {"kind": "access.revoke", "cluster": grant.cluster, "spec": _grant_spec(grant),
                    "reason": f"unused for {_days(days)} (stale report)"},
    }


def stale_report(session: Session, identity: Identity, *, days: int, cluster: str | None = None,
                 team: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Stale topics of the teams in scope and unused grants held by them or on their topics, from
    stored observations. `team` None: the caller's teams (every team for platform admins)."""
    moment = now or utcnow()
    if cluster is not None and session.get(ClusterRow, cluster) is None:
        raise NotFound(f"no cluster named {cluster!r}")
    teams = _teams_in_scope(session, identity, team)
    inputs = store.report_inputs(session, clusters=[cluster] if cluster else None, teams=teams)
    topics = {(t.cluster, t.name): t for t in inputs.topics}
    grants_on: dict[tuple[str, str], list[AccessGrantRow]] = {}
    for grant, _ in inputs.grants:
        grants_on.setdefault((grant.cluster, grant.topic), []).append(grant)
    commits_on: dict[tuple[str, str], list[GroupCommits]] = {}
    for (c, t, _), history in sorted(inputs.commits.items()):
        commits_on.setdefault((c, t), []).append(history)

    stale: list[dict[str, Any]] = []
    unobserved: list[dict[str, str]] = []
    observed: list[datetime] = []
    for key, topic in topics.items():
        usage = inputs.usage.get(key)
        if usage is None:
            unobserved.append({"cluster": topic.cluster, "topic": topic.name})
            continue
        observed.append(usage.gathered_at)
        reason = topic_staleness(usage, topic.created_at, now=moment, days=days)
        if reason is not None:
            stale.append(_stale_topic(topic, usage, reason, grants_on.get(key, []), commits_on.get(key, []), days))

    unused: list[dict[str, Any]] = []
    for grant, owning in inputs.grants:
        key = (grant.cluster, grant.topic)
        usage = inputs.usage.get(key)
        if usage is None:
            continue
        if key not in topics:
            observed.append(usage.gathered_at)
        commits = inputs.commits.get((grant.cluster, grant.topic, grant.group_id)) if grant.group_id else None
        if grant.access == "consume":
            verdict = consume_verdict(usage, commits, grant.created_at, now=moment, days=days)
        else:
            verdict = produce_verdict(usage, owning.created_at, grant.created_at, now=moment, days=days)
        if verdict is not None:
            unused.append(_unused_grant(grant, owning, usage, commits, verdict, days))
    return {
        "days": days, "cluster": cluster, "teams": teams, "now": rfc3339(moment),
        # The oldest observation the report stands on: it is at least this old.
        "observed_at": _moment(min(observed)) if observed else None,
        "stale_topics": stale, "unused_grants": unused, "unobserved_topics": unobserved,
    }


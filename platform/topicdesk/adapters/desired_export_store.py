"""What Topicdesk holds for one team on one cluster, read for a desired-state export.

The same selection the desired-state comparison makes (services/desired_state.py current_state):
the team's topics when it owns the cluster, and the grants and quotas of its own principals
(`User:<team>.`). Left out: topics being deleted or in quarantine (not `active`), and time-bound
grants, which only the API can ask for and a file cannot declare.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from topicdesk.adapters.tables import AccessGrantRow, ClientQuotaRow, ClusterRow, TeamRow, TopicRow


@dataclass(frozen=True)
class HeldTopic:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]
    description: str


@dataclass(frozen=True)
class HeldGrant:
    topic: str
    principal: str
    access: str
    group: str
    transactional_id: str
    pattern: str


@dataclass(frozen=True)
class HeldQuota:
    principal: str
    producer_byte_rate: int | None
    consumer_byte_rate: int | None
    request_percentage: float | None


@dataclass(frozen=True)
class Holdings:
    topics: list[HeldTopic]
    grants: list[HeldGrant]
    quotas: list[HeldQuota]
    # Time-bound grants of the team's principals: not exported, named in the YAML header.
    time_bound: list[HeldGrant]


def cluster_owner(session: Session, cluster: str) -> str | None:
    """The cluster's owner team; None when there is no such cluster."""
    row = session.get(ClusterRow, cluster)
    return None if row is None else row.owner_team


def team_exists(session: Session, team: str) -> bool:
    return session.get(TeamRow, team) is not None


def team_holdings(session: Session, cluster: str, team: str) -> Holdings:
    topics: list[HeldTopic] = []
    if cluster_owner(session, cluster) == team:
        rows = session.exec(select(TopicRow).where(TopicRow.cluster == cluster, TopicRow.owner_team == team,
                                                   col(TopicRow.deleted).is_(False),
                                                   TopicRow.lifecycle == "active")).all()
        topics = [HeldTopic(r.name, r.partitions, r.replication_factor, dict(r.config), r.description)
                  for r in rows]
    prefix = f"User:{team}."
    grants: list[HeldGrant] = []
    time_bound: list[HeldGrant] = []
    grant_rows = session.exec(select(AccessGrantRow).where(
        AccessGrantRow.cluster == cluster, col(AccessGrantRow.principal).startswith(prefix, autoescape=True),
        col(AccessGrantRow.deleted).is_(False))).all()
    for g in grant_rows:
        held = HeldGrant(g.topic, g.principal, g.access, g.group_id, g.transactional_id, g.pattern)
        (grants if g.expires_at is None else time_bound).append(held)
    quota_rows = session.exec(select(ClientQuotaRow).where(
        ClientQuotaRow.cluster == cluster, col(ClientQuotaRow.principal).startswith(prefix, autoescape=True),
        col(ClientQuotaRow.deleted).is_(False))).all()
    quotas = [HeldQuota(q.principal, q.producer_byte_rate, q.consumer_byte_rate, q.request_percentage)
              for q in quota_rows]
    return Holdings(topics, grants, quotas, time_bound)

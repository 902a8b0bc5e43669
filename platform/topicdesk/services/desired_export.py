"""Export: what Topicdesk holds for a team on a cluster, as a desired-state file that re-applies as
in sync — the way to start a file from what exists (Terraform's import, Jikkou's get).

Topics carry their producers and consumers (literal grants of the team's own principals); every
other grant of the team's principals (transactional, prefixed, or on another team's topic) is in
`grants`. Sorted by name, so exporting twice gives the same bytes but for the header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from topicdesk.adapters.desired_export_store import HeldGrant, Holdings, cluster_owner, team_exists, team_holdings
from topicdesk.domain.desired_file import QUOTA_KEYS, grant_spec
from topicdesk.domain.errors import FieldError, NotFound, ValidationFailed
from topicdesk.domain.identity import Identity


@dataclass(frozen=True)
class DesiredStateExport:
    file: dict[str, Any]
    time_bound: list[HeldGrant]

    def yaml_header(self, *, source: str, exported_at: datetime, subject: str) -> list[str]:
        """The comment lines on top of a YAML export: where it came from and how to use it."""
        lines = [
            f"Desired state of team {self.file['team']} on cluster {self.file['cluster']}, exported from Topicdesk.",
            f"source: {source}",
            f"exported at: {exported_at.isoformat(timespec='seconds').replace('+00:00', 'Z')} by {subject}",
            "",
            "Applied as it is, this file changes nothing: the plan is in sync. Commit it to the team's repository",
            "and let CI run `topicdesk plan -f FILE` and `topicdesk apply -f FILE` (docs/ci.md). The first apply",
            "records that this file manages what it lists (adopt); later changes go through the file.",
            "Every field: schemas/desired-state.json; commented examples: examples/ in the Topicdesk repository.",
        ]
        if self.time_bound:
            lines += ["", "Not exported: time-bound grants, which are asked for through the API, not a file:"]
            lines += [f"  {g.principal} {g.access} {g.topic}" + (f" (group {g.group})" if g.group else "")
                      for g in self.time_bound]
        return lines


def export_team(identity: Identity, team: str | None, owner: str) -> str:
    """The team to export: the one asked for (the caller's, or any for admins), else the caller's."""
    if team is not None:
        return team
    teams = identity.teams
    if len(teams) == 1:
        return teams[0]
    if owner in teams:
        return owner
    raise ValidationFailed("name the team to export", errors=[FieldError(
        "/query/team", f"you are in {len(teams)} teams ({', '.join(teams) or 'none'}): name one, e.g. ?team=...")])


def export_desired_state(session: Session, identity: Identity, *, cluster: str,
                         team: str | None = None) -> DesiredStateExport:
    owner = cluster_owner(session, cluster)
    if owner is None:
        raise NotFound(f"no cluster {cluster!r}")
    chosen = export_team(identity, team, owner)
    # Another team's holdings are not the caller's business: 404, as for its other things.
    if not identity.is_member(chosen) or not team_exists(session, chosen):
        raise NotFound(f"no team {chosen!r} among yours")
    holdings = team_holdings(session, cluster, chosen)
    return DesiredStateExport(desired_file(cluster, chosen, holdings), sorted(holdings.time_bound, key=_grant_key))


def desired_file(cluster: str, team: str, holdings: Holdings) -> dict[str, Any]:
    """The file for what a team holds; field order and list order fixed."""
    on_topic: dict[str, list[HeldGrant]] = {}
    own = {t.name for t in holdings.topics}
    others: list[HeldGrant] = []
    for grant in holdings.grants:
        # topic.create's producers and consumers are literal grants without a transactional id.
        if grant.topic in own and grant.pattern == "literal" and not grant.transactional_id:
            on_topic.setdefault(grant.topic, []).append(grant)
        else:
            others.append(grant)
    topics = []
    for topic in sorted(holdings.topics, key=lambda t: t.name):
        entry: dict[str, Any] = {"name": topic.name, "partitions": topic.partitions,
                                 "replication_factor": topic.replication_factor}
        if topic.config:
            entry["config"] = dict(sorted(topic.config.items()))
        if topic.description:
            entry["description"] = topic.description
        grants = on_topic.get(topic.name, [])
        producers = sorted(g.principal for g in grants if g.access == "produce")
        consumers = sorted((g.principal, g.group) for g in grants if g.access == "consume")
        if producers:
            entry["producers"] = producers
        if consumers:
            entry["consumers"] = [{"principal": p, "group": group} for p, group in consumers]
        topics.append(entry)
    quotas = []
    for quota in sorted(holdings.quotas, key=lambda q: q.principal):
        values = {k: getattr(quota, k) for k in QUOTA_KEYS if getattr(quota, k) is not None}
        if values:  # a quota with every value removed is no quota
            quotas.append({"principal": quota.principal, **values})
    return {
        "version": 1, "cluster": cluster, "team": team, "topics": topics,
        "grants": [grant_spec(_grant_key(g)) for g in sorted(others, key=_grant_key)],
        "quotas": quotas,
    }


def _grant_key(grant: HeldGrant) -> tuple[str, str, str, str, str, str]:
    return grant.topic, grant.principal, grant.access, grant.group, grant.transactional_id, grant.pattern

"""Which audit events notify whom: the pure mapping from an audit action to notification event types.

The outbox (adapters/notification_store.py) calls `notices_for` for every audit event recorded in a
transaction and inserts one outbox row per matching subscription in that same transaction. A
notice names its audience as data (teams, platform admins, the requester's team of a request, the
consuming teams of a topic); the adapter resolves those with SQL, because only it can look.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EVENT_TYPES = (
    "request.awaiting_approval",
    "request.decided",
    "request.applied",
    "request.failed",
    "drift.found",
    "topic.deletion_scheduled",
    "topic.quarantined",
    "access.expiring",
    # A migration moved a step, was verified or rolled back: what the teams concerned must do now.
    "migration.step",
    # Sent only by the "send test event" action, to the one subscription it was asked for.
    "notification.test",
)
SUBSCRIBABLE = tuple(t for t in EVENT_TYPES if t != "notification.test")


@dataclass(frozen=True)
class ConsumersOf:
    """The teams consuming a topic: from its consume grants (only these principals when given)."""

    cluster: str
    topic: str
    principals: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Notice:
    """One notification event an audit event causes, and who it is for."""

    event_type: str
    subject: str
    data: dict[str, Any]
    teams: tuple[str, ...] = ()
    platform_admins: bool = False
    # The request whose requesting team also receives it (looked up: the event's team may be the owner's).
    requester_of: str | None = None
    consumers_of: ConsumersOf | None = None
    # The request this is about: the adapter adds its summary (kind, cluster, status) to the payload.
    request_id: str | None = None


def _request_id(subject: str) -> str | None:
    kind, _, value = subject.partition(":")
    return value if kind == "request" and value else None


def _topic_of(subject: str) -> tuple[str, str] | None:
    kind, _, value = subject.partition(":")
    cluster, _, topic = value.partition("/")
    return (cluster, topic) if kind == "topic" and cluster and topic else None


def notices_for(action: str, subject: str, team: str | None, data: Mapping[str, Any] | None) -> list[Notice]:
    """The notifications one audit event causes (most cause none)."""
    data = dict(data or {})
    request_id = _request_id(subject)
    teams = (team,) if team else ()
    if action == "request:submit" and request_id:
        return _submitted(subject, request_id, teams, data)
    if action == "request:auto_approve" and request_id:
        return [Notice("request.decided", subject, {"decision": "approved", "by": "policy"}, teams=teams,
                       request_id=request_id)]
    if action == "request:approve" and request_id and data.get("after") != "pending_approval":
        return [Notice("request.decided", subject, {"decision": "approved", "comment": data.get("comment", "")},
                       requester_of=request_id, request_id=request_id)]
    if action == "request:reject" and request_id:
        return [Notice("request.decided", subject, {"decision": "rejected", "reason": data.get("reason", "")},
                       requester_of=request_id, request_id=request_id)]
    if action == "request:applied" and request_id:
        return [Notice("request.applied", subject, {}, teams=teams, request_id=request_id)]
    if action == "request:failed" and request_id:
        return [Notice("request.failed", subject, {"error": data.get("error"), "partial": data.get("partial")},
                       teams=teams, request_id=request_id)]
    if action == "drift:found":
        keep = ("cluster", "item", "kind", "key", "expected", "actual")
        return [Notice("drift.found", subject, {k: data[k] for k in keep if k in data}, teams=teams)]
    if action == "topic:quarantine" and (where := _topic_of(subject)):
        principals = tuple(str(g["principal"]) for g in data.get("grants", []) if g.get("access") == "consume")
        return [Notice("topic.quarantined", subject,
                       {"cluster": where[0], "topic": where[1], "quarantined_until": data.get("quarantined_until"),
                        "request": data.get("request")},
                       consumers_of=ConsumersOf(where[0], where[1], principals), request_id=data.get("request"))]
    if action == "access_grant:expiring":
        owner = data.get("owner_team")
        return [Notice("access.expiring", subject, dict(data),
                       teams=tuple(dict.fromkeys(t for t in (team, owner) if t)))]
    if action in MIGRATION_ACTIONS and data.get("teams"):
        fields = ("from", "to", "step", "source", "target", "topics", "reason", "passed", "now")
        return [Notice("migration.step", subject, {"action": action, **{k: data[k] for k in fields if k in data}},
                       teams=tuple(dict.fromkeys(str(t) for t in data["teams"])))]
    return []


# Audit actions of the migration driver that tell teams (their event data names the teams).
MIGRATION_ACTIONS = frozenset({"migration:advance", "migration:verify", "migration:rollback", "migration:done"})


def _submitted(subject: str, request_id: str, teams: tuple[str, ...], data: dict[str, Any]) -> list[Notice]:
    decision = data.get("decision") or {}
    outcome = decision.get("outcome")
    notices = []
    if outcome == "needs_approval":
        approvers = [str(a) for a in decision.get("approvers", [])]
        notices.append(Notice(
            "request.awaiting_approval", subject,
            {"approvers": approvers, "rules": [r.get("message") for r in decision.get("rules", [])
                                               if r.get("effect") == "require_approval"]},
            teams=tuple(a.partition(":")[2] for a in approvers if a.startswith("team:")),
            platform_admins="role:platform_admin" in approvers, request_id=request_id))
    elif outcome == "denied":
        notices.append(Notice("request.decided", subject,
                              {"decision": "denied", "reasons": [r.get("message") for r in decision.get("rules", [])
                                                                 if r.get("effect") == "deny"]},
                              teams=teams, request_id=request_id))
    name = (data.get("spec") or {}).get("name")
    if data.get("kind") == "topic.delete" and outcome != "denied" and data.get("cluster") and name:
        # Consumers learn of a deletion when it is asked for, before the quarantine cuts them off.
        notices.append(Notice("topic.deletion_scheduled", f"topic:{data['cluster']}/{name}",
                              {"cluster": data["cluster"], "topic": name, "request": request_id,
                               "awaiting_approval": outcome == "needs_approval"},
                              consumers_of=ConsumersOf(str(data["cluster"]), str(name)), request_id=request_id))
    return notices


@dataclass(frozen=True)
class RequestSummary:
    """What a notification says about the request it concerns."""

    id: str
    kind: str
    cluster: str
    status: str
    requested_by: str
    requester_team: str
    owner_team: str
    spec: dict[str, Any] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        target = self.spec.get("name") or self.spec.get("topic") or self.spec.get("principal")
        return {"id": self.id, "kind": self.kind, "cluster": self.cluster, "status": self.status,
                "requested_by": self.requested_by, "requester_team": self.requester_team,
                "owner_team": self.owner_team, "target": target}

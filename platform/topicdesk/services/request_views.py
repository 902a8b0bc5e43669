"""The API's views of requests and their decisions (JSON-ready dicts, as the API contract shows them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Protocol

from topicdesk.adapters.tables import RequestRow
from topicdesk.services.outcomes import progress_view


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


def request_view(row: RequestRow | Mapping[str, Any], migration_id: str | None = None) -> dict[str, Any]:
    """The API's view of a request: from a loaded row, or from the values just inserted. A
    topic.migrate's view names the migration its approval started (`migration_id`, None before)."""
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
        "created_at": rfc3339(get("created_at")),
        "updated_at": rfc3339(get("updated_at")),
        "status": get("status"),
        "decision": get("decision"),
        "approvals": get("approvals"),
        "rejection_reason": get("rejection_reason"),
        "error": get("error"),
        "applied_at": rfc3339(applied_at) if applied_at else None,
        "source": get("source"),
        **progress_view(row),
        # A topic.migrate's plan, shown before approval (other kinds have none).
        **({"migration_plan": get("migration_plan"), "migration_id": migration_id}
           if get("kind") == "topic.migrate" else {}),
    }


def rfc3339(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))

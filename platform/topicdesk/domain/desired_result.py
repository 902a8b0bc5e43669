"""What became of each change of a desired-state file, the result's summary and its HTTP status.

Pure. The status rule is what lets `curl --fail` (and the CLI's exit code) fail a CI job:
- 200: in sync, or every change was submitted and auto-approved (a plan always answers 200);
- 202: some changes await approval (also ones already waiting), none went wrong;
- 409: any change was denied, skipped as destructive, previously denied or an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from topicdesk.domain.desired_file import PlannedChange

WAITING = ("pending_approval", "approved", "applying")
REFUSED = ("denied", "rejected")
OUTCOMES = ("planned", "submitted", "auto_approved", "awaiting_approval", "denied", "skipped_destructive",
            "already_requested", "previously_denied", "error")
NOT_APPLIED = ("denied", "skipped_destructive", "previously_denied", "error")
SUMMARY_KEYS = {"planned": "planned", "submitted": "submitted", "auto_approved": "auto_approved",
                "awaiting_approval": "awaiting_approval", "denied": "denied",
                "skipped_destructive": "skipped_destructive", "already_requested": "already_requested",
                "previously_denied": "previously_denied", "error": "errors"}
NOT_APPLIED_TYPE = "https://topicdesk.dev/problems/desired-state-not-applied"


@dataclass(frozen=True)
class EarlierRequest:
    """The latest request this file's source made with the same kind, cluster and spec."""

    id: str
    status: str
    approvers: Sequence[str]
    reasons: Sequence[Mapping[str, str]]


def request_url(request_id: str) -> str:
    return f"/api/v1/requests/{request_id}"


def outcome_before_asking(change: PlannedChange, *, allow_destroy: bool,
                          earlier: EarlierRequest | None) -> dict[str, Any] | None:
    """The outcome that needs no policy and no submission, or None: ask (plan) or submit (apply).

    An error stays an error; a destructive change without allow_destroy is skipped; the same change
    denied or rejected before is not asked again; one still waiting is not asked twice.
    """
    if change.error is not None:
        return {"outcome": "error", "error": change.error.view()}
    if change.destructive and not allow_destroy:
        return {"outcome": "skipped_destructive", "reasons": [{
            "id": "desired_state.destructive",
            "message": f"{change.action} of {change.name} is destructive; apply with allow_destroy=true to make it"}]}
    if earlier is None:
        return None
    if earlier.status in REFUSED:
        return {"outcome": "previously_denied", "request_id": earlier.id, "request_url": request_url(earlier.id),
                "status": earlier.status, "reasons": [dict(r) for r in earlier.reasons]}
    if earlier.status in WAITING:
        return {"outcome": "already_requested", "request_id": earlier.id, "request_url": request_url(earlier.id),
                "status": earlier.status, "approvers": list(earlier.approvers)}
    return None


def denial_reasons(decision: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"id": r["id"], "message": r["message"]} for r in decision.get("rules") or [] if r.get("effect") == "deny"]


def outcome_of_decision(decision: Mapping[str, Any]) -> dict[str, Any]:
    """A plan's outcome from the dry-run decision."""
    if decision["outcome"] == "denied":
        return {"outcome": "denied", "decision": dict(decision), "reasons": denial_reasons(decision)}
    return {"outcome": "planned", "decision": dict(decision), "approvers": list(decision.get("approvers") or [])}


def outcome_of_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """An apply's outcome from the request just stored."""
    decision = request["decision"]
    base = {"request_id": request["id"], "request_url": request_url(request["id"]), "status": request["status"],
            "decision": decision, "submitted": True}
    if request["status"] == "denied":
        return {**base, "outcome": "denied", "reasons": denial_reasons(decision)}
    if request["status"] == "pending_approval":
        return {**base, "outcome": "awaiting_approval", "approvers": list(decision.get("approvers") or [])}
    return {**base, "outcome": "auto_approved"}


def change_view(change: PlannedChange, outcome: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "action": change.action,
        "resource": {"type": change.resource_type, "key": change.key, "name": change.name},
        "destructive": change.destructive,
        "diff": [d.view() for d in change.diff],
        "request": change.request,
        "managed_by": change.managed_by,
        "outcome": outcome["outcome"],
        "request_id": outcome.get("request_id"),
        "request_url": outcome.get("request_url"),
        "status": outcome.get("status"),
        "decision": outcome.get("decision"),
        "approvers": list(outcome.get("approvers") or []),
        "reasons": list(outcome.get("reasons") or []),
        "error": outcome.get("error"),
    }


def summary(changes: Sequence[Mapping[str, Any]], in_sync: int, submitted: int) -> dict[str, int]:
    counts = dict.fromkeys(SUMMARY_KEYS.values(), 0)
    for change in changes:
        counts[SUMMARY_KEYS[change["outcome"]]] += 1
    return {"changes": len(changes), "in_sync": in_sync, **counts, "submitted": submitted}


def result_status(result: Mapping[str, Any]) -> int:
    if result["dry_run"]:
        return 200
    counts = result["summary"]
    if any(counts[SUMMARY_KEYS[outcome]] for outcome in NOT_APPLIED):
        return 409
    if counts["awaiting_approval"] or counts["already_requested"]:
        return 202
    return 200


def not_applied_detail(result: Mapping[str, Any]) -> str:
    counts = result["summary"]
    parts = [f"{counts[SUMMARY_KEYS[o]]} {o.replace('_', ' ')}" for o in NOT_APPLIED if counts[SUMMARY_KEYS[o]]]
    hint = " (apply with allow_destroy=true to make destructive changes)" if counts["skipped_destructive"] else ""
    return f"not every change of the desired-state file was applied: {', '.join(parts)}{hint}"

"""What the reconciler tells a request: the outcome of each change, and its retries.

Per resource a pass leaves an entry `{"resource", "status", "changes": [{"change", "key", "status",
"reason", "message", ...}]}`; a change is `applied` (sent and read back), `refused` (the planner
would not send it, e.g. a partition decrease), `failed` (Kafka refused it for good), `retrying`
(a transient failure; the resource backs off and is tried again). A resource no pass has reached
yet is `pending`. Entries replace the previous entry of the same resource, so a request shows the
latest pass over each of its resources.

Retries: each pass that leaves any of a request's resources retrying counts one attempt on the
request and records its reason and next attempt time. The audit log gets a `request:retry` event
for attempts 1 to RETRY_EVENTS_IN_FULL and then every RETRY_EVENTS_EVERY-th: with the back-off
(2 s doubling to 5 min) a day-long outage leaves about 10 + 29 events per request, not 290.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from topicdesk.adapters.audit_log import NewEvent
from topicdesk.adapters.tables import RequestRow
from topicdesk.domain.plan import ChangeKind
from topicdesk.services.cluster_port import Outcome, OutcomeReason
from topicdesk.services.executor import ChangeResult

RETRY_EVENTS_IN_FULL = 10
RETRY_EVENTS_EVERY = 10
# Changes whose before/after are small values worth showing (not whole topics or bindings).
_DETAILED = {ChangeKind.ADD_PARTITIONS, ChangeKind.ALTER_TOPIC_CONFIG, ChangeKind.REFUSED}
_SUMMARY_ITEMS = 5


def change_status(outcome: Outcome) -> str:
    if outcome.ok:
        return "applied"
    if outcome.reason is OutcomeReason.REFUSED:
        return "refused"
    return "retrying" if outcome.transient else "failed"


def resource_status(outcome: Outcome) -> str:
    if outcome.ok:
        return "applied"
    return "retrying" if outcome.transient else "failed"


def _reason(outcome: Outcome) -> str:
    return str(outcome.reason) if outcome.reason is not None else "unknown"


def change_entry(result: ChangeResult) -> dict[str, Any]:
    change, outcome = result.change, result.outcome
    entry: dict[str, Any] = {
        # A refused change says what was asked (partition_decrease, replication_factor_change).
        "change": str(change.reason) if change.kind is ChangeKind.REFUSED and change.reason else str(change.kind),
        "key": change.key,
        "status": change_status(outcome),
        "reason": None if outcome.ok else _reason(outcome),
        "message": outcome.message,
    }
    if change.kind in _DETAILED:
        as_dict = change.as_dict()
        entry["before"], entry["after"] = as_dict["before"], as_dict["after"]
    return entry


@dataclass(frozen=True)
class ResourcePass:
    """What one pass did to one resource."""

    entry: dict[str, Any]
    retry: dict[str, str] | None = None  # {reason, message} when the resource will be tried again
    next_attempt_at: datetime | None = None


def resource_pass(subject: str, generation: int, results: Sequence[ChangeResult], outcome: Outcome,
                  next_attempt_at: datetime | None) -> ResourcePass:
    status = resource_status(outcome)
    entry = {"resource": subject, "generation": generation, "status": status,
             "changes": [change_entry(r) for r in results]}
    if status != "applied" and not results:
        # Nothing per change (the cluster could not be asked at all): the resource's own reason.
        entry["reason"], entry["message"] = _reason(outcome), outcome.message
    retry = {"reason": _reason(outcome), "message": outcome.message[:2000]} if status == "retrying" else None
    return ResourcePass(entry, retry, next_attempt_at if retry else None)


def merge_outcomes(existing: Sequence[dict[str, Any]] | None,
                   entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    merged = {str(e["resource"]): e for e in existing or []}
    for entry in entries:
        merged[str(entry["resource"])] = entry
    return sorted(merged.values(), key=lambda e: str(e["resource"]))


def pending_entry(subject: str, generation: int) -> dict[str, Any]:
    return {"resource": subject, "generation": generation, "status": "pending", "changes": []}


def is_partial(status: str, outcomes: Sequence[dict[str, Any]] | None) -> bool:
    """A failed request some of whose changes were nevertheless applied."""
    if status != "failed" or not outcomes:
        return False
    return any(c.get("status") == "applied" for e in outcomes for c in e.get("changes", [])) or any(
        e.get("status") == "applied" and e.get("changes") for e in outcomes)


def failure_message(message: str, outcomes: Sequence[dict[str, Any]]) -> str:
    """Kafka's (or the planner's) reason; when some parts were applied, which ones and which not."""
    applied = [f"{c['change']} on {e['resource']}" for e in outcomes for c in e.get("changes", [])
               if c.get("status") == "applied"]
    missing = [f"{c['change']} on {e['resource']} ({c['status']})" for e in outcomes
               for c in e.get("changes", []) if c.get("status") != "applied"]
    missing += [f"{e['resource']} ({e['status']})" for e in outcomes
                if not e.get("changes") and e.get("status") != "applied"]
    if not applied:
        return message  # nothing applied: Kafka's reason says it all
    return f"{message}; applied: {_listing(applied)}; not applied: {_listing(missing) or 'none'}"


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SUMMARY_ITEMS])
    return shown + (f" and {len(items) - _SUMMARY_ITEMS} more" if len(items) > _SUMMARY_ITEMS else "")


def note_progress(request: RequestRow, passes: Sequence[ResourcePass], actor: str) -> NewEvent | None:
    """Fold this pass's results over the request's resources into the request; the retry event, if due."""
    request.outcomes = merge_outcomes(request.outcomes, (p.entry for p in passes))
    retrying = [p for p in passes if p.retry is not None]
    if not retrying:
        request.last_error = request.next_attempt_at = None
        return None
    request.attempts += 1
    request.last_error = retrying[0].retry
    times = [p.next_attempt_at for p in retrying if p.next_attempt_at is not None]
    request.next_attempt_at = min(times) if times else None
    if request.attempts > RETRY_EVENTS_IN_FULL and request.attempts % RETRY_EVENTS_EVERY:
        return None
    return NewEvent(actor=actor, action="request:retry", subject=f"request:{request.id}",
                    team=request.requester_team,
                    data={"attempt": request.attempts, "error": request.last_error,
                          "next_attempt_at": _rfc3339(request.next_attempt_at)})


def _rfc3339(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def progress_view(row: RequestRow | Mapping[str, Any]) -> dict[str, Any]:
    """The request's retry and outcome fields for the API (rows just inserted have none yet)."""
    if isinstance(row, Mapping):
        return {"attempts": row.get("attempts", 0) or 0, "last_error": row.get("last_error"),
                "next_attempt_at": _rfc3339(row.get("next_attempt_at")), "outcomes": row.get("outcomes"),
                "partial": is_partial(str(row.get("status")), row.get("outcomes"))}
    return {"attempts": row.attempts, "last_error": row.last_error, "next_attempt_at": _rfc3339(row.next_attempt_at),
            "outcomes": row.outcomes, "partial": is_partial(row.status, row.outcomes)}

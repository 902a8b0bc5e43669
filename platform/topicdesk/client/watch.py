"""`--wait`: poll each request until it is applied, failed or denied, or the time is up, printing
one line each time a request's status changes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from topicdesk.client.render import FINAL_STATUSES, progress_line, status_chain, wait_exit_code

# Start quickly (an auto-approved topic is often applied within a second), then back off so a
# long wait for an approver costs the server little.
FIRST_POLL, MAX_POLL = 0.25, 3.0


@dataclass
class Watched:
    request_id: str
    subject: str
    kind: str
    chain: list[str] = field(default_factory=list)
    view: Mapping[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.chain[-1] if self.chain else "unknown"


@dataclass(frozen=True)
class WaitOutcome:
    code: int
    timed_out: bool
    watched: list[Watched]


def wait_for(
    watched: list[Watched], fetch: Callable[[str], Mapping[str, Any]], emit: Callable[[str], None], *,
    timeout: float, color: bool, stop_at_approval: bool = False,
    clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
) -> WaitOutcome:
    """`stop_at_approval`: a request waiting for an approver is not waited for (it is reported as
    such), used when the apply failed anyway and nobody should hold the job for an approval."""
    widths = (max((len(w.subject) for w in watched), default=0), max((len(w.kind) for w in watched), default=0))
    deadline = clock() + timeout
    delay = FIRST_POLL

    def settled(w: Watched) -> bool:
        return w.status in FINAL_STATUSES or (stop_at_approval and w.status == "pending_approval")

    for w in watched:
        if w.chain:
            emit(progress_line(w.subject, w.kind, w.chain, color, widths))
    timed_out = False
    while True:
        for w in watched:
            if settled(w):
                continue
            view = fetch(w.request_id)
            chain = status_chain(view)
            w.view = view
            # History only grows; anything the first line already showed is kept in front.
            merged = w.chain + chain[len(w.chain):] if chain[:len(w.chain)] == w.chain else \
                w.chain + [s for s in chain if s not in w.chain]
            if merged != w.chain:
                w.chain = merged
                emit(progress_line(w.subject, w.kind, w.chain, color, widths))
                if w.status in FINAL_STATUSES:
                    for line in _final_details(view):
                        emit(" " * (widths[0] + 2) + line)
        if all(settled(w) for w in watched):
            break
        if clock() >= deadline:
            timed_out = True
            break
        sleep(min(delay, max(0.0, deadline - clock())))
        delay = min(delay * 2, MAX_POLL)
    return WaitOutcome(wait_exit_code(w.status for w in watched), timed_out, watched)


def _final_details(view: Mapping[str, Any]) -> list[str]:
    status = view.get("status")
    if status == "failed" and view.get("error"):
        error = view["error"]
        return [f"error: {error.get('reason')}: {error.get('message')}"]
    if status == "denied":
        rules = (view.get("decision") or {}).get("rules") or []
        return [f"denied: {r.get('id')}: {r.get('message')}" for r in rules if r.get("effect") == "deny"]
    if status == "rejected":
        return [f"rejected: {view.get('rejection_reason')}"]
    return []

"""Text for people and exit codes for pipelines, from the API's JSON. Pure: no I/O, no clock.

Symbols follow Terraform's plan: `+` create, `~` update, `-` delete, `>` adopt (take over a
resource Topicdesk holds that no file manages yet).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click

EXIT_OK, EXIT_FAILED, EXIT_PENDING = 0, 1, 2
# Outcomes after which the file is not what the cluster will hold: the job must fail.
FAILED_OUTCOMES = frozenset({"denied", "skipped_destructive", "previously_denied", "error"})
FINAL_STATUSES = frozenset({"applied", "failed", "denied", "rejected", "cancelled"})
FAILED_STATUSES = frozenset({"failed", "denied", "rejected", "cancelled"})

SYMBOLS = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red"), "adopt": (">", "cyan")}
STATUS_COLORS = {"applied": "green", "approved": "green", "applying": "cyan", "pending_approval": "yellow",
                 "failed": "red", "denied": "red", "rejected": "red", "cancelled": "red"}


def use_color(is_tty: bool, env: Mapping[str, str]) -> bool:
    """Colour on a terminal unless NO_COLOR is set to anything non-empty (https://no-color.org)."""
    return is_tty and not env.get("NO_COLOR")


def paint(text: str, color: str | None, enabled: bool, *, bold: bool = False) -> str:
    return click.style(text, fg=color, bold=bold) if enabled and (color or bold) else text


def outcome_of(change: Mapping[str, Any], dry_run: bool) -> str:
    outcome = change.get("outcome")
    if isinstance(outcome, str):
        return outcome
    if change.get("error"):
        return "error"
    if (change.get("decision") or {}).get("outcome") == "denied":
        return "denied"
    return "planned" if dry_run else "submitted"


def _awaits_approval(change: Mapping[str, Any], outcome: str) -> bool:
    return outcome == "awaiting_approval" or (
        outcome in ("submitted", "already_requested") and change.get("status") == "pending_approval")


def exit_code(result: Mapping[str, Any]) -> int:
    """0: in sync, or (apply) every change accepted and auto-approved; 2: (plan) changes to make, or
    (apply) changes waiting for an approver; 1: anything denied, skipped as destructive or in error."""
    changes: Sequence[Mapping[str, Any]] = result.get("changes") or []
    dry_run = bool(result.get("dry_run"))
    outcomes = [outcome_of(c, dry_run) for c in changes]
    if any(o in FAILED_OUTCOMES for o in outcomes):
        return EXIT_FAILED
    if not changes:
        return EXIT_OK
    if dry_run:
        return EXIT_PENDING
    if any(c.get("status") in FAILED_STATUSES for c in changes):
        return EXIT_FAILED
    if any(_awaits_approval(c, o) for c, o in zip(changes, outcomes, strict=True)):
        return EXIT_PENDING
    return EXIT_OK


KIND_ACTIONS = {"topic.create": "create", "topic.update": "update", "topic.delete": "delete",
                "access.grant": "create", "access.revoke": "delete", "quota.set": "update"}


def action_of(change: Mapping[str, Any]) -> str:
    action = change.get("action")
    if isinstance(action, str):
        return action
    return KIND_ACTIONS.get(str((change.get("request") or {}).get("kind")), "change")


def spec_fields(spec: Mapping[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """A new resource's spec as diff entries from nothing: `config.retention.ms`, not one JSON blob."""
    entries: list[dict[str, Any]] = []
    for key, value in sorted(spec.items()):
        if isinstance(value, Mapping) and value:
            entries += spec_fields(value, f"{prefix}{key}.")
        else:
            entries.append({"field": f"{prefix}{key}", "before": None, "after": value})
    return entries


def resource_label(change: Mapping[str, Any]) -> tuple[str, str]:
    """(type, name) of a change's resource, e.g. ("topic", "payments.orders.v1")."""
    resource = change.get("resource") or {}
    if resource.get("type") and (resource.get("name") or resource.get("key")):
        return str(resource["type"]), str(resource.get("name") or resource["key"])
    request = change.get("request") or {}
    spec = request.get("spec") or {}
    kind = str(request.get("kind") or "change")
    kind_type = {"topic": "topic", "access": "access_grant", "quota": "quota"}.get(kind.split(".")[0], kind)
    name = spec.get("name") or (f"{spec.get('principal')} {spec.get('access')} {spec.get('topic')}"
                                if spec.get("topic") else spec.get("principal")) or "?"
    return kind_type, str(name)


def value_text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def diff_lines(diff: Iterable[Mapping[str, Any]], color: bool) -> list[str]:
    lines = []
    for entry in diff:
        field, before, after = str(entry.get("field", "?")), entry.get("before"), entry.get("after")
        if before is None:
            text, tint = f"+ {field}: {value_text(after)}", "green"
        elif after is None:
            text, tint = f"- {field}: {value_text(before)}", "red"
        else:
            text, tint = f"~ {field}: {value_text(before)} -> {value_text(after)}", "yellow"
        if entry.get("destructive"):
            text += "  (destructive)"
        lines.append("      " + paint(text, tint, color))
    return lines


def reasons_of(change: Mapping[str, Any]) -> list[tuple[str, str]]:
    reasons = change.get("reasons")
    if reasons:
        return [(str(r.get("id") or ""), str(r.get("message") or "")) for r in reasons]
    decision = change.get("decision") or {}
    return [(str(r.get("id") or ""), str(r.get("message") or "")) for r in decision.get("rules") or []
            if r.get("effect") == "deny"]


def approvers_of(change: Mapping[str, Any]) -> list[str]:
    approvers = change.get("approvers") or (change.get("decision") or {}).get("approvers") or []
    return [str(a) for a in approvers]


def request_link(change: Mapping[str, Any], base_url: str | None) -> str:
    request_id = change.get("request_id")
    if not request_id:
        return ""
    return f"request {request_id}" + (f" ({base_url}/#/requests/{request_id})" if base_url else "")


def outcome_line(change: Mapping[str, Any], outcome: str, color: bool, base_url: str | None) -> str:
    approvers = ", ".join(approvers_of(change)) or "an approver"
    link = request_link(change, base_url)
    decision = (change.get("decision") or {}).get("outcome")
    status = change.get("status")
    texts: dict[str, tuple[str, str]] = {
        "planned": ((f"needs approval by {approvers}" if decision == "needs_approval" else
                     "will be auto-approved" if decision == "auto_approved" else "will be submitted"),
                    "yellow" if decision == "needs_approval" else "green"),
        "submitted": ("submitted" + (f" ({status})" if status else ""), "green"),
        "auto_approved": ("auto-approved", "green"),
        "awaiting_approval": (f"awaiting approval by {approvers}", "yellow"),
        "denied": ("denied", "red"),
        "skipped_destructive": ("destructive: skipped, apply with --allow-destroy to submit it", "red"),
        "already_requested": (f"already requested ({status or 'waiting'})", "yellow"),
        "previously_denied": ("denied before, not submitted again: change the file to ask again", "red"),
        "error": ("error", "red"),
    }
    text, tint = texts.get(outcome, (outcome, "yellow"))
    return "    " + paint(text, tint, color, bold=tint == "red") + (f"  {link}" if link else "")


def error_text(error: Mapping[str, Any]) -> str:
    head = f"{error.get('status', '')} {error.get('message') or error.get('reason') or ''}".strip()
    details = "; ".join(f"{e.get('path') or '/'}"
                        + (f" (line {e['line']})" if e.get("line") is not None else "")
                        + f": {e.get('message', '')}" for e in error.get("errors") or [])
    return head + (f": {details}" if details else "")


def render_change(change: Mapping[str, Any], dry_run: bool, color: bool, base_url: str | None) -> list[str]:
    action = action_of(change)
    symbol, tint = SYMBOLS.get(action, ("*", "yellow"))
    kind, name = resource_label(change)
    title = f"  {symbol} {kind} {name}"
    lines = [paint(title, tint, color, bold=True) + f"  ({action})"
             + (paint("  destructive", "red", color, bold=True) if change.get("destructive") else "")]
    diff = change.get("diff")
    if diff is None and action == "create":
        spec = (change.get("request") or {}).get("spec") or {}
        diff = spec_fields({k: v for k, v in spec.items() if k != "name"})
    lines += diff_lines(diff or [], color)
    outcome = outcome_of(change, dry_run)
    lines.append(outcome_line(change, outcome, color, base_url))
    if outcome in ("denied", "previously_denied") or (outcome == "planned" and reasons_of(change)
                                                      and (change.get("decision") or {}).get("outcome") == "denied"):
        lines += ["      " + paint(f"{rid}: {message}" if rid else message, "red", color)
                  for rid, message in reasons_of(change)]
    if outcome == "error" and change.get("error"):
        lines.append("      " + paint(error_text(change["error"]), "red", color))
    return lines


def summary_line(result: Mapping[str, Any]) -> str:
    changes: Sequence[Mapping[str, Any]] = result.get("changes") or []
    dry_run = bool(result.get("dry_run"))
    in_sync = (result.get("summary") or {}).get("in_sync")
    actions = Counter(action_of(c) for c in changes)
    verb = "Plan" if dry_run else "Apply"
    parts = [f"{actions[a]} to {a}" for a in ("create", "update", "delete", "adopt") if actions[a]]
    line = f"{verb}: " + (", ".join(parts) if parts else f"{len(changes)} changes")
    if in_sync is not None:
        line += f"; {in_sync} in sync"
    outcomes = Counter(outcome_of(c, dry_run) for c in changes)
    words = {"planned": "planned", "submitted": "submitted", "auto_approved": "auto-approved",
             "awaiting_approval": "awaiting approval", "denied": "denied",
             "skipped_destructive": "skipped as destructive", "already_requested": "already requested",
             "previously_denied": "denied before", "error": "in error"}
    told = [f"{outcomes[o]} {w}" for o, w in words.items() if outcomes[o]]
    return line + (" (" + ", ".join(told) + ")" if told else "") + "."


def render_result(result: Mapping[str, Any], *, color: bool, base_url: str | None = None) -> str:
    """The whole plan or apply as a terminal shows it."""
    dry_run = bool(result.get("dry_run"))
    team, cluster, source = result.get("team", "?"), result.get("cluster", "?"), result.get("source")
    changes: Sequence[Mapping[str, Any]] = result.get("changes") or []
    head = f"{'Plan' if dry_run else 'Apply'} for team {team} on cluster {cluster}"
    head += f" from {source}" if source else ""
    if result.get("allow_destroy"):
        head += " (destroy allowed)"
    lines = [paint(head, None, color, bold=True)]
    if not changes:
        in_sync = (result.get("summary") or {}).get("in_sync")
        count = f" ({in_sync} resources)" if in_sync is not None else ""
        lines.append(paint(f"No changes: in sync{count}.", "green", color))
        return "\n".join(lines) + "\n"
    lines.append("")
    for change in changes:
        lines += render_change(change, dry_run, color, base_url)
    lines += ["", summary_line(result)]
    skipped = sum(1 for c in changes if outcome_of(c, dry_run) == "skipped_destructive")
    if skipped:
        lines.append(paint(f"{skipped} destructive change(s) not submitted: run with --allow-destroy to "
                           "submit them.", "red", color))
    return "\n".join(lines) + "\n"


def failure_line(result: Mapping[str, Any]) -> str | None:
    """The one `error:` line a failed plan or apply ends with on stderr."""
    if exit_code(result) != EXIT_FAILED:
        return None
    dry_run = bool(result.get("dry_run"))
    outcomes = Counter(outcome_of(c, dry_run) for c in result.get("changes") or [])
    # A denied change's request is `denied` too: count it once, as denied.
    failed_status = sum(1 for c in result.get("changes") or [] if c.get("status") in FAILED_STATUSES
                        and outcome_of(c, dry_run) not in ("denied", "previously_denied"))
    parts = [f"{n} {w}" for n, w in ((outcomes["denied"] + outcomes["previously_denied"], "denied"),
                                     (outcomes["skipped_destructive"], "destructive skipped (needs --allow-destroy)"),
                                     (outcomes["error"], "in error"), (failed_status, "failed")) if n]
    what = "the plan cannot be applied" if dry_run else "the file was not applied"
    return f"{what}: {', '.join(parts)}"


# -- requests and topics ----------------------------------------------------------------------------

def request_subject(view: Mapping[str, Any]) -> str:
    spec = view.get("spec") or {}
    if spec.get("name"):
        return str(spec["name"])
    if spec.get("topic"):
        return f"{spec.get('principal')} {spec.get('access')} {spec['topic']}"
    return str(spec.get("principal") or "")


def status_chain(view: Mapping[str, Any]) -> list[str]:
    """The statuses a request went through (consecutive repeats, e.g. retries, once), ending with its
    current status."""
    chain: list[str] = []
    for entry in view.get("history") or []:
        status = entry.get("status")
        if status and (not chain or chain[-1] != status):
            chain.append(str(status))
    current = view.get("status")
    if current and (not chain or chain[-1] != current):
        chain.append(str(current))
    return chain


def progress_line(subject: str, kind: str, chain: Sequence[str], color: bool, widths: tuple[int, int] = (0, 0)) -> str:
    """`payments.orders.v1  topic.create  approved -> applying -> applied`"""
    steps = " -> ".join(paint(s, STATUS_COLORS.get(s), color) for s in chain)
    return f"{subject:<{widths[0]}}  {kind:<{widths[1]}}  {steps}"


def wait_exit_code(statuses: Iterable[str]) -> int:
    """After waiting: 0 every request applied, 1 one failed/denied/rejected/cancelled (or is stuck
    applying at the timeout), 2 the only thing missing is an approval."""
    statuses = list(statuses)
    if all(s == "applied" for s in statuses):
        return EXIT_OK
    if any(s in FAILED_STATUSES for s in statuses):
        return EXIT_FAILED
    if all(s in ("applied", "pending_approval") for s in statuses):
        return EXIT_PENDING
    return EXIT_FAILED


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
           for row in [header, *rows]]
    return "\n".join(out) + "\n"


def render_request_table(items: Sequence[Mapping[str, Any]]) -> str:
    rows = [(str(r.get("id")), str(r.get("kind")), str(r.get("cluster")), str(r.get("status")),
             request_subject(r), str(r.get("requested_by") or ""), str(r.get("created_at") or ""))
            for r in items]
    return table(rows, ("ID", "KIND", "CLUSTER", "STATUS", "SUBJECT", "REQUESTED BY", "CREATED"))


def render_topic_table(items: Sequence[Mapping[str, Any]]) -> str:
    rows = [(str(t.get("name")), str(t.get("cluster")), str(t.get("owner_team")), str(t.get("partitions")),
             str(t.get("replication_factor")), str(t.get("status")), str(t.get("managed_by") or "-"))
            for t in items]
    return table(rows, ("NAME", "CLUSTER", "TEAM", "PARTITIONS", "RF", "STATUS", "MANAGED BY"))


def render_request(view: Mapping[str, Any], *, color: bool, base_url: str | None = None) -> str:
    status = str(view.get("status"))
    lines = [paint(f"request {view.get('id')}", None, color, bold=True)
             + f"  {view.get('kind')} on {view.get('cluster')}  " + paint(status, STATUS_COLORS.get(status), color),
             f"  subject:      {request_subject(view)}",
             f"  requested by: {view.get('requested_by')} (team {view.get('requester_team')})"
             f" at {view.get('created_at')}"]
    if view.get("reason"):
        lines.append(f"  reason:       {view['reason']}")
    if base_url:
        lines.append(f"  portal:       {base_url}/#/requests/{view.get('id')}")
    lines.append(f"  spec:         {value_text(view.get('spec'))}")
    decision = view.get("decision") or {}
    if decision:
        lines.append(f"  decision:     {decision.get('outcome')}"
                     + (f"; approvers: {', '.join(decision.get('approvers') or [])}"
                        if decision.get("approvers") else ""))
        lines += [f"    {r.get('effect')}  {r.get('id')}: {r.get('message')}" for r in decision.get("rules") or []]
    for approval in view.get("approvals") or []:
        lines.append(f"  approved by:  {approval.get('by') or approval.get('approver')}"
                     + (f": {approval['comment']}" if approval.get("comment") else ""))
    if view.get("rejection_reason"):
        lines.append(f"  rejected:     {view['rejection_reason']}")
    error = view.get("error") or view.get("last_error")
    if error:
        lines.append("  " + paint(f"error:        {error.get('reason')}: {error.get('message')}", "red", color))
    history = view.get("history") or []
    if history:
        lines.append("  history:")
        lines += [f"    {h.get('at')}  {h.get('status'):<16} {h.get('by') or ''}"
                  + (f"  {h['note']}" if h.get("note") else "") for h in history]
    return "\n".join(lines) + "\n"

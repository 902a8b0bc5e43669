"""Drift triage: a cluster's open differences with their state, and revert / adopt / ignore.

Owners of the team a difference belongs to (the resource's owning team; the grantee's for ACLs),
and platform admins, triage it:

* revert marks the resources dirty, so the next reconcile pass applies desired state (in report
  mode too);
* adopt submits the request(s) that make desired state what the cluster has, through validation,
  policy and approvals like any request (services/requests.submit_request);
* ignore, with a reason and an expiry at most 90 days ahead: the difference does not count as drift
  (nor is it enforced) until then, or until the cluster shows another value.

Each decision is an audit event in the transaction that records it on the item.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from topicdesk.adapters import drift_store as store
from topicdesk.adapters.audit_log import NewEvent, record_events
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import AccessGrantRow, ClusterRow, DriftItemRow, DriftReportRow, utcnow
from topicdesk.domain.drift_triage import adopt_refusal, adopt_requests, parse_ignore
from topicdesk.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from topicdesk.domain.identity import Identity
from topicdesk.schemas import SCHEMA_BASE_URI, SchemaSet, default_schemas
from topicdesk.services.desired import grant_value
from topicdesk.services.drift import (
    adopt_request_ids,
    blocked_keys,
    clear_ignore,
    drift_event,
    ignored,
    revert_conflict,
    rfc3339,
)
from topicdesk.services.requests import RequestDeps, submit_request

TRIAGE_SCHEMA_ID = SCHEMA_BASE_URI + "drift-triage.json"


def _rfc3339(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment else None


# --- views ----------------------------------------------------------------------------------------------

def item_views(session: Session, rows: Sequence[DriftItemRow], now: datetime) -> list[dict[str, Any]]:
    """The API's view of open items: what differs, what concerns it, its state and what can be done."""
    links: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for cluster in {row.cluster for row in rows}:
        for item, refs in store.links_of(session, cluster, [r.id for r in rows if r.cluster == cluster]).items():
            links[(cluster, item)] = refs
    fresh = store.generations(session, [ref for refs in links.values() for ref in refs])
    adopting = store.open_requests(session, [rid for row in rows for rid in adopt_request_ids(row)])
    blocked = blocked_keys(session, rows)
    views = []
    for row in rows:
        refs = links.get((row.cluster, row.id), [])
        revertible = revert_conflict(row, blocked) is None
        state = "open"
        if ignored(row, now):
            state = "ignored"
        elif adopting & set(adopt_request_ids(row)):
            state = "adopting"
        elif revertible and _applying(fresh, refs):
            state = "reverting"
        actions = [action for action, possible in (
            ("revert", revertible), ("adopt", adopt_refusal(row.kind, row.expected, row.actual) is None),
            ("ignore", state != "reverting")) if possible]
        views.append({
            "id": row.id, "cluster": row.cluster, "kind": row.kind, "key": row.key, "team": row.team,
            "subject": row.subject, "resources": [{"kind": kind, "id": rid} for kind, rid in refs],
            "expected": row.expected, "desired": row.expected, "actual": row.actual, "message": row.message,
            "first_seen_at": _rfc3339(row.first_seen_at), "last_seen_at": _rfc3339(row.last_seen_at),
            "state": state, "drifted": state != "ignored", "actions": actions,
            "ignore": None if row.ignored_until is None else {
                "reason": row.ignore_reason, "expires_at": _rfc3339(row.ignored_until), "by": row.ignored_by,
                "at": _rfc3339(row.ignored_at)},
            "last_triage": row.triage,
        })
    return views


def _applying(fresh: dict[tuple[str, str], tuple[int, int]], refs: Sequence[tuple[str, str]]) -> bool:
    """Some resource is due for the reconciler: applying it puts a revertible difference back."""
    return any(observed < generation for generation, observed in (fresh.get(ref, (0, 0)) for ref in refs))


def drift_report(engine: Engine, cluster: str) -> dict[str, Any]:
    with unit_of_work(engine) as session:
        cluster_row = session.get(ClusterRow, cluster)
        if cluster_row is None:
            raise NotFound(f"no cluster named {cluster!r}")
        report = session.get(DriftReportRow, cluster)
        items = item_views(session, store.open_items(session, cluster), utcnow())
        return {"cluster": cluster, "drift_mode": cluster_row.drift_mode,
                "scanned_at": _rfc3339(report.scanned_at) if report else None, "items": items,
                "unmanaged_topics": report.unmanaged_topics if report else [],
                "unmanaged_acls": report.unmanaged_acls if report else []}


# --- triage ---------------------------------------------------------------------------------------------

def _item_for(session: Session, identity: Identity, cluster: str, item_id: str) -> DriftItemRow:
    row = store.get_item(session, cluster, item_id, lock=True)
    if row is None:
        if session.get(ClusterRow, cluster) is None:
            raise NotFound(f"no cluster named {cluster!r}")
        raise NotFound(f"no open drift item {item_id!r} on cluster {cluster!r}; it may have been resolved")
    if not identity.is_owner(row.team):
        raise Forbidden(f"only owners of team {row.team!r} (or platform admins) triage this difference")
    return row


def triage_item(deps: RequestDeps, identity: Identity, cluster: str, item_id: str, body: dict[str, Any],
                schemas: SchemaSet | None = None) -> dict[str, Any]:
    errors = (schemas or default_schemas()).errors(TRIAGE_SCHEMA_ID, body)
    if errors:
        raise ValidationFailed("the triage does not match its schema", errors=errors)
    action, reason = body["action"], body.get("reason")
    if action == "adopt":
        return _adopt(deps, identity, cluster, item_id, reason)
    with unit_of_work(deps.engine) as session:
        row = _item_for(session, identity, cluster, item_id)
        now = utcnow()
        if action == "ignore":
            why, until = parse_ignore(reason, body.get("expires_at"), now)
            refs = store.links_of(session, cluster, [row.id]).get(row.id, [])
            if revert_conflict(row, blocked_keys(session, [row])) is None and _applying(
                    store.generations(session, refs), refs):
                raise Conflict("the reconciler is putting this difference back (enforce mode, or a revert); "
                               "adopt it to keep what the cluster has, or set the cluster's drift_mode to report")
            row.ignored_until, row.ignore_reason, row.ignored_by, row.ignored_at = until, why, identity.subject, now
            row.ignored_actual = row.actual
            event = drift_event("drift:ignore", identity.subject, row, reason=why, expires_at=rfc3339(until),
                                actual=row.actual)
        else:
            conflict = revert_conflict(row, blocked_keys(session, [row]))
            if conflict is not None:
                raise Conflict(conflict)
            refs = store.links_of(session, cluster, [row.id]).get(row.id, [])
            marked = store.mark_dirty(session, refs)
            clear_ignore(row)
            row.triage = {"action": "revert", "by": identity.subject, "at": rfc3339(now)}
            event = drift_event("drift:revert", identity.subject, row, mode="triage", reason=reason or "",
                                expected=row.expected, actual=row.actual, marked=len(marked))
        session.add(row)
        session.flush()
        record_events(session, [event])
        return {"item": item_views(session, [row], now)[0]}


def _adopt(deps: RequestDeps, identity: Identity, cluster: str, item_id: str, reason: str | None) -> dict[str, Any]:
    with unit_of_work(deps.engine) as session:
        row = _item_for(session, identity, cluster, item_id)
        grants = []
        if row.kind == "acl_missing":
            ids = [rid for kind, rid in store.links_of(session, cluster, [row.id]).get(row.id, [])
                   if kind == "access_grant"]
            grants = [grant_value(g) for g in session.exec(select(AccessGrantRow).where(
                col(AccessGrantRow.id).in_(ids), col(AccessGrantRow.deleted).is_(False))).all()]
        documents = adopt_requests(cluster, row.kind, row.key, row.expected, row.actual, grants, reason or "")
    submitted: list[str] = []

    def note(session: Session, request: dict[str, Any]) -> list[NewEvent]:
        """In the request's transaction: the item records what adopts it, and the audit log says so."""
        submitted.append(request["id"])
        item = store.get_item(session, cluster, item_id)
        if item is None:  # resolved meanwhile: the request still makes desired state what was observed
            return []
        clear_ignore(item)
        item.triage = {"action": "adopt", "by": identity.subject, "at": rfc3339(utcnow()),
                       "requests": list(submitted)}
        session.add(item)
        return [drift_event("drift:adopt", identity.subject, item, request=request["id"],
                            request_kind=request["kind"], request_status=request["status"], spec=request["spec"])]

    requests = [submit_request(deps, identity, document, also=note).body for document in documents]
    with unit_of_work(deps.engine) as session:
        current = store.get_item(session, cluster, item_id)
        view = item_views(session, [current], utcnow())[0] if current is not None else None
    return {"item": view, "requests": requests}

"""Current -> new of requests, against what Topicdesk holds now (domain/request_changes.py does the diff).

While a request waits (pending_approval), and when it never changed desired state (denied, rejected,
cancelled), its changes are computed against the desired state of now, so an approver sees what
the approval would change today. An approval writes the new values into desired state, so from
then on "current" would equal "new": the approval's audit event keeps the changes as they were at
that moment (`snapshot`), and the request's page shows those.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import Session

from topicdesk.adapters.request_detail import change_inputs
from topicdesk.domain.request_changes import QUOTA_FIELDS, request_changes, request_impact

# Statuses whose desired state the request has written: "current" is then the snapshot of the approval.
WRITTEN = frozenset({"approved", "applying", "applied", "failed"})


def _topic_state(row: Any) -> dict[str, Any]:
    return {"partitions": row.partitions, "replication_factor": row.replication_factor, "config": dict(row.config),
            "description": row.description, "expected_bytes_per_second": row.expected_bytes_per_second}


def _topic_name(spec: Mapping[str, Any]) -> str | None:
    name = spec.get("name", spec.get("topic"))
    return name if isinstance(name, str) else None


def current_changes(session: Session, requests: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{request id: {changes, impact}} for requests given as {id, kind, cluster, spec}, against now.

    A handful of queries whatever the number of requests (one per table, usage once per cluster).
    """
    if not requests:
        return {}
    clusters = sorted({r["cluster"] for r in requests})
    names = sorted({n for r in requests if (n := _topic_name(r["spec"])) is not None})
    principals = sorted({p for r in requests
                         if r["kind"] == "quota.set" and isinstance(p := r["spec"].get("principal"), str)})
    inputs = change_inputs(session.connection(), clusters, names, principals)
    topics, grants, quotas, usage, limits = inputs.topics, inputs.grants, inputs.quotas, inputs.usage, inputs.limits
    out: dict[str, dict[str, Any]] = {}
    for request in requests:
        cluster, spec, kind = request["cluster"], request["spec"], request["kind"]
        name = _topic_name(spec)
        topic_row = topics.get((cluster, name)) if name else None
        topic = _topic_state(topic_row) if topic_row is not None else None
        quota_row = quotas.get((cluster, spec.get("principal"))) if kind == "quota.set" else None
        quota = {f: getattr(quota_row, f) for f in QUOTA_FIELDS} if quota_row is not None else None
        out[request["id"]] = {
            "changes": request_changes(kind, spec, topic, quota),
            "impact": request_impact(kind, spec, topic, grants.get((cluster, name or ""), []),
                                     usage.get(cluster, {}), limits.get(cluster, {})),
        }
    return out


def snapshot(session: Session, request: Mapping[str, Any]) -> dict[str, Any]:
    """The changes and impact of one request against now, for its approval's audit event."""
    return current_changes(session, [request])[request["id"]]


def with_changes(views: list[dict[str, Any]], computed: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Views with `changes` and `impact` (null when not computed for that request)."""
    return [{**view, "changes": computed.get(view["id"], {}).get("changes"),
             "impact": computed.get(view["id"], {}).get("impact")} for view in views]

"""The statements behind one request's page (GET /api/v1/requests/{id}) and its current -> new.

Composed once at import, run as Core: under load (bench P6) composing and ORM-loading seven
statements per read cost more CPU than PostgreSQL spent answering them. A request's history is one
statement over the chain and the inbox; what its changes are measured against is one statement per
table and one per cluster (its budgets and usage counters together).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, bindparam, false, literal, select, true, union_all

from topicdesk.adapters.request_store import USAGE, usage_of
from topicdesk.adapters.tables import (
    AccessGrantRow,
    AuditEventRow,
    AuditInboxRow,
    ClientQuotaRow,
    ClusterRow,
    RequestRow,
    TopicRow,
)

_EVENT = AuditEventRow.__table__  # type: ignore[attr-defined]
_INBOX = AuditInboxRow.__table__  # type: ignore[attr-defined]
_TOPIC = TopicRow.__table__  # type: ignore[attr-defined]
_GRANT = AccessGrantRow.__table__  # type: ignore[attr-defined]
_QUOTA = ClientQuotaRow.__table__  # type: ignore[attr-defined]
_CLUSTER = ClusterRow.__table__  # type: ignore[attr-defined]
_REQUEST = RequestRow.__table__  # type: ignore[attr-defined]

_REQUEST_BY_ID = select(_REQUEST).where(_REQUEST.c.id == bindparam("id"))

# Chained events in chain order, then those still in the inbox in arrival order. One statement
# reads one snapshot, so an event the sequencer moves meanwhile is in exactly one of the two.
_HISTORY = union_all(
    select(_EVENT.c.event_id, _EVENT.c.action, _EVENT.c.actor, _EVENT.c.occurred_at, _EVENT.c.data,
           literal(0).label("waiting"), _EVENT.c.seq.label("position"))
    .where(_EVENT.c.subject == bindparam("subject")),
    select(_INBOX.c.event_id, _INBOX.c.action, _INBOX.c.actor, _INBOX.c.occurred_at, _INBOX.c.data,
           literal(1).label("waiting"), _INBOX.c.id.label("position"))
    .where(_INBOX.c.subject == bindparam("subject")),
).order_by("waiting", "position")

_TOPICS = select(_TOPIC.c.cluster, _TOPIC.c.name, _TOPIC.c.partitions, _TOPIC.c.replication_factor, _TOPIC.c.config,
                 _TOPIC.c.description, _TOPIC.c.expected_bytes_per_second).where(
    _TOPIC.c.cluster.in_(bindparam("clusters", expanding=True)), _TOPIC.c.name.in_(bindparam("names", expanding=True)),
    _TOPIC.c.deleted == false())
_GRANTS = select(_GRANT.c.cluster, _GRANT.c.topic, _GRANT.c.principal, _GRANT.c.access, _GRANT.c.group_id,
                 _GRANT.c.granted_team).where(
    _GRANT.c.cluster.in_(bindparam("clusters", expanding=True)), _GRANT.c.topic.in_(bindparam("names", expanding=True)),
    _GRANT.c.deleted == false()).order_by(_GRANT.c.principal)
_QUOTAS = select(_QUOTA).where(
    _QUOTA.c.cluster.in_(bindparam("clusters", expanding=True)),
    _QUOTA.c.principal.in_(bindparam("principals", expanding=True)), _QUOTA.c.deleted == false())
_USAGE = USAGE.subquery("usage")
_BUDGETS = (select(_CLUSTER.c.partition_budget, _CLUSTER.c.disk_budget_bytes, _USAGE.c.used_partitions,
                   _USAGE.c.used_replicas, _USAGE.c.rated_topics)
            .select_from(_CLUSTER.join(_USAGE, true())).where(_CLUSTER.c.name == bindparam("cluster")))


def request_row(connection: Connection, request_id: str) -> Row[Any] | None:
    """Every column of one request (attribute access as on a RequestRow), or None."""
    return connection.execute(_REQUEST_BY_ID, {"id": request_id}).first()


def request_history(connection: Connection, subject: str) -> list[Any]:
    """The audit events of `subject` (rows with event_id, action, actor, occurred_at, data), chain first."""
    return list(connection.execute(_HISTORY, {"subject": subject}).all())


@dataclass(frozen=True)
class ChangeInputs:
    """What requests' changes and impact are measured against, as rows read now."""

    topics: dict[tuple[str, str], Any]  # (cluster, name) -> row of the live topic
    grants: dict[tuple[str, str], list[dict[str, Any]]]  # (cluster, topic) -> live grants
    quotas: dict[tuple[str, str], Any]  # (cluster, principal) -> row of the live quota
    usage: dict[str, dict[str, int]]  # cluster -> {partitions, replicas, disk_bytes}
    limits: dict[str, dict[str, int | None]]  # cluster -> {partition_budget, disk_budget_bytes}


def change_inputs(connection: Connection, clusters: Sequence[str], names: Sequence[str],
                  principals: Sequence[str]) -> ChangeInputs:
    keys = {"clusters": list(clusters), "names": list(names)}
    topics = {(t.cluster, t.name): t for t in connection.execute(_TOPICS, keys)} if names else {}
    grants: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for g in connection.execute(_GRANTS, keys) if names else ():
        grants.setdefault((g.cluster, g.topic), []).append(
            {"principal": g.principal, "access": g.access, "group": g.group_id or None, "team": g.granted_team})
    quotas = {(q.cluster, q.principal): q for q in connection.execute(
        _QUOTAS, {"clusters": list(clusters), "principals": list(principals)})} if principals else {}
    usage, limits = {}, {}
    for cluster in clusters:
        row = connection.execute(_BUDGETS, {"cluster": cluster}).first()
        if row is None:
            continue
        usage[cluster] = usage_of(connection, cluster, row)
        limits[cluster] = {"partition_budget": row.partition_budget, "disk_budget_bytes": row.disk_budget_bytes}
    return ChangeInputs(topics, grants, quotas, usage, limits)

"""What a desired-state apply reads and writes: the team's current state with each resource's
managed_by, the file's earlier requests, and the adoption markers."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, or_, select

from topicdesk.adapters.deletion_store import ACTIVE
from topicdesk.adapters.tables import AccessGrantRow, ClientQuotaRow, ClusterRow, RequestRow, TopicRow, utcnow
from topicdesk.domain.desired_file import QUOTA_KEYS, CurrentQuota, CurrentState, CurrentTopic, Grant
from topicdesk.domain.desired_result import REFUSED, WAITING, EarlierRequest, denial_reasons


def cluster_exists(session: Session, cluster: str) -> bool:
    return session.get(ClusterRow, cluster) is not None


def current_state(session: Session, cluster: str, team: str) -> CurrentState:
    """The team's live, active topics (when it owns the cluster), the live grants of its principals
    and on its topics, and its principals' quotas, each with its managed_by. A quarantined topic
    is not there: declaring it again is a create, which says to restore it."""
    owns_cluster = session.exec(select(ClusterRow.owner_team).where(ClusterRow.name == cluster)).first() == team
    topics: dict[str, CurrentTopic] = {}
    if owns_cluster:
        for row in session.exec(select(TopicRow).where(TopicRow.cluster == cluster, TopicRow.owner_team == team,
                                                       col(TopicRow.deleted).is_(False),
                                                       TopicRow.lifecycle == ACTIVE)).all():
            topics[row.name] = CurrentTopic(row.name, row.partitions, row.replication_factor, dict(row.config),
                                            row.description, row.managed_by)
    prefix = f"User:{team}."
    mine = col(AccessGrantRow.principal).startswith(prefix)
    on_mine = (col(AccessGrantRow.topic).in_(list(topics)) & (AccessGrantRow.pattern == "literal")
               if topics else None)
    grants: dict[Grant, str | None] = {
        (g.topic, g.principal, g.access, g.group_id, g.transactional_id, g.pattern): g.managed_by
        for g in session.exec(select(AccessGrantRow).where(
            AccessGrantRow.cluster == cluster, col(AccessGrantRow.deleted).is_(False),
            or_(mine, on_mine) if on_mine is not None else mine)).all()}
    quotas = {}
    for q in session.exec(select(ClientQuotaRow).where(ClientQuotaRow.cluster == cluster,
                                                       col(ClientQuotaRow.principal).startswith(prefix),
                                                       col(ClientQuotaRow.deleted).is_(False))).all():
        values = {k: getattr(q, k) for k in QUOTA_KEYS if getattr(q, k) is not None}
        if values:
            quotas[q.principal] = CurrentQuota(values, q.managed_by)
    return CurrentState(topics=topics, grants=grants, quotas=quotas)


def change_hash(document: dict[str, Any]) -> str:
    """The same change whatever its reason: kind, cluster and spec (services/requests.body_hash's form)."""
    body = {"kind": document["kind"], "cluster": document["cluster"], "spec": document["spec"]}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def earlier_requests(session: Session, cluster: str, source: str) -> dict[str, EarlierRequest]:
    """The latest request per change (by change_hash) that this source made on the cluster, when it
    is still waiting or was denied/rejected. A later applied, failed or cancelled one of the same
    change hides an older refusal, so that change may be asked again."""
    rows = session.exec(select(RequestRow).where(RequestRow.cluster == cluster, RequestRow.source == source)
                        .order_by(col(RequestRow.created_at).desc(), col(RequestRow.id).desc())).all()
    latest: dict[str, EarlierRequest | None] = {}
    for row in rows:
        digest = change_hash({"kind": row.kind, "cluster": row.cluster, "spec": row.spec})
        if digest in latest:
            continue
        if row.status in REFUSED:
            reasons = (denial_reasons(row.decision) if row.status == "denied" else
                       [{"id": "request.rejected", "message": row.rejection_reason or "rejected"}])
            latest[digest] = EarlierRequest(row.id, row.status, list(row.approvers), reasons)
        elif row.status in WAITING:
            latest[digest] = EarlierRequest(row.id, row.status, list(row.approvers), [])
        else:
            latest[digest] = None
    return {digest: earlier for digest, earlier in latest.items() if earlier is not None}


def adopt(session: Session, cluster: str, resource_type: str, target: tuple[str, ...], source: str) -> bool:
    """Mark one live resource as managed by `source`, only if nobody manages it (the plan saw it so;
    a concurrent adoption by another file wins). target: (topic name,), the grant tuple or (principal,)."""
    now = utcnow()
    statement: Any
    if resource_type == "topic":
        statement = update(TopicRow).where(col(TopicRow.cluster) == cluster, col(TopicRow.name) == target[0],
                                           col(TopicRow.deleted).is_(False), col(TopicRow.managed_by).is_(None))
    elif resource_type == "access_grant":
        topic, principal, access, group, transactional_id, pattern = target
        statement = update(AccessGrantRow).where(
            col(AccessGrantRow.cluster) == cluster, col(AccessGrantRow.topic) == topic,
            col(AccessGrantRow.principal) == principal, col(AccessGrantRow.access) == access,
            col(AccessGrantRow.group_id) == group, col(AccessGrantRow.transactional_id) == transactional_id,
            col(AccessGrantRow.pattern) == pattern, col(AccessGrantRow.deleted).is_(False),
            col(AccessGrantRow.managed_by).is_(None))
    else:
        statement = update(ClientQuotaRow).where(
            col(ClientQuotaRow.cluster) == cluster, col(ClientQuotaRow.principal) == target[0],
            col(ClientQuotaRow.deleted).is_(False), col(ClientQuotaRow.managed_by).is_(None))
    # The marker is bookkeeping: the generation does not move, the cluster has nothing to do.
    result = session.connection().execute(statement.values(managed_by=source, updated_at=now))
    return bool(result.rowcount)


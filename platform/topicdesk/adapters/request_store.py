"""Persistence of the request workflow: the statements a submission and an approval run.

services/requests.py reads as the workflow; the SQL it needs lives here. Statements on the hot path
(context, usage, desired-state writes) are SQLAlchemy Core, built once so their cache keys are
memoized, not ORM units of work: ORM object construction and flush bookkeeping cost several times
the SQL itself. Dialect branches (PostgreSQL / SQLite upserts) stay in this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import Boolean, and_, bindparam, case, delete, insert, literal_column, null, true
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ScalarSelect
from sqlmodel import Session, SQLModel, col, func, select

from topicdesk.adapters.submission_store import GRANT_UPSERTS, waits_for
from topicdesk.adapters.tables import (
    AccessGrantRow,
    ClientQuotaRow,
    ClusterRow,
    ClusterUsageRow,
    IdempotencyKeyRow,
    RequestResourceRow,
    RequestRow,
    TopicRow,
    table_of,
    utcnow,
)
from topicdesk.domain.errors import Conflict
from topicdesk.domain.expiry import grant_expires_at
from topicdesk.domain.model import team_of_principal

# --- Core statements on the hot path ------------------------------------------------------------------
# Submitting writes a request, its desired state, its links and audit events. Those go through
# SQLAlchemy Core with statements built once (their cache keys are memoized), not through ORM
# units of work: ORM object construction and flush bookkeeping cost several times the SQL itself.

_CLUSTERS, _TOPICS, _GRANTS = table_of(ClusterRow), table_of(TopicRow), table_of(AccessGrantRow)
_QUOTAS, _LINKS = table_of(ClientQuotaRow), table_of(RequestResourceRow)
_COUNTERS = table_of(ClusterUsageRow)
_INSERT_LINKS, _INSERT_TOPIC = insert(_LINKS), insert(_TOPICS)
_DELETE_TOPIC = delete(_TOPICS).where(_TOPICS.c.id == bindparam("topic_id"))


def _defaults(model: type[SQLModel]) -> tuple[tuple[str, Any, Callable[[], Any] | None], ...]:
    return tuple((name, field.default, field.default_factory)  # type: ignore[misc]
                 for name, field in model.model_fields.items())


_FIELD_DEFAULTS: dict[type[SQLModel], tuple[tuple[str, Any, Callable[[], Any] | None], ...]] = {
    model: _defaults(model) for model in (TopicRow, AccessGrantRow, ClientQuotaRow)}


def row_values(model: type[SQLModel], **values: Any) -> dict[str, Any]:
    """Every column of a new row, with the model's defaults where `values` says nothing."""
    for name, default, factory in _FIELD_DEFAULTS[model]:
        if name not in values:
            if factory is not None:
                values[name] = factory()
            elif default is PydanticUndefined:
                raise TypeError(f"{model.__name__}.{name} is required")
            else:
                values[name] = default
    return values


def _topic_id(deleted: bool) -> ScalarSelect[Any]:
    return (core_select(_TOPICS.c.id).where(_TOPICS.c.cluster == bindparam("cluster"),
                                            _TOPICS.c.name == bindparam("topic"), _TOPICS.c.deleted.is_(deleted))
            .scalar_subquery())


# A cluster's usage: partitions, partition replicas, and how many topics declare an expected
# throughput (only those count against the disk budget; they are read one by one, and only when
# there are any). Triggers on `topic` keep the counters (ClusterUsageRow); a cluster's up to 16
# rows are summed: an index range scan, however many topics the cluster has.
_LIVE_TOPICS = and_(_TOPICS.c.cluster == bindparam("cluster"), _TOPICS.c.deleted.is_(False))
USAGE = core_select(
    func.coalesce(func.sum(_COUNTERS.c.partitions), 0).label("used_partitions"),
    func.coalesce(func.sum(_COUNTERS.c.replicas), 0).label("used_replicas"),
    func.coalesce(func.sum(_COUNTERS.c.rated_topics), 0).label("rated_topics"),
).where(_COUNTERS.c.cluster == bindparam("cluster"))
_RATED_TOPICS = core_select(_TOPICS.c.config, _TOPICS.c.expected_bytes_per_second, _TOPICS.c.replication_factor
                            ).where(_LIVE_TOPICS, _TOPICS.c.expected_bytes_per_second.is_not(None))
# One round trip for what a submission needs to know before policy runs: the cluster, its usage and
# the topic the request names (live, or the tombstone a topic.create replaces). No row: no cluster.
_USAGE_TABLE = USAGE.subquery("usage")
_CONTEXT = (
    core_select(
        _CLUSTERS.c.name, _CLUSTERS.c.environment, _CLUSTERS.c.owner_team, _CLUSTERS.c.tags,
        _CLUSTERS.c.broker_count, _CLUSTERS.c.partition_budget, _CLUSTERS.c.disk_budget_bytes,
        _USAGE_TABLE.c.used_partitions, _USAGE_TABLE.c.used_replicas, _USAGE_TABLE.c.rated_topics,
        _topic_id(False).label("live_topic_id"), _topic_id(True).label("tombstone_id"))
    .select_from(_CLUSTERS.join(_USAGE_TABLE, true()))
    .where(_CLUSTERS.c.name == bindparam("cluster"))
)


def usage_of(connection: Connection, cluster: str, totals: Any) -> dict[str, int]:
    """Usage from a row with used_partitions, used_replicas and rated_topics."""
    disk = 0
    if totals.rated_topics:
        disk = disk_bytes(connection.execute(_RATED_TOPICS, {"cluster": cluster}).all())
    return {"partitions": int(totals.used_partitions), "replicas": int(totals.used_replicas), "disk_bytes": disk}


def live_topic(session: Session, cluster: str, name: str) -> TopicRow | None:
    return session.exec(select(TopicRow).where(TopicRow.cluster == cluster, TopicRow.name == name,
                                               col(TopicRow.deleted).is_(False))).first()


def disk_bytes(topics: Sequence[tuple[Mapping[str, str], int | None, int]]) -> int:
    """Expected bytes/s x retention x RF, summed over (config, expected_bytes_per_second, RF)."""
    disk = 0
    for config, rate, rf in topics:
        retention_ms = int(config.get("retention.ms", "604800000"))
        if rate and retention_ms > 0:
            disk += rate * (retention_ms // 1000) * rf
    return disk


def cluster_usage(session: Session, cluster: str) -> dict[str, int]:
    """Desired partitions, partition replicas and disk (expected bytes/s x retention x RF) of a cluster."""
    connection = session.connection()
    return usage_of(connection, cluster, connection.execute(USAGE, {"cluster": cluster}).one())


# --- desired state ----------------------------------------------------------------------------------

def bump(row: Any) -> None:
    row.generation += 1
    row.updated_at = utcnow()
    row.last_error = None
    row.last_error_reason = None
    row.attempts = 0
    row.not_before = None


Link = dict[str, Any]  # a request_resource row without its request_id


def link(kind: str, resource_id: str, generation: int) -> Link:
    return {"resource_kind": kind, "resource_id": resource_id, "generation": generation}


def insert_links(connection: Connection, request_id: str, links: Sequence[Link]) -> None:
    if links:
        connection.execute(_INSERT_LINKS, [{"request_id": request_id, **link} for link in links])


def grant_rows(cluster: str, topic: str, pattern: str, wanted: Sequence[tuple[str, str, str, str]],
               expires_at: datetime | None = None, managed_by: str | None = None) -> list[dict[str, Any]]:
    """New access_grant rows for each (principal, access, group, transactional_id) on one topic.

    Named twice: once. Sorted, so concurrent upserts lock existing rows in the same order.
    """
    now = utcnow()
    return [row_values(AccessGrantRow, cluster=cluster, topic=topic, pattern=pattern, principal=principal,
                        access=access, group_id=group, transactional_id=transactional_id,
                        granted_team=team_of_principal(principal), expires_at=expires_at, managed_by=managed_by,
                        updated_at=now, created_at=now)
            for principal, access, group, transactional_id in sorted(set(wanted))]


def upsert_grants(connection: Connection, cluster: str, topic: str, pattern: str,
                  wanted: Sequence[tuple[str, str, str, str]], expires_at: datetime | None = None,
                  managed_by: str | None = None) -> list[Link]:
    """Grant each (principal, access, group, transactional_id) on one topic, in one statement.

    A missing grant is inserted, a deleted one comes back with a new generation, a live one only
    takes the new expires_at (a renewal: its ACLs stay, nothing to wait for). RETURNING gives the
    rows written; those with a generation still to apply are linked.
    """
    if not wanted:
        return []
    statement = GRANT_UPSERTS[connection.dialect.name]
    return [link("access_grant", row.id, row.generation)
            for row in connection.execute(statement, grant_rows(cluster, topic, pattern, wanted, expires_at,
                                                                managed_by))
            if waits_for(row)]


def matching_grants(session: Session, cluster: str, spec: dict[str, Any]) -> list[AccessGrantRow]:
    grants = session.exec(select(AccessGrantRow).where(
        AccessGrantRow.cluster == cluster, AccessGrantRow.topic == spec["topic"],
        AccessGrantRow.pattern == spec.get("pattern", "literal"), AccessGrantRow.principal == spec["principal"],
        AccessGrantRow.access == spec["access"], col(AccessGrantRow.deleted).is_(False))).all()
    return [g for g in grants
            if ("group" not in spec or g.group_id == spec["group"])
            and ("transactional_id" not in spec or g.transactional_id == spec["transactional_id"])]


LOOK_UP = object()  # write_desired_state: find a topic.create's tombstone itself


def new_topic(cluster: str, spec: dict[str, Any], owner_team: str, managed_by: str | None = None
              ) -> tuple[dict[str, Any], list[tuple[str, str, str, str]]]:
    """A topic.create's topic row and the grants it asks for (principal, access, group, transactional id)."""
    rate = (spec.get("expected_throughput") or {}).get("bytes_per_second")
    config = spec.get("config") or {}
    now = utcnow()
    topic = row_values(TopicRow, cluster=cluster, name=spec["name"], owner_team=owner_team,
                        partitions=spec["partitions"], replication_factor=spec["replication_factor"],
                        config=dict(config), description=spec.get("description", ""),
                        managed_config_keys=sorted(config), data_contract=spec.get("data_contract"),
                        expected_bytes_per_second=rate, managed_by=managed_by, updated_at=now, created_at=now)
    grants = ([(principal, "produce", "", "") for principal in spec.get("producers") or []]
              + [(consumer["principal"], "consume", consumer.get("group", ""), "")
                 for consumer in spec.get("consumers") or []])
    return topic, grants


def write_desired_state(session: Session, kind: str, cluster: str, spec: dict[str, Any], owner_team: str,
                        *, tombstone: Any = LOOK_UP, managed_by: str | None = None) -> list[Link]:
    """Write an approved request's desired-state rows with new generations (the caller's transaction).

    Returns the links (resource kind, id, generation) the request must see observed before it is
    applied; none means nothing changed. A topic.delete is not written here: it quarantines the
    topic (adapters/deletion_store.py). `tombstone` is the id of the deleted topic row a
    topic.create replaces (None: there is none), when the caller already looked. `managed_by` is the
    desired-state file that asked (None: portal/API): what it writes becomes managed by that file.
    """
    connection = session.connection()
    if kind == "topic.create":
        topic, grants = new_topic(cluster, spec, owner_team, managed_by)
        # A topic deleted earlier keeps a tombstone until the cluster confirms; a re-create replaces it.
        if tombstone is LOOK_UP:
            tombstone = connection.execute(core_select(_TOPICS.c.id).where(
                _TOPICS.c.cluster == cluster, _TOPICS.c.name == spec["name"])).scalar()
        if tombstone is not None:
            connection.execute(_DELETE_TOPIC, {"topic_id": tombstone})
        connection.execute(_INSERT_TOPIC, topic)
        return [link("topic", topic["id"], topic["generation"]),
                *upsert_grants(connection, cluster, spec["name"], "literal", grants, managed_by=managed_by)]
    links: list[Link] = []
    if kind == "topic.update":
        current = live_topic(session, cluster, spec["name"])
        if current is None:
            raise Conflict(f"topic {spec['name']!r} no longer exists")
        topic_row = current
        if "partitions" in spec:
            topic_row.partitions = spec["partitions"]
        if "config" in spec:
            merged = dict(topic_row.config)
            for key, value in spec["config"].items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            topic_row.config = merged
            topic_row.managed_config_keys = sorted(set(topic_row.managed_config_keys) | set(spec["config"]))
        if "description" in spec:
            topic_row.description = spec["description"]
        if "expected_throughput" in spec:
            topic_row.expected_bytes_per_second = (spec["expected_throughput"] or {}).get("bytes_per_second")
        if managed_by is not None:
            topic_row.managed_by = managed_by  # a file adopting the topic, or changing its own
        bump(topic_row)
        session.add(topic_row)
        links.append(link("topic", topic_row.id, topic_row.generation))
    elif kind == "access.grant":
        # A duration starts now, at approval; a fixed end that passed while the request waited is refused.
        expires_at = grant_expires_at(spec, utcnow())
        if expires_at is not None and expires_at <= utcnow():
            raise Conflict(f"this request asked for access until {spec.get('expires_at')}, which has passed; "
                           "reject it and ask again with a later expires_at or a duration")
        links = upsert_grants(connection, cluster, spec["topic"], spec.get("pattern", "literal"),
                              [(spec["principal"], spec["access"], spec.get("group", ""),
                                spec.get("transactional_id", ""))], expires_at, managed_by)
    elif kind == "access.revoke":
        for grant in matching_grants(session, cluster, spec):
            grant.deleted = True
            bump(grant)
            session.add(grant)
            links.append(link("access_grant", grant.id, grant.generation))
    elif kind == "quota.set":
        links.append(set_quota(connection, cluster, spec, owner_team, managed_by))
    return links


_QUOTA_KEYS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage")


def _quota_upsert(dialect: Any) -> Any:
    """Set a principal's quotas in one statement: insert, or update the row with a new generation.

    Quotas the spec does not name keep their value; null removes one (schemas/quota.set.json); a
    row left with no quota is a tombstone. `named_<key>` says whether the spec names that key.
    """
    upsert = dialect.insert(_QUOTAS)
    kept = {key: case((bindparam(f"named_{key}", type_=Boolean), upsert.excluded[key]), else_=_QUOTAS.c[key])
            for key in _QUOTA_KEYS}
    return upsert.on_conflict_do_update(
        index_elements=[_QUOTAS.c.cluster, _QUOTAS.c.principal],
        # A removed quota set again is a new one (the asker's marker); a live one keeps its file's
        # marker unless a file sets it.
        set_={**kept, "managed_by": case((_QUOTAS.c.deleted.is_(True), upsert.excluded.managed_by),
                                         else_=func.coalesce(upsert.excluded.managed_by, _QUOTAS.c.managed_by)),
              "deleted": and_(*(value.is_(None) for value in kept.values())),
              "generation": _QUOTAS.c.generation + literal_column("1"), "updated_at": upsert.excluded.updated_at,
              "last_error": null(), "last_error_reason": null(), "attempts": literal_column("0"),
              "not_before": null()},
    ).returning(_QUOTAS.c.id, _QUOTAS.c.generation)


_QUOTA_UPSERTS = {"postgresql": _quota_upsert(postgresql), "sqlite": _quota_upsert(sqlite)}


def set_quota(connection: Connection, cluster: str, spec: dict[str, Any], owner_team: str,
              managed_by: str | None = None) -> Link:
    rates = {key: spec.get(key) for key in _QUOTA_KEYS}
    now = utcnow()
    row = row_values(ClientQuotaRow, cluster=cluster, principal=spec["principal"], owner_team=owner_team,
                      deleted=all(value is None for value in rates.values()), managed_by=managed_by,
                      updated_at=now, created_at=now, **rates)
    stored = connection.execute(_QUOTA_UPSERTS[connection.dialect.name],
                                {**row, **{f"named_{key}": key in spec for key in _QUOTA_KEYS}}).one()
    return link("client_quota", stored.id, stored.generation)


# --- lookups the workflow makes -------------------------------------------------------------------

@dataclass(frozen=True)
class SubmissionContext:
    """The cluster a request names, its usage, and the topic row it touches (live or tombstone)."""

    name: str
    environment: str
    owner_team: str
    tags: list[str]
    broker_count: int
    partition_budget: int
    disk_budget_bytes: int
    usage: dict[str, int]
    live_topic_id: str | None
    tombstone_id: str | None


def load_context(session: Session, cluster: str, topic: str | None) -> SubmissionContext | None:
    """One round trip for what a submission needs before policy runs; None: no such cluster."""
    connection = session.connection()
    first = connection.execute(_CONTEXT, {"cluster": cluster, "topic": topic}).first()
    if first is None:
        return None
    return SubmissionContext(first.name, first.environment, first.owner_team, first.tags, first.broker_count,
                             first.partition_budget, first.disk_budget_bytes, usage_of(connection, cluster, first),
                             first.live_topic_id, first.tombstone_id)


def topic_by_id(session: Session, topic_id: str | None) -> TopicRow | None:
    return session.get(TopicRow, topic_id) if topic_id is not None else None


def live_quota(session: Session, cluster: str, principal: str) -> ClientQuotaRow | None:
    return session.exec(select(ClientQuotaRow).where(ClientQuotaRow.cluster == cluster,
                                                     ClientQuotaRow.principal == principal,
                                                     col(ClientQuotaRow.deleted).is_(False))).first()


def live_grants_on(session: Session, cluster: str, topic: str) -> list[AccessGrantRow]:
    return list(session.exec(select(AccessGrantRow).where(
        AccessGrantRow.cluster == cluster, AccessGrantRow.topic == topic,
        col(AccessGrantRow.deleted).is_(False))).all())


def stored_response(session: Session, principal: str, key: str) -> IdempotencyKeyRow | None:
    return session.get(IdempotencyKeyRow, (principal, key))


def lock_request(session: Session, request_id: str) -> RequestRow | None:
    return session.exec(select(RequestRow).where(RequestRow.id == request_id).with_for_update()).first()

"""Desired state as the domain sees it: domain values from the rows that hold it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from topicdesk.adapters.tables import RESOURCE_TABLES, AccessGrantRow, ClientQuotaRow, ServiceAccountRow, TopicRow
from topicdesk.domain.model import Access, AccessGrant, ClientQuota, DesiredTopic, PatternType, ServiceAccount
from topicdesk.domain.plan import DesiredState


def grant_value(row: AccessGrantRow) -> AccessGrant:
    return AccessGrant(principal=row.principal, topic=row.topic, access=Access(row.access),
                       pattern=PatternType(row.pattern), group=row.group_id or None,
                       group_pattern=PatternType(row.group_pattern), transactional_id=row.transactional_id or None)


def topic_value(row: TopicRow) -> DesiredTopic:
    return DesiredTopic(name=row.name, partitions=row.partitions, replication_factor=row.replication_factor,
                        config=dict(row.config))


def quota_value(row: ClientQuotaRow) -> ClientQuota:
    return ClientQuota(principal=row.principal, producer_byte_rate=row.producer_byte_rate,
                       consumer_byte_rate=row.consumer_byte_rate, request_percentage=row.request_percentage)


def resource_subject(kind: str, row: Any) -> str:
    """The audit subject of a managed resource row."""
    if kind == "topic":
        return f"topic:{row.cluster}/{row.name}"
    if kind == "access_grant":
        # A prefixed group reads as its prefix and `*`, the way Kafka's tools show prefixes.
        group = f"/group={row.group_id}{'*' if row.group_pattern == 'prefixed' else ''}" if row.group_id else ""
        return f"access_grant:{row.cluster}/{row.topic}/{row.principal}/{row.access}{group}"
    return f"{kind}:{row.cluster}/{row.principal}"


def resource_team(kind: str, row: Any) -> str:
    """The team a managed resource row belongs to: the grantee's for grants, else the owner."""
    if kind == "access_grant":
        return str(row.granted_team)
    return str(row.owner_team)


def live_rows(session: Session, table: Any, cluster: str) -> list[Any]:
    return list(session.exec(select(table).where(table.cluster == cluster, col(table.deleted).is_(False))).all())


@dataclass(frozen=True)
class LiveRows:
    """Every live (not tombstoned) managed row of one cluster."""

    topics: list[TopicRow]
    grants: list[AccessGrantRow]
    quotas: list[ClientQuotaRow]
    accounts: list[ServiceAccountRow]

    def desired(self) -> DesiredState:
        return DesiredState(
            topics=[topic_value(r) for r in self.topics],
            grants=sorted({grant_value(r) for r in self.grants},
                          key=lambda g: (g.topic, g.principal, g.access.value, g.group or "")),
            quotas=[quota_value(r) for r in self.quotas],
            service_accounts=[ServiceAccount(r.principal) for r in self.accounts],
            managed_config_keys={r.name: frozenset(r.managed_config_keys) | frozenset(r.config) for r in self.topics},
        )


def load_live_rows(session: Session, cluster: str) -> LiveRows:
    return LiveRows(live_rows(session, TopicRow, cluster), live_rows(session, AccessGrantRow, cluster),
                    live_rows(session, ClientQuotaRow, cluster), live_rows(session, ServiceAccountRow, cluster))


def load_rows(session: Session, keys: Iterable[tuple[str, str]], chunk: int = 900) -> dict[tuple[str, str], Any]:
    """Fresh copies of (kind, id) rows, one IN query per table and chunk instead of a get per row."""
    ids_by_kind: dict[str, list[str]] = {}
    for kind, row_id in keys:
        ids_by_kind.setdefault(kind, []).append(row_id)
    found: dict[tuple[str, str], Any] = {}
    for kind, ids in ids_by_kind.items():
        table = RESOURCE_TABLES[kind]
        for start in range(0, len(ids), chunk):
            for row in session.exec(select(table).where(col(table.id).in_(ids[start:start + chunk]))).all():
                found[(kind, row.id)] = row
    return found

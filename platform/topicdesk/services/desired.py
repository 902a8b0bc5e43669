"""Desired state as the domain sees it: domain values from the rows that hold it."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from topicdesk.adapters.tables import AccessGrantRow, ClientQuotaRow, ServiceAccountRow, TopicRow
from topicdesk.domain.model import Access, AccessGrant, ClientQuota, DesiredTopic, PatternType, ServiceAccount
from topicdesk.domain.plan import DesiredState


def grant_value(row: AccessGrantRow) -> AccessGrant:
    return AccessGrant(principal=row.principal, topic=row.topic, access=Access(row.access),
                       pattern=PatternType(row.pattern), group=row.group_id or None,
                       transactional_id=row.transactional_id or None)


def topic_value(row: TopicRow) -> DesiredTopic:
    return DesiredTopic(name=row.name, partitions=row.partitions, replication_factor=row.replication_factor,
                        config=dict(row.config))


def quota_value(row: ClientQuotaRow) -> ClientQuota:
    return ClientQuota(principal=row.principal, producer_byte_rate=row.producer_byte_rate,
                       consumer_byte_rate=row.consumer_byte_rate, request_percentage=row.request_percentage)



def live_rows(session: Session, table: Any, cluster: str) -> list[Any]:
    return list(session.exec(select(table).where(table.cluster == cluster, col(table.deleted).is_(False))).all())


def live_desired_state(session: Session, cluster: str) -> DesiredState:
    topics = live_rows(session, TopicRow, cluster)
    return DesiredState(
        topics=[topic_value(r) for r in topics],
        grants=sorted({grant_value(r) for r in live_rows(session, AccessGrantRow, cluster)},
                      key=lambda g: (g.topic, g.principal, g.access.value, g.group or "")),
        quotas=[quota_value(r) for r in live_rows(session, ClientQuotaRow, cluster)],
        service_accounts=[ServiceAccount(r.principal) for r in live_rows(session, ServiceAccountRow, cluster)],
        managed_config_keys={r.name: frozenset(r.managed_config_keys) | frozenset(r.config) for r in topics},
    )

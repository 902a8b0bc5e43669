"""Drift scan (managed resources vs. the cluster, plus unmanaged topics and ACLs) and import.

A scan is a handful of bulk Admin calls per cluster whatever the number of topics: one describe
of all topics, one of their configs, one of all ACLs, one of quotas, one of SCRAM users.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import select

from topicdesk.adapters.audit_log import record_event
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import (
    ClusterRow,
    DriftReportRow,
    TeamRow,
    TopicRow,
    utcnow,
)
from topicdesk.domain.errors import Conflict, FieldError, NotFound, ValidationFailed
from topicdesk.domain.plan import drift, unmanaged
from topicdesk.services.cluster_port import ClusterPort
from topicdesk.services.desired import live_desired_state, live_rows
from topicdesk.services.observations import store_scan_observations


@dataclass(frozen=True)
class DriftScan:
    cluster: str
    items: list[dict[str, object]]
    unmanaged_topics: list[str]
    unmanaged_acls: list[dict[str, str]]


def scan_cluster(engine: Engine, cluster: str, port: ClusterPort) -> DriftScan:
    with unit_of_work(engine) as session:
        if session.get(ClusterRow, cluster) is None:
            raise NotFound(f"no cluster named {cluster!r}")
        desired = live_desired_state(session, cluster)
    observed = port.describe(None)
    scanned_at = utcnow()
    items = [item.as_dict() for item in drift(desired, observed)]
    extra = unmanaged(desired, observed)
    result = DriftScan(cluster, items, [t.name for t in extra.topics], [b.as_dict() for b in extra.acls])
    with unit_of_work(engine) as session:
        row = session.get(DriftReportRow, cluster) or DriftReportRow(cluster=cluster)
        row.scanned_at = scanned_at
        row.items = result.items
        row.unmanaged_topics = result.unmanaged_topics
        row.unmanaged_acls = result.unmanaged_acls
        session.add(row)
        store_scan_observations(session, cluster, [t.name for t in desired.topics], observed, scanned_at)
    return result


def import_topics(engine: Engine, cluster: str, names: list[str], owner_team: str, port: ClusterPort,
                  actor: str) -> list[str]:
    """Adopt existing topics: desired state is taken from the cluster as it is, so nothing changes."""
    observed = port.describe(names)
    missing = [n for n in names if n not in observed.topics]
    if missing:
        raise ValidationFailed("some topics do not exist on the cluster",
                               errors=[FieldError("/names", f"no topic {n!r} on cluster {cluster!r}") for n in missing])
    with unit_of_work(engine) as session:
        if session.get(ClusterRow, cluster) is None:
            raise NotFound(f"no cluster named {cluster!r}")
        if session.get(TeamRow, owner_team) is None:
            raise NotFound(f"no team named {owner_team!r}")
        managed = {r.name for r in live_rows(session, TopicRow, cluster)}
        already = sorted(set(names) & managed)
        if already:
            raise Conflict(f"already managed: {', '.join(already)}")
        for name in names:
            topic = observed.topics[name]
            old = session.exec(select(TopicRow).where(TopicRow.cluster == cluster, TopicRow.name == name)).first()
            if old is not None:
                session.delete(old)
                session.flush()
            session.add(TopicRow(cluster=cluster, name=name, owner_team=owner_team, partitions=topic.partitions,
                                 replication_factor=topic.replication_factor, config=dict(topic.config),
                                 managed_config_keys=sorted(topic.config), description="imported",
                                 generation=1, observed_generation=1, applied_at=utcnow()))
            record_event(session, actor=actor, action="topic:import", subject=f"topic:{cluster}/{name}",
                         team=owner_team, data={"partitions": topic.partitions,
                                                "replication_factor": topic.replication_factor,
                                                "config": dict(topic.config)})
    return sorted(names)


"""Gauges read from the database at scrape time, exported by the web server's /metrics.

Several server replicas export the same numbers (they read one database): rules and dashboards
take max() over instances. A database that cannot be read gives `topicdesk_database_up 0` and
none of the other gauges, never a failed scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from topicdesk.adapters.metrics_store import Snapshot, read_snapshot
from topicdesk.adapters.tables import utcnow

log = logging.getLogger(__name__)

REQUEST_STATUSES = ("pending_approval", "denied", "rejected", "cancelled", "approved", "applying", "applied",
                    "failed")


class DatabaseCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("topicdesk_database_up", "Whether the scrape could read the database (1) or not (0).")
        try:
            snap = read_snapshot(self.engine)
        except SQLAlchemyError as exc:
            log.warning("metrics: database unreadable (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families(snap)


def families(snap: Snapshot) -> Iterator[GaugeMetricFamily]:
    now = utcnow()
    requests = GaugeMetricFamily("topicdesk_requests", "Requests by kind and current status.",
                                 labels=["kind", "status"])
    kinds = sorted({kind for kind, _ in snap.requests})
    for kind in kinds:
        for status in REQUEST_STATUSES:
            requests.add_metric([kind, status], snap.requests.get((kind, status), 0))
    yield requests
    waiting = GaugeMetricFamily("topicdesk_approvals_waiting", "Requests waiting for an approver, by kind.",
                                labels=["kind"])
    for kind in kinds:
        waiting.add_metric([kind], snap.approvals_waiting.get(kind, 0))
    yield waiting
    oldest = snap.oldest_approval_at
    yield GaugeMetricFamily("topicdesk_approvals_oldest_age_seconds",
                            "Age of the oldest request waiting for an approver (0 when none waits).",
                            value=(now - oldest).total_seconds() if oldest else 0.0)
    resources = GaugeMetricFamily(
        "topicdesk_resources", "Managed resources by cluster, kind and state: pending (a generation waits for "
        "the reconciler) or failed (parked as a permanent failure).", labels=["cluster", "kind", "state"])
    for (cluster, kind, state), count in sorted(snap.resources.items()):
        resources.add_metric([cluster, kind, state], count)
    yield resources
    drift = GaugeMetricFamily("topicdesk_drift_items", "Open, not ignored drift items by cluster and kind.",
                              labels=["cluster", "kind"])
    total = GaugeMetricFamily("topicdesk_drift_differences", "Open, not ignored drift items per cluster.",
                              labels=["cluster"])
    per_cluster = dict.fromkeys(snap.clusters, 0)
    for (cluster, kind), count in sorted(snap.drift_items.items()):
        drift.add_metric([cluster, kind], count)
        per_cluster[cluster] = per_cluster.get(cluster, 0) + count
    for cluster, count in sorted(per_cluster.items()):
        total.add_metric([cluster], count)
    yield drift
    yield total
    scanned = GaugeMetricFamily("topicdesk_drift_last_scan_timestamp_seconds",
                                "When the cluster was last scanned for drift (Unix time).", labels=["cluster"])
    for cluster, at in sorted(snap.last_scan_at.items()):
        scanned.add_metric([cluster], at.timestamp())
    yield scanned
    held = GaugeMetricFamily("topicdesk_cluster_lease_held",
                             "Whether a reconciler holds the cluster's lease (1) or nobody does (0).",
                             labels=["cluster"])
    holder = GaugeMetricFamily("topicdesk_cluster_lease_holder",
                               "The reconciler holding the cluster's lease (info: always 1).",
                               labels=["cluster", "holder"])
    for cluster in snap.clusters:
        held.add_metric([cluster], 1 if cluster in snap.lease_holders else 0)
    for cluster, who in sorted(snap.lease_holders.items()):
        holder.add_metric([cluster, who], 1)
    yield held
    yield holder
    yield GaugeMetricFamily("topicdesk_audit_events_unchained",
                            "Audit events committed but not yet chained by the sequencer.",
                            value=snap.audit_unchained)
    unchained = snap.oldest_unchained_at
    yield GaugeMetricFamily("topicdesk_audit_oldest_unchained_age_seconds",
                            "Age of the oldest audit event waiting to be chained (0 when none waits).",
                            value=(now - unchained).total_seconds() if unchained else 0.0)

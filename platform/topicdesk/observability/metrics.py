"""Every Prometheus series Topicdesk exports, and the functions that move them.

Counters and histograms move at transitions, in the process where the transition happens: HTTP
and decisions in the web workers (summed over workers by prometheus-client's multiprocess mode,
see `exposition`), reconcile passes, settlements and notification deliveries in the reconciler
(its own port). Gauges of state that lives in the database (requests by status, approvals waiting,
drift, leases, the audit inbox) are read at scrape time by observability/collector.py instead, so
they stay right across processes and restarts.

Labels are bounded: kinds, statuses, outcomes, change kinds, route templates and registered
cluster names; never topic names, request ids or principals.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlmodel import Session

from topicdesk.adapters.db import AFTER_COMMIT

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. Requests wait minutes to days for a person; the reconciler takes seconds.
HUMAN_BUCKETS = (1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0, 3 * 86400.0,
                 7 * 86400.0)
APPLY_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0,
                 7 * 86400.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PASS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

HTTP_REQUESTS = Counter("topicdesk_http_requests_total", "HTTP requests answered, by route template and status.",
                        ["method", "route", "status"])
HTTP_DURATION = Histogram("topicdesk_http_request_duration_seconds",
                          "Time to answer an HTTP request, by route template and status.",
                          ["method", "route", "status"], buckets=HTTP_BUCKETS)
REQUEST_DECISION = Histogram(
    "topicdesk_request_decision_seconds",
    "From submission to decision (auto_approved and denied at submission; approved or rejected by a person).",
    ["kind", "outcome"], buckets=HUMAN_BUCKETS)
REQUEST_SETTLED = Histogram("topicdesk_request_settle_seconds",
                            "From submission to the request's end state on the cluster (applied or failed).",
                            ["kind", "status"], buckets=APPLY_BUCKETS)
RECONCILE_PASSES = Counter("topicdesk_reconcile_passes_total",
                           "Reconcile passes over a cluster this process held; result is ok or error.",
                           ["cluster", "result"])
RECONCILE_DURATION = Histogram("topicdesk_reconcile_pass_duration_seconds", "Duration of one reconcile pass.",
                               ["cluster"], buckets=PASS_BUCKETS)
# max: a timestamp; under multiprocess mode the newest process's value wins.
RECONCILE_LAST_PASS = Gauge("topicdesk_reconcile_last_pass_timestamp_seconds",
                            "When the last reconcile pass over the cluster ended (Unix time).", ["cluster"],
                            multiprocess_mode="max")
RECONCILE_CHANGES = Counter("topicdesk_reconcile_changes_total",
                            "Changes sent to a cluster, by change kind and result (applied, transient, permanent).",
                            ["cluster", "change", "result"])
RECONCILE_RESOURCES = Counter(
    "topicdesk_reconcile_resources_total",
    "Resources a pass recorded, by resource kind and result: applied (read back), retrying (backing off), "
    "failed (parked as a permanent failure).", ["cluster", "kind", "result"])
RECONCILE_RETRIES = Counter("topicdesk_reconcile_retries_total",
                            "Resources left to be retried after back-off (a transient failure).", ["cluster", "kind"])
RECONCILE_PARKED = Counter("topicdesk_reconcile_resources_parked_total",
                           "Resource generations parked as a permanent failure.", ["cluster", "kind"])
GRANTS_EXPIRED = Counter("topicdesk_reconcile_grants_expired_total", "Access grants whose expiry came.",
                         ["cluster"])
NOTIFICATION_DELIVERIES = Counter("topicdesk_notification_deliveries_total",
                                  "Notification delivery attempts, by result.", ["result"])

# The results of a delivery attempt (services/notify_worker.py): delivered (2xx); failed, timeout,
# unreachable, refused (retried later); and `disabled` when an endpoint kept failing and was turned off.
# Anything else is counted as `other`, so the label stays bounded.
DELIVERY_RESULTS = ("delivered", "failed", "timeout", "unreachable", "refused", "disabled")
RESOURCE_KINDS = ("topic", "access_grant", "client_quota", "service_account")
RESOURCE_RESULTS = ("applied", "retrying", "failed")

for _result in DELIVERY_RESULTS:
    # Zero before the first delivery, so rate() and the alert rules see the series from the start.
    NOTIFICATION_DELIVERIES.labels(_result)


def record_delivery(result: str) -> None:
    """One notification delivery attempt (called by the delivery worker)."""
    NOTIFICATION_DELIVERIES.labels(result if result in DELIVERY_RESULTS else "other").inc()


def record_http(method: str, route: str, status: int, seconds: float) -> None:
    labels = (method, route, str(status))
    HTTP_REQUESTS.labels(*labels).inc()
    HTTP_DURATION.labels(*labels).observe(seconds)


def record_decision(kind: str, outcome: str, seconds: float) -> None:
    REQUEST_DECISION.labels(kind, outcome).observe(max(seconds, 0.0))


def record_settled(kind: str, status: str, seconds: float) -> None:
    REQUEST_SETTLED.labels(kind, status).observe(max(seconds, 0.0))


def record_pass(cluster: str, *, seconds: float, ended_at: float, error: bool,
                resources: Iterable[tuple[str, str, int]] = (), changes: Iterable[tuple[str, str, int]] = (),
                expired: int = 0) -> None:
    """One reconcile pass: `resources` as (resource kind, result, count), `changes` as (change kind,
    result, count)."""
    RECONCILE_PASSES.labels(cluster, "error" if error else "ok").inc()
    RECONCILE_DURATION.labels(cluster).observe(seconds)
    RECONCILE_LAST_PASS.labels(cluster).set(ended_at)
    # Zero series per cluster from its first pass, so increase() sees the first failure.
    GRANTS_EXPIRED.labels(cluster)
    for kind in RESOURCE_KINDS:
        RECONCILE_RETRIES.labels(cluster, kind)
        RECONCILE_PARKED.labels(cluster, kind)
    for kind, result, count in resources:
        RECONCILE_RESOURCES.labels(cluster, kind, result).inc(count)
        if result == "retrying":
            RECONCILE_RETRIES.labels(cluster, kind).inc(count)
        elif result == "failed":
            RECONCILE_PARKED.labels(cluster, kind).inc(count)
    for change, result, count in changes:
        RECONCILE_CHANGES.labels(cluster, change, result).inc(count)
    if expired:
        GRANTS_EXPIRED.labels(cluster).inc(expired)


def after_commit(session: Session, observe: Callable[[], None]) -> None:
    """Run `observe` once the unit of work has committed: a rolled-back transition is not counted."""
    hooks = session.info.setdefault(AFTER_COMMIT, {})
    pending: list[Callable[[], None]] | None = session.info.get("topicdesk.metrics")
    if pending is None:
        pending = session.info["topicdesk.metrics"] = []

        def flush() -> None:
            for each in session.info.pop("topicdesk.metrics", []):
                each()

        hooks["metrics"] = flush
    pending.append(observe)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class _Process(Collector):
    """This process's own metrics, for a scrape registry built per request."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def exposition(*extra: Collector) -> bytes:
    """The text exposition of this process, or of every worker under multiprocess mode (the
    server), plus `extra` collectors (the database gauges)."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Process())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


def seconds_since(moment: datetime) -> float:
    # SQLite hands datetimes back without their zone; they were written in UTC.
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (datetime.now(UTC) - aware).total_seconds()


def decided(session: Session, kind: str, outcome: str, created_at: datetime) -> None:
    """A request left pending (or never was): counted once its transaction commits."""
    seconds = seconds_since(created_at)
    after_commit(session, lambda: record_decision(kind, outcome, seconds))


def settled(session: Session, kind: str, status: str, created_at: datetime) -> None:
    """A request reached applied or failed: counted once its transaction commits."""
    seconds = seconds_since(created_at)
    after_commit(session, lambda: record_settled(kind, status, seconds))

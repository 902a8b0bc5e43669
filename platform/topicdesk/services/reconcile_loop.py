"""The reconcile loop: which clusters this process reconciles, and when.

`run_once` makes one pass over every cluster whose lease it can claim (services/reconcile.py does
the pass itself); `run_forever` repeats it, scans drift and gathers usage evidence every
`drift_interval`, and hands its leases back when stopped. The CLI's `topicdesk reconcile` and the
bench drive these.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from functools import partial

from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import RESOURCE_TABLES, ClusterRow, utcnow
from topicdesk.observability import metrics
from topicdesk.services.cluster_port import ClusterPort, close_port
from topicdesk.services.drift import scan_cluster
from topicdesk.services.expiry import seconds_until_next_pass
from topicdesk.services.leases import LeaseKeeper, claim_lease, ensure_leases
from topicdesk.services.migration_driver import ProbeFactory, drive_migrations
from topicdesk.services.mirror_port import MirrorEngine
from topicdesk.services.notify_worker import Deliverer, DelivererThread
from topicdesk.services.reconcile import PassReport, ReconcilerSettings, reconcile_cluster
from topicdesk.services.stale import gather_usage

log = logging.getLogger(__name__)

# Called with the cluster row and optional adapter options (request_timeout).
PortFactory = Callable[..., ClusterPort]


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_once(
    engine: Engine, port_factory: PortFactory, *, holder: str | None = None,
    settings: ReconcilerSettings | None = None, clusters: Iterable[str] | None = None,
    keeper: LeaseKeeper | None = None, stop: Callable[[], bool] = lambda: False,
) -> list[PassReport]:
    """One pass over every cluster this process can claim. Without a `keeper` (run_forever passes
    its own) one heartbeats the leases for this call and releases them at the end."""
    cfg = settings or ReconcilerSettings()
    me = holder or default_holder()
    own_keeper = keeper is None
    leases = keeper or LeaseKeeper(engine, me, cfg.lease_seconds, every=cfg.heartbeat_seconds).start()
    try:
        return _pass_over_clusters(engine, port_factory, me, cfg, clusters, leases, stop)
    finally:
        if own_keeper:
            leases.stop(release=True)


def _pass_over_clusters(engine: Engine, port_factory: PortFactory, me: str, cfg: ReconcilerSettings,
                        clusters: Iterable[str] | None, keeper: LeaseKeeper,
                        stop: Callable[[], bool]) -> list[PassReport]:
    names = ensure_leases(engine)
    if clusters is not None:
        wanted = set(clusters)
        names = [n for n in names if n in wanted]
    reports = []
    for name in names:
        if stop():
            break
        token = claim_lease(engine, name, me, cfg.lease_seconds)
        if token is None:
            keeper.drop(name)
            reports.append(PassReport(name, claimed=False))
            continue
        keeper.hold(name, token)
        with unit_of_work(engine) as session:
            cluster = session.get(ClusterRow, name)
        if cluster is None:
            continue
        port: ClusterPort | None = None
        started = time.monotonic()
        try:
            port = port_factory(cluster)
            report = reconcile_cluster(engine, cluster, port, holder=me, token=token, settings=cfg,
                                       keeper=keeper, stop=stop)
        except Exception as exc:  # one broken cluster must not stop the others
            log.exception("reconciling cluster %s failed", name, extra={"cluster": name})
            report = PassReport(name, claimed=True, error=f"{type(exc).__name__}: {exc}")
        finally:
            close_port(port)
        reports.append(report)
        _observe(report, time.monotonic() - started)
    return reports


def _observe(report: PassReport, seconds: float) -> None:
    """The pass's metrics, and its log line when it did something (an idle pass every 2 s is noise)."""
    metrics.record_pass(report.cluster, seconds=seconds, ended_at=time.time(), error=report.error is not None,
                        resources=[(kind, result, n) for (kind, result), n in report.by_kind.items()],
                        changes=[(change, result, n) for (change, result), n in report.changes.items()],
                        expired=report.expired)
    if report.resources or report.error or report.expired:
        log.log(logging.WARNING if report.error else logging.INFO,
                "reconcile %s: %d resources, %d applied, %d failed, %d retrying", report.cluster, report.resources,
                report.applied, report.failed, report.retrying, extra={
                    "cluster": report.cluster, "resources": report.resources, "applied": report.applied,
                    "failed": report.failed, "retrying": report.retrying, "expired": report.expired,
                    "changes": sum(report.changes.values()), "duration_ms": round(seconds * 1000, 1),
                    "error": report.error})


def pending_work(engine: Engine) -> bool:
    with unit_of_work(engine) as session:
        now = utcnow()
        for table in RESOURCE_TABLES.values():
            query = select(table.id).where(
                col(table.generation) > col(table.observed_generation),
                col(table.generation) != col(table.failed_generation),
                or_(col(table.not_before).is_(None), col(table.not_before) <= now)).limit(1)
            if session.exec(query).first() is not None:
                return True
    return False

def run_forever(
    engine: Engine, port_factory: PortFactory, *, interval: float = 2.0, clusters: Iterable[str] | None = None,
    settings: ReconcilerSettings | None = None, stop: Callable[[], bool] = lambda: False,
    drift_interval: float = 300.0, sleep: Callable[[float], object] | None = None,
    notifications: Deliverer | None = None, mirror_engine: MirrorEngine | None = None,
    probe_factory: ProbeFactory | None = None,
) -> None:
    """Pass after pass; a pass that found work is followed at once by the next one. Every
    `drift_interval` seconds the clusters this process holds are also scanned for drift, and their
    topics' usage evidence is gathered for the stale report (services/stale.py). The
    wait between passes ends early when a grant's expiry comes (services/expiry.py). With
    `notifications`, a deliverer thread sends the notification outbox meanwhile (services/notify_worker.py).
    With a `mirror_engine`, every pass also drives the migrations whose target cluster this process
    holds (services/migration_driver.py); without one, migrations wait."""
    cfg = settings or ReconcilerSettings()
    me = default_holder()
    wanted = list(clusters) if clusters is not None else None
    last_scan: dict[str, float] = {}
    # Leases are renewed by heartbeat between and during passes; handed back when the loop ends
    # (SIGTERM/SIGINT in the CLI), so another reconciler takes over without waiting for expiry.
    keeper = LeaseKeeper(engine, me, cfg.lease_seconds, every=cfg.heartbeat_seconds).start()
    deliverer = DelivererThread(notifications).start() if notifications is not None else None
    try:
        while not stop():
            reports = run_once(engine, port_factory, holder=me, settings=cfg, clusters=wanted, keeper=keeper,
                               stop=stop)
            held = [r.cluster for r in reports if r.claimed]
            if mirror_engine is not None and held and not stop():
                try:
                    drive_migrations(engine, port_factory, mirror_engine, clusters=held, probe_factory=probe_factory)
                except Exception:  # the database away: reconciling goes on, the next pass tries again
                    log.exception("driving migrations failed")
            now = time.monotonic()
            for report in reports:
                if report.claimed and now - last_scan.get(report.cluster, -drift_interval) >= drift_interval:
                    last_scan[report.cluster] = now
                    periodic_checks(engine, port_factory, report.cluster)
            if not any(r.resources for r in reports) or not pending_work(engine):
                pause = seconds_until_next_pass(engine, interval, wanted)
                (sleep or partial(_nap, stop=stop))(pause)
    finally:
        if deliverer is not None:
            deliverer.stop()
        keeper.stop(release=True)


def _nap(seconds: float, stop: Callable[[], bool]) -> None:
    """Sleep, but wake within 0.1 s of `stop`: a shutdown should not wait out the poll interval."""
    deadline = time.monotonic() + seconds
    while not stop() and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(0.1, left))


def periodic_checks(engine: Engine, port_factory: PortFactory, cluster_name: str) -> None:
    """Every drift interval, over one port: the drift scan, then the usage evidence the stale
    report reads (services/stale.py). A failure of either is logged and tried again at the next
    interval; reconciling goes on."""
    with unit_of_work(engine) as session:
        cluster = session.get(ClusterRow, cluster_name)
    if cluster is None:
        return
    port: ClusterPort | None = None
    try:
        port = port_factory(cluster)
        try:
            scan = scan_cluster(engine, cluster_name, port)
            if scan.items or scan.unmanaged_topics:
                log.info("drift on %s: %d drifted, %d unmanaged topics", cluster_name, len(scan.items),
                         len(scan.unmanaged_topics))
        except Exception:
            log.exception("drift scan of %s failed", cluster_name)
        try:
            gather_usage(engine, port, cluster_name)
        except Exception:
            log.exception("gathering usage evidence of %s failed", cluster_name)
    except Exception:  # the port itself could not be made (bad credentials reference, ...)
        log.exception("periodic checks of %s failed", cluster_name)
    finally:
        close_port(port)

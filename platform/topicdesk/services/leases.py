"""Cluster leases: one reconciler at a time applies to a cluster.

A lease has a holder, an expiry and a fencing token that moves whenever the holder changes, so a
reconciler that lost its lease mid-pass (it stalled past the expiry and another took over) sees
that before it records results, and discards them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import ClusterLeaseRow, ClusterRow, utcnow

log = logging.getLogger(__name__)


def ensure_leases(engine: Engine) -> list[str]:
    with unit_of_work(engine) as session:
        clusters = list(session.exec(select(ClusterRow.name)).all())
        existing = set(session.exec(select(ClusterLeaseRow.cluster)).all())
        for name in clusters:
            if name not in existing:
                session.add(ClusterLeaseRow(cluster=name))
    return sorted(clusters)


def claim_lease(engine: Engine, cluster: str, holder: str, seconds: float) -> int | None:
    """Take or renew the cluster's lease; returns the fencing token, or None if another holds it."""
    with unit_of_work(engine) as session:
        now = utcnow()
        claimable = or_(col(ClusterLeaseRow.holder).is_(None), col(ClusterLeaseRow.holder) == holder,
                        col(ClusterLeaseRow.expires_at) < now)
        query = select(ClusterLeaseRow).where(ClusterLeaseRow.cluster == cluster, claimable)
        if session.get_bind().dialect.name == "postgresql":
            # Reconcilers skip clusters another one is claiming right now instead of queueing behind it.
            query = query.with_for_update(skip_locked=True)
        lease = session.exec(query).first()
        if lease is None:
            return None
        if lease.holder != holder:
            lease.fencing_token += 1
        lease.holder = holder
        lease.expires_at = now + timedelta(seconds=seconds)
        session.add(lease)
        return lease.fencing_token


def still_holds(session: Session, cluster: str, holder: str, token: int) -> bool:
    lease = session.exec(select(ClusterLeaseRow).where(ClusterLeaseRow.cluster == cluster)
                         .with_for_update()).first()
    return lease is not None and lease.holder == holder and lease.fencing_token == token


def release_lease(engine: Engine, cluster: str, holder: str) -> None:
    with unit_of_work(engine) as session:
        session.execute(update(ClusterLeaseRow)
                        .where(col(ClusterLeaseRow.cluster) == cluster, col(ClusterLeaseRow.holder) == holder)
                        .values(holder=None, expires_at=None))


def renew_lease(engine: Engine, cluster: str, holder: str, token: int, seconds: float) -> bool:
    """Extend a lease this holder still has under this fencing token; False once it is gone."""
    with unit_of_work(engine) as session:
        result = session.execute(update(ClusterLeaseRow)
                                 .where(col(ClusterLeaseRow.cluster) == cluster,
                                        col(ClusterLeaseRow.holder) == holder,
                                        col(ClusterLeaseRow.fencing_token) == token)
                                 .values(expires_at=utcnow() + timedelta(seconds=seconds)))
        return bool(getattr(result, "rowcount", 0))


class LeaseKeeper:
    """Keeps this process's leases alive from a heartbeat thread, so they can be short.

    Short leases are what makes recovery fast: a reconciler that dies (kill -9, host lost) stops
    renewing, and another takes its clusters once `seconds` have passed. A pass asks `holds()`
    before each step that writes to the cluster: a lease that could not be renewed (lost to another
    holder, or the database unreachable for so long that it may have lapsed) means stop applying.
    The fencing token check before results are recorded (still_holds) stays the final word.
    """

    def __init__(self, engine: Engine, holder: str, seconds: float, *, every: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine, self.holder, self.seconds = engine, holder, seconds
        self.every = every if every is not None else max(0.05, seconds / 3)
        # Trusted for this long after a renewal: the lease in the database runs `seconds` from the
        # renewal's start, so stopping a little earlier leaves room for clocks and slow commits.
        self.trust = seconds * 0.8
        self._clock = clock
        self._held: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, cluster: str, token: int) -> None:
        """Record a lease just claimed (claim_lease wrote a fresh expiry)."""
        with self._lock:
            self._held[cluster] = (token, self._clock())

    def drop(self, cluster: str) -> None:
        with self._lock:
            self._held.pop(cluster, None)

    def holds(self, cluster: str, token: int) -> bool:
        with self._lock:
            held = self._held.get(cluster)
        return held is not None and held[0] == token and self._clock() - held[1] < self.trust

    def held(self) -> dict[str, int]:
        with self._lock:
            return {cluster: token for cluster, (token, _) in self._held.items()}

    def renew_all(self) -> None:
        for cluster, token in self.held().items():
            started = self._clock()
            try:
                renewed = renew_lease(self.engine, cluster, self.holder, token, self.seconds)
            except Exception:  # the database may come back before the lease lapses; holds() times out
                log.warning("renewing the lease of %s failed", cluster, exc_info=True)
                continue
            with self._lock:
                current = self._held.get(cluster)
                if current is None or current[0] != token:
                    continue  # dropped or re-claimed meanwhile
                if renewed:
                    self._held[cluster] = (token, started)
                else:
                    log.warning("lease of %s was taken over; stopping work on it", cluster)
                    del self._held[cluster]

    def start(self) -> LeaseKeeper:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.renew_all()

    def stop(self, *, release: bool = True) -> None:
        """Stop renewing; with release, hand the leases back so others need not wait for expiry."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every + 5)
            self._thread = None
        if release:
            for cluster in self.held():
                try:
                    release_lease(self.engine, cluster, self.holder)
                except Exception:  # it expires on its own
                    log.warning("releasing the lease of %s failed", cluster, exc_info=True)
        with self._lock:
            self._held.clear()

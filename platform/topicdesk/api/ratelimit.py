"""Per-principal limits on writes: a token bucket per caller, in memory, per worker process.

With several gunicorn workers (server.py; PostgreSQL only) each worker gets an equal share of the
configured rate and burst, so a caller spread over all workers gets at most the configured rate per
instance, and one whose connections all land on one worker gets that worker's share. A shared store
would make it exact at the price of a database round trip per write; the limit protects the service,
it is not a quota. Several instances each allow the configured rate.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flask import Flask, current_app, request

from topicdesk.config import Settings
from topicdesk.domain.errors import RateLimited
from topicdesk.domain.identity import Identity

EXTENSION_KEY = "topicdesk.write_limiter"
DRY_RUN_EXTENSION_KEY = "topicdesk.dry_run_limiter"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POSTs that only decide when asked with ?dry_run=true: plans are reads, a CI job runs one per push.
DRY_RUN_ENDPOINTS = frozenset({"v1.submit", "v1.apply_desired_state"})


@dataclass
class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second; each write takes one."""

    capacity: float
    rate: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token: 0.0 when allowed, else the seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def full_at(self) -> float:
        return self.updated + (self.capacity - self.tokens) / self.rate


class RateLimiter:
    """Token buckets keyed by principal. Thread-safe; memory stays bounded by `max_principals`."""

    def __init__(self, *, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_principals: int = 10_000, what: str = "writes") -> None:
        self.what = what
        self.per_minute = per_minute
        self.burst = max(1, burst)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._max = max_principals
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def retry_after(self, principal: str) -> float:
        """Take one token for `principal`: 0.0 when allowed, else seconds to wait."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(principal)
            if bucket is None:
                bucket = TokenBucket(float(self.burst), self._rate, float(self.burst), now)
                self._buckets[principal] = bucket
                self._prune(now)
            else:
                self._buckets.move_to_end(principal)
            return bucket.take(now)

    def check(self, principal: str) -> None:
        wait = self.retry_after(principal)
        if wait > 0:
            raise RateLimited(
                f"too many {self.what}: at most {self.per_minute:g} per minute (bursts of {self.burst}) per caller; "
                f"retry in {math.ceil(wait)} s", retry_after_seconds=max(1, math.ceil(wait)))

    def _prune(self, now: float) -> None:
        if len(self._buckets) <= self._max:
            return
        # A full bucket carries no state a fresh one would not; drop those first, then the least recent.
        for key in [k for k, b in self._buckets.items() if b.full_at() <= now]:
            del self._buckets[key]
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


def principal_key(identity: Identity) -> str:
    # A person gets one budget whether they come with the browser session or with a JWT.
    return identity.subject


def worker_share(per_minute: float, burst: int, workers: int) -> tuple[float, int]:
    """One worker's part of an instance-wide rate and burst (a burst of at least one)."""
    workers = max(1, workers)
    return per_minute / workers, max(1, burst // workers)


def install(app: Flask, settings: Settings) -> RateLimiter:
    limiter = RateLimiter(per_minute=settings.write_rate_per_minute, burst=settings.write_burst)
    app.extensions[EXTENSION_KEY] = limiter
    app.extensions[DRY_RUN_EXTENSION_KEY] = RateLimiter(
        per_minute=settings.dry_run_rate_per_minute, burst=settings.dry_run_burst, what="dry runs")
    return limiter


def share_between_workers(app: Flask, workers: int) -> None:
    """Before gunicorn forks `workers` processes from this app: each keeps an equal share of the rates."""
    for key in (EXTENSION_KEY, DRY_RUN_EXTENSION_KEY):
        limiter: RateLimiter | None = app.extensions.get(key)
        if limiter is not None and workers > 1:
            rate, burst = worker_share(limiter.per_minute, limiter.burst, workers)
            app.extensions[key] = RateLimiter(per_minute=rate, burst=burst, what=limiter.what)


def is_dry_run(endpoint: str | None, args: Mapping[str, str]) -> bool:
    """A plan: nothing is stored. Only a well-formed true counts; anything else pays as a write (and
    the view refuses a malformed value)."""
    return endpoint in DRY_RUN_ENDPOINTS and args.get("dry_run", "").lower() in {"true", "1"}


def enforce_write_rate(identity: Identity) -> None:
    """Called after authentication: writes (any method but GET/HEAD/OPTIONS) spend the caller's budget;
    dry runs spend their own, higher one and never the write budget."""
    if request.method in SAFE_METHODS:
        return
    key = DRY_RUN_EXTENSION_KEY if is_dry_run(request.endpoint, request.args) else EXTENSION_KEY
    limiter: RateLimiter | None = current_app.extensions.get(key)
    if limiter is not None:
        limiter.check(principal_key(identity))

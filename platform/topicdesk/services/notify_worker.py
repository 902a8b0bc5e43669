"""The deliverer: claims due outbox rows, POSTs them signed, records every attempt, retries with
back-off, and disables an endpoint that keeps failing (with an audit event the team sees).

It runs as a thread of the reconciler process (services/reconcile_loop.py run_forever) and as
`topicdesk notify`. Any number may run: claims are leases in the database
(adapters/notification_store.py), so a deliverer that dies mid-delivery leaves its rows to another
one, which sends them again with the same event id (at least once).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from sqlalchemy.engine import Engine
from sqlmodel import select

from topicdesk.adapters import notification_store as store
from topicdesk.adapters.audit_log import record_event
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import NotificationSubscriptionRow, utcnow
from topicdesk.config import NotifySettings
from topicdesk.domain import webhooks
from topicdesk.services.notifications import Resolver, resolve, url_rules
from topicdesk.services.notify_expiring import announce_expiring

log = logging.getLogger("topicdesk.notify")

USER_AGENT = "Topicdesk-Webhooks/1"
# How often a running deliverer looks for grants to announce as expiring.
EXPIRING_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class HttpAnswer:
    status_code: int


# url, body, headers, timeout -> the answer; raises requests.Timeout / requests.ConnectionError.
HttpPost = Callable[[str, bytes, dict[str, str], float], HttpAnswer]
# The hook for delivery metrics (observability.metrics.record_delivery): called once per attempt with its
# result (delivered | failed | timeout | unreachable | refused), and with `disabled` when an endpoint is disabled.
OnDelivery = Callable[[str], None]


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> HttpAnswer:
    # Redirects are not followed: a 3xx could point the signed body anywhere, also past the URL checks.
    response = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    response.close()
    return HttpAnswer(response.status_code)


@dataclass
class Deliverer:
    engine: Engine
    settings: NotifySettings
    worker: str
    post: HttpPost = http_post
    resolver: Resolver = resolve
    clock: Callable[[], datetime] = utcnow
    jitter: Callable[[], float] = random.random
    on_delivery: OnDelivery | None = None

    @property
    def retry_policy(self) -> webhooks.RetryPolicy:
        s = self.settings
        return webhooks.RetryPolicy(base_seconds=s.backoff_base_seconds, cap_seconds=s.backoff_cap_seconds,
                                    disable_after_failures=s.disable_after_failures,
                                    disable_after_seconds=s.disable_after_seconds)

    def deliver_due(self) -> int:
        """Claim one batch of due rows and attempt each; returns how many were attempted."""
        with unit_of_work(self.engine) as session:
            claimed = store.claim_due(session.connection(), self.worker, limit=self.settings.batch,
                                      lease_seconds=self.settings.claim_seconds, now=self.clock())
        for row in claimed:
            outcome = self.attempt(row)
            self.finish(row, outcome)
            if self.on_delivery is not None:
                try:
                    self.on_delivery(outcome.result)
                except Exception:  # a metrics hook must never stop deliveries
                    log.exception("the on_delivery hook failed")
        return len(claimed)

    def attempt(self, row: store.Claimed) -> store.AttemptResult:
        rules = url_rules(self.settings)
        problems = webhooks.url_problems(row.url, rules)
        if not problems:
            parts = urlsplit(row.url)
            try:
                problems = webhooks.address_problems(
                    self.resolver(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)),
                    rules)
            except OSError as exc:
                return store.AttemptResult("unreachable", error=f"the host does not resolve: {exc}")
        if problems:
            return store.AttemptResult("refused", error="; ".join(problems))
        event = webhooks.OutgoingEvent(row.event_id, row.event_type, row.subject, row.occurred_at, row.team,
                                       row.data)
        body, media = webhooks.body_of(row.format, event)
        timestamp = int(time.time())
        # No ce-* headers: CloudEvents receivers read those as binary mode, and this is structured mode.
        headers = {"Content-Type": media, "User-Agent": USER_AGENT, "Webhook-Id": row.event_id,
                   "X-Topicdesk-Event-Type": row.event_type,
                   "X-Topicdesk-Delivery-Attempt": str(row.attempts + 1),
                   webhooks.SIGNATURE_HEADER: webhooks.signature(row.secret, timestamp, body)}
        started = time.monotonic()
        try:
            answer = self.post(row.url, body, headers, self.settings.timeout_seconds)
        except requests.Timeout:
            return store.AttemptResult("timeout", error=f"no answer within {self.settings.timeout_seconds:g} s",
                                       duration_ms=_ms(started))
        except requests.RequestException as exc:
            return store.AttemptResult("unreachable", error=f"{type(exc).__name__}: {exc}"[:1000],
                                       duration_ms=_ms(started))
        if 200 <= answer.status_code < 300:
            return store.AttemptResult("delivered", answer.status_code, duration_ms=_ms(started))
        return store.AttemptResult("failed", answer.status_code, error=f"the receiver answered {answer.status_code}",
                                   duration_ms=_ms(started))

    def finish(self, row: store.Claimed, outcome: store.AttemptResult) -> None:
        """The attempt, the row's next state and the endpoint's failure count, in one transaction."""
        now = self.clock()
        policy = self.retry_policy
        retry_at = None if outcome.delivered else now + timedelta(
            seconds=webhooks.backoff_seconds(row.attempts + 1, policy, self.jitter))
        with unit_of_work(self.engine) as session:
            # FOR NO KEY UPDATE: writers inserting outbox rows for this subscription (a key share
            # through the foreign key) are not blocked by the count update.
            sub = session.exec(select(NotificationSubscriptionRow).where(
                NotificationSubscriptionRow.id == row.subscription_id).with_for_update(key_share=True)).first()
            if sub is None:
                return  # deleted meanwhile, with its outbox rows and history
            store.finish_attempt(session.connection(), row, self.worker, outcome, now, retry_at)
            if outcome.delivered:
                sub.consecutive_failures, sub.failing_since, sub.last_delivery_at = 0, None, now
            else:
                sub.consecutive_failures += 1
                sub.failing_since = sub.failing_since or now
                reason = webhooks.disable_reason(sub.consecutive_failures, sub.failing_since, now, policy)
                if sub.enabled and reason is not None:
                    sub.enabled, sub.disabled_reason, sub.disabled_at = False, reason, now
                    record_event(session, actor="notifier", action="notification_subscription:disable",
                                 subject=f"notification_subscription:{sub.id}", team=sub.team,
                                 data={"reason": reason, "url": webhooks.redacted(sub.url),
                                       "last_result": outcome.result, "last_error": outcome.error})
                    log.warning("notification endpoint %s of team %s disabled: %s", sub.id, sub.team, reason)
                    if self.on_delivery is not None:
                        self.on_delivery("disabled")
            session.add(sub)

    def announce_expiring(self) -> int:
        """Turn grants ending soon into `access.expiring` events (services/notify_expiring.py)."""
        return announce_expiring(self.engine, within=timedelta(seconds=self.settings.expiring_seconds),
                                 now=self.clock())

    def drain(self, deadline: float | None = None) -> int:
        """Announce expiring grants, then deliver until nothing is due now (or the monotonic deadline
        passes); returns the attempts."""
        self.announce_expiring()
        total = 0
        while deadline is None or time.monotonic() < deadline:
            attempted = self.deliver_due()
            total += attempted
            if attempted == 0:
                break
        return total


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


class DelivererThread:
    """Runs a Deliverer in the background of a long-running process until stopped."""

    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notification-deliverer", daemon=True)

    def start(self) -> DelivererThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        announced = -EXPIRING_EVERY_SECONDS
        while not self._stop.is_set():
            try:
                if time.monotonic() - announced >= EXPIRING_EVERY_SECONDS:
                    self.deliverer.announce_expiring()
                    announced = time.monotonic()
                attempted = self.deliverer.deliver_due()
                failures = 0
            except Exception:  # the database is away for a moment; the rows wait in the outbox
                failures += 1
                attempted = 0
                log.exception("delivering notifications failed; retrying")
            if attempted == 0:
                self._stop.wait(min(30.0, self.deliverer.settings.poll_seconds * 2 ** failures))

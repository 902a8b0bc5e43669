"""Observed state of topics, kept so the topic page never waits on a slow cluster.

The reconciler stores what it saw (its describe before planning and the read-back after applying)
and the drift scan stores what it saw of every managed topic. The topic page answers from that
stored observation and tries a live read only for a bounded time; either way it says when the
data was seen and whether it is `stale`.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from topicdesk.adapters.observations import upsert_topic_observations
from topicdesk.adapters.tables import TopicObservationRow, utcnow
from topicdesk.domain.plan import ObservedState, ObservedTopic
from topicdesk.services.cluster_port import ClusterPort, ClusterUnavailable, close_port

log = logging.getLogger(__name__)


def observed_value(topic: ObservedTopic | None) -> dict[str, object] | None:
    if topic is None:
        return None
    return {"partitions": topic.partitions, "replication_factor": topic.replication_factor,
            "config": dict(topic.config)}


def store_observations(session: Session, cluster: str, topics: Mapping[str, ObservedTopic | None],
                       at: datetime | None = None) -> None:
    """Record what the cluster showed for these topics (None: not there), in one bulk upsert."""
    if not topics:
        return
    moment = at or utcnow()
    rows = [{"cluster": cluster, "name": name, "observed": observed_value(topic), "observed_at": moment}
            for name, topic in sorted(topics.items())]
    upsert_topic_observations(session.connection(), rows)


def store_scan_observations(session: Session, cluster: str, names: Iterable[str], observed: ObservedState,
                            at: datetime) -> None:
    """After a describe of every topic: the managed topics' state, absent ones included."""
    store_observations(session, cluster, {name: observed.topics.get(name) for name in names}, at)


@dataclass(frozen=True)
class LiveRead:
    observed: dict[str, object] | None
    error: str | None  # None: the cluster answered (observed None then means no such topic)


# A few threads shared by all requests: a live read that overruns its wait finishes (bounded by
# the port's own request timeout) in the background instead of holding the web request.
_READERS = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="topic-live-read")


def read_live(open_port: Callable[[], ClusterPort], name: str, timeout: float) -> LiveRead:
    """What the cluster says about one topic now, or an error if it did not answer within `timeout`."""
    def read() -> LiveRead:
        port: ClusterPort | None = None
        try:
            port = open_port()
            observed = port.describe([name])
        except ClusterUnavailable as exc:
            return LiveRead(None, exc.outcome.message)
        finally:
            close_port(port)
        return LiveRead(observed_value(observed.topics.get(name)), None)

    future = _READERS.submit(read)
    try:
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        return LiveRead(None, f"the cluster did not answer within {timeout:g} s")
    except Exception as exc:  # a broken port must not break the page; it shows the stored state
        log.warning("live read of %s failed", name, exc_info=True)
        return LiveRead(None, f"{type(exc).__name__}: {exc}")


def stored_observation(session: Session, cluster: str, name: str) -> TopicObservationRow | None:
    return session.get(TopicObservationRow, (cluster, name))


def observation_view(stored: TopicObservationRow | None, live: LiveRead | None, *, max_age_seconds: float,
                     now: datetime | None = None) -> dict[str, Any]:
    """`observed`, `observed_at`, `stale`, `observed_error` for the topic page.

    A live answer wins (stale: false). Otherwise the stored observation, stale when the live read
    failed or was not tried and the observation is older than `max_age_seconds`; never observed
    at all: observed and observed_at null, stale true."""
    moment = now or utcnow()
    if live is not None and live.error is None:
        return {"observed": live.observed, "observed_at": _rfc3339(moment), "stale": False, "observed_error": None}
    error = live.error if live is not None else None
    if stored is None:
        return {"observed": None, "observed_at": None, "stale": True, "observed_error": error}
    age = (moment - stored.observed_at).total_seconds()
    return {"observed": stored.observed, "observed_at": _rfc3339(stored.observed_at),
            "stale": live is not None or age > max_age_seconds, "observed_error": error}


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")

"""Evidence of a topic's use, as the cluster reports it, and the grace periods of deletions (pure).

A topic.delete is decided on evidence: which consumer groups committed offsets on the topic (and
whether they have members now), when the topic was last written, and which other teams hold
grants on it (that part comes from Topicdesk's own rows). The cluster port gathers the cluster
part for many topics in a handful of Admin calls; `evidence_facts` turns it into the JSON-ready
form the workflow hands to policy (policy/document.py derives the rest).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class GroupUsage:
    """One consumer group with committed offsets on one topic."""

    group: str
    state: str  # Kafka's group state: STABLE, EMPTY, PREPARING_REBALANCE, DEAD, ...
    members: int
    committed_partitions: int
    # Sum over partitions of (log end offset - committed offset); None when end offsets are unknown.
    lag: int | None = None
    # Sum over partitions of the committed offsets: whether a group moved between two observations
    # (Kafka keeps no time of a commit). None when the adapter did not report it.
    committed_offsets: int | None = None


@dataclass(frozen=True)
class TopicEvidence:
    topic: str
    exists: bool
    partitions: int = 0
    # partition -> log end offset (the next offset to be written), as listed for the evidence.
    end_offsets: Mapping[int, int] = field(default_factory=dict)
    # The largest record timestamp over all partitions (ListOffsets MAX_TIMESTAMP); None: never written.
    last_write_at: datetime | None = None
    consumer_groups: tuple[GroupUsage, ...] = ()


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def evidence_facts(evidence: TopicEvidence | None, gathered_at: datetime) -> dict[str, Any]:
    """What the cluster said about one topic, as policy input (`evidence` before derivation)."""
    if evidence is None:
        return unavailable("the cluster did not answer for this topic", gathered_at)
    return {
        "available": True,
        "error": None,
        "gathered_at": _rfc3339(gathered_at),
        "exists": evidence.exists,
        "partitions": evidence.partitions,
        "last_write_at": _rfc3339(evidence.last_write_at) if evidence.last_write_at else None,
        "consumer_groups": [
            {"group": g.group, "state": g.state, "members": g.members,
             "committed_partitions": g.committed_partitions, "lag": g.lag}
            for g in sorted(evidence.consumer_groups, key=lambda g: g.group)
        ],
    }


def unavailable(error: str, gathered_at: datetime) -> dict[str, Any]:
    """Evidence that could not be gathered: policy must not take silence for "unused"."""
    return {"available": False, "error": error, "gathered_at": _rfc3339(gathered_at), "exists": None,
            "partitions": None, "last_write_at": None, "consumer_groups": []}


# --- grace periods -----------------------------------------------------------------------------------

# How long a deleted topic stays in quarantine (access removed, data kept, undo possible) before the
# reconciler deletes it, per environment; a cluster's `quarantine_seconds` overrides it.
QUARANTINE_DEFAULTS: Mapping[str, int] = {"dev": 3600, "staging": 86400, "prod": 7 * 86400}
LONGEST_QUARANTINE = 90 * 86400


def quarantine_seconds(environment: str, configured: int | None) -> int:
    if configured is not None:
        return configured
    return QUARANTINE_DEFAULTS.get(environment, QUARANTINE_DEFAULTS["prod"])

"""What a request changes, as current -> new per field, and what it touches (pure data).

Approvers decide on differences, not on new values alone: "max.message.bytes 1 MiB -> 16 MiB" and
"producer_byte_rate 5 MiB/s -> 50 MiB/s" are what they judge. `request_changes` lists every field a
request changes with the value Topicdesk holds now (None: not set, the broker default) and the
asked-for one (None: back to the default); `request_impact` says who consumes the topic and what the
cluster's partition and disk budgets look like after the change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

QUOTA_FIELDS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage")
DEFAULT_RETENTION_MS = 604_800_000  # Kafka's log.retention.ms default (7 days)


def _change(field: str, current: Any, new: Any) -> dict[str, Any]:
    return {"field": field, "current": current, "new": new}


def _topic_changes(spec: Mapping[str, Any], topic: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    have: Mapping[str, Any] = topic or {}
    changes = [_change(field, have.get(field), spec[field])
               for field in ("partitions", "replication_factor", "description")
               if field in spec and spec[field] != have.get(field)]
    current_config: Mapping[str, Any] = have.get("config") or {}
    for key, value in sorted((spec.get("config") or {}).items()):
        if value != current_config.get(key):
            changes.append(_change(f"config.{key}", current_config.get(key), value))
    rate = (spec.get("expected_throughput") or {}).get("bytes_per_second")
    if rate is not None and rate != have.get("expected_bytes_per_second"):
        changes.append(_change("expected_throughput.bytes_per_second", have.get("expected_bytes_per_second"), rate))
    return changes


def request_changes(kind: str, spec: Mapping[str, Any], topic: Mapping[str, Any] | None = None,
                    quota: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every field the request changes: `[{field, current, new}]`, config keys as `config.<key>`.

    `topic` is the topic as Topicdesk holds it now ({partitions, replication_factor, config,
    description, expected_bytes_per_second}; None: no such topic), `quota` the principal's current
    quota ({producer_byte_rate, ...}; None: none). Unchanged fields are left out.
    """
    if kind in ("topic.create", "topic.update"):
        return _topic_changes(spec, None if kind == "topic.create" else topic)
    if kind == "topic.delete":
        return [_change("topic", spec.get("name"), None)] if topic is not None else []
    if kind == "quota.set":
        have: Mapping[str, Any] = quota or {}
        return [_change(field, have.get(field), spec[field]) for field in QUOTA_FIELDS
                if field in spec and spec[field] != have.get(field)]
    if kind in ("access.grant", "access.revoke"):
        grant = f"{spec.get('access')} {spec.get('principal')}" + (f" as {spec['group']}" if spec.get("group") else "")
        return [_change("access", None, grant) if kind == "access.grant" else _change("access", grant, None)]
    return []


def _disk(topic: Mapping[str, Any]) -> int:
    """Expected bytes/s x retention x RF, as the cluster's usage counts it (request_store.disk_bytes)."""
    rate = topic.get("expected_bytes_per_second") or 0
    retention_ms = int((topic.get("config") or {}).get("retention.ms") or DEFAULT_RETENTION_MS)
    replicas = int(topic.get("replication_factor") or 0)
    return int(rate) * (retention_ms // 1000) * replicas if rate and retention_ms > 0 else 0


def proposed_topic(topic: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """The topic after a topic.update (config merged like a JSON merge patch: null removes)."""
    config = {**(topic.get("config") or {})}
    for key, value in (spec.get("config") or {}).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    rate = (spec.get("expected_throughput") or {}).get("bytes_per_second", topic.get("expected_bytes_per_second"))
    return {**topic, **{k: spec[k] for k in ("partitions", "replication_factor") if k in spec},
            "config": config, "expected_bytes_per_second": rate}


def request_impact(kind: str, spec: Mapping[str, Any], topic: Mapping[str, Any] | None,
                   grants: Sequence[Mapping[str, Any]], usage: Mapping[str, int],
                   limits: Mapping[str, int | None]) -> dict[str, Any] | None:
    """Who consumes the topic and the cluster's budgets before and after the change.

    `grants`: the topic's live grants ({principal, access, group, team}); `usage`: the cluster's
    {replicas, disk_bytes}; `limits`: {partition_budget, disk_budget_bytes} (None: no budget).
    None for kinds that touch no topic's size (quotas).
    """
    if kind not in ("topic.create", "topic.update", "topic.delete", "access.grant", "access.revoke"):
        return None
    consumers = [{"principal": g["principal"], "group": g.get("group"), "team": g.get("team")}
                 for g in grants if g.get("access") == "consume"]
    before: Mapping[str, Any] = topic or {}
    if kind == "topic.create":
        after: Mapping[str, Any] = proposed_topic({}, spec)
    elif kind == "topic.update" and topic is not None:
        after = proposed_topic(topic, spec)
    elif kind == "topic.delete":
        after = {}
    else:
        after = before
    replicas_delta = (int(after.get("partitions") or 0) * int(after.get("replication_factor") or 0)
                      - int(before.get("partitions") or 0) * int(before.get("replication_factor") or 0))
    used_replicas, used_disk = int(usage.get("replicas") or 0), int(usage.get("disk_bytes") or 0)
    return {
        "consumers": consumers,
        "consuming_teams": sorted({c["team"] for c in consumers if c["team"]}),
        "partition_replicas": {"used": used_replicas, "after": used_replicas + replicas_delta,
                               "budget": limits.get("partition_budget")},
        "disk_bytes": {"used": used_disk, "after": used_disk + _disk(after) - _disk(before),
                       "budget": limits.get("disk_budget_bytes")},
    }

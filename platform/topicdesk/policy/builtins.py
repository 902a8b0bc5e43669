"""Built-in checks: what a JSON Schema cannot say (comparing two fields, prefixes, arithmetic).

Each builtin is a factory: given the rule's params (already checked against policy.schema.json)
it returns a check that takes the evaluation document and returns None when the rule stays
silent, or its findings (a dict, available to the message as {check.<name>}) when it fires.
The factory does all parsing, so a check only reads the document.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, Final

from topicdesk.policy.paths import MISSING, DocumentPath

Findings = dict[str, Any]
Check = Callable[[Mapping[str, Any]], Findings | None]
BuiltinFactory = Callable[[Mapping[str, Any]], Check]

_EMPTY: Final[Mapping[str, Any]] = {}
_OPERATORS: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def as_number(value: Any) -> int | float | None:
    """Numbers, and numbers written as strings (Kafka config values), as numbers; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _compare(params: Mapping[str, Any]) -> Check:
    left = DocumentPath.parse(params["left"])
    compare = _OPERATORS[params["op"]]
    right_param = params["right"]
    right_path = DocumentPath.parse(right_param) if isinstance(right_param, str) else None
    # An exception band under a hard ceiling: the rule above the ceiling denies, this one routes.
    at_most = params.get("at_most")
    if (left.has_wildcard) or (right_path is not None and right_path.has_wildcard):
        raise ValueError("compare takes paths to single values (no *)")

    def check(document: Mapping[str, Any]) -> Findings | None:
        left_value = left.value(document)
        right_value = right_path.value(document) if right_path is not None else right_param
        if left_value is MISSING or left_value is None or right_value is MISSING or right_value is None:
            return None
        left_number, right_number = as_number(left_value), as_number(right_value)
        if left_number is not None and right_number is not None:
            left_value, right_value = left_number, right_number
        try:
            holds = compare(left_value, right_value)
        except TypeError:
            return None
        if holds and at_most is not None:
            holds = left_number is not None and left_number <= at_most
        return {"left": left_value, "right": right_value} if holds else None

    return check


def _team_prefix(params: Mapping[str, Any]) -> Check:
    value_paths = tuple(DocumentPath.parse(path) for path in params["values"])
    teams_path = DocumentPath.parse(params["teams"])

    def check(document: Mapping[str, Any]) -> Findings | None:
        found = teams_path.value(document)
        teams = [found] if isinstance(found, str) else [t for t in (found or ()) if isinstance(t, str)]
        prefixes = tuple(f"{team}." for team in teams)
        offenders: list[str] = []
        for path in value_paths:
            for value in path.values(document):
                if not isinstance(value, str):
                    continue
                name = value[len("User:") :] if value.startswith("User:") else value
                if not any(name.startswith(prefix) and len(name) > len(prefix) for prefix in prefixes):
                    offenders.append(value)
        if not offenders:
            return None
        return {"offenders": offenders, "teams": teams, "prefixes": list(prefixes)}

    return check


def _allowed_keys(params: Mapping[str, Any]) -> Check:
    path = DocumentPath.parse(params["path"])
    allowed = frozenset(params["allowed"])

    def check(document: Mapping[str, Any]) -> Findings | None:
        value = path.value(document)
        if not isinstance(value, Mapping):
            return None
        unknown = sorted(key for key in value if key not in allowed)
        return {"keys": unknown, "allowed": sorted(allowed)} if unknown else None

    return check


def _footprint(topic: Mapping[str, Any], bytes_per_second: int, default_retention_ms: int) -> tuple[int, int] | None:
    """(bytes on disk over all replicas, retention in ms) of a topic kept full, or None if unknowable."""
    config = topic.get("config") or _EMPTY
    if "delete" not in str(config.get("cleanup.policy", "delete")).split(","):
        return None  # compacted only: the size follows the key space, not the throughput
    partitions = topic.get("partitions")
    replication_factor = topic.get("replication_factor")
    if not isinstance(partitions, int) or not isinstance(replication_factor, int):
        return None
    retention_ms = as_number(config.get("retention.ms", default_retention_ms))
    retention_bytes = as_number(config.get("retention.bytes", -1))
    if retention_ms is None or retention_bytes is None:
        return None
    per_replica: float | None = bytes_per_second * retention_ms / 1000 if retention_ms >= 0 else None
    if retention_bytes >= 0:
        cap = retention_bytes * partitions
        per_replica = cap if per_replica is None else min(per_replica, cap)
    if per_replica is None:
        return None
    return int(per_replica * replication_factor), int(retention_ms)


def _capacity(params: Mapping[str, Any]) -> Check:
    max_fraction = float(params["max_fraction"])
    default_retention_ms = int(params["default_retention_ms"])

    def check(document: Mapping[str, Any]) -> Findings | None:
        proposed = document.get("proposed")
        cluster = document.get("cluster") or _EMPTY
        budget = cluster.get("disk_budget_bytes")
        if not isinstance(proposed, Mapping) or not isinstance(budget, int):
            return None
        bytes_per_second = proposed.get("expected_bytes_per_second")
        if not isinstance(bytes_per_second, int):
            return None
        after = _footprint(proposed, bytes_per_second, default_retention_ms)
        if after is None:
            return None
        required, retention_ms = after
        topic = document.get("topic")
        if isinstance(topic, Mapping) and (document.get("request") or _EMPTY).get("kind") == "topic.update":
            before = _footprint(topic, topic.get("expected_bytes_per_second") or 0, default_retention_ms)
            required -= before[0] if before else 0
        used = (cluster.get("usage") or _EMPTY).get("disk_bytes") or 0
        limit = int(budget * max_fraction)
        if required <= 0 or used + required <= limit:
            return None
        return {
            "required_bytes": required,
            "available_bytes": max(0, limit - used),
            "budget_bytes": budget,
            "limit_bytes": limit,
            "used_bytes": used,
            "retention_ms": retention_ms,
        }

    return check


def _partitions_per_broker(params: Mapping[str, Any]) -> Check:
    max_per_broker = int(params["max_per_broker"])

    def check(document: Mapping[str, Any]) -> Findings | None:
        proposed = document.get("proposed")
        cluster = document.get("cluster") or _EMPTY
        brokers = cluster.get("broker_count")
        if not isinstance(proposed, Mapping) or not isinstance(brokers, int) or brokers < 1:
            return None
        added = proposed.get("added_replicas") or 0
        if added <= 0:
            return None
        replicas_after = ((cluster.get("usage") or _EMPTY).get("replicas") or 0) + added
        per_broker = replicas_after / brokers
        if per_broker <= max_per_broker:
            return None
        return {"per_broker": round(per_broker), "replicas_after": replicas_after, "added_replicas": added}

    return check


def _partition_budget(params: Mapping[str, Any]) -> Check:
    def check(document: Mapping[str, Any]) -> Findings | None:
        proposed = document.get("proposed")
        cluster = document.get("cluster") or _EMPTY
        budget = cluster.get("partition_budget")
        if not isinstance(proposed, Mapping) or not isinstance(budget, int):
            return None
        added = proposed.get("added_partitions") or 0
        after = ((cluster.get("usage") or _EMPTY).get("partitions") or 0) + added
        if added <= 0 or after <= budget:
            return None
        return {"partitions_after": after, "budget": budget, "added_partitions": added}

    return check


BUILTINS: Final[Mapping[str, BuiltinFactory]] = {
    "compare": _compare,
    "team_prefix": _team_prefix,
    "allowed_keys": _allowed_keys,
    "capacity": _capacity,
    "partitions_per_broker": _partitions_per_broker,
    "partition_budget": _partition_budget,
}

"""The config keys the policies let a team set on a cluster: the portal offers these, and only these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from topicdesk.policy.bundle import PolicyBundle


def allowed_config_keys(bundle: PolicyBundle, kind: str, cluster: Mapping[str, Any]) -> list[str] | None:
    """The intersection of the `allowed_keys` lists of deny rules in scope for `kind` on `cluster`
    (its name, environment, tags); None when no rule limits the keys."""
    allowed: set[str] | None = None
    for rule in bundle.rules_for_kind(kind):
        if rule.builtin != "allowed_keys" or rule.effect != "deny" or not rule.scope.matches_cluster(cluster):
            continue
        keys = set(rule.params.get("allowed") or ())
        allowed = keys if allowed is None else allowed & keys
    return sorted(allowed) if allowed is not None else None

"""evaluate(): a pure function from a compiled bundle and an evaluation document to a Decision.

deny wins over require_approval; warn never blocks. Every rule that fires is reported with its
message, in bundle order (files by name, rules as written), so a denial lists every reason at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

from topicdesk.policy.bundle import Effect, PolicyBundle

Outcome = Literal["auto_approved", "needs_approval", "denied"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("auto_approved", "needs_approval", "denied")
_EMPTY: Final[Mapping[str, Any]] = {}


@dataclass(frozen=True)
class RuleResult:
    """A rule that fired. `approvers` is set for require_approval rules only."""

    id: str
    effect: Effect
    message: str
    approvers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "effect": self.effect, "message": self.message, "approvers": list(self.approvers)}


@dataclass(frozen=True)
class Decision:
    """What policy says about a request.

    `approvers` is the routed set ("team:<name>", "role:<name>"), in the order the rules named them;
    it is empty unless the outcome is needs_approval.
    """

    outcome: Outcome
    rules: list[RuleResult] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)

    @property
    def rule_ids(self) -> list[str]:
        return [rule.id for rule in self.rules]

    def to_dict(self) -> dict[str, Any]:
        """The `decision` object of the API contract (each rule also lists its approvers)."""
        return {
            "outcome": self.outcome,
            "rules": [rule.to_dict() for rule in self.rules],
            "approvers": list(self.approvers),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        outcome = data["outcome"]
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        return cls(
            outcome=cast(Outcome, outcome),
            rules=[
                RuleResult(r["id"], r["effect"], r["message"], tuple(r.get("approvers") or ()))
                for r in data.get("rules") or ()
            ],
            approvers=list(data.get("approvers") or ()),
        )


def evaluate(bundle: PolicyBundle, document: Mapping[str, Any]) -> Decision:
    """Run every rule in scope against the document; never mutates it."""
    request = document.get("request") or _EMPTY
    cluster = document.get("cluster") or _EMPTY
    fired: list[RuleResult] = []
    denied = needs_approval = False
    approvers: list[str] = []
    for rule in bundle.rules_for_kind(request.get("kind")):
        if not rule.scope.matches_cluster(cluster):
            continue
        findings = rule.check(document)
        if findings is None:
            continue
        message = rule.render_message(document, findings)
        if rule.effect == "deny":
            denied = True
            fired.append(RuleResult(rule.id, "deny", message))
        elif rule.effect == "require_approval":
            needs_approval = True
            routed = rule.resolve_approvers(document)
            fired.append(RuleResult(rule.id, "require_approval", message, routed))
            approvers.extend(a for a in routed if a not in approvers)
        else:
            fired.append(RuleResult(rule.id, rule.effect, message))
    if denied:
        return Decision("denied", fired, [])
    if needs_approval:
        return Decision("needs_approval", fired, approvers)
    return Decision("auto_approved", fired, [])

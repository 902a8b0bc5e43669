"""The migration's step machine (pure): which step follows which, what each step's gate is, and
which steps can still be rolled back.

    planned -> mirroring -> consumers_cut_over -> producers_cut_over -> source_quarantined -> done
    any step before producers_cut_over -> rolled_back;  any step not finished -> failed

A migration is rolled back only while the source still holds the truth: until producers switch,
every record is written to the source first and mirrored, so going back is "stop mirroring,
point consumers at the source again". Once producers write to the target the source falls behind
and a rollback would lose records, so it is refused.

Gates are data: each names what must be observed before the step may be entered. The driver
(the reconciler, a later part of issue 15) measures the gate's facts and calls `advance`; a gate
that does not pass keeps the migration where it is, with the failing checks as the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Step(StrEnum):
    PLANNED = "planned"
    MIRRORING = "mirroring"
    CONSUMERS_CUT_OVER = "consumers_cut_over"
    PRODUCERS_CUT_OVER = "producers_cut_over"
    SOURCE_QUARANTINED = "source_quarantined"
    DONE = "done"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


FORWARD: tuple[Step, ...] = (Step.PLANNED, Step.MIRRORING, Step.CONSUMERS_CUT_OVER, Step.PRODUCERS_CUT_OVER,
                             Step.SOURCE_QUARANTINED, Step.DONE)
TERMINAL = frozenset({Step.DONE, Step.ROLLED_BACK, Step.FAILED})
# Until producers switch the source has every record: going back loses nothing.
ROLLBACK_ALLOWED = frozenset({Step.PLANNED, Step.MIRRORING, Step.CONSUMERS_CUT_OVER})

# The default lag a mirror may have before consumers are moved (records, per partition).
DEFAULT_LAG_THRESHOLD = 1000


@dataclass(frozen=True)
class Check:
    """One condition of a gate: `fact` (a key the driver measures) compared with `op` to `value`."""

    fact: str
    op: str  # "<=", "==", ">="
    value: Any
    description: str

    def passes(self, facts: Mapping[str, Any]) -> bool:
        if self.fact not in facts or facts[self.fact] is None:
            return False
        measured = facts[self.fact]
        if self.op == "<=":
            return bool(measured <= self.value)
        if self.op == ">=":
            return bool(measured >= self.value)
        return bool(measured == self.value)

    def to_dict(self) -> dict[str, Any]:
        return {"fact": self.fact, "op": self.op, "value": self.value, "description": self.description}


def gates(lag_threshold: int = DEFAULT_LAG_THRESHOLD) -> dict[Step, tuple[Check, ...]]:
    """What must hold before entering each forward step."""
    return {
        Step.MIRRORING: (
            Check("target_topics_created", "==", True, "every planned topic exists on the target as planned"),
            Check("target_grants_created", "==", True, "the planned grants and service accounts exist on the target"),
        ),
        Step.CONSUMERS_CUT_OVER: (
            Check("mirror_running", "==", True, "the mirror is replicating every topic"),
            Check("max_partition_lag", "<=", lag_threshold,
                  f"no partition's mirror lag is above {lag_threshold} records"),
            Check("offsets_translated", "==", True, "every moved group's offsets are translated on the target"),
        ),
        Step.PRODUCERS_CUT_OVER: (
            Check("groups_active_on_source", "==", 0, "no moved consumer group has members on the source"),
            Check("groups_active_on_target", "==", True,
                  "every moved group with members before is active on the target"),
            Check("source_write_access_removed", "==", True, "producers can no longer write to the source topics"),
            Check("max_partition_lag", "==", 0, "the mirror drained: no partition lags"),
            Check("counts_verified", "==", True,
                  "every partition's record count matches and sampled records are byte-identical"),
        ),
        Step.SOURCE_QUARANTINED: (
            Check("producers_active_on_target", "==", True, "producers write to the target"),
            Check("mirror_stopped", "==", True, "the mirror is stopped"),
        ),
        Step.DONE: (
            Check("source_access_removed", "==", True, "the source topics' access is removed (quarantined)"),
        ),
    }


class TransitionRefused(ValueError):
    """The step machine does not allow this move; the message says why."""


@dataclass(frozen=True)
class Transition:
    source: Step
    target: Step
    at: datetime
    by: str
    reason: str = ""
    facts: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"from": str(self.source), "to": str(self.target), "at": self.at.isoformat().replace("+00:00", "Z"),
                "by": self.by, "reason": self.reason, "facts": dict(self.facts) if self.facts is not None else None}


def next_step(step: Step) -> Step | None:
    if step in TERMINAL:
        return None
    return FORWARD[FORWARD.index(step) + 1]


def can_roll_back(step: Step) -> bool:
    return step in ROLLBACK_ALLOWED


def failing_checks(step: Step, facts: Mapping[str, Any], lag_threshold: int = DEFAULT_LAG_THRESHOLD
                   ) -> list[Check]:
    """The checks of `step`'s gate that the measured facts do not pass (empty: the gate is open)."""
    return [check for check in gates(lag_threshold).get(step, ()) if not check.passes(facts)]


def advance(step: Step, facts: Mapping[str, Any], *, at: datetime, by: str,
            lag_threshold: int = DEFAULT_LAG_THRESHOLD) -> Transition:
    """The move to the next step, if its gate passes on `facts`; raises TransitionRefused otherwise."""
    target = next_step(step)
    if target is None:
        raise TransitionRefused(f"the migration is {step}; it has no next step")
    failing = failing_checks(target, facts, lag_threshold)
    if failing:
        raise TransitionRefused(f"cannot enter {target}: " + "; ".join(c.description for c in failing))
    return Transition(step, target, at, by, facts=dict(facts))


def roll_back(step: Step, *, at: datetime, by: str, reason: str) -> Transition:
    if step in TERMINAL:
        raise TransitionRefused(f"the migration is {step}; nothing to roll back")
    if not can_roll_back(step):
        raise TransitionRefused(f"the migration is {step}: producers already write to the target, so going back "
                                "would lose their records; finish the migration instead")
    if not reason.strip():
        raise TransitionRefused("a rollback needs a reason")
    return Transition(step, Step.ROLLED_BACK, at, by, reason.strip())


def fail(step: Step, *, at: datetime, by: str, reason: str) -> Transition:
    if step in TERMINAL:
        raise TransitionRefused(f"the migration is {step} already")
    return Transition(step, Step.FAILED, at, by, reason)


def allowed_targets(step: Step) -> list[Step]:
    """Every step reachable from `step` in one move (for the API and the portal)."""
    out: list[Step] = []
    following = next_step(step)
    if following is not None:
        out.append(following)
    if can_roll_back(step):
        out.append(Step.ROLLED_BACK)
    if step not in TERMINAL:
        out.append(Step.FAILED)
    return out


def steps_view(step: Step, history: Sequence[Mapping[str, Any]], lag_threshold: int = DEFAULT_LAG_THRESHOLD
               ) -> list[dict[str, Any]]:
    """The forward steps as a timeline: each with its gate, whether it is done, current or to come."""
    entered = {entry["to"]: entry["at"] for entry in history}
    position = FORWARD.index(step) if step in FORWARD else -1
    all_gates = gates(lag_threshold)
    out = []
    for index, forward in enumerate(FORWARD):
        if step in FORWARD:
            status = "done" if index < position or step is Step.DONE else "current" if index == position else "next"
        else:
            status = "done" if str(forward) in entered or forward is Step.PLANNED else "skipped"
        out.append({"step": str(forward), "status": status, "entered_at": entered.get(str(forward)),
                    "gate": [c.to_dict() for c in all_gates.get(forward, ())],
                    "can_roll_back": can_roll_back(forward)})
    return out

"""The migration step machine: order, gates as data, rollback until producers switch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from topicdesk.domain.migration import (
    FORWARD,
    ROLLBACK_ALLOWED,
    Step,
    TransitionRefused,
    advance,
    allowed_targets,
    can_roll_back,
    fail,
    failing_checks,
    gates,
    next_step,
    roll_back,
    steps_view,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OPEN: dict[Step, dict[str, Any]] = {
    Step.MIRRORING: {"target_topics_created": True, "target_grants_created": True},
    Step.CONSUMERS_CUT_OVER: {"mirror_running": True, "max_partition_lag": 10, "offsets_translated": True},
    Step.PRODUCERS_CUT_OVER: {"groups_active_on_source": 0, "groups_active_on_target": True,
                              "source_write_access_removed": True, "max_partition_lag": 0, "counts_verified": True},
    Step.SOURCE_QUARANTINED: {"producers_active_on_target": True, "mirror_stopped": True},
    Step.DONE: {"source_access_removed": True},
}


def test_the_forward_order() -> None:
    assert [str(s) for s in FORWARD] == ["planned", "mirroring", "consumers_cut_over", "producers_cut_over",
                                         "source_quarantined", "done"]
    assert next_step(Step.PLANNED) is Step.MIRRORING
    assert next_step(Step.DONE) is None
    assert next_step(Step.ROLLED_BACK) is None


def test_a_migration_walks_every_gate_to_done() -> None:
    step = Step.PLANNED
    history = []
    while step is not Step.DONE:
        following = next_step(step)
        assert following is not None
        move = advance(step, OPEN[following], at=NOW, by="reconciler")
        history.append(move.to_dict())
        step = move.target
    assert [h["to"] for h in history] == [str(s) for s in FORWARD[1:]]
    assert history[0]["from"] == "planned"
    assert history[0]["at"] == "2026-12-01T12:00:00Z"
    assert [s["status"] for s in steps_view(step, history)] == ["done"] * 6


@pytest.mark.parametrize(("facts", "failing"), [
    ({"mirror_running": True, "max_partition_lag": 5000, "offsets_translated": True}, ["max_partition_lag"]),
    ({"mirror_running": True, "offsets_translated": True}, ["max_partition_lag"]),  # unmeasured is not passed
    ({"mirror_running": False, "max_partition_lag": 0, "offsets_translated": False},
     ["mirror_running", "offsets_translated"]),
])
def test_a_closed_gate_keeps_the_step_and_says_why(facts: dict[str, object], failing: list[str]) -> None:
    assert [c.fact for c in failing_checks(Step.CONSUMERS_CUT_OVER, facts)] == failing
    with pytest.raises(TransitionRefused, match="cannot enter consumers_cut_over"):
        advance(Step.MIRRORING, facts, at=NOW, by="reconciler")


def test_the_lag_threshold_is_a_parameter_and_producers_need_zero_lag_and_verified_counts() -> None:
    facts = {"mirror_running": True, "max_partition_lag": 50, "offsets_translated": True}
    assert failing_checks(Step.CONSUMERS_CUT_OVER, facts, lag_threshold=10)[0].fact == "max_partition_lag"
    producers = dict(OPEN[Step.PRODUCERS_CUT_OVER], counts_verified=False, max_partition_lag=1)
    assert [c.fact for c in failing_checks(Step.PRODUCERS_CUT_OVER, producers)] == ["max_partition_lag",
                                                                                   "counts_verified"]
    assert all(c.to_dict()["description"] for checks in gates().values() for c in checks)


def test_rollback_is_possible_until_producers_switch() -> None:
    assert {Step.PLANNED, Step.MIRRORING, Step.CONSUMERS_CUT_OVER} == ROLLBACK_ALLOWED
    move = roll_back(Step.CONSUMERS_CUT_OVER, at=NOW, by="alice", reason=" consumers misbehave ")
    assert (move.target, move.reason) == (Step.ROLLED_BACK, "consumers misbehave")
    for late in (Step.PRODUCERS_CUT_OVER, Step.SOURCE_QUARANTINED):
        assert not can_roll_back(late)
        with pytest.raises(TransitionRefused, match="would lose their records"):
            roll_back(late, at=NOW, by="alice", reason="x")
    with pytest.raises(TransitionRefused, match="needs a reason"):
        roll_back(Step.MIRRORING, at=NOW, by="alice", reason=" ")
    with pytest.raises(TransitionRefused, match="nothing to roll back"):
        roll_back(Step.DONE, at=NOW, by="alice", reason="x")


def test_failing_and_terminal_steps() -> None:
    assert fail(Step.MIRRORING, at=NOW, by="reconciler", reason="mirror crashed").target is Step.FAILED
    with pytest.raises(TransitionRefused):
        fail(Step.DONE, at=NOW, by="reconciler", reason="x")
    with pytest.raises(TransitionRefused, match="no next step"):
        advance(Step.ROLLED_BACK, {}, at=NOW, by="x")
    assert allowed_targets(Step.PLANNED) == [Step.MIRRORING, Step.ROLLED_BACK, Step.FAILED]
    assert allowed_targets(Step.PRODUCERS_CUT_OVER) == [Step.SOURCE_QUARANTINED, Step.FAILED]
    assert allowed_targets(Step.DONE) == []


def test_the_timeline_of_a_running_and_of_a_rolled_back_migration() -> None:
    entered = [{"to": "mirroring", "at": "2026-12-01T12:00:00Z"}]
    view = steps_view(Step.MIRRORING, entered)
    assert [s["status"] for s in view] == ["done", "current", "next", "next", "next", "next"]
    assert view[1]["entered_at"] == "2026-12-01T12:00:00Z"
    assert view[2]["gate"][1]["fact"] == "max_partition_lag"
    rolled = steps_view(Step.ROLLED_BACK, [*entered, {"to": "rolled_back", "at": "2026-12-01T13:00:00Z"}])
    assert [s["status"] for s in rolled] == ["done", "done", "skipped", "skipped", "skipped", "skipped"]

"""The default bundle's case files: every case passes, and together they cover every rule both ways."""

from __future__ import annotations

import json
from functools import cache

import pytest

from topicdesk.policy import POLICY_DIR, CaseResult, PolicyBundle, Rule, load_bundle, run_cases
from topicdesk.policy.messages import NOT_SET
from topicdesk.schemas import SCHEMA_DIR


@cache
def default_bundle() -> PolicyBundle:
    return load_bundle(POLICY_DIR)


@cache
def case_results() -> tuple[CaseResult, ...]:
    return tuple(run_cases(POLICY_DIR))


def test_every_policy_file_has_a_case_file() -> None:
    policies = {p.name for p in default_bundle().policies}
    case_files = {f.name.removesuffix(".cases.json") for f in POLICY_DIR.glob("*.cases.json")}
    assert policies == case_files
    assert policies >= {"naming", "topic-bounds", "replication", "config", "capacity", "access", "quota", "deletion"}


@pytest.mark.parametrize("result", case_results(), ids=lambda r: f"{r.file}::{r.name}")
def test_case(result: CaseResult) -> None:
    assert result.passed, "\n".join(result.problems)


@pytest.mark.parametrize("rule", default_bundle().rules, ids=lambda r: r.id)
def test_rule_fires_in_a_case_and_stays_silent_in_another(rule: Rule) -> None:
    own_cases = [(r.name, r.decision, r.document) for r in case_results() if r.policy == rule.policy]
    fired_in = [name for name, decision, _ in own_cases if decision and rule.id in decision.rule_ids]
    silent_in = [
        (name, document)
        for name, decision, document in own_cases
        if decision and document is not None and rule.id not in decision.rule_ids
    ]
    assert fired_in, f"no case of {rule.policy}.cases.json makes {rule.id} fire"
    assert silent_in, f"no case of {rule.policy}.cases.json leaves {rule.id} silent"
    # A rule whose check can fail must also be shown silent where it applies, not only out of scope.
    always_fires_in_scope = rule.builtin is None and rule.when in ({}, True)
    if not always_fires_in_scope:
        assert any(rule.applies_to(document) for _, document in silent_in), (
            f"no case of {rule.policy}.cases.json has {rule.id} in scope and silent"
        )


def test_every_outcome_of_every_effect_is_exercised() -> None:
    outcomes = {r.decision.outcome for r in case_results() if r.decision is not None}
    assert outcomes == {"auto_approved", "needs_approval", "denied"}
    effects = {rule.effect for rule in default_bundle().rules}
    assert effects == {"deny", "require_approval", "warn"}


def test_fired_messages_are_complete_sentences() -> None:
    for result in case_results():
        assert result.decision is not None
        for fired in result.decision.rules:
            assert fired.message.strip(), fired
            assert "{" not in fired.message, fired
            assert "}" not in fired.message, fired
            assert NOT_SET not in fired.message, (result.name, fired)


def test_config_allow_list_matches_the_request_schema() -> None:
    # Two guards of the same list (schema and policy): they must not drift apart.
    common = json.loads((SCHEMA_DIR / "common.json").read_text(encoding="utf-8"))
    schema_keys = set(common["$defs"]["topic_config"]["properties"])
    (allowed_keys,) = [r for r in default_bundle().rules if r.id == "config.allowed-keys"]
    assert set(allowed_keys.params["allowed"]) == schema_keys

"""Case files: inputs and the decision each policy file must reach on them (`topicdesk policy test`).

policies/<name>.cases.json sits beside <name>.policy.json (format: schemas/policy-cases.schema.json).
Each case is evaluated against its own policy file only, like a unit test: a change to one policy
file can only break that file's cases. How the files combine (deny wins, approvers add up) is the
engine's job and tested with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from topicdesk.policy.bundle import (
    CASES_SUFFIX,
    POLICY_SUFFIX,
    PolicyBundle,
    PolicyBundleError,
    load_bundle,
    read_json_file,
)
from topicdesk.policy.document import build_evaluation_document
from topicdesk.policy.engine import Decision, evaluate
from topicdesk.schemas import POLICY_CASES_SCHEMA_ID, SchemaSet, default_schemas

_CASE_INPUT_SCHEMA_ID: Final = POLICY_CASES_SCHEMA_ID + "#/$defs/input"


@dataclass(frozen=True)
class CaseResult:
    file: str
    policy: str
    name: str
    passed: bool
    problems: tuple[str, ...] = ()
    decision: Decision | None = None
    document: Mapping[str, Any] | None = field(default=None, repr=False)


def merge_onto_base(base: Any, override: Any) -> Any:
    """A case input laid over the file's base: objects merge key by key, anything else replaces.

    A null removes the key when the base has it (`"topic": null` for "no topic"); elsewhere it stays
    a null value, so a spec can still say `{"config": {"retention.ms": null}}`.
    """
    if not isinstance(override, Mapping) or not isinstance(base, Mapping):
        return override
    merged = dict(base)
    for key, value in override.items():
        if value is None and key in base:
            merged.pop(key)
        else:
            merged[key] = merge_onto_base(base.get(key), value)
    return merged


def _expectation_problems(
    expected: Mapping[str, Any], decision: Decision, known_ids: frozenset[str]
) -> list[str]:
    problems = [
        f"expected rule {rule_id!r} does not exist" for rule_id in expected["rules"] if rule_id not in known_ids
    ]
    if decision.outcome != expected["outcome"]:
        problems.append(f"outcome: expected {expected['outcome']}, got {decision.outcome}")
    fired, wanted = set(decision.rule_ids), set(expected["rules"])
    if missing := sorted(wanted - fired):
        problems.append(f"rules expected to fire but silent: {', '.join(missing)}")
    if extra := sorted(fired - wanted):
        problems.append(f"rules that fired unexpectedly: {', '.join(extra)}")
    if "approvers" in expected and set(expected["approvers"]) != set(decision.approvers):
        problems.append(f"approvers: expected {sorted(expected['approvers'])}, got {sorted(decision.approvers)}")
    messages = {rule.id: rule.message for rule in decision.rules}
    for rule_id, message in expected.get("messages", {}).items():
        if messages.get(rule_id) != message:
            problems.append(f"message of {rule_id}: expected {message!r}, got {messages.get(rule_id)!r}")
    return problems


def run_case_file(file: Path, bundle: PolicyBundle, schemas: SchemaSet | None = None) -> list[CaseResult]:
    """Every case of one case file against its policy file (which must be in `bundle`)."""
    schema_set = schemas or default_schemas()
    policy_name = file.name.removesuffix(CASES_SUFFIX)
    data = read_json_file(file)
    errors = schema_set.errors(POLICY_CASES_SCHEMA_ID, data)
    if errors:
        raise PolicyBundleError(file, errors)
    base: Mapping[str, Any] = {} if isinstance(data, list) else data.get("base", {})
    cases: list[Mapping[str, Any]] = data if isinstance(data, list) else data["cases"]
    cases_path = "" if isinstance(data, list) else "/cases"
    try:
        sub_bundle = bundle.only(policy_name)
    except KeyError:
        problem = f"there is no {policy_name}{POLICY_SUFFIX}"
        return [CaseResult(file.name, policy_name, "(whole file)", False, (problem,))]
    known_ids = frozenset(rule.id for rule in sub_bundle.rules)
    results: list[CaseResult] = []
    for index, case in enumerate(cases):
        case_input = merge_onto_base(base, case["input"])
        input_errors = schema_set.errors(_CASE_INPUT_SCHEMA_ID, case_input, prefix=f"{cases_path}/{index}/input")
        if input_errors:
            problems = tuple(f"{e.path}: {e.message}" for e in input_errors)
            results.append(CaseResult(file.name, policy_name, case["name"], False, problems))
            continue
        now = datetime.fromisoformat(case_input["now"].replace("Z", "+00:00")) if "now" in case_input else None
        document = build_evaluation_document(
            case_input["request"], case_input["requester"], case_input["cluster"], case_input.get("topic"), now=now,
            evidence=case_input.get("evidence"), migration=case_input.get("migration"),
        )
        decision = evaluate(sub_bundle, document)
        problems = tuple(_expectation_problems(case["expected"], decision, known_ids))
        results.append(CaseResult(file.name, policy_name, case["name"], not problems, problems, decision, document))
    return results


def run_cases(bundle_dir: Path | str, schemas: SchemaSet | None = None) -> list[CaseResult]:
    """Load the bundle of a directory and run every case file in it.

    A policy file without a case file, or a case file without a policy file, is a failed result;
    a file that is not valid raises PolicyBundleError.
    """
    directory = Path(bundle_dir)
    bundle = load_bundle(directory, schemas)
    results: list[CaseResult] = []
    case_files = {file.name.removesuffix(CASES_SUFFIX): file for file in sorted(directory.glob(f"*{CASES_SUFFIX}"))}
    for policy in bundle.policies:
        if policy.name not in case_files:
            results.append(
                CaseResult(f"{policy.name}{CASES_SUFFIX}", policy.name, "(whole file)", False, ("no case file",))
            )
    for file in case_files.values():
        results.extend(run_case_file(file, bundle, schemas))
    return results

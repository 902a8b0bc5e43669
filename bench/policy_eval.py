"""P4: evaluating the default policy bundle on a request vs. one raw jsonschema validation of it.

baseline: the topic.create spec validated once (`validator.validate(spec)`) by a jsonschema
          Draft 2020-12 validator compiled beforehand for schemas/topic.create.json, two ways:
          - as the API does it: through the schema registry, `$ref`s into common.json resolved
            in-process on each validation;
          - the same schema with every `$ref` inlined (one self-contained schema), which is faster
            and so the stricter baseline. The P4 verdict uses the larger of the two ratios.
evaluate: topicdesk.policy.evaluate(default bundle, evaluation document) on the same request; the
          bundle is loaded and the document built before timing, as the API does per request.
Timing runs alternate between the measures, so a busy machine slows them alike; each ratio is the
median of the per-run ratios. Also shown, not part of the verdict: building the document plus
evaluating, and a bad request that fires seven rules (so messages are rendered).

Usage: PYTHONPATH=platform:. python bench/policy_eval.py [--number 2000] [--repeat 7] [--max-ratio 3]
Exit status 1 when evaluate / baseline is above --max-ratio.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import timeit
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

from jsonschema import Draft202012Validator
from tests.contract import CONTRACT_TOPIC_CREATE

from topicdesk.policy import (
    ClusterFacts,
    ClusterUsage,
    Requester,
    build_evaluation_document,
    evaluate,
    load_bundle,
)
from topicdesk.schemas import SchemaSet, default_schemas, kind_schema_id

# The topic.create example of the API contract.
REQUEST: dict[str, Any] = CONTRACT_TOPIC_CREATE
BAD_SPEC: dict[str, Any] = {
    "name": "billing.x",
    "partitions": 50,
    "replication_factor": 5,
    "config": {"retention.ms": "-1", "min.insync.replicas": "6", "max.message.bytes": "20000000"},
    "producers": ["User:billing.writer"],
}
REQUESTER = Requester(subject="alice", teams=("payments",), roles=())
CLUSTER = ClusterFacts(
    name="payments-dev",
    environment="dev",
    owner_team="payments",
    tags=(),
    broker_count=3,
    partition_budget=1000,
    disk_budget_bytes=100 * 1024**3,
    usage=ClusterUsage(partitions=120, replicas=360, disk_bytes=20 * 1024**3),
)


def inline_refs(schemas: SchemaSet, node: Any, base: str) -> Any:
    """`node` with every `$ref` replaced by what it points to (the schemas here have no cycles)."""
    if isinstance(node, list):
        return [inline_refs(schemas, item, base) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" not in node:
        return {key: inline_refs(schemas, value, base) for key, value in node.items()}
    uri, _, fragment = urljoin(base, node["$ref"]).partition("#")
    target: Any = schemas.schemas[uri]
    for part in filter(None, fragment.split("/")):
        target = target[part]
    resolved = {k: v for k, v in inline_refs(schemas, target, uri).items() if k not in ("$id", "$schema")}
    siblings = {key: value for key, value in node.items() if key != "$ref"}
    return {"allOf": [resolved, inline_refs(schemas, siblings, base)]} if siblings else resolved


def interleaved(functions: dict[str, Callable[[], object]], number: int, repeat: int) -> dict[str, list[float]]:
    """Per-call seconds of each function, `repeat` runs each, the functions taking turns."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            times[name].append(timeit.timeit(function, number=number) / number)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000, help="calls per timing run")
    parser.add_argument("--repeat", type=int, default=7, help="timing runs (the median is reported)")
    parser.add_argument("--max-ratio", type=float, default=3.0)
    args = parser.parse_args()

    schemas = default_schemas()
    schema_id = kind_schema_id("topic.create")
    validator = schemas.validator(schema_id)
    inlined = Draft202012Validator(inline_refs(schemas, schemas.schemas[schema_id], schema_id))
    bundle = load_bundle()
    spec = REQUEST["spec"]
    document = build_evaluation_document(REQUEST, REQUESTER, CLUSTER, None)
    bad_request = copy.deepcopy(REQUEST)
    bad_request["spec"] = BAD_SPEC
    bad_document = build_evaluation_document(bad_request, REQUESTER, CLUSTER, None)

    validator.validate(spec)  # raises if the example stopped being valid
    inlined.validate(spec)
    assert list(inlined.iter_errors(BAD_SPEC | {"partitions": 0})), "the inlined schema must still check"
    decision = evaluate(bundle, document)
    bad_decision = evaluate(bundle, bad_document)
    assert decision.outcome == "auto_approved", decision
    assert bad_decision.outcome == "denied", bad_decision

    times = interleaved(
        {
            "registry": lambda: validator.validate(spec),
            "inlined": lambda: inlined.validate(spec),
            "evaluate": lambda: evaluate(bundle, document),
            "build": lambda: evaluate(bundle, build_evaluation_document(REQUEST, REQUESTER, CLUSTER, None)),
            "denied": lambda: evaluate(bundle, bad_document),
        },
        args.number,
        args.repeat,
    )

    def ratio(name: str, baseline: str) -> float:
        return statistics.median(a / b for a, b in zip(times[name], times[baseline], strict=True))

    print(
        f"default bundle: {len(bundle.rules)} rules, {len(bundle.rules_for_kind('topic.create'))} in scope "
        f"for topic.create; {args.repeat} runs of {args.number} calls, medians"
    )
    print(f"{'measure':<58} {'µs/call':>8} {'÷ registry':>11} {'÷ inlined':>10}")
    rows = [
        ("baseline: validate the spec, schema registry ($ref)", "registry"),
        ("baseline: validate the spec, $refs inlined", "inlined"),
        ("evaluate(default bundle, document)", "evaluate"),
        ("build_evaluation_document + evaluate", "build"),
        (f"evaluate on a bad request ({len(bad_decision.rules)} rules fire)", "denied"),
    ]
    for label, name in rows:
        micros = statistics.median(times[name]) * 1e6
        print(f"{label:<58} {micros:>8.1f} {ratio(name, 'registry'):>11.2f} {ratio(name, 'inlined'):>10.2f}")
    worst = max(ratio("evaluate", "registry"), ratio("evaluate", "inlined"))
    verdict = "ok" if worst <= args.max_ratio else "TOO SLOW"
    print(f"P4: evaluate / one raw validation = {worst:.2f} against the stricter baseline "
          f"(target <= {args.max_ratio:g}): {verdict}")
    return 0 if worst <= args.max_ratio else 1

if __name__ == "__main__":
    sys.exit(main())

"""The policy engine: loading and checking bundles, evaluation semantics, the document, the CLI."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.contract import CONTRACT_TOPIC_CREATE
from topicdesk.policy import (
    POLICY_DIR,
    ClusterFacts,
    ClusterUsage,
    Decision,
    PolicyBundleError,
    Requester,
    RuleResult,
    TopicFacts,
    build_evaluation_document,
    evaluate,
    load_bundle,
    run_cases,
)
from topicdesk.policy.cli import policy
from topicdesk.policy.messages import MessageTemplate, format_bytes, format_duration
from topicdesk.policy.paths import MISSING, DocumentPath
from topicdesk.schemas import EVALUATION_DOCUMENT_SCHEMA_ID, schema_errors

PAYMENTS_DEV = ClusterFacts(
    name="payments-dev",
    environment="dev",
    owner_team="payments",
    tags=("pci",),
    broker_count=3,
    partition_budget=1000,
    disk_budget_bytes=100 * 1024**3,
    usage=ClusterUsage(partitions=10, replicas=30, disk_bytes=1024**3),
)
ALICE = Requester(subject="alice", teams=("payments",), roles=())


def create_request(**spec: Any) -> dict[str, Any]:
    return {
        "kind": "topic.create",
        "cluster": "payments-dev",
        "spec": {"name": "payments.invoices.v1", "partitions": 6, "replication_factor": 3, **spec},
    }


def document(request: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    return build_evaluation_document(
        request or create_request(),
        kwargs.get("requester", ALICE),
        kwargs.get("cluster", PAYMENTS_DEV),
        kwargs.get("topic"),
    )


def rule(rule_id: str, effect: str = "deny", **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": rule_id,
        "description": f"test rule {rule_id}",
        "check": {"when": {}},
        "effect": effect,
        "message": f"{rule_id} fired",
    }
    if effect == "require_approval":
        data["approvers"] = [{"role": "platform_admin"}]
    data.update(fields)
    return data


def write_policy(directory: Path, name: str, rules: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    file = directory / f"{name}.policy.json"
    file.write_text(json.dumps({"description": f"{name} for tests", "rules": rules}), encoding="utf-8")
    return file


def bundle_of(tmp_path: Path, rules: list[dict[str, Any]], name: str = "t") -> Any:
    write_policy(tmp_path / "bundle", name, rules)
    return load_bundle(tmp_path / "bundle")


# --- evaluation semantics -----------------------------------------------------------------------


def test_no_rule_firing_is_auto_approved(tmp_path: Path) -> None:
    bundle = bundle_of(tmp_path, [rule("t.never", check={"when": {"not": {}}})])
    assert evaluate(bundle, document()) == Decision("auto_approved", [], [])


def test_deny_wins_over_approval_and_every_reason_is_listed(tmp_path: Path) -> None:
    bundle = bundle_of(
        tmp_path,
        [
            rule("t.approve", "require_approval"),
            rule("t.warn", "warn"),
            rule("t.deny-1"),
            rule("t.deny-2"),
        ],
    )
    decision = evaluate(bundle, document())
    assert decision.outcome == "denied"
    assert decision.rule_ids == ["t.approve", "t.warn", "t.deny-1", "t.deny-2"]
    assert decision.approvers == []
    assert decision.rules[0] == RuleResult("t.approve", "require_approval", "t.approve fired", ("role:platform_admin",))


def test_warnings_never_block(tmp_path: Path) -> None:
    bundle = bundle_of(tmp_path, [rule("t.warn-1", "warn"), rule("t.warn-2", "warn")])
    decision = evaluate(bundle, document())
    assert decision.outcome == "auto_approved"
    assert [(r.id, r.effect) for r in decision.rules] == [("t.warn-1", "warn"), ("t.warn-2", "warn")]


def test_approvers_of_all_firing_rules_are_routed_once_each_in_order(tmp_path: Path) -> None:
    bundle = bundle_of(
        tmp_path,
        [
            rule("t.owner", "require_approval", approvers=[{"team_of": "topic_owner"}]),
            rule("t.admin", "require_approval", approvers=[{"role": "platform_admin"}, {"team_of": "cluster_owner"}]),
            rule("t.security", "require_approval", approvers=[{"team": "security"}, {"role": "platform_admin"}]),
            rule("t.warn", "warn"),
        ],
    )
    topic = TopicFacts(name="payments.invoices.v1", owner_team="ledger", partitions=6, replication_factor=3)
    decision = evaluate(bundle, document(topic=topic))
    assert decision.outcome == "needs_approval"
    assert decision.approvers == ["team:ledger", "role:platform_admin", "team:payments", "team:security"]
    assert decision.rules[0].approvers == ("team:ledger",)
    # Without a known topic, the topic's owner is the cluster's owner.
    assert evaluate(bundle, document()).approvers == ["team:payments", "role:platform_admin", "team:security"]


def test_scope_by_kind_environment_cluster_and_tag(tmp_path: Path) -> None:
    bundle = bundle_of(
        tmp_path,
        [
            rule("t.kind", scope={"kinds": ["topic.delete"]}),
            rule("t.env", scope={"environments": ["prod", "staging"]}),
            rule("t.cluster", scope={"clusters": ["payments-dev"]}),
            rule("t.other-cluster", scope={"clusters": ["ledger-dev"]}),
            rule("t.tag", "warn", scope={"cluster_tags": ["protected", "pci"]}),
            rule("t.other-tag", scope={"cluster_tags": ["protected"]}),
            rule("t.all", "warn", scope={"kinds": ["topic.create"], "environments": ["dev"], "cluster_tags": ["pci"]}),
            rule("t.everywhere", "warn"),
        ],
    )
    assert evaluate(bundle, document()).rule_ids == ["t.cluster", "t.tag", "t.all", "t.everywhere"]
    delete = {"kind": "topic.delete", "cluster": "payments-dev", "spec": {"name": "payments.invoices.v1"}}
    assert evaluate(bundle, document(delete)).rule_ids == ["t.kind", "t.cluster", "t.tag", "t.everywhere"]
    prod = ClusterFacts(name="payments-prod", environment="prod", owner_team="payments")
    assert evaluate(bundle, document(cluster=prod)).rule_ids == ["t.env", "t.everywhere"]
    unknown_kind = {"kind": "topic.rename", "cluster": "payments-dev", "spec": {}}
    assert evaluate(bundle, document(unknown_kind)).rule_ids == ["t.cluster", "t.tag", "t.everywhere"]


def test_when_and_builtin_must_both_hold(tmp_path: Path) -> None:
    when_big = {"properties": {"request": {"properties": {"spec": {"properties": {"partitions": {"minimum": 10}}}}}}}
    compare_rf = {"left": "proposed.replication_factor", "op": ">=", "right": 3}
    bundle = bundle_of(
        tmp_path,
        [
            rule("t.both", check={"when": when_big, "builtin": "compare", "params": compare_rf}),
            rule("t.builtin-only", "warn", check={"builtin": "compare", "params": compare_rf}),
        ],
    )
    assert evaluate(bundle, document(create_request(partitions=12))).rule_ids == ["t.both", "t.builtin-only"]
    assert evaluate(bundle, document(create_request(partitions=6))).rule_ids == ["t.builtin-only"]
    assert evaluate(bundle, document(create_request(partitions=12, replication_factor=1))).rule_ids == []


def test_compare_treats_numeric_strings_as_numbers_and_is_silent_when_a_side_is_missing(tmp_path: Path) -> None:
    bundle = bundle_of(
        tmp_path,
        [
            rule(
                "t.isr",
                check={
                    "builtin": "compare",
                    "params": {
                        "left": "proposed.config.min.insync.replicas",
                        "op": ">",
                        "right": "proposed.replication_factor",
                    },
                },
                message="min.insync.replicas {check.left} > RF {check.right}",
            )
        ],
    )
    fired = evaluate(bundle, document(create_request(config={"min.insync.replicas": "10"})))
    assert fired.rules == [RuleResult("t.isr", "deny", "min.insync.replicas 10 > RF 3")]
    assert evaluate(bundle, document(create_request(config={"min.insync.replicas": "2"}))).rules == []
    assert evaluate(bundle, document(create_request())).rules == []


def test_messages_interpolate_the_document_findings_and_params(tmp_path: Path) -> None:
    message = (
        "{request.spec.name} on {cluster.name} ({cluster.environment}, tags {cluster.tags}): "
        "{proposed.config.retention.ms|duration}, {check.per_broker} per broker over {params.max_per_broker}, "
        "budget {cluster.disk_budget_bytes|bytes}, topic {topic.name}, {{literal}}"
    )
    bundle = bundle_of(
        tmp_path,
        [rule("t.msg", check={"builtin": "partitions_per_broker", "params": {"max_per_broker": 5}}, message=message)],
    )
    decision = evaluate(bundle, document(create_request(config={"retention.ms": "86400000"})))
    assert decision.rules[0].message == (
        "payments.invoices.v1 on payments-dev (dev, tags pci): 1 day, 16 per broker over 5, "
        "budget 100 GiB, topic (not set), {literal}"
    )


@pytest.mark.parametrize(
    ("value", "bytes_text", "duration_text"),
    [
        (0, "0 B", "0 seconds"),
        (1000, "1000 B", "1 second"),
        (1536, "1.5 KiB", "1.5 seconds"),
        (3_600_000, "3.4 MiB", "1 hour"),
        ("604800000", "576.8 MiB", "7 days"),
        (5 * 1024**4, "5 TiB", "63629.1 days"),
        (5_011_200_000, "4.7 GiB", "58 days"),
        (-1, "unlimited", "unlimited"),
        ("-1", "unlimited", "unlimited"),
        ("n/a", "n/a", "n/a"),
    ],
)
def test_message_formats(value: object, bytes_text: str, duration_text: str) -> None:
    assert format_bytes(value) == bytes_text
    assert format_duration(value) == duration_text


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{nowhere.x}", "must start with one of"),
        ("{request.spec.name|upper}", "unknown format 'upper'"),
        ("a } b", "unmatched '}'"),
        ("a { b", "unmatched '{'"),
        ("{}", "is not a dotted path"),
        ("{request..name}", "is not a dotted path"),
    ],
)
def test_broken_message_templates_are_refused(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        MessageTemplate.compile(text)


def test_evaluate_does_not_change_the_document(tmp_path: Path) -> None:
    doc = document(create_request(config={"retention.ms": "-1"}))
    before = copy.deepcopy(doc)
    evaluate(load_bundle(POLICY_DIR), doc)
    evaluate(bundle_of(tmp_path, [rule("t.deny")]), doc)
    assert doc == before


def test_decision_round_trips_through_json() -> None:
    decision = Decision(
        "needs_approval",
        [RuleResult("a.b", "require_approval", "m", ("team:payments",)), RuleResult("a.c", "warn", "w")],
        ["team:payments"],
    )
    data = json.loads(json.dumps(decision.to_dict()))
    assert data == {
        "outcome": "needs_approval",
        "rules": [
            {"id": "a.b", "effect": "require_approval", "message": "m", "approvers": ["team:payments"]},
            {"id": "a.c", "effect": "warn", "message": "w", "approvers": []},
        ],
        "approvers": ["team:payments"],
    }
    assert Decision.from_dict(data) == decision
    with pytest.raises(ValueError, match="unknown outcome"):
        Decision.from_dict({"outcome": "maybe"})


def test_paths_find_keys_with_dots_and_every_list_item() -> None:
    doc = {
        "proposed": {"config": {"min": "x", "min.insync.replicas": "2", "retention.ms": "1"}},
        "request": {"spec": {"consumers": [{"principal": "User:a.r"}, {"principal": "User:b.r"}, {}]}},
        "topic": None,
    }
    assert DocumentPath.parse("proposed.config.min.insync.replicas").value(doc) == "2"
    assert DocumentPath.parse("proposed.config.retention.ms").value(doc) == "1"
    assert DocumentPath.parse("proposed.config.min").value(doc) == "x"
    assert DocumentPath.parse("proposed.config.segment.ms").value(doc) is MISSING
    assert DocumentPath.parse("topic.name").value(doc) is MISSING
    assert DocumentPath.parse("topic").value(doc) is None
    consumers = DocumentPath.parse("request.spec.consumers.*.principal")
    assert consumers.values(doc) == ["User:a.r", "User:b.r"]
    assert consumers.value(doc) == "User:a.r"
    assert DocumentPath.parse("request.spec.consumers.1.principal").value(doc) == "User:b.r"
    with pytest.raises(ValueError, match="must start with one of"):
        DocumentPath.parse("spec.name")


# --- the evaluation document --------------------------------------------------------------------


def test_document_from_dataclasses_and_from_mappings_is_the_same() -> None:
    request = create_request(config={"retention.ms": "86400000"}, expected_throughput={"bytes_per_second": 1024})
    from_dataclasses = document(request)
    from_mappings = build_evaluation_document(
        request,
        {"subject": "alice", "teams": ["payments"]},
        {
            "name": "payments-dev",
            "environment": "dev",
            "owner_team": "payments",
            "tags": ["pci"],
            "broker_count": 3,
            "partition_budget": 1000,
            "disk_budget_bytes": 100 * 1024**3,
            "usage": {"partitions": 10, "replicas": 30, "disk_bytes": 1024**3},
        },
        None,
    )
    assert from_dataclasses == from_mappings
    assert from_dataclasses["proposed"] == {
        "name": "payments.invoices.v1",
        "partitions": 6,
        "replication_factor": 3,
        "config": {"retention.ms": "86400000"},
        "expected_bytes_per_second": 1024,
        "added_partitions": 6,
        "added_replicas": 18,
        "cross_team_principals": [],
    }
    assert schema_errors(EVALUATION_DOCUMENT_SCHEMA_ID, from_dataclasses) == []


def test_document_for_an_update_merges_the_current_topic() -> None:
    topic = TopicFacts(
        name="payments.invoices.v1",
        owner_team="payments",
        partitions=6,
        replication_factor=3,
        config={"retention.ms": "86400000", "segment.ms": "3600000"},
        expected_bytes_per_second=2048,
        grants=({"principal": "User:billing.reader", "access": "consume", "group": "billing.readers"},),
    )
    update = {
        "kind": "topic.update",
        "cluster": "payments-dev",
        "spec": {"name": "payments.invoices.v1", "partitions": 8, "config": {"segment.ms": None, "retention.ms": "1"}},
    }
    doc = document(update, topic=topic)
    assert doc["proposed"] == {
        "name": "payments.invoices.v1",
        "partitions": 8,
        "replication_factor": 3,
        "config": {"retention.ms": "1"},
        "expected_bytes_per_second": 2048,
        "added_partitions": 2,
        "added_replicas": 6,
    }
    assert doc["topic"]["config"] == {"retention.ms": "86400000", "segment.ms": "3600000"}
    assert schema_errors(EVALUATION_DOCUMENT_SCHEMA_ID, doc) == []


@pytest.mark.parametrize(
    "request_",
    [
        {"kind": "topic.delete", "cluster": "payments-dev", "spec": {"name": "payments.invoices.v1"}},
        {
            "kind": "quota.set",
            "cluster": "payments-dev",
            "spec": {"principal": "User:payments.w", "producer_byte_rate": 1},
        },
        {
            "kind": "access.grant",
            "cluster": "payments-dev",
            "spec": {"topic": "payments.invoices.v1", "principal": "User:billing.r", "access": "consume", "group": "g"},
        },
    ],
)
def test_document_has_no_proposed_topic_for_other_kinds(request_: dict[str, Any]) -> None:
    doc = document(request_, topic=TopicFacts(name="payments.invoices.v1", owner_team="payments"))
    assert doc["proposed"] is None
    assert doc["request"] == {"kind": request_["kind"], "cluster": "payments-dev", "spec": request_["spec"]}
    assert schema_errors(EVALUATION_DOCUMENT_SCHEMA_ID, doc) == []


@pytest.mark.parametrize(
    ("teams", "principal", "topic_owner", "expected"),
    [
        (["billing"], "User:billing.reader", "payments", ("payments", "billing", False, False, True)),
        (["payments"], "User:billing.reader", "payments", ("payments", "billing", True, True, False)),
        (["payments"], "User:billing.reader", None, ("payments", "billing", True, True, False)),
        (["billing"], "User:legacy", "ledger", ("ledger", None, False, False, None)),
        (["ledger"], None, "ledger", ("ledger", None, True, False, None)),
    ],
)
def test_document_says_who_owns_what(
    teams: list[str], principal: str | None, topic_owner: str | None, expected: tuple[Any, ...]
) -> None:
    spec: dict[str, Any] = {"topic": "payments.invoices.v1", "access": "produce"}
    if principal is not None:
        spec["principal"] = principal
    topic = None if topic_owner is None else TopicFacts(name="payments.invoices.v1", owner_team=topic_owner)
    doc = document(
        {"kind": "access.grant", "cluster": "payments-dev", "spec": spec},
        requester=Requester(subject="x", teams=teams),
        topic=topic,
    )
    keys = ("topic_owner_team", "principal_team", "requester_owns_topic", "requester_owns_cluster",
            "requester_owns_principal")
    assert tuple(doc["ownership"][key] for key in keys) == expected


# --- loading bundles ----------------------------------------------------------------------------


def load_error(tmp_path: Path, rules: list[dict[str, Any]] | None = None, raw: str | None = None) -> PolicyBundleError:
    directory = tmp_path / "broken"
    file = write_policy(directory, "t", rules or [])
    if raw is not None:
        file.write_text(raw, encoding="utf-8")
    with pytest.raises(PolicyBundleError) as raised:
        load_bundle(directory)
    assert raised.value.file == file
    assert str(raised.value).startswith(str(file))
    return raised.value


def paths_and_messages(error: PolicyBundleError) -> list[tuple[str, str]]:
    return [(e.path, e.message) for e in error.errors]


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    error = load_error(tmp_path, raw='{\n  "rules": [,]\n}')
    assert paths_and_messages(error) == [("", "not valid JSON at line 2 column 13: Expecting value")]


@pytest.mark.parametrize(
    ("bad_rule", "path", "message"),
    [
        (rule("t.x", effect="block"), "/rules/0/effect", 'must be one of "deny", "require_approval", "warn"'),
        (rule("t.x", "require_approval", approvers=[]), "/rules/0/approvers", "must have at least 1 items"),
        ({**rule("t.x", "require_approval"), "approvers": None}, "/rules/0/approvers", "must be a list"),
        (
            {k: v for k, v in rule("t.x", "require_approval").items() if k != "approvers"},
            "/rules/0/approvers",
            "a require_approval rule names its approvers",
        ),
        (rule("t.x", approvers=[{"role": "platform_admin"}]), "/rules/0/approvers", "approvers only go with"),
        (
            rule("t.x", "require_approval", approvers=[{"team_of": "janitor"}]),
            "/rules/0/approvers/0",
            'an approver is {"team_of": "topic_owner" or "cluster_owner"}',
        ),
        (rule("t.x", check={"builtin": "telepathy"}), "/rules/0/check/builtin", "must be one of"),
        (rule("t.x", check={}), "/rules/0/check", "a check has a `when` schema, a `builtin`, or both"),
        (rule("t.x", check={"builtin": "compare"}), "/rules/0/check/params", '"params" is required'),
        (
            rule(
                "t.x",
                check={"builtin": "compare", "params": {"left": "request.spec.partitions", "op": "~", "right": 1}},
            ),
            "/rules/0/check/params/op",
            "must be one of",
        ),
        (
            rule("t.x", check={"builtin": "compare", "params": {"left": "spec.partitions", "op": "<", "right": 1}}),
            "/rules/0/check/params/left",
            '"spec.partitions" is not a path into the evaluation document',
        ),
        (
            rule("t.x", check={"builtin": "partition_budget", "params": {"max": 1}}),
            "/rules/0/check/params",
            "this builtin takes no params",
        ),
        (rule("t.x", check={"when": {"type": "integr"}}), "/rules/0/check/when/type", ""),
        (rule("t.x", check={"when": {"minimum": "ten"}}), "/rules/0/check/when/minimum", "must be a number"),
        (rule("t.x", scope={"kinds": ["topic.rename"]}), "/rules/0/scope/kinds/0", "must be one of"),
        (rule("t.x", scope={"environments": ["qa"]}), "/rules/0/scope/environments/0", "must be one of"),
        (rule("t.x", scope={"teams": ["payments"]}), "/rules/0/scope/teams", 'unknown field "teams"'),
        (rule("T X"), "/rules/0/id", "rule ids are lowercase words"),
        ({"id": "t.x"}, "/rules/0/check", '"check" is required'),
        (rule("other.x"), "/rules/0/id", "rule ids in t.policy.json start with 't' and a dot"),
        (rule("t.x", message="{request.spec.name|shout}"), "/rules/0/message", "unknown format 'shout'"),
        (rule("t.x", message="Hello {name}"), "/rules/0/message", "'name' must start with one of"),
    ],
)
def test_broken_rules_are_reported_with_file_and_path(
    tmp_path: Path, bad_rule: dict[str, Any], path: str, message: str
) -> None:
    error = load_error(tmp_path, [rule("t.fine"), bad_rule])
    fixed = [(p.replace("/rules/1", "/rules/0"), m) for p, m in paths_and_messages(error)]
    assert any(p == path and message in m for p, m in fixed), fixed


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    error = load_error(tmp_path, [rule("t.a", effect="block"), rule("t.b", scope={"environments": ["qa"]})])
    assert [e.path for e in error.errors] == ["/rules/0/effect", "/rules/1/scope/environments/0"]


def test_top_level_mistakes(tmp_path: Path) -> None:
    error = load_error(tmp_path, raw=json.dumps({"rules": [], "owner": "me"}))
    assert paths_and_messages(error) == [
        ("/description", '"description" is required'),
        ("/owner", 'unknown field "owner"; allowed fields: $schema, description, rules'),
        ("/rules", "must have at least 1 items"),
    ]


def test_rule_ids_are_unique_across_the_bundle(tmp_path: Path) -> None:
    directory = tmp_path / "dupes"
    write_policy(directory, "a", [rule("a.x")])
    second = write_policy(directory, "b", [rule("b.y"), rule("b.y")])
    with pytest.raises(PolicyBundleError) as raised:
        load_bundle(directory)
    assert raised.value.file == second
    assert paths_and_messages(raised.value) == [("/rules/1/id", "rule id 'b.y' is already used in b.policy.json")]


def test_an_empty_directory_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(PolicyBundleError, match=r"no \*\.policy\.json files"):
        load_bundle(tmp_path)


# --- the default bundle, as files ---------------------------------------------------------------


def copy_default_bundle(tmp_path: Path) -> Path:
    directory = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, directory)
    return directory


def edit_rule(directory: Path, policy_file: str, rule_id: str, edit: Any) -> None:
    file = directory / policy_file
    data = json.loads(file.read_text(encoding="utf-8"))
    (target,) = [r for r in data["rules"] if r["id"] == rule_id]
    edit(target)
    file.write_text(json.dumps(data, indent=2), encoding="utf-8")


def test_changing_a_policy_file_changes_decisions_without_code(tmp_path: Path) -> None:
    directory = copy_default_bundle(tmp_path)
    sixty = document(create_request(partitions=60, replication_factor=1))
    assert evaluate(load_bundle(directory), sixty).rule_ids == ["topic-bounds.partitions-dev"]

    def raise_bound(target: dict[str, Any]) -> None:
        spec = target["check"]["when"]["properties"]["request"]["properties"]["spec"]
        spec["properties"]["partitions"]["minimum"] = 61

    edit_rule(directory, "topic-bounds.policy.json", "topic-bounds.partitions-dev", raise_bound)
    assert evaluate(load_bundle(directory), sixty) == Decision("auto_approved", [], [])

    # A builtin's params are policy too: a lower per-broker limit denies the same request.
    edit_rule(
        directory,
        "capacity.policy.json",
        "capacity.partitions-per-broker",
        lambda target: target["check"]["params"].update(max_per_broker=10),
    )
    assert evaluate(load_bundle(directory), sixty).rule_ids == ["capacity.partitions-per-broker"]

    # And effects: turning the deny into a warning lets it through.
    edit_rule(directory, "capacity.policy.json", "capacity.partitions-per-broker", lambda t: t.update(effect="warn"))
    assert evaluate(load_bundle(directory), sixty).outcome == "auto_approved"


def test_the_default_bundle_on_the_contract_example() -> None:
    request = {k: v for k, v in CONTRACT_TOPIC_CREATE.items() if k != "reason"}
    assert evaluate(load_bundle(), document(request)) == Decision("auto_approved", [], [])


def test_the_default_bundle_lists_every_reason_of_a_bad_request() -> None:
    request = create_request(
        name="billing.x",
        partitions=50,
        replication_factor=5,
        config={"retention.ms": "-1", "min.insync.replicas": "6", "max.message.bytes": "20000000"},
        producers=["User:billing.writer"],
    )
    decision = evaluate(load_bundle(), document(request))
    assert decision.outcome == "denied"
    assert decision.approvers == []
    assert decision.rule_ids == [
        "config.max-message-bytes",
        "naming.topic-team-prefix",
        "naming.producer-team-prefix",
        "replication.rf-exceeds-brokers",
        "replication.min-isr-exceeds-rf",
        "topic-bounds.partitions-dev",
        "topic-bounds.retention-unlimited-nonprod",
    ]
    assert all(r.message and "{" not in r.message and "(not set)" not in r.message for r in decision.rules)


# --- case files and the CLI ---------------------------------------------------------------------


def test_a_policy_without_case_file_and_an_orphan_case_file_fail(tmp_path: Path) -> None:
    directory = copy_default_bundle(tmp_path)
    (directory / "quota.cases.json").unlink()
    shutil.copy(directory / "naming.cases.json", directory / "ghost.cases.json")
    failed = [(r.file, r.name, r.problems) for r in run_cases(directory) if not r.passed]
    assert failed == [
        ("quota.cases.json", "(whole file)", ("no case file",)),
        ("ghost.cases.json", "(whole file)", ("there is no ghost.policy.json",)),
    ]


def test_a_case_with_a_bad_input_fails_with_paths(tmp_path: Path) -> None:
    directory = copy_default_bundle(tmp_path)
    file = directory / "deletion.cases.json"
    data = json.loads(file.read_text(encoding="utf-8"))
    data["cases"][0]["input"] = {"cluster": {"environment": "qa"}, "requester": {"teams": "payments"}}
    file.write_text(json.dumps(data), encoding="utf-8")
    (result,) = [r for r in run_cases(directory) if not r.passed]
    assert result.problems == (
        '/cases/0/input/cluster/environment: must be one of "dev", "staging", "prod"; got "qa"',
        "/cases/0/input/requester/teams: must be a list, not a string",
    )


def test_cli_passes_on_the_default_bundle() -> None:
    result = CliRunner().invoke(policy, ["test"])
    assert result.exit_code == 0, result.output
    assert "PASS  naming.cases.json :: a topic without the owner team's prefix is denied" in result.output
    assert " 0 failed" in result.output.splitlines()[-1]


def test_cli_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    directory = copy_default_bundle(tmp_path)
    file = directory / "quota.cases.json"
    data = json.loads(file.read_text(encoding="utf-8"))
    data["cases"][1]["expected"] = {"outcome": "auto_approved", "rules": ["quota.no-such-rule"]}
    file.write_text(json.dumps(data), encoding="utf-8")
    result = CliRunner().invoke(policy, ["test", "--dir", str(directory)])
    assert result.exit_code == 1
    assert "FAIL  quota.cases.json :: a produce quota above 10 MiB/s goes to a platform admin" in result.output
    assert "expected rule 'quota.no-such-rule' does not exist" in result.output
    assert "outcome: expected auto_approved, got needs_approval" in result.output
    assert "rules that fired unexpectedly: quota.producer-above-default" in result.output
    assert result.output.splitlines()[-1].endswith(" 1 failed")


def test_cli_reports_a_broken_file_on_one_line(tmp_path: Path) -> None:
    directory = copy_default_bundle(tmp_path)
    edit_rule(directory, "naming.policy.json", "naming.topic-team-prefix", lambda t: t.update(effect="block"))
    result = CliRunner().invoke(policy, ["test", "--dir", str(directory)])
    assert result.exit_code == 1
    assert f"Error: {directory / 'naming.policy.json'}: /rules/0/effect: must be one of" in result.output

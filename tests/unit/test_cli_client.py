"""The pure parts of the `topicdesk` client: rendering of each outcome, exit codes, source names,
content types, error lines, --wait's progress and its exit code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from click.testing import CliRunner

from topicdesk.cli import main
from topicdesk.client.files import content_type_for, repository_name, source_name
from topicdesk.client.http import problem_line
from topicdesk.client.render import (
    exit_code,
    failure_line,
    progress_line,
    render_request,
    render_request_table,
    render_result,
    render_topic_table,
    status_chain,
    use_color,
    wait_exit_code,
)
from topicdesk.client.watch import Watched, wait_for

TOPIC = "payments.orders.v1"


def change(outcome: str, action: str = "create", **extra: Any) -> dict[str, Any]:
    kind = {"create": "topic.create", "update": "topic.update", "delete": "topic.delete", "adopt": "topic.update"}
    return {"action": action, "resource": {"type": "topic", "key": f"topic:{TOPIC}", "name": TOPIC},
            "destructive": False, "diff": [], "request": {"kind": kind[action], "cluster": "payments-dev",
                                                           "spec": {"name": TOPIC}},
            "outcome": outcome, "request_id": None, "request_url": None, "status": None, "decision": None,
            "approvers": [], "reasons": [], "error": None, **extra}


def result(*changes: dict[str, Any], dry_run: bool = False, in_sync: int = 0) -> dict[str, Any]:
    return {"cluster": "payments-dev", "team": "payments", "source": "acme/payments-topics:payments-dev.yaml",
            "dry_run": dry_run, "allow_destroy": False, "in_sync": not changes,
            "summary": {"changes": len(changes), "in_sync": in_sync}, "changes": list(changes)}


# -- exit codes -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("outcome", "status", "code"), [
    ("auto_approved", "approved", 0),
    ("submitted", "applied", 0),
    ("awaiting_approval", "pending_approval", 2),
    ("already_requested", "pending_approval", 2),
    ("already_requested", "applying", 0),
    ("denied", "denied", 1),
    ("skipped_destructive", None, 1),
    ("previously_denied", "denied", 1),
    ("error", None, 1),
])
def test_apply_exit_code_per_outcome(outcome: str, status: str | None, code: int) -> None:
    assert exit_code(result(change(outcome, status=status))) == code


@pytest.mark.parametrize(("outcome", "code"), [("planned", 2), ("already_requested", 2), ("denied", 1),
                                                ("skipped_destructive", 1), ("previously_denied", 1), ("error", 1)])
def test_plan_exit_code_per_outcome(outcome: str, code: int) -> None:
    assert exit_code(result(change(outcome), dry_run=True)) == code


def test_in_sync_is_0_and_one_failure_wins_over_pending() -> None:
    assert exit_code(result(dry_run=True, in_sync=4)) == 0
    assert exit_code(result(in_sync=4)) == 0
    assert exit_code(result(change("awaiting_approval", status="pending_approval"), change("denied"))) == 1
    assert exit_code(result(change("planned"), change("skipped_destructive"), dry_run=True)) == 1


def test_failure_line_counts_what_failed() -> None:
    failed = result(change("denied"), change("previously_denied"), change("skipped_destructive", action="delete"))
    assert failure_line(failed) == "the file was not applied: 2 denied, 1 destructive skipped (needs --allow-destroy)"
    assert failure_line(result(change("error"), dry_run=True)) == "the plan cannot be applied: 1 in error"
    assert failure_line(result(change("auto_approved", status="approved"))) is None


# -- rendering --------------------------------------------------------------------------------------

def test_in_sync_renders_one_line_after_the_header() -> None:
    text = render_result(result(dry_run=True, in_sync=5), color=False)
    assert text == ("Plan for team payments on cluster payments-dev from acme/payments-topics:payments-dev.yaml\n"
                    "No changes: in sync (5 resources).\n")


def test_each_outcome_renders_what_happened_and_why() -> None:
    planned = change("planned", decision={"outcome": "needs_approval", "rules": [], "approvers": ["team:ingest"]},
                     approvers=["team:ingest"])
    update = change("auto_approved", action="update", request_id="r1", status="approved", diff=[
        {"field": "config.retention.ms", "before": "604800000", "after": "86400000", "destructive": False},
        {"field": "config.cleanup.policy", "before": "compact", "after": None, "destructive": True}])
    awaiting = change("awaiting_approval", request_id="r2", status="pending_approval",
                      approvers=["team:ingest", "role:platform_admin"])
    denied = change("denied", request_id="r3", status="denied",
                    reasons=[{"id": "topic-bounds.partitions-dev", "message": "at most 12 partitions"}])
    skipped = change("skipped_destructive", action="delete", destructive=True)
    again = change("already_requested", request_id="r4", status="pending_approval")
    before = change("previously_denied", request_id="r5", reasons=[{"id": "naming.prefix", "message": "rename"}])
    error = change("error", action="adopt", error={"status": 409, "reason": "conflict", "message":
                                                   "managed by desired-state file acme/other:x.yaml", "errors": []})
    text = render_result(result(planned, update, awaiting, denied, skipped, again, before, error, in_sync=2),
                         color=False, base_url="https://td.example.com")
    assert f"  + topic {TOPIC}  (create)\n    needs approval by team:ingest\n" in text
    assert (f"  ~ topic {TOPIC}  (update)\n      ~ config.retention.ms: 604800000 -> 86400000\n"
            "      - config.cleanup.policy: compact  (destructive)\n"
            "    auto-approved  request r1 (https://td.example.com/#/requests/r1)\n") in text
    assert "    awaiting approval by team:ingest, role:platform_admin  request r2" in text
    assert "    denied  request r3 (https://td.example.com/#/requests/r3)\n" \
           "      topic-bounds.partitions-dev: at most 12 partitions\n" in text
    assert f"  - topic {TOPIC}  (delete)  destructive\n    destructive: skipped, apply with --allow-destroy" in text
    assert "    already requested (pending_approval)  request r4" in text
    assert "    denied before, not submitted again: change the file to ask again  request r5 " \
           "(https://td.example.com/#/requests/r5)\n      naming.prefix: rename\n" in text
    assert f"  > topic {TOPIC}  (adopt)\n    error\n      409 managed by desired-state file acme/other:x.yaml\n" in text
    assert ("Apply: 5 to create, 1 to update, 1 to delete, 1 to adopt; 2 in sync (1 planned, 1 auto-approved, "
            "1 awaiting approval, 1 denied, 1 skipped as destructive, 1 already requested, 1 denied before, "
            "1 in error).") in text
    assert "1 destructive change(s) not submitted: run with --allow-destroy to submit them." in text


def test_a_create_without_a_diff_lists_its_spec_one_field_a_line() -> None:
    created = change("planned", diff=None, request={"kind": "topic.create", "cluster": "c", "spec": {
        "name": TOPIC, "partitions": 3, "config": {"retention.ms": "1000"}}})
    text = render_result(result(created, dry_run=True), color=False)
    assert "      + config.retention.ms: 1000\n      + partitions: 3\n" in text


def test_colour_only_on_a_terminal_without_no_color() -> None:
    assert use_color(True, {}) is True
    assert use_color(False, {}) is False
    assert use_color(True, {"NO_COLOR": "1"}) is False
    assert use_color(True, {"NO_COLOR": ""}) is True
    coloured = render_result(result(change("denied")), color=True)
    assert "\x1b[" in coloured
    assert "\x1b[" not in render_result(result(change("denied")), color=False)


def test_request_and_topic_tables() -> None:
    request = {"id": "r1", "kind": "access.grant", "cluster": "payments-dev", "status": "applied",
               "spec": {"topic": TOPIC, "principal": "User:ingest.a", "access": "consume"},
               "requested_by": "dave", "created_at": "2026-01-01T00:00:00Z"}
    lines = render_request_table([request]).splitlines()
    assert lines[0].split() == ["ID", "KIND", "CLUSTER", "STATUS", "SUBJECT", "REQUESTED", "BY", "CREATED"]
    assert lines[1].split() == ["r1", "access.grant", "payments-dev", "applied", "User:ingest.a", "consume", TOPIC,
                                "dave", "2026-01-01T00:00:00Z"]
    topics = render_topic_table([{"name": TOPIC, "cluster": "c", "owner_team": "payments", "partitions": 3,
                                  "replication_factor": 1, "status": "applied", "managed_by": None}])
    assert topics.splitlines()[1].split() == [TOPIC, "c", "payments", "3", "1", "applied", "-"]
    shown = render_request({**request, "requester_team": "ingest", "decision": {
        "outcome": "needs_approval", "approvers": ["team:payments"],
        "rules": [{"id": "access.cross-team-approval", "effect": "require_approval", "message": "owners decide"}]},
        "history": [{"at": "t1", "status": "pending_approval", "by": "dave"}]}, color=False)
    assert "  decision:     needs_approval; approvers: team:payments\n" in shown
    assert "    require_approval  access.cross-team-approval: owners decide\n" in shown
    assert "  history:\n    t1  pending_approval" in shown


# -- --wait -----------------------------------------------------------------------------------------

def test_status_chain_keeps_each_status_once_in_order() -> None:
    view = {"status": "applied", "history": [{"status": "approved"}, {"status": "applying"}, {"status": "applying"},
                                             {"status": "applied"}]}
    assert status_chain(view) == ["approved", "applying", "applied"]
    assert status_chain({"status": "pending_approval", "history": []}) == ["pending_approval"]


def test_progress_line_is_the_contracts() -> None:
    line = progress_line(TOPIC, "topic.create", ["approved", "applying", "applied"], False)
    assert line == "payments.orders.v1  topic.create  approved -> applying -> applied"


@pytest.mark.parametrize(("statuses", "code"), [
    (["applied", "applied"], 0), (["applied", "failed"], 1), (["pending_approval", "denied"], 1),
    (["applied", "pending_approval"], 2), (["applying"], 1), (["pending_approval", "applying"], 1)])
def test_wait_exit_code(statuses: list[str], code: int) -> None:
    assert wait_exit_code(statuses) == code


class Script:
    """Answers GET /api/v1/requests/{id} from a list of views per request, one step per poll."""

    def __init__(self, views: dict[str, list[Mapping[str, Any]]]) -> None:
        self.views = views
        self.now = 0.0

    def fetch(self, request_id: str) -> Mapping[str, Any]:
        steps = self.views[request_id]
        return steps.pop(0) if len(steps) > 1 else steps[0]

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def history(*statuses: str) -> dict[str, Any]:
    return {"status": statuses[-1], "history": [{"status": s} for s in statuses]}


def test_wait_prints_a_line_per_status_change_until_applied() -> None:
    script = Script({"a": [history("approved", "applying"), history("approved", "applying"),
                           history("approved", "applying", "applied")],
                     "b": [{**history("approved", "applying", "failed"),
                            "error": {"reason": "policy_violation", "message": "no"}}]})
    lines: list[str] = []
    watched = [Watched("a", TOPIC, "topic.create", ["approved"]), Watched("b", "x", "topic.update", ["approved"])]
    done = wait_for(watched, script.fetch, lines.append, timeout=30, color=False, clock=lambda: script.now,
                    sleep=script.sleep)
    assert lines == [
        "payments.orders.v1  topic.create  approved",
        "x                   topic.update  approved",
        "payments.orders.v1  topic.create  approved -> applying",
        "x                   topic.update  approved -> applying -> failed",
        "                    error: policy_violation: no",
        "payments.orders.v1  topic.create  approved -> applying -> applied",
    ]
    assert (done.code, done.timed_out) == (1, False)


def test_wait_times_out_with_2_when_only_an_approval_is_missing() -> None:
    script = Script({"a": [history("pending_approval")]})
    done = wait_for([Watched("a", TOPIC, "access.grant", ["pending_approval"])], script.fetch, lambda _: None,
                    timeout=5, color=False, clock=lambda: script.now, sleep=script.sleep)
    assert (done.code, done.timed_out) == (2, True)
    assert script.now == pytest.approx(5)
    stopped = wait_for([Watched("a", TOPIC, "access.grant", ["pending_approval"])], script.fetch, lambda _: None,
                       timeout=5, color=False, stop_at_approval=True, clock=lambda: script.now, sleep=script.sleep)
    assert (stopped.code, stopped.timed_out) == (2, False)


# -- what is sent -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "expected"), [("a.yaml", "application/yaml"), ("dir/A.YML", "application/yaml"),
                                                ("a.json", "application/json"), ("a", "application/json")])
def test_content_type_from_the_extension(path: str, expected: str) -> None:
    assert content_type_for(path) == expected


@pytest.mark.parametrize(("remote", "expected"), [
    ("git@github.com:acme/payments-topics.git", "acme/payments-topics"),
    ("https://github.com/acme/payments-topics.git", "acme/payments-topics"),
    ("https://gitlab.example.com/group/sub/payments-topics", "group/sub/payments-topics"),
    ("ssh://git@gitlab.example.com:2222/group/payments-topics.git", "group/payments-topics"),
    ("https://gitlab-ci-token:s3cret@gitlab.example.com/group/payments-topics.git", "group/payments-topics"),
    (None, "checkout"),
])
def test_repository_name(remote: str | None, expected: str) -> None:
    assert repository_name(remote, "/home/ci/checkout") == expected


def test_source_name_is_the_path_in_the_repository() -> None:
    remote = "git@github.com:acme/payments-topics.git"
    assert source_name("kafka/payments-dev.yaml", toplevel="/r", remote_url=remote, cwd="/r") == \
        "acme/payments-topics:kafka/payments-dev.yaml"
    assert source_name("../kafka/payments-dev.yaml", toplevel="/r", remote_url=remote, cwd="/r/ci") == \
        "acme/payments-topics:kafka/payments-dev.yaml"
    assert source_name("/tmp/x.yaml", toplevel="/r", remote_url=remote, cwd="/r") == "/tmp/x.yaml"
    assert source_name("x.yaml", toplevel=None, remote_url=None, cwd="/anywhere") == "x.yaml"


# -- errors -----------------------------------------------------------------------------------------

def test_error_lines_from_problem_documents() -> None:
    validation = {"type": "https://topicdesk.dev/problems/validation_failed", "title": "Validation failed",
                  "status": 422, "detail": "the desired-state file does not match its schema",
                  "errors": [{"path": "/topics/0/partitions", "message": "0 is less than the minimum of 1",
                              "line": 7, "column": 17},
                             {"path": "/team", "message": "is required"}]}
    assert problem_line(422, validation) == (
        "422 Validation failed: the desired-state file does not match its schema: "
        "/topics/0/partitions (line 7): 0 is less than the minimum of 1; /team: is required")
    assert problem_line(404, {"title": "Not found", "detail": "no such request"}) == "404 Not found: no such request"
    assert problem_line(429, {"title": "Too many requests", "detail": "slow down", "retry_after": "3"}) == \
        "429 Too many requests: slow down (retry after 3 s)"
    assert problem_line(500, {"title": "Oops", "detail": "two\nlines"}) == "500 Oops: two lines"


def test_help_groups_admin_commands_and_explains_exit_codes() -> None:
    text = CliRunner().invoke(main, ["--help"]).output
    client, admin = text.index("Commands (over the HTTP API):"), text.index("Admin commands")
    assert client < admin
    for name in ("plan", "apply", "export", "requests", "topics"):
        assert client < text.index(f"\n  {name} ") < admin
    for name in ("token", "db", "local", "demo", "reconcile", "serve", "drift", "audit", "policy"):
        assert text.index(f"\n  {name} ") > admin
    assert "2  plan: changes to apply; apply/wait: changes awaiting approval" in text


def test_usage_errors_are_one_line_with_exit_code_1() -> None:
    result = CliRunner().invoke(main, ["apply"])
    assert result.exit_code == 1
    assert result.stderr == "error: Missing option '-f' / '--file'. (see `main apply --help`)\n"
    unknown = CliRunner().invoke(main, ["plann"])
    assert unknown.exit_code == 1
    assert unknown.stderr.count("\n") == 1

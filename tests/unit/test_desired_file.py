"""Desired-state files: the requests that close the gap, and applying a file twice changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakes import FakeClusterPort
from tests.support import build_desk
from topicdesk.domain.desired_file import CurrentQuota, CurrentState, CurrentTopic, Plan, plan_file
from topicdesk.domain.desired_result import (
    EarlierRequest,
    not_applied_detail,
    outcome_before_asking,
    result_status,
    summary,
)
from topicdesk.domain.identity import Role
from topicdesk.services.reconcile_loop import run_once

FILE: dict[str, Any] = {
    "version": 1, "cluster": "payments-dev", "team": "payments",
    "topics": [
        {"name": "payments.a", "partitions": 3, "replication_factor": 1, "config": {"retention.ms": "86400000"},
         "producers": ["User:payments.w"]},
        {"name": "payments.b", "partitions": 6, "replication_factor": 1, "config": {"cleanup.policy": "compact"}},
    ],
    "grants": [{"topic": "ingest.clicks", "principal": "User:payments.reader", "access": "consume",
                "group": "payments.clicks"}],
    "quotas": [{"principal": "User:payments.w", "producer_byte_rate": 1048576}],
}


SOURCE = "acme/payments-topics:kafka/payments-dev.yaml"


def kinds(plan: Plan) -> list[tuple[str, str, str, bool]]:
    return [(c.action, c.key, c.request["kind"] if c.request else "-", c.destructive) for c in plan.changes]


def test_the_gap_becomes_requests_for_what_the_file_declares() -> None:
    current = CurrentState(
        topics={"payments.b": CurrentTopic("payments.b", 3, 1, {"cleanup.policy": "delete"}, managed_by=SOURCE)},
        quotas={"User:payments.w": CurrentQuota({"producer_byte_rate": 1048576.0}, SOURCE)},
    )
    plan = plan_file(FILE, current, source=SOURCE)
    assert kinds(plan) == [
        ("create", "topic:payments.a", "topic.create", False),
        ("update", "topic:payments.b", "topic.update", False),
        ("create", "access_grant:literal:ingest.clicks:User:payments.reader:consume:group=payments.clicks",
         "access.grant", False),
    ]
    update = plan.changes[1]
    assert update.request is not None
    assert update.request["spec"] == {"name": "payments.b", "partitions": 6, "config": {"cleanup.policy": "compact"}}
    assert [d.view() for d in update.diff] == [
        {"field": "partitions", "before": 3, "after": 6, "destructive": False},
        {"field": "config.cleanup.policy", "before": "delete", "after": "compact", "destructive": False}]
    # The producer declared on a new topic travels with its topic.create; the quota already matches.
    assert plan.in_sync == 1
    assert plan_file(FILE, CurrentState(), source=SOURCE).changes[0].request == {
        "kind": "topic.create", "cluster": "payments-dev", "spec": FILE["topics"][0],
        "reason": f"desired-state file {SOURCE}"}


def test_a_file_never_touches_what_it_does_not_declare_or_manage() -> None:
    portal = CurrentState(
        topics={"payments.portal": CurrentTopic("payments.portal", 3, 1, {"retention.ms": "1000"})},
        grants={("payments.portal", "User:ingest.reader", "consume", "ingest.g", "", "literal"): None,
                ("payments.portal", "User:payments.w", "produce", "", "", "literal"): "other/repo:file.yaml"},
        quotas={"User:payments.portal": CurrentQuota({"producer_byte_rate": 5.0})},
    )
    topics_only = {"version": 1, "cluster": "payments-dev", "team": "payments",
                   "topics": [{"name": "payments.new", "partitions": 1, "replication_factor": 1}]}
    plan = plan_file(topics_only, portal, source=SOURCE)
    assert kinds(plan) == [("create", "topic:payments.new", "topic.create", False)]
    # Not even a file that declares nothing: no revokes, no resets, no deletes.
    empty = {"version": 1, "cluster": "payments-dev", "team": "payments"}
    assert plan_file(empty, portal, source=SOURCE).changes == ()


def test_declaring_a_portal_resource_adopts_it() -> None:
    current = CurrentState(
        topics={"payments.b": CurrentTopic("payments.b", 6, 1, {"cleanup.policy": "compact"})},
        grants={("ingest.clicks", "User:payments.reader", "consume", "payments.clicks", "", "literal"): None},
        quotas={"User:payments.w": CurrentQuota({"producer_byte_rate": 1048576.0})},
    )
    file = {**FILE, "topics": [FILE["topics"][1]]}
    plan = plan_file(file, current, source=SOURCE)
    assert [(c.action, c.resource_type, c.request) for c in plan.changes] == [
        ("adopt", "topic", None), ("adopt", "access_grant", None), ("adopt", "quota", None)]
    assert plan.in_sync == 0
    # Adopting with a difference asks for it, with the file's marker set at approval.
    changed = {**file, "topics": [{**FILE["topics"][1], "description": "orders"}]}
    adopt = plan_file(changed, current, source=SOURCE).changes[0]
    assert (adopt.action, adopt.request and adopt.request["spec"]) == (
        "adopt", {"name": "payments.b", "description": "orders"})
    # Once managed by this file it is in sync; a resource another file manages is an error (409 inside).
    mine = CurrentState(topics={"payments.b": CurrentTopic("payments.b", 6, 1, {"cleanup.policy": "compact"},
                                                           managed_by=SOURCE)})
    assert plan_file({**file, "grants": [], "quotas": []}, mine, source=SOURCE).in_sync == 1
    theirs = plan_file(file, current, source="someone/else:other.yaml")
    assert all(c.error is None for c in theirs.changes)
    other = CurrentState(topics={"payments.b": CurrentTopic("payments.b", 6, 1, {}, managed_by="x/y:z.yaml")})
    refused = plan_file({**file, "grants": [], "quotas": []}, other, source=SOURCE).changes[0]
    assert refused.error is not None
    assert refused.error.status == 409
    assert "managed by desired-state file x/y:z.yaml" in refused.error.message


def test_every_destructive_kind_is_marked_and_split_from_the_safe_part() -> None:
    grant = ("payments.b", "User:payments.gone", "produce", "", "", "literal")
    current = CurrentState(
        topics={"payments.b": CurrentTopic("payments.b", 6, 1, {"cleanup.policy": "delete", "retention.ms": "1"},
                                           managed_by=SOURCE),
                "payments.old": CurrentTopic("payments.old", 1, 1, {}, managed_by=SOURCE)},
        grants={grant: SOURCE},
        quotas={"User:payments.w": CurrentQuota({"producer_byte_rate": 1.0, "consumer_byte_rate": 5.0}, SOURCE),
                "User:payments.old": CurrentQuota({"consumer_byte_rate": 7.0}, SOURCE)},
    )
    file = {**FILE, "topics": [FILE["topics"][1]], "grants": []}
    plan = plan_file(file, current, source=SOURCE)
    assert kinds(plan) == [
        ("update", "topic:payments.b", "topic.update", False),       # cleanup.policy: the safe part
        ("update", "topic:payments.b", "topic.update", True),        # retention.ms reset
        ("delete", "topic:payments.old", "topic.delete", True),
        ("delete", "access_grant:literal:payments.b:User:payments.gone:produce", "access.revoke", True),
        ("update", "quota:User:payments.w", "quota.set", False),
        ("update", "quota:User:payments.w", "quota.set", True),      # consumer_byte_rate removed
        ("delete", "quota:User:payments.old", "quota.set", True),
    ]
    requests = [c.request["spec"] for c in plan.changes if c.request]
    assert requests[1] == {"name": "payments.b", "config": {"retention.ms": None}}
    assert requests[3] == {"topic": "payments.b", "principal": "User:payments.gone", "access": "produce"}
    assert requests[5] == {"principal": "User:payments.w", "consumer_byte_rate": None}
    assert requests[6] == {"principal": "User:payments.old", "consumer_byte_rate": None}
    assert all(d.destructive for c in plan.changes if c.destructive for d in c.diff)


def test_deleting_a_topic_does_not_also_revoke_its_grants() -> None:
    """The topic.delete quarantines the topic's grants; a revoke beside it would hit a quarantined topic."""
    on_old = ("payments.old", "User:payments.w", "produce", "", "", "literal")
    elsewhere = ("ingest.clicks", "User:payments.gone", "consume", "payments.c", "", "literal")
    current = CurrentState(topics={"payments.old": CurrentTopic("payments.old", 1, 1, {}, managed_by=SOURCE)},
                           grants={on_old: SOURCE, elsewhere: SOURCE})
    plan = plan_file({**FILE, "topics": [], "grants": [], "quotas": []}, current, source=SOURCE)
    assert kinds(plan) == [
        ("delete", "topic:payments.old", "topic.delete", True),
        ("delete", "access_grant:literal:ingest.clicks:User:payments.gone:consume:group=payments.c", "access.revoke",
         True),
    ]


def test_destructive_changes_wait_for_allow_destroy() -> None:
    current = CurrentState(topics={"payments.old": CurrentTopic("payments.old", 1, 1, {}, managed_by=SOURCE)})
    delete = plan_file({**FILE, "topics": [], "grants": [], "quotas": []}, current, source=SOURCE).changes[0]
    skipped = outcome_before_asking(delete, allow_destroy=False, earlier=None)
    assert skipped is not None
    assert skipped["outcome"] == "skipped_destructive"
    assert "allow_destroy=true" in skipped["reasons"][0]["message"]
    assert outcome_before_asking(delete, allow_destroy=True, earlier=None) is None


def test_partition_decrease_and_replication_change_are_errors_with_the_planners_reason() -> None:
    current = CurrentState(topics={"payments.b": CurrentTopic("payments.b", 12, 3, {"cleanup.policy": "compact"},
                                                              managed_by=SOURCE)})
    file = {**FILE, "topics": [{**FILE["topics"][1], "description": "x"}], "grants": [], "quotas": []}
    plan = plan_file(file, current, source=SOURCE)
    error, update = plan.changes
    assert error.error is not None
    assert error.request is None
    assert error.error.reason == "partition_decrease"
    assert "Kafka cannot remove partitions: payments.b has 12, 6 were asked" in error.error.message
    assert "replication factor of payments.b from 3 to 1" in error.error.message
    assert [d.field for d in error.diff] == ["partitions", "replication_factor"]
    outcome = outcome_before_asking(error, allow_destroy=True, earlier=None)
    assert outcome is not None
    assert outcome["outcome"] == "error"
    assert outcome["error"]["status"] == 422
    # What can be done still is: the description.
    assert update.request is not None
    assert update.request["spec"] == {"name": "payments.b", "description": "x"}


def test_earlier_requests_make_outcomes_idempotent() -> None:
    change = plan_file(FILE, CurrentState(), source=SOURCE).changes[0]
    denied = EarlierRequest("r1", "denied", [], [{"id": "topic-bounds.partitions-dev", "message": "at most 12"}])
    outcome = outcome_before_asking(change, allow_destroy=False, earlier=denied)
    assert outcome == {"outcome": "previously_denied", "request_id": "r1", "request_url": "/api/v1/requests/r1",
                       "status": "denied", "reasons": [{"id": "topic-bounds.partitions-dev", "message": "at most 12"}]}
    waiting = EarlierRequest("r2", "pending_approval", ["team:ingest"], [])
    outcome = outcome_before_asking(change, allow_destroy=False, earlier=waiting)
    assert outcome is not None
    assert (outcome["outcome"], outcome["request_id"], outcome["approvers"]) == (
        "already_requested", "r2", ["team:ingest"])


def _result(dry_run: bool = False, **counts: int) -> dict[str, Any]:
    changes = [{"outcome": outcome} for outcome, n in counts.items() for _ in range(n)]
    return {"dry_run": dry_run, "summary": summary(changes, 0, 0)}


def test_status_code_rule() -> None:
    assert result_status(_result()) == 200                                    # in sync
    assert result_status(_result(auto_approved=3)) == 200
    assert result_status(_result(auto_approved=1, awaiting_approval=1)) == 202
    assert result_status(_result(already_requested=1)) == 202
    for bad in ("denied", "skipped_destructive", "previously_denied", "error"):
        mixed = [{"outcome": "awaiting_approval"}, {"outcome": bad}]
        assert result_status({"dry_run": False, "summary": summary(mixed, 0, 0)}) == 409
    # A plan answers 200 whatever it found.
    assert result_status(_result(dry_run=True, denied=1, error=1)) == 200
    assert "1 skipped destructive" in not_applied_detail(_result(skipped_destructive=1))


def test_applying_a_file_twice_submits_once_and_then_reports_in_sync(tmp_path: Path) -> None:
    port = FakeClusterPort()
    desk = build_desk(tmp_path, port, clusters={"payments-dev": "payments"}, tokens={"ci": ("payments", Role.MEMBER)})
    engine, client = desk.engine, desk.app.test_client()
    headers = {"Authorization": f"Bearer {desk.tokens['ci']}"}
    file = {k: v for k, v in FILE.items() if k != "grants"}

    preview = client.post("/api/v1/desired-state?dry_run=true", json=file, headers=headers).json
    assert preview is not None
    assert [(c["outcome"], c["decision"]["outcome"]) for c in preview["changes"]] == [
        ("planned", "auto_approved")] * 3
    applied_response = client.post("/api/v1/desired-state", json=file, headers=headers)
    assert applied_response.status_code == 200
    applied = applied_response.json
    assert applied is not None
    assert [(c["outcome"], c["status"]) for c in applied["changes"]] == [("auto_approved", "approved")] * 3
    assert applied["source"] == "desired-state:payments/payments-dev"
    assert applied["summary"]["submitted"] == applied["summary"]["auto_approved"] == 3
    run_once(engine, lambda _c, **_o: port)
    assert port.topics["payments.b"].partitions == 6
    again = client.post("/api/v1/desired-state", json=file, headers=headers).json
    assert again is not None
    assert again["in_sync"] is True
    assert again["changes"] == []
    assert again["summary"]["in_sync"] == 4  # two topics, the producer grant, the quota

    bad = client.post("/api/v1/desired-state", json={**file, "version": 2, "colour": "red"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json is not None
    assert sorted(e["path"] for e in bad.json["errors"]) == ["/colour", "/version"]

    # A time-bound grant in a file is refused with its path, not silently made permanent.
    timed = {**file, "grants": [{"topic": "payments.b", "principal": "User:payments.reader", "access": "consume",
                                 "group": "payments.readers", "duration": "P30D"}]}
    refused = client.post("/api/v1/desired-state?dry_run=true", json=timed, headers=headers)
    assert refused.status_code == 422
    assert refused.json is not None
    assert [e["path"] for e in refused.json["errors"]] == ["/grants/0/duration"]
    assert client.post("/api/v1/desired-state", json=file, headers=headers).json == again
    engine.dispose()

"""Notifications without sockets: the audit action -> event type mapping, the signature and the
documented verification recipe, the back-off schedule, URL rules, and the deliverer over SQLite with
a fake receiver (retries, history, disabling after failures, re-enabling)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlmodel import select

from tests.fakes import FakeClusterPort, FakeWebhookReceiver, resolve_to
from tests.support import Desk, build_desk
from topicdesk.adapters.audit_log import record_event
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import AuditInboxRow, NotificationOutboxRow
from topicdesk.config import ConfigError, NotifySettings, Settings
from topicdesk.domain import webhooks
from topicdesk.domain.identity import Role
from topicdesk.domain.notifications import ConsumersOf, notices_for
from topicdesk.services.notify_worker import Deliverer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"
HOOKS = "/api/v1/teams/payments/notifications/subscriptions"


# --- the mapping ------------------------------------------------------------------------------------

def _submit(outcome: str, approvers: list[str], kind: str = "access.grant", **spec: Any) -> dict[str, Any]:
    return {"kind": kind, "cluster": "payments-dev", "spec": spec,
            "decision": {"outcome": outcome, "approvers": approvers,
                         "rules": [{"id": "r", "effect": "require_approval" if approvers else "deny",
                                    "message": "why"}]}}


def test_a_submission_awaiting_approval_goes_to_the_approving_teams_and_platform_admins() -> None:
    [notice] = notices_for("request:submit", "request:r1", "ingest",
                           _submit("needs_approval", ["team:payments", "role:platform_admin"]))
    assert (notice.event_type, notice.teams, notice.platform_admins) == ("request.awaiting_approval",
                                                                         ("payments",), True)
    assert notice.data == {"approvers": ["team:payments", "role:platform_admin"], "rules": ["why"]}
    assert notice.request_id == "r1"


def test_decisions_go_to_the_requesting_team() -> None:
    [denied] = notices_for("request:submit", "request:r1", "ingest", _submit("denied", []))
    assert (denied.event_type, denied.teams, denied.data["decision"], denied.data["reasons"]) == (
        "request.decided", ("ingest",), "denied", ["why"])
    [auto] = notices_for("request:auto_approve", "request:r1", "ingest", {"status": "approved"})
    assert (auto.event_type, auto.teams, auto.data["decision"]) == ("request.decided", ("ingest",), "approved")
    # approve/reject events carry the owner team: the requester's team is looked up from the request.
    [approved] = notices_for("request:approve", "request:r1", "payments", {"after": "approved"})
    assert (approved.event_type, approved.teams, approved.requester_of) == ("request.decided", (), "r1")
    assert notices_for("request:approve", "request:r1", "payments", {"after": "pending_approval"}) == []
    [rejected] = notices_for("request:reject", "request:r1", "payments", {"reason": "no"})
    assert (rejected.data, rejected.requester_of) == ({"decision": "rejected", "reason": "no"}, "r1")


def test_applied_failed_drift_quarantine_and_expiring_events() -> None:
    [applied] = notices_for("request:applied", "request:r1", "payments", {"status": "applied"})
    assert (applied.event_type, applied.teams) == ("request.applied", ("payments",))
    [failed] = notices_for("request:failed", "request:r1", "payments", {"error": {"reason": "x", "message": "y"}})
    assert failed.event_type == "request.failed"
    assert failed.data["error"] == {"reason": "x", "message": "y"}
    [drift] = notices_for("drift:found", "topic:payments-dev/payments.orders", "payments",
                          {"cluster": "payments-dev", "kind": "config_changed", "key": "k", "item": "i"})
    assert (drift.event_type, drift.teams, drift.data["kind"]) == ("drift.found", ("payments",), "config_changed")
    [quarantined] = notices_for("topic:quarantine", "topic:payments-dev/payments.orders", "payments", {
        "request": "r9", "quarantined_until": "2026-12-08T00:00:00Z",
        "grants": [{"principal": "User:ingest.reader", "access": "consume"},
                   {"principal": "User:payments.writer", "access": "produce"}]})
    assert quarantined.event_type == "topic.quarantined"
    assert quarantined.consumers_of == ConsumersOf("payments-dev", "payments.orders", ("User:ingest.reader",))
    [expiring] = notices_for("access_grant:expiring", "access_grant:payments-dev/x", "ingest",
                             {"owner_team": "payments", "topic": "payments.orders"})
    assert (expiring.event_type, expiring.teams) == ("access.expiring", ("ingest", "payments"))


def test_a_deletion_request_tells_the_consumers_unless_it_is_denied() -> None:
    notices = notices_for("request:submit", "request:r2", "payments",
                          _submit("needs_approval", ["role:platform_admin"], kind="topic.delete", name="payments.o"))
    assert [n.event_type for n in notices] == ["request.awaiting_approval", "topic.deletion_scheduled"]
    assert notices[1].consumers_of == ConsumersOf("payments-dev", "payments.o")
    assert notices[1].subject == "topic:payments-dev/payments.o"
    denied = notices_for("request:submit", "request:r2", "payments", _submit("denied", [], kind="topic.delete",
                                                                             name="payments.o"))
    assert [n.event_type for n in denied] == ["request.decided"]


@pytest.mark.parametrize("action", ["topic:apply", "auth:login", "token:create", "request:cancel",
                                    "request:retry", "drift:resolved", "access_grant:expire"])
def test_other_audit_actions_notify_nobody(action: str) -> None:
    assert notices_for(action, "request:r1", "payments", {}) == []


# --- signature, formats, back-off, URLs ---------------------------------------------------------------

def documented_recipe() -> Any:
    """verify_topicdesk_signature, from the Python block of docs/notifications.md."""
    block = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert block is not None
    scope: dict[str, Any] = {}
    exec(compile(block.group(1), str(DOCS), "exec"), scope)  # noqa: S102 (our own documentation)
    return scope["verify_topicdesk_signature"]


def test_the_signature_verifies_with_thedocumented_recipe_and_only_within_the_replay_window() -> None:
    verify = documented_recipe()
    body = b'{"id":"e1"}'
    now = int(time.time())
    header = webhooks.signature("whsec_k", now, body)
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify("whsec_k", header, body)
    assert webhooks.verify_signature("whsec_k", header, body, now)
    assert not verify("whsec_other", header, body)
    assert not verify("whsec_k", header, body + b" ")
    stale = webhooks.signature("whsec_k", now - 301, body)
    assert not verify("whsec_k", stale, body)
    assert not webhooks.verify_signature("whsec_k", stale, body, now)
    assert not verify("whsec_k", "garbage", body)


def _event(event_type: str = "request.applied", **data: Any) -> webhooks.OutgoingEvent:
    return webhooks.OutgoingEvent("e1", event_type, "request:r1", datetime(2026, 12, 1, tzinfo=UTC), "payments",
                                  data or {"request": {"kind": "topic.create", "target": "payments.o",
                                                       "cluster": "payments-dev"}})


def test_cloudevents_and_slack_bodies() -> None:
    body, media = webhooks.body_of("cloudevents", _event())
    event = json.loads(body)
    assert media.startswith("application/cloudevents+json")
    assert {k: event[k] for k in ("specversion", "id", "type", "source", "subject", "time")} == {
        "specversion": "1.0", "id": "e1", "type": "dev.topicdesk.request.applied", "source": "/topicdesk",
        "subject": "request:r1", "time": "2026-12-01T00:00:00Z"}
    body, media = webhooks.body_of("slack", _event())
    message = json.loads(body)
    assert media == "application/json"
    assert message["text"] == "Request applied on the cluster: topic.create payments.o on payments-dev"
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "context"]


def test_back_off_doubles_up_to_the_cap_with_equal_jitter() -> None:
    policy = webhooks.RetryPolicy(base_seconds=10, cap_seconds=300)
    assert [webhooks.backoff_seconds(n, policy, lambda: 0.0) for n in range(1, 8)] == [5, 10, 20, 40, 80, 150, 150]
    assert [webhooks.backoff_seconds(n, policy, lambda: 1.0) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]


def test_an_endpoint_is_disabled_after_n_failures_or_a_day_of_failing() -> None:
    policy = webhooks.RetryPolicy(disable_after_failures=5, disable_after_seconds=3600)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert webhooks.disable_reason(4, now, now, policy) is None
    assert webhooks.disable_reason(5, now, now, policy) == "disabled after 5 failed deliveries in a row"
    assert webhooks.disable_reason(2, now - timedelta(minutes=59), now, policy) is None
    reason = webhooks.disable_reason(2, now - timedelta(hours=1), now, policy)
    assert reason is not None
    assert "1.0 hours" in reason
    assert webhooks.disable_reason(99, now - timedelta(days=9), now, webhooks.RetryPolicy(0, 0, 0, 0)) is None


@pytest.mark.parametrize(("url", "rules", "problem"), [
    ("https://hooks.example.com/x", webhooks.UrlRules(), None),
    ("http://localhost:8080/x", webhooks.UrlRules(), None),
    ("http://hooks.example.com/x", webhooks.UrlRules(), "must be https://"),
    ("http://hooks.example.com/x", webhooks.UrlRules(allow_http=True), None),
    ("ftp://hooks.example.com/x", webhooks.UrlRules(), "must be an https:// URL"),
    ("https://user:pw@hooks.example.com/x", webhooks.UrlRules(), "must not carry credentials"),
    ("https:///x", webhooks.UrlRules(), "must name a host"),
])
def test_url_rules(url: str, rules: webhooks.UrlRules, problem: str | None) -> None:
    found = webhooks.url_problems(url, rules)
    if problem is None:
        assert found == []
    else:
        assert found[0].startswith(problem), found


def test_link_local_and_metadata_addresses_are_refused_unless_allowed() -> None:
    for address in ("169.254.169.254", "fe80::1", "::ffff:169.254.169.254", "100.100.100.200"):
        assert webhooks.address_problems([address], webhooks.UrlRules()), address
        assert webhooks.address_problems([address], webhooks.UrlRules(allow_link_local=True)) == []
    assert webhooks.address_problems(["0.0.0.0"], webhooks.UrlRules(allow_link_local=True))
    assert webhooks.address_problems(["10.1.2.3", "127.0.0.1", "2001:db8::1"], webhooks.UrlRules()) == []


def test_notify_settings_are_checked() -> None:
    assert Settings.from_env({}).notify == NotifySettings()
    with pytest.raises(ConfigError):
        NotifySettings.from_env({"TOPICDESK_NOTIFY_TIMEOUT_SECONDS": "0"})
    with pytest.raises(ConfigError):
        NotifySettings.from_env({"TOPICDESK_NOTIFY_TIMEOUT_SECONDS": "30", "TOPICDESK_NOTIFY_CLAIM_SECONDS": "10"})


# --- subscriptions and the deliverer over SQLite --------------------------------------------------------

FAST = NotifySettings(timeout_seconds=1, backoff_base_seconds=0, backoff_cap_seconds=0, disable_after_failures=3,
                      disable_after_seconds=0)


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return build_desk(tmp_path, FakeClusterPort(), tokens={"owner": ("payments", Role.OWNER),
                                                          "member": ("payments", Role.MEMBER),
                                                          "admin": ("platform", Role.ADMIN)})


def _subscribe(desk: Desk, **body: Any) -> dict[str, Any]:
    response = desk.call("owner", "POST", HOOKS, {"url": "http://localhost:9/hook", "event_types": ["drift.found"],
                                                  **body})
    assert response.status_code == 201, response.json
    assert response.headers["Cache-Control"] == "no-store"
    created: dict[str, Any] = response.json
    return created


def _drift(desk: Desk, key: str = "retention.ms") -> None:
    with unit_of_work(desk.engine) as session:
        record_event(session, actor="scanner", action="drift:found", subject="topic:payments-dev/payments.o",
                     team="payments", data={"cluster": "payments-dev", "kind": "config_changed", "key": key})


def _deliverer(desk: Desk, receiver: FakeWebhookReceiver, settings: NotifySettings = FAST) -> Deliverer:
    return Deliverer(desk.engine, settings, worker="unit", post=receiver, resolver=resolve_to("127.0.0.1"))


def test_bad_subscriptions_get_every_error_and_store_nothing(desk: Desk) -> None:
    response = desk.call("owner", "POST", HOOKS, {"url": "https://x.example", "event_types": ["nope"],
                                                  "format": "teams", "extra": 1})
    assert response.status_code == 422
    assert {e["path"] for e in response.json["errors"]} == {"/event_types/0", "/format", "/extra"}
    refused = desk.call("owner", "POST", HOOKS, {"url": "http://169.254.169.254/latest",
                                                 "event_types": ["drift.found"]})
    assert refused.status_code == 422
    assert refused.json["errors"][0]["path"] == "/url"
    admins = desk.call("owner", "POST", HOOKS, {"url": "http://localhost/x", "event_types": ["drift.found"],
                                                "audience": "platform_admins"})
    assert admins.status_code == 422
    assert admins.json["errors"][0]["path"] == "/audience"
    assert desk.call("owner", "GET", HOOKS).json["items"] == []


def test_the_outbox_row_commits_with_its_audit_event_or_not_at_all(desk: Desk) -> None:
    _subscribe(desk)
    def failing_change() -> None:
        with unit_of_work(desk.engine) as session:
            record_event(session, actor="scanner", action="drift:found", subject="topic:payments-dev/payments.o",
                         team="payments", data={"cluster": "payments-dev"})
            raise RuntimeError("the change fails after recording")

    with pytest.raises(RuntimeError):
        failing_change()
    with unit_of_work(desk.engine) as session:
        assert session.exec(select(NotificationOutboxRow)).all() == []
    _drift(desk)
    with unit_of_work(desk.engine) as session:
        [row] = session.exec(select(NotificationOutboxRow)).all()
        assert (row.event_type, row.status) == ("drift.found", "pending")
        assert row.audit_event_id is not None


def test_retries_keep_the_event_id_record_each_attempt_and_disable_after_three_failures(desk: Desk) -> None:
    hook = _subscribe(desk)
    _drift(desk)
    receiver = FakeWebhookReceiver(script=[500, requests.Timeout(), requests.ConnectionError("refused")])
    deliverer = _deliverer(desk, receiver)
    assert deliverer.drain() == 3
    ids = {headers["Webhook-Id"] for _, _, headers in receiver.received}
    assert len(ids) == 1
    assert [h["X-Topicdesk-Delivery-Attempt"] for _, _, h in receiver.received] == ["1", "2", "3"]
    for _, body, headers in receiver.received:
        assert webhooks.verify_signature(hook["secret"], headers["X-Topicdesk-Signature"], body, time.time())
    shown = desk.call("owner", "GET", f"{HOOKS}/{hook['id']}").json
    assert (shown["enabled"], shown["consecutive_failures"], shown["pending_deliveries"]) == (False, 3, 1)
    assert shown["disabled_reason"] == "disabled after 3 failed deliveries in a row"
    history = desk.call("owner", "GET", f"{HOOKS}/{hook['id']}/deliveries").json["items"]
    assert [(h["attempt"], h["result"], h["status_code"]) for h in history] == [
        (3, "unreachable", None), (2, "timeout", None), (1, "failed", 500)]
    with unit_of_work(desk.engine) as session:
        actions = [r.action for r in session.exec(select(AuditInboxRow)).all()]
    assert "notification_subscription:disable" in actions or _chained(desk, "notification_subscription:disable")
    # Disabled: nothing is claimed, new events are not queued for it.
    _drift(desk, "cleanup.policy")
    assert deliverer.drain() == 0
    # Re-enabled: the waiting event goes out at once, with the same id as before.
    enabled = desk.call("owner", "PATCH", f"{HOOKS}/{hook['id']}", {"enabled": True})
    assert enabled.status_code == 200
    assert enabled.json["consecutive_failures"] == 0
    assert deliverer.drain() == 1
    assert receiver.received[-1][2]["Webhook-Id"] in ids
    shown = desk.call("owner", "GET", f"{HOOKS}/{hook['id']}").json
    assert (shown["enabled"], shown["pending_deliveries"], shown["last_delivery_at"] is not None) == (True, 0, True)


def _chained(desk: Desk, action: str) -> bool:
    audit = desk.call("admin", "GET", "/api/v1/audit").json["items"]
    return any(e["action"] == action for e in audit)


def test_a_test_event_secret_rotation_and_delete(desk: Desk) -> None:
    hook = _subscribe(desk, format="slack")
    assert "secret" not in desk.call("owner", "GET", HOOKS).json["items"][0]
    queued = desk.call("owner", "POST", f"{HOOKS}/{hook['id']}/test")
    assert queued.status_code == 202
    receiver = FakeWebhookReceiver()
    assert _deliverer(desk, receiver).drain() == 1
    _, body, headers = receiver.received[0]
    assert headers["Webhook-Id"] == queued.json["event_id"]
    assert json.loads(body)["text"].startswith("Test event from Topicdesk")
    rotated = desk.call("owner", "PATCH", f"{HOOKS}/{hook['id']}", {"rotate_secret": True}).json
    assert rotated["secret"] != hook["secret"]
    assert desk.call("owner", "DELETE", f"{HOOKS}/{hook['id']}").status_code == 204
    assert desk.call("owner", "GET", f"{HOOKS}/{hook['id']}").status_code == 404


def test_a_host_that_now_resolves_to_a_metadata_address_is_refused_at_delivery(desk: Desk) -> None:
    _subscribe(desk)
    _drift(desk)
    receiver = FakeWebhookReceiver()
    deliverer = Deliverer(desk.engine, FAST, worker="unit", post=receiver, resolver=resolve_to("169.254.169.254"))
    assert deliverer.deliver_due() == 1
    assert receiver.received == []
    with unit_of_work(desk.engine) as session:
        [row] = session.exec(select(NotificationOutboxRow)).all()
        assert row.last_error is not None
        assert "metadata" in row.last_error


def test_the_on_delivery_hook_sees_every_result(desk: Desk) -> None:
    _subscribe(desk)
    _drift(desk)
    results: list[str] = []
    deliverer = _deliverer(desk, FakeWebhookReceiver(script=[503]))
    deliverer.on_delivery = results.append
    deliverer.drain()
    assert results == ["failed", "delivered"]


def test_a_grant_ending_soon_is_announced_once_per_end_to_both_teams(desk: Desk) -> None:
    from sqlalchemy import update

    from topicdesk.adapters.tables import AccessGrantRow, ClusterRow
    from topicdesk.services.notify_expiring import announce_expiring

    with unit_of_work(desk.engine) as session:
        session.add(ClusterRow(name="payments-dev", environment="dev", owner_team="payments",
                               bootstrap_servers="127.0.0.1:1", admin_secret_ref="env:X"))
    with unit_of_work(desk.engine) as session:
        session.add(AccessGrantRow(cluster="payments-dev", topic="payments.o", pattern="literal",
                                   principal="User:ingest.reader", access="consume", group_id="g",
                                   granted_team="ingest", expires_at=utcnow_plus(days=2)))
    hook = _subscribe(desk, event_types=["access.expiring"])
    assert announce_expiring(desk.engine, within=timedelta(days=1)) == 0
    assert announce_expiring(desk.engine, within=timedelta(days=7)) == 1
    assert announce_expiring(desk.engine, within=timedelta(days=7)) == 0
    receiver = FakeWebhookReceiver()
    assert _deliverer(desk, receiver).drain() == 1
    event = json.loads(receiver.received[0][1])
    assert event["type"] == "dev.topicdesk.access.expiring"
    assert (event["data"]["principal"], event["data"]["owner_team"]) == ("User:ingest.reader", "payments")
    # A renewal moves the end: the new end is announced again.
    with unit_of_work(desk.engine) as session:
        session.execute(update(AccessGrantRow).values(expires_at=utcnow_plus(days=3)))
    assert announce_expiring(desk.engine, within=timedelta(days=7)) == 1
    assert desk.call("owner", "GET", f"{HOOKS}/{hook['id']}").json["pending_deliveries"] == 1


def utcnow_plus(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


def test_audit_events_keep_the_webhook_url_without_its_token(desk: Desk) -> None:
    hook = _subscribe(desk, url="https://localhost/services/T000/B000/XXXXSECRET")
    desk.call("owner", "PATCH", f"{HOOKS}/{hook['id']}", {"url": "https://localhost/services/T1/B1/OTHERSECRET"})
    audit = json.dumps(desk.call("admin", "GET", "/api/v1/audit").json)
    assert "notification_subscription:change" in audit
    assert "SECRET" not in audit
    assert webhooks.redacted("https://hooks.slack.com/services/T/B/X") == "https://hooks.slack.com/…"
    assert webhooks.url_problems("https://localhost:99999/x", webhooks.UrlRules())


def test_an_endpoint_deleted_while_its_event_is_on_the_wire_is_simply_gone(desk: Desk) -> None:
    hook = _subscribe(desk)
    _drift(desk)
    receiver = FakeWebhookReceiver()

    def deleting_receiver(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Any:
        assert desk.call("owner", "DELETE", f"{HOOKS}/{hook['id']}").status_code == 204
        return receiver(url, body, headers, timeout)

    deliverer = Deliverer(desk.engine, FAST, worker="unit", post=deleting_receiver, resolver=resolve_to("127.0.0.1"))
    assert deliverer.deliver_due() == 1
    assert len(receiver.received) == 1
    with unit_of_work(desk.engine) as session:
        assert session.exec(select(NotificationOutboxRow)).all() == []

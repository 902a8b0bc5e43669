"""Metrics and structured logs through the real app (Flask test client), the in-memory cluster port
and the real prometheus-client exposition; the files in docs/prometheus and docs/grafana against a
real scrape."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import FakeClusterPort
from tests.support import Desk, build_desk
from topicdesk.config import ConfigError
from topicdesk.domain.identity import Role
from topicdesk.observability.http import request_id_from
from topicdesk.observability.logging import TextFormatter, chosen_format, configure_logging, json_formatter
from topicdesk.observability.metrics import record_delivery
from topicdesk.observability.process import prepare_multiprocess_dir, worker_exited
from topicdesk.services.leases import claim_lease, ensure_leases
from topicdesk.services.reconcile_loop import run_once

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "prometheus" / "rules.yml"
DASHBOARD = ROOT / "docs" / "grafana" / "topicdesk.json"
TOPIC = {"kind": "topic.create", "cluster": "c1", "spec": {"name": "payments.orders", "partitions": 3,
                                                            "replication_factor": 1}}


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    desk = build_desk(tmp_path, FakeClusterPort(), tokens={"alice": ("payments", Role.MEMBER),
                                                             "olga": ("payments", Role.OWNER),
                                                             "ada": ("platform", Role.ADMIN)})
    yield desk
    desk.engine.dispose()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(desk: Desk) -> dict[str, list[Any]]:
    response = desk.app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        samples.setdefault(family.name, [])
        for s in family.samples:
            samples.setdefault(s.name, []).append(s)
    return samples


def test_decisions_passes_and_settlements_are_counted_once_committed(desk: Desk) -> None:
    decided = sample("topicdesk_request_decision_seconds_count", kind="topic.create", outcome="auto_approved")
    settled = sample("topicdesk_request_settle_seconds_count", kind="topic.create", status="applied")
    passes = sample("topicdesk_reconcile_passes_total", cluster="c1", result="ok")
    created = sample("topicdesk_reconcile_changes_total", cluster="c1", change="create_topic", result="applied")
    applied = sample("topicdesk_reconcile_resources_total", cluster="c1", kind="topic", result="applied")
    submitted = desk.call("alice", "POST", "/api/v1/requests", TOPIC)
    assert submitted.status_code == 201, submitted.json
    assert sample("topicdesk_request_decision_seconds_count", kind="topic.create",
                  outcome="auto_approved") == decided + 1
    # The same name again is refused (409) and rolled back: no decision is counted for it.
    assert desk.call("alice", "POST", "/api/v1/requests", TOPIC).status_code == 409
    assert sample("topicdesk_request_decision_seconds_count", kind="topic.create",
                  outcome="auto_approved") == decided + 1
    run_once(desk.engine, lambda _cluster, **_options: desk.port)
    assert desk.call("alice", "GET", f"/api/v1/requests/{submitted.json['id']}").json["status"] == "applied"
    assert sample("topicdesk_request_settle_seconds_count", kind="topic.create", status="applied") == settled + 1
    assert sample("topicdesk_reconcile_passes_total", cluster="c1", result="ok") == passes + 1
    assert sample("topicdesk_reconcile_changes_total", cluster="c1", change="create_topic",
                  result="applied") == created + 1
    assert sample("topicdesk_reconcile_resources_total", cluster="c1", kind="topic", result="applied") == applied + 1
    assert sample("topicdesk_reconcile_last_pass_timestamp_seconds", cluster="c1") > 0


def test_a_human_decision_is_timed_from_submission(desk: Desk) -> None:
    rejected = sample("topicdesk_request_decision_seconds_count", kind="quota.set", outcome="rejected")
    quota = desk.call("alice", "POST", "/api/v1/requests", {"kind": "quota.set", "cluster": "c1", "spec": {
        "principal": "User:payments.app", "consumer_byte_rate": 209715200}})
    assert quota.json["status"] == "pending_approval", quota.json
    waiting = scrape(desk)
    assert [s.value for s in waiting["topicdesk_approvals_waiting"] if s.labels == {"kind": "quota.set"}] == [1]
    assert waiting["topicdesk_approvals_oldest_age_seconds"][0].value >= 0
    answer = desk.call("ada", "POST", f"/api/v1/requests/{quota.json['id']}/reject", {"reason": "too much"})
    assert answer.status_code == 200, answer.json
    assert sample("topicdesk_request_decision_seconds_count", kind="quota.set", outcome="rejected") == rejected + 1
    after = scrape(desk)
    assert [s.value for s in after["topicdesk_approvals_waiting"] if s.labels == {"kind": "quota.set"}] == [0]
    assert [s.value for s in after["topicdesk_requests"]
            if s.labels == {"kind": "quota.set", "status": "rejected"}] == [1]


def test_http_series_use_the_route_template_never_the_raw_path(desk: Desk) -> None:
    submitted = desk.call("alice", "POST", "/api/v1/requests", TOPIC)
    request_id = submitted.json["id"]
    assert desk.call("alice", "GET", f"/api/v1/requests/{request_id}").status_code == 200
    assert desk.app.test_client().get("/no/such/path").status_code == 404
    text = desk.app.test_client().get("/metrics").get_data(as_text=True)
    assert request_id not in text
    assert "payments.orders" not in text
    assert "/no/such/path" not in text
    assert 'route="/api/v1/requests/<request_id>"' in text
    assert 'route="unmatched",status="404"' in text
    assert sample("topicdesk_http_requests_total", method="POST", route="/api/v1/requests", status="201") >= 1
    assert sample("topicdesk_http_request_duration_seconds_count", method="POST", route="/api/v1/requests",
                  status="201") >= 1


def test_the_database_gauges_show_leases_drift_resources_and_the_audit_inbox(desk: Desk) -> None:
    desk.call("alice", "POST", "/api/v1/requests", TOPIC)
    before = scrape(desk)
    assert [s.value for s in before["topicdesk_database_up"]] == [1]
    pending = {(s.labels["kind"], s.labels["state"]): s.value for s in before["topicdesk_resources"]}
    assert pending[("topic", "pending")] == 1
    assert [s.labels for s in before["topicdesk_cluster_lease_held"]] == [{"cluster": "c1"}]
    assert before["topicdesk_cluster_lease_held"][0].value == 0
    ensure_leases(desk.engine)
    assert claim_lease(desk.engine, "c1", "host-a:42", 30) is not None
    held = scrape(desk)
    assert [(s.labels, s.value) for s in held["topicdesk_cluster_lease_holder"]] == [
        ({"cluster": "c1", "holder": "host-a:42"}, 1)]
    assert held["topicdesk_cluster_lease_held"][0].value == 1
    assert held["topicdesk_audit_events_unchained"][0].value >= 0
    assert [s.value for s in held["topicdesk_drift_differences"]] == [0]


def test_an_unreadable_database_is_a_zero_gauge_not_a_failed_scrape(desk: Desk) -> None:
    desk.engine.dispose()
    Path(str(desk.engine.url.database)).unlink()
    Path(str(desk.engine.url.database)).mkdir()  # SQLite cannot open a directory
    samples = scrape(desk)
    assert [s.value for s in samples["topicdesk_database_up"]] == [0]
    assert "topicdesk_requests" not in samples


def test_notification_deliveries_by_bounded_result() -> None:
    before = {r: sample("topicdesk_notification_deliveries_total", result=r) for r in ("delivered", "other")}
    record_delivery("delivered")
    record_delivery("https://hooks.example.com/secret-path")  # never a label value
    assert sample("topicdesk_notification_deliveries_total", result="delivered") == before["delivered"] + 1
    assert sample("topicdesk_notification_deliveries_total", result="other") == before["other"] + 1


# --- the rules and the dashboard -----------------------------------------------------------------

METRIC = re.compile(r"\b(topicdesk_[a-z0-9_]+)")
RECORDED = re.compile(r"\b(topicdesk:[a-z0-9_:]+)")


def _rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    document = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in document["panels"] for target in panel.get("targets", [])]
    exprs += [v["definition"] for v in document["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_every_metric_the_rules_and_the_dashboard_query_is_in_a_real_scrape(desk: Desk) -> None:
    desk.call("alice", "POST", "/api/v1/requests", TOPIC)
    run_once(desk.engine, lambda _cluster, **_options: desk.port)
    assert claim_lease(desk.engine, "c1", "host-a:42", 30) is not None
    exposed = scrape(desk)
    recorded = {rule["record"] for group in yaml.safe_load(RULES.read_text())["groups"]
                for rule in group["rules"] if "record" in rule}
    rule_exprs, dashboard_exprs = _rule_exprs(), _dashboard_exprs()
    assert len(rule_exprs) >= 20
    assert len(dashboard_exprs) >= 25
    queried = {name for expr in rule_exprs + dashboard_exprs for name in METRIC.findall(expr)}
    missing = sorted(name for name in queried if name not in exposed)
    assert not missing, f"queried but not exported: {missing}"
    unrecorded = sorted({name for expr in rule_exprs + dashboard_exprs for name in RECORDED.findall(expr)} - recorded)
    assert not unrecorded, f"recording rules used but not defined: {unrecorded}"
    alerts = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"]
              for rule in group["rules"] if "alert" in rule}
    assert {"TopicdeskReconcilerStalled", "TopicdeskApplyFailures", "TopicdeskDriftPresent",
            "TopicdeskApprovalsWaitingTooLong", "TopicdeskAuditSequencerStalled",
            "TopicdeskNotificationFailures"} <= alerts


def test_promtool_accepts_the_rules_and_their_unit_tests() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: apt-get install prometheus (make system-deps)"
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", str(RULES.with_name("rules.test.yml"))],
                            capture_output=True, text=True, timeout=60, cwd=RULES.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr


# --- request ids and logs ------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "kept"), [
    ("abc-123", True), ("0f6a2c1e-8d2b-4a43-9f3e-2f1a3b4c5d6e", True), ("trace.id:42_x", True),
    ("", False), ("has space", False), ("new\nline", False), ("a" * 129, False), ("<script>", False),
    ("-leading-dash", False)])
def test_request_ids_are_taken_only_when_sane(header: str, kept: bool) -> None:
    chosen = request_id_from(header)
    assert (chosen == header) is kept
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", chosen)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[_Capture]:
    handler = _Capture()
    logger = logging.getLogger("topicdesk")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)


def test_each_request_logs_one_json_line_with_its_id_principal_route_and_duration(
        desk: Desk, captured: _Capture) -> None:
    given = desk.call("alice", "GET", "/api/v1/me", **{"X-Request-ID": "ci-run-7.step-3"})
    assert given.headers["X-Request-ID"] == "ci-run-7.step-3"
    made = desk.app.test_client().get("/api/v1/me", headers={"X-Request-ID": "bad id; DROP TABLE request"})
    assert made.status_code == 401
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    lines = [json.loads(json_formatter().format(r)) for r in captured.records if r.name == "topicdesk.http"]
    assert [(line["request_id"], line["status"]) for line in lines] == [
        ("ci-run-7.step-3", 200), (made.headers["X-Request-ID"], 401)]
    first = lines[0]
    assert first["principal"] == "token:payments/alice"
    assert first["route"] == "/api/v1/me"
    assert first["method"] == "GET"
    assert first["level"] == "INFO"
    assert isinstance(first["duration_ms"], float)
    assert "time" in first
    assert lines[1]["principal"] is None


def test_each_reconcile_pass_that_worked_logs_its_cluster_counts_and_duration(
        desk: Desk, captured: _Capture) -> None:
    desk.call("alice", "POST", "/api/v1/requests", TOPIC)
    run_once(desk.engine, lambda _cluster, **_options: desk.port)
    run_once(desk.engine, lambda _cluster, **_options: desk.port)  # nothing to do: no line
    passes = [json.loads(json_formatter().format(r)) for r in captured.records
              if r.name == "topicdesk.services.reconcile_loop"]
    assert len(passes) == 1
    assert {k: passes[0][k] for k in ("cluster", "resources", "applied", "failed", "retrying", "error")} == {
        "cluster": "c1", "resources": 1, "applied": 1, "failed": 0, "retrying": 0, "error": None}
    assert passes[0]["duration_ms"] >= 0
    assert passes[0]["changes"] >= 1


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_on_a_terminal_json_otherwise_and_the_setting_wins() -> None:
    assert chosen_format(_Tty(), {}) == "text"
    assert chosen_format(io.StringIO(), {}) == "json"
    assert chosen_format(_Tty(), {"TOPICDESK_LOG_FORMAT": "json"}) == "json"
    assert chosen_format(io.StringIO(), {"TOPICDESK_LOG_FORMAT": "TEXT"}) == "text"
    with pytest.raises(ConfigError, match="TOPICDESK_LOG_FORMAT"):
        chosen_format(io.StringIO(), {"TOPICDESK_LOG_FORMAT": "xml"})


def test_configured_logging_writes_json_lines_or_text_with_the_extra_fields() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("topicdesk").level)
    try:
        out = io.StringIO()
        assert configure_logging(out, fmt="json") == "json"
        logging.getLogger("topicdesk.test").info("pass done", extra={"cluster": "c1", "applied": 2})
        line = json.loads(out.getvalue().splitlines()[-1])
        assert {k: line[k] for k in ("level", "logger", "message", "cluster", "applied")} == {
            "level": "INFO", "logger": "topicdesk.test", "message": "pass done", "cluster": "c1", "applied": 2}
        text = io.StringIO()
        configure_logging(text, fmt="text")
        logging.getLogger("topicdesk.test").info("pass done", extra={"cluster": "c1"})
        assert text.getvalue().rstrip().endswith("INFO topicdesk.test: pass done cluster=c1")
        assert len([h for h in root.handlers if getattr(h, "_topicdesk", False)]) == 1
    finally:
        for handler in [h for h in root.handlers if getattr(h, "_topicdesk", False)]:
            root.removeHandler(handler)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("topicdesk").setLevel(saved[2])
    assert isinstance(TextFormatter().format(logging.LogRecord("x", 20, "", 0, "m", None, None)), str)


def test_the_multiprocess_directory_is_fresh_at_each_start(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    made, created = prepare_multiprocess_dir(env)
    assert created
    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(made)
    assert made.is_dir()
    (made / "counter_123.db").write_bytes(b"old values")
    again, created_again = prepare_multiprocess_dir(env)
    assert again == made
    assert not created_again
    assert list(made.iterdir()) == []
    shutil.rmtree(made)


def test_a_dead_worker_is_marked_only_under_multiprocess_mode(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    worker_exited(4242)  # no directory: nothing to do, and no error
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"")
    (tmp_path / "counter_4242.db").write_bytes(b"")
    worker_exited(4242)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_4242.db"]

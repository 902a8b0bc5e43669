"""The `topicdesk` client as a CI job runs it: a subprocess against a real `topicdesk serve`, the
reconciler and local Kafka. Effects are read back from Kafka with real clients, never from our DB.

Written to the issue 11 contract (/tmp/gitops_contract.md in the lead's notes: result shape with
outcomes, 202/409, allow_destroy, managed-by, YAML with line numbers, export)."""

from __future__ import annotations

import json
import re
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType  # type: ignore[attr-defined]

from tests.integration.cli_stack import CliStack, git_repo, one_line_error, write
from tests.kafka_clients import as_user, consume_one, eventually, produce_one
from topicdesk.domain.identity import Role
from topicdesk.ports import free_port

pytestmark = pytest.mark.integration

CLUSTER = "gitops-dev"


def topic_file(team: str, topics: list[dict[str, Any]], grants: list[dict[str, Any]] | None = None,
               cluster: str = CLUSTER) -> dict[str, Any]:
    return {"version": 1, "cluster": cluster, "team": team, "topics": topics, "grants": grants or []}


def admin(stack: CliStack, cluster: str = CLUSTER) -> AdminClient:
    return AdminClient(stack.kafka[cluster].client_config())


def kafka_topic(stack: CliStack, name: str, cluster: str = CLUSTER) -> dict[str, Any] | None:
    """What the cluster says about a topic: partitions and the configs set on the topic itself, or None."""
    client = admin(stack, cluster)
    topic = client.list_topics(topic=name, timeout=15).topics.get(name)
    if topic is None or topic.error is not None:
        return None
    resource = ConfigResource(ResourceType.TOPIC, name)
    entries = client.describe_configs([resource], request_timeout=15)[resource].result(timeout=30)
    return {"partitions": len(topic.partitions),
            "config": {k: v.value for k, v in entries.items()
                       if v.source in (ConfigSource.DYNAMIC_TOPIC_CONFIG.value, ConfigSource.DYNAMIC_TOPIC_CONFIG)}}


def request_ids(result: dict[str, Any]) -> list[str]:
    return [str(c["request_id"]) for c in result["changes"] if c.get("request_id")]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_repo(tmp_path / "payments-topics", "payments-topics")


# -- works with the API as it is --------------------------------------------------------------------

def test_plan_exits_2_with_changes_and_0_once_applied(cli_stack: CliStack, repo: Path) -> None:
    token = cli_stack.token("payments")
    name = f"payments.cli-{cli_stack.run_id}.plan"
    path = write(repo, "kafka/plan.json", topic_file("payments", [
        {"name": name, "partitions": 2, "replication_factor": 1, "config": {"retention.ms": "3600000"}}]))

    saved = path.parent / "plan-result.json"
    planned = cli_stack.cli("plan", "-f", str(path), "--json-file", str(saved), token=token)
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert f"+ topic {name}" in planned.stdout
    assert "Plan: 1 to create" in planned.stdout
    assert json.loads(saved.read_text())["in_sync"] is False
    assert kafka_topic(cli_stack, name) is None, "a plan submits nothing"

    applied = cli_stack.cli("apply", "-f", str(path), token=token)
    assert applied.returncode in (0, 2), applied.stdout + applied.stderr
    listed = cli_stack.cli("requests", "list", "--mine", "-o", "json", token=token)
    assert listed.returncode == 0, listed.stderr
    mine = [r for r in json.loads(listed.stdout)["items"] if (r["spec"] or {}).get("name") == name]
    assert len(mine) == 1
    waited = cli_stack.cli("requests", "wait", mine[0]["id"], "--timeout", "60", token=token)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert re.search(rf"{re.escape(name)}\s+topic\.create\s+.*applied$", waited.stdout, re.MULTILINE), waited.stdout
    assert eventually(lambda: kafka_topic(cli_stack, name)) == {"partitions": 2, "config": {"retention.ms": "3600000"}}

    again = cli_stack.cli("plan", "-f", str(path), token=token)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout


def test_requests_and_topics_commands(cli_stack: CliStack) -> None:
    token = cli_stack.token("payments")
    name = f"payments.cli-{cli_stack.run_id}.portal-list"
    made = cli_stack.api("POST", "/api/v1/requests", token, {
        "kind": "topic.create", "cluster": CLUSTER, "reason": "made in the portal",
        "spec": {"name": name, "partitions": 1, "replication_factor": 1, "description": "listed by the CLI"}})
    assert made.status_code == 201, made.text
    request_id = made.json()["id"]

    waited = cli_stack.cli("requests", "wait", request_id, "--timeout", "60", token=token)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert re.search(rf"^{re.escape(name)}\s+topic\.create\s+approved -> .*applied$", waited.stdout, re.MULTILINE)

    listed = cli_stack.cli("requests", "list", "--status", "applied", "--cluster", CLUSTER, token=token)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split()[:4] == ["ID", "KIND", "CLUSTER", "STATUS"]
    assert any(line.startswith(request_id) and "applied" in line and name in line
               for line in listed.stdout.splitlines())
    pending = cli_stack.cli("requests", "list", "--awaiting-me", "-o", "json", token=token)
    assert pending.returncode == 0, pending.stderr
    assert request_id not in {r["id"] for r in json.loads(pending.stdout)["items"]}

    shown = cli_stack.cli("requests", "show", request_id, token=token)
    assert shown.returncode == 0, shown.stderr
    assert f"request {request_id}  topic.create on {CLUSTER}  applied" in shown.stdout
    assert "made in the portal" in shown.stdout
    assert "history:" in shown.stdout
    assert json.loads(cli_stack.cli("requests", "show", request_id, "-o", "json", token=token).stdout)["status"] \
        == "applied"

    topics = cli_stack.cli("topics", "list", "--cluster", CLUSTER, "-q", "portal-list", token=token)
    assert topics.returncode == 0, topics.stderr
    rows = [line.split() for line in topics.stdout.splitlines()]
    assert rows[0][:3] == ["NAME", "CLUSTER", "TEAM"]
    assert [r[:4] for r in rows[1:]] == [[name, CLUSTER, "payments", "1"]]
    as_json = json.loads(cli_stack.cli("topics", "list", "-q", name, "-o", "json", token=token).stdout)
    assert [t["name"] for t in as_json["items"]] == [name]


def test_errors_are_one_line_never_a_traceback(cli_stack: CliStack, tmp_path: Path) -> None:
    token = cli_stack.token("payments")
    refused = cli_stack.cli("topics", "list", token=token, env={"TOPICDESK_URL": f"http://127.0.0.1:{free_port()}"})
    assert "cannot reach" in one_line_error(refused)
    assert "connection refused" in refused.stderr

    bad_token = one_line_error(cli_stack.cli("topics", "list", token="tdk_nope_nope"))
    assert bad_token.startswith("error: 401 ")
    assert "TOPICDESK_TOKEN" in bad_token

    assert one_line_error(cli_stack.cli("requests", "show", "no-such-request", token=token)).startswith(
        "error: 404 Not found: no such request")
    assert one_line_error(cli_stack.cli("plan", "-f", str(tmp_path / "missing.yaml"), token=token)) == \
        f"error: {tmp_path / 'missing.yaml'}: no such file"
    assert "TOPICDESK_TOKEN" in one_line_error(cli_stack.cli("topics", "list", token=None))
    assert "--file" in one_line_error(cli_stack.cli("plan", token=token))

    unknown_cluster = write(tmp_path, "x.json", topic_file("payments", [], cluster="nowhere"))
    assert one_line_error(cli_stack.cli("plan", "-f", str(unknown_cluster), token=token)).startswith("error: 422 ")

    with silent_server() as port:  # accepts connections, never answers
        slow = cli_stack.cli("topics", "list", token=token,
                             env={"TOPICDESK_URL": f"http://127.0.0.1:{port}", "TOPICDESK_HTTP_TIMEOUT": "1"})
    assert "did not answer" in one_line_error(slow)


class _Silent:
    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        try:
            while True:
                conn, _ = self.sock.accept()
                self.held.append(conn)
        except OSError:
            return


class silent_server:  # noqa: N801 - used as a context manager, reads like a function
    def __enter__(self) -> int:
        self.server = _Silent()
        self.server.thread.start()
        return self.server.port

    def __exit__(self, *_: object) -> None:
        self.server.sock.close()
        for conn in self.server.held:
            conn.close()


# -- needs the SERVER part of issue 11 (result outcomes, status codes, allow_destroy, managed-by) ----

def test_apply_wait_prints_progress_until_applied_and_rerun_is_in_sync(cli_stack: CliStack, repo: Path) -> None:
    token = cli_stack.token("payments")
    name = f"payments.cli-{cli_stack.run_id}.orders"
    path = write(repo, "kafka/orders.json", topic_file("payments", [
        {"name": name, "partitions": 3, "replication_factor": 1, "config": {"retention.ms": "86400000"}}]))

    planned = cli_stack.cli("plan", "-f", str(path), "-o", "json", token=token)
    assert planned.returncode == 2, planned.stdout + planned.stderr
    plan = json.loads(planned.stdout)
    assert plan["source"] == "acme/payments-topics:kafka/orders.json"
    assert plan["dry_run"] is True
    assert plan["in_sync"] is False
    assert [(c["action"], c["resource"]["type"], c["resource"]["name"], c["outcome"]) for c in plan["changes"]] == \
        [("create", "topic", name, "planned")]

    applied = cli_stack.cli("apply", "-f", str(path), "--wait", "--timeout", "60", token=token)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"+ topic {name}" in applied.stdout
    assert "auto-approved" in applied.stdout
    progress = [line for line in applied.stdout.splitlines() if line.startswith(name)]
    assert progress, applied.stdout
    assert re.fullmatch(rf"{re.escape(name)}\s+topic\.create\s+approved -> applying -> applied", progress[-1])
    assert eventually(lambda: kafka_topic(cli_stack, name)) == {"partitions": 3, "config": {"retention.ms": "86400000"}}

    for command in ("plan", "apply"):
        rerun = cli_stack.cli(command, "-f", str(path), token=token)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert "No changes: in sync (1 resources)." in rerun.stdout

    topics = cli_stack.cli("topics", "list", "-q", name, "-o", "json", token=token)
    assert json.loads(topics.stdout)["items"][0]["managed_by"] == "acme/payments-topics:kafka/orders.json"


def test_a_denied_change_fails_the_job_with_its_reasons(cli_stack: CliStack, repo: Path) -> None:
    token = cli_stack.token("payments")
    name = f"payments.cli-{cli_stack.run_id}.huge"
    path = write(repo, "kafka/huge.json", topic_file("payments", [
        {"name": name, "partitions": 60, "replication_factor": 1}]))

    planned = cli_stack.cli("plan", "-f", str(path), token=token)
    assert planned.returncode == 1, planned.stdout + planned.stderr
    assert ("topic-bounds.partitions-dev: Topics on dev clusters have at most 48 partitions, even with a platform "
            "admin's approval; you asked for 60.") in planned.stdout

    applied = cli_stack.cli("apply", "-f", str(path), "--wait", "--timeout", "10", token=token)
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "denied" in applied.stdout
    assert "topic-bounds.partitions-dev: Topics on dev clusters have at most 48 partitions" in applied.stdout
    assert applied.stderr.strip() == "error: the file was not applied: 1 denied"

    # The same denied change is not asked again: the earlier request and its reasons are shown.
    first = json.loads(cli_stack.cli("plan", "-f", str(path), "-o", "json", token=token).stdout)
    again = cli_stack.cli("apply", "-f", str(path), "-o", "json", token=token)
    assert again.returncode == 1
    result = json.loads(again.stdout)
    assert result["status"] == 409
    assert result["type"] == "https://topicdesk.dev/problems/desired-state-not-applied"
    [change] = result["changes"]
    assert change["outcome"] == "previously_denied"
    assert change["request_id"] == first["changes"][0]["request_id"]
    assert any(r["id"] == "topic-bounds.partitions-dev" for r in change["reasons"])
    assert kafka_topic(cli_stack, name) is None


def test_awaiting_approval_exits_2_and_requests_wait_follows_the_approval(cli_stack: CliStack, tmp_path: Path
                                                                          ) -> None:
    payments, payments_owner = cli_stack.token("payments"), cli_stack.token("payments", Role.OWNER)
    ingest = cli_stack.token("ingest")
    topic = f"payments.cli-{cli_stack.run_id}.shared"
    made = cli_stack.api("POST", "/api/v1/requests", payments, {
        "kind": "topic.create", "cluster": CLUSTER, "reason": "shared with ingest",
        "spec": {"name": topic, "partitions": 1, "replication_factor": 1}})
    assert made.status_code == 201, made.text
    assert cli_stack.cli("requests", "wait", made.json()["id"], "--timeout", "60", token=payments).returncode == 0

    repo = git_repo(tmp_path / "ingest-topics", "ingest-topics")
    path = write(repo, "ingest.json", topic_file("ingest", [], [
        {"topic": topic, "principal": f"User:ingest.cli-{cli_stack.run_id}", "access": "consume",
         "group": f"ingest.cli-{cli_stack.run_id}"}]))
    applied = cli_stack.cli("apply", "-f", str(path), token=ingest)
    assert applied.returncode == 2, applied.stdout + applied.stderr
    assert "awaiting approval by team:payments" in applied.stdout

    waited = cli_stack.cli("apply", "-f", str(path), "--wait", "--timeout", "2", token=ingest)
    assert waited.returncode == 2, waited.stdout + waited.stderr
    assert "already requested" in waited.stdout
    assert "timed out after 2 s; still pending_approval" in waited.stdout
    [request_id] = request_ids(json.loads(cli_stack.cli("plan", "-f", str(path), "-o", "json", token=ingest).stdout))

    approved = cli_stack.api("POST", f"/api/v1/requests/{request_id}/approve", payments_owner, {"comment": "ok"})
    assert approved.status_code == 200, approved.text
    followed = cli_stack.cli("requests", "wait", request_id, "--timeout", "60", token=ingest)
    assert followed.returncode == 0, followed.stdout + followed.stderr
    assert re.search(r"access\.grant\s+pending_approval -> approved -> applying -> applied$", followed.stdout,
                     re.MULTILINE), followed.stdout


@pytest.fixture
def reader(cli_stack: CliStack) -> tuple[str, str]:
    """A payments service account (principal, password) made through the API."""
    token = cli_stack.token("payments")
    response = cli_stack.api("POST", f"/api/v1/clusters/{CLUSTER}/service-accounts", token,
                             {"name": f"payments.cli-{cli_stack.run_id}-reader"})
    assert response.status_code == 201, response.text
    return response.json()["principal"], response.json()["password"]


def test_removing_a_grant_is_destructive_and_needs_allow_destroy(cli_stack: CliStack, repo: Path,
                                                                 reader: tuple[str, str]) -> None:
    token = cli_stack.token("payments")
    principal, password = reader
    name, group = f"payments.cli-{cli_stack.run_id}.grants", f"payments.cli-{cli_stack.run_id}-readers"
    topic = {"name": name, "partitions": 1, "replication_factor": 1}
    grant = {"topic": name, "principal": principal, "access": "consume", "group": group}
    path = write(repo, "kafka/grants.json", topic_file("payments", [topic], [grant]))
    assert cli_stack.cli("apply", "-f", str(path), "--wait", "--timeout", "60", token=token).returncode == 0
    kafka = cli_stack.kafka[CLUSTER]
    assert produce_one(kafka.client_config(), name, b"hello") is None
    consumer = as_user(kafka, principal, password, **{"group.id": group})

    def reads() -> bytes | None:  # the reader's SCRAM user and ACLs reach the broker asynchronously
        got = consume_one(consumer, name, timeout=5)
        return got if isinstance(got, bytes) and got == b"hello" else None

    assert eventually(reads) == b"hello"

    write(repo, "kafka/grants.json", topic_file("payments", [topic], []))
    planned = cli_stack.cli("plan", "-f", str(path), "-o", "json", token=token)
    [change] = json.loads(planned.stdout)["changes"]
    assert (change["action"], change["resource"]["type"], change["destructive"], change["outcome"]) == \
        ("delete", "access_grant", True, "skipped_destructive")
    text = cli_stack.cli("plan", "-f", str(path), token=token)
    assert text.returncode == 1
    assert f"- access_grant {change['resource']['name']}  (delete)  destructive" in text.stdout
    assert "--allow-destroy" in text.stdout

    kept = cli_stack.cli("apply", "-f", str(path), "--wait", "--timeout", "10", token=token)
    assert kept.returncode == 1, kept.stdout + kept.stderr
    assert kept.stderr.strip() == "error: the file was not applied: 1 destructive skipped (needs --allow-destroy)"
    assert consume_one(consumer, name) == b"hello", "without --allow-destroy the grant stays"

    destroyed = cli_stack.cli("apply", "-f", str(path), "--allow-destroy", "--wait", "--timeout", "60", token=token)
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert re.search(r"access\.revoke\s+approved -> applying -> applied$", destroyed.stdout, re.MULTILINE)

    def denied() -> KafkaError | None:
        outcome = consume_one(consumer, name, timeout=5)
        return outcome if isinstance(outcome, KafkaError) else None

    assert eventually(denied).code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)


def test_a_portal_made_topic_is_untouched_by_a_file_that_does_not_declare_it(cli_stack: CliStack, repo: Path
                                                                            ) -> None:
    token = cli_stack.token("payments")
    portal = f"payments.cli-{cli_stack.run_id}.portal-made"
    made = cli_stack.api("POST", "/api/v1/requests", token, {
        "kind": "topic.create", "cluster": CLUSTER, "reason": "made in the portal",
        "spec": {"name": portal, "partitions": 2, "replication_factor": 1, "config": {"retention.ms": "7200000"}}})
    assert made.status_code == 201, made.text
    assert cli_stack.cli("requests", "wait", made.json()["id"], "--timeout", "60", token=token).returncode == 0

    declared = f"payments.cli-{cli_stack.run_id}.file-made"
    path = write(repo, "kafka/only-one.json", topic_file("payments", [
        {"name": declared, "partitions": 1, "replication_factor": 1}]))
    planned = json.loads(cli_stack.cli("plan", "-f", str(path), "--allow-destroy", "-o", "json", token=token).stdout)
    assert [c["resource"]["name"] for c in planned["changes"]] == [declared]
    applied = cli_stack.cli("apply", "-f", str(path), "--allow-destroy", "--wait", "--timeout", "60", token=token)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert portal not in applied.stdout
    assert kafka_topic(cli_stack, portal) == {"partitions": 2, "config": {"retention.ms": "7200000"}}
    view = cli_stack.api("GET", f"/api/v1/clusters/{CLUSTER}/topics/{portal}", token).json()
    assert view["status"] == "applied"
    assert view["managed_by"] is None


# -- needs the FORMAT part of issue 11 (YAML files with line numbers, export) -------------------------

YAML_WITH_AN_ERROR = """\
version: 1
cluster: gitops-dev
team: payments
topics:
  - name: payments.cli-yaml.bad
    replication_factor: 1
    partitions: 0
"""


def test_a_yaml_file_with_an_error_reports_its_line(cli_stack: CliStack, repo: Path) -> None:
    token = cli_stack.token("payments")
    path = write(repo, "kafka/bad.yaml", YAML_WITH_AN_ERROR)
    line = one_line_error(cli_stack.cli("plan", "-f", str(path), token=token))
    assert line.startswith("error: 422 ")
    assert "/topics/0/partitions (line 7): " in line
    broken = write(repo, "kafka/broken.yml", "version: 1\ncluster: [gitops-dev\nteam: payments\n")
    assert "(line " in one_line_error(cli_stack.cli("apply", "-f", str(broken), token=token))


def test_a_yaml_file_plans_and_an_export_reapplies_as_in_sync(cli_stack: CliStack, repo: Path,
                                                              tmp_path: Path) -> None:
    token = cli_stack.token("payments")
    name = f"payments.cli-{cli_stack.run_id}.exported"
    yaml_text = (f"# team payments on the second cluster\nversion: 1\ncluster: gitops-exp\nteam: payments\n"
                 f"topics:\n  - name: {name}\n    partitions: 2\n    replication_factor: 1\n"
                 f"    config:\n      retention.ms: \"3600000\"\n")
    path = write(repo, "kafka/exp.yaml", yaml_text)
    planned = cli_stack.cli("plan", "-f", str(path), token=token)
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert f"+ topic {name}" in planned.stdout
    assert cli_stack.cli("apply", "-f", str(path), "--wait", "--timeout", "60", token=token).returncode == 0
    assert eventually(lambda: kafka_topic(cli_stack, name, "gitops-exp")) == \
        {"partitions": 2, "config": {"retention.ms": "3600000"}}

    exported = cli_stack.cli("export", "--cluster", "gitops-exp", token=token)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith("#")
    assert f"name: {name}" in exported.stdout
    export_path = write(tmp_path, "exported.yaml", exported.stdout)
    source = "acme/payments-topics:kafka/exp.yaml"
    again = cli_stack.cli("plan", "-f", str(export_path), "--source", source, token=token)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout

    as_json = json.loads(cli_stack.cli("export", "--cluster", "gitops-exp", "-o", "json", token=token).stdout)
    assert (as_json["version"], as_json["cluster"], as_json["team"]) == (1, "gitops-exp", "payments")
    assert [t["name"] for t in as_json["topics"]] == [name]

"""schemathesis against a real `topicdesk serve` (and reconciler, and local Kafka), on SQLite and on
PostgreSQL: every operation of the served OpenAPI document, positive and negative data, stateful
sequences, with its checks; any failure fails the test with schemathesis' report.

Bounded by count so that `make test` stays within its budget: TOPICDESK_FUZZ_EXAMPLES cases per
operation and phase (default below), the seed fixed (TOPICDESK_FUZZ_SEED) so that a run is
reproducible; run more locally with, e.g.
`TOPICDESK_FUZZ_EXAMPLES=200 TOPICDESK_FUZZ_SEED=$RANDOM TOPICDESK_FUZZ_COVERAGE=all pytest
tests/integration/test_api_fuzz.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_stack import CliStack, running_stack
from tests.kafka_clients import eventually
from topicdesk.domain.identity import Role
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.local_postgres import LocalPostgres

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("TOPICDESK_FUZZ_EXAMPLES", "5"))
# The coverage phase (boundary values of every keyword, and unexpected methods, independent of
# EXAMPLES: ~2,000 cases, about 75 s here) runs on SQLite by default; the database does not change
# what it reaches. TOPICDESK_FUZZ_COVERAGE=postgresql, =all or =none chooses otherwise.
COVERAGE = os.environ.get("TOPICDESK_FUZZ_COVERAGE", "sqlite")
MAX_RESPONSE_SECONDS = 60.0
SEED = int(os.environ.get("TOPICDESK_FUZZ_SEED", "13"))
CLUSTER = "gitops-dev"
# PATCH /clusters/{cluster} may make a cluster unreachable (a random bootstrap address): the fuzzer
# changes the other one, so that the operations on CLUSTER keep reaching Kafka.
SPARE_CLUSTER = "gitops-exp"
# Checks: all of schemathesis'. positive_data_acceptance counts a schema-valid request's 422, 404,
# 409 (and the like) as accepted: a schema cannot say which clusters, teams and cursors exist or what
# the policies allow (a valid topic.create for an unknown cluster is rightly 422). It still fails on
# a valid request refused as malformed (400) or of the wrong type (415).
EXCLUDED_CHECKS: tuple[str, ...] = ()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_stack(request: pytest.FixtureRequest, kafka_clusters: list[LocalCluster],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, CliStack]]:
    data_dir = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{data_dir / 'topicdesk.db'}"
    else:
        server: LocalPostgres = request.getfixturevalue("postgres_server")
        name = f"fuzz_{uuid.uuid4().hex[:10]}"
        server.create_database(name)
        url = server.url(name)
    # Write limits out of the way: the fuzzer's writes would otherwise mostly meet 429.
    env = {"TOPICDESK_WRITE_BURST": "1000000", "TOPICDESK_WRITE_RATE_PER_MINUTE": "1000000"}
    with running_stack(kafka_clusters, data_dir, url, env) as stack:
        yield request.param, stack


def _seed(stack: CliStack, owner: str, revoker: str) -> dict[str, list[str]]:
    """Things for the fuzzer to find: a topic on the cluster, a request, a service account, a token;
    their names and ids go into its dictionaries, so that operations on them are reached."""
    topic = f"payments.fuzz-{stack.run_id}"
    created = stack.api("POST", "/api/v1/requests", owner, {
        "kind": "topic.create", "cluster": CLUSTER, "reason": "fuzz seed",
        "spec": {"name": topic, "partitions": 1, "replication_factor": 1}})
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]

    def applied() -> bool | None:
        return stack.api("GET", f"/api/v1/requests/{request_id}", owner).json()["status"] == "applied" or None

    eventually(applied, timeout=60)
    account = stack.api("POST", f"/api/v1/clusters/{CLUSTER}/service-accounts", owner,
                        {"name": f"payments.fuzz-{stack.run_id}"})
    assert account.status_code == 201, account.text
    token = stack.api("POST", "/api/v1/teams/ingest/tokens", revoker, {"name": f"fuzz-{stack.run_id}"})
    assert token.status_code == 201, token.text
    return {"clusters": [CLUSTER], "spare": [SPARE_CLUSTER], "teams": ["payments"], "topics": [topic],
            "requests": [request_id], "principals": [account.json()["principal"]], "ingest": ["ingest"],
            "tokens": [token.json()["id"]]}


def _config(stack: CliStack, tokens: dict[str, str], values: dict[str, list[str]], *, coverage: bool) -> str:
    """schemathesis.toml: a payments owner's token on every operation, a platform admin's on the
    admin-only ones, and an ingest owner's on token revocation (a fuzzer revoking its own token
    would meet 401 for the rest of the run); path parameters drawn from the seeded values most of
    the time, random the rest."""
    def bound(name: str, probability: float = 0.8) -> dict[str, Any]:
        return {"dictionary": name, "probability": probability}

    top = {"base-url": stack.base, "seed": SEED, "request-timeout": 20,
           "headers": {"Authorization": f"Bearer {tokens['owner']}"}}
    tables: dict[str, dict[str, Any]] = {
        "generation": {"max-examples": EXAMPLES, "mode": "all"},
        # Refusing a body for its size (413), or a URL for its length (414, gunicorn's limit on the
        # request line: a path value of 1,000 percent-encoded characters passes it), is as right as
        # refusing it for its content.
        "checks": {
            "negative_data_rejection": {"expected-statuses": [
                400, 401, 403, 404, 405, 406, 409, 413, 414, 415, 422, 428, 429, 431, "5xx"]},
            # 503 is the documented answer when a cluster cannot be reached as configured, which the
            # fuzzer itself causes: PATCH /clusters/{cluster} gives SPARE_CLUSTER random credentials.
            "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", 503]},
            # 413 too: the body limit is bytes (TOPICDESK_MAX_BODY_BYTES, an operator's setting), which no
            # schema keyword says; the coverage phase sends a desired-state file of that size.
            "positive_data_acceptance": {"expected-statuses": ["2xx", 401, 403, 404, 409, 413, 422, 429, 503]},
            # The budget of one answer on a loaded CI machine (two cores), not a latency target.
            "max_response_time": MAX_RESPONSE_SECONDS,
        },
        "phases": {"coverage": {"enabled": coverage}},
        "dictionaries": {name: {"values": listed} for name, listed in values.items()},
        "parameters": {"path.cluster": bound("clusters"), "path.team": bound("teams"), "path.name": bound("topics"),
                       "path.id": bound("requests"), "path.principal": bound("principals"),
                       "path.token_id": bound("tokens", 0.5)},
    }
    operations = [
        {"include-path-regex": "^/api/v1/clusters(/\\{cluster\\})?$", "include-method-regex": "^(POST|PATCH)$",
         "headers": {"Authorization": f"Bearer {tokens['admin']}"}, "parameters": {"path.cluster": bound("spare")}},
        {"include-path": "/api/v1/teams/{team}/tokens/{token_id}", "include-method": "DELETE",
         "headers": {"Authorization": f"Bearer {tokens['revoker']}"}, "parameters": {"path.team": bound("ingest")}},
    ]
    lines = [f"{_toml(key)} = {_toml(value)}" for key, value in top.items()]
    for table, entries in tables.items():
        lines += [f"[{table}]", *(f"{_toml(key)} = {_toml(value)}" for key, value in entries.items())]
    for operation in operations:
        lines += ["[[operations]]", *(f"{_toml(key)} = {_toml(value)}" for key, value in operation.items())]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    """Keys, strings, numbers, booleans, lists and inline tables (JSON's string escapes are TOML's)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return json.dumps(value)


def test_the_api_answers_the_fuzzer_as_its_document_says(fuzz_stack: tuple[str, CliStack], tmp_path: Path) -> None:
    backend, stack = fuzz_stack
    tokens = {"owner": stack.token("payments", Role.OWNER), "admin": stack.token("platform", Role.ADMIN),
              "revoker": stack.token("ingest", Role.OWNER)}
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(stack, tokens, _seed(stack, tokens["owner"], tokens["revoker"]),
                              coverage=COVERAGE in ("all", backend)))
    report = tmp_path / "report"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "st"), "--config-file", str(config), "run",
         f"{stack.base}/api/v1/openapi.json", "--checks", "all",
         *(["--exclude-checks", ",".join(EXCLUDED_CHECKS)] if EXCLUDED_CHECKS else []),
         "--workers", "1", "--no-color",
         "--report", "junit", "--report-dir", str(report)],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    output = result.stdout + result.stderr
    summary = _summary(output)
    assert result.returncode == 0, f"schemathesis found failures:\n{output[-20000:]}\n{stack.log('serve')[-4000:]}"
    # It ran: every operation, with cases (a run that tested nothing would also exit 0).
    assert summary["selected"] == summary["tested"] >= 30, output[-3000:]
    assert "Traceback" not in stack.log("serve"), stack.log("serve")[-4000:]
    stack.check_alive()


def _summary(output: str) -> dict[str, Any]:
    found: dict[str, Any] = {"selected": 0, "tested": -1}
    for line in output.splitlines():
        text = line.strip()
        if text.startswith("Selected:"):
            found["selected"] = int(text.split()[1].split("/")[0])
        elif text.startswith("Tested:"):
            found["tested"] = int(text.split()[1])
    return found

"""Desired-state files in YAML or JSON: read as data, ambiguous YAML refused, every error located."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.fakes import FakeClusterPort
from tests.support import build_desk
from topicdesk.adapters.desired_file_format import parse_desired_file, plain_scalar
from topicdesk.domain.errors import FieldError, UnsupportedMediaType, ValidationFailed
from topicdesk.domain.identity import Role

YAML_FILE = b"""\
# Team payments on payments-dev.
version: 1
cluster: payments-dev
team: payments
topics:
  - name: payments.orders.v1
    partitions: 6
    replication_factor: 1
    config:
      retention.ms: "604800000"   # strings, as Kafka takes them
      cleanup.policy: delete
    description: >-
      Orders placed,
      one event per order
    producers: [User:payments.orders-writer]
    consumers:
      - principal: User:payments.orders-reader
        group: payments.orders-readers
quotas:
  - principal: User:payments.orders-writer
    producer_byte_rate: 1048576
    request_percentage: 12.5
"""

EXPECTED: dict[str, Any] = {
    "version": 1, "cluster": "payments-dev", "team": "payments",
    "topics": [{"name": "payments.orders.v1", "partitions": 6, "replication_factor": 1,
                "config": {"retention.ms": "604800000", "cleanup.policy": "delete"},
                "description": "Orders placed, one event per order",
                "producers": ["User:payments.orders-writer"],
                "consumers": [{"principal": "User:payments.orders-reader", "group": "payments.orders-readers"}]}],
    "quotas": [{"principal": "User:payments.orders-writer", "producer_byte_rate": 1048576,
                "request_percentage": 12.5}],
}


def _body(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json
    return body


def _errors(raw: bytes, content_type: str = "application/yaml") -> list[FieldError]:
    with pytest.raises(ValidationFailed) as caught:
        parse_desired_file(raw, content_type)
    return caught.value.errors


def test_a_yaml_file_and_the_same_file_in_json_give_the_same_document() -> None:
    assert parse_desired_file(YAML_FILE, "application/yaml") == EXPECTED
    assert parse_desired_file(YAML_FILE, "text/yaml; charset=utf-8") == EXPECTED
    assert parse_desired_file(json.dumps(EXPECTED, indent="\t").encode(), "application/json") == EXPECTED
    # A file with a byte order mark (some Windows editors write one) reads the same.
    assert parse_desired_file(b"\xef\xbb\xbf" + YAML_FILE, "application/x-yaml") == EXPECTED


def test_plain_yaml_scalars_follow_the_yaml_1_2_core_schema() -> None:
    assert [plain_scalar(s) for s in ("", "~", "null", "true", "False", "12", "-3", "2.5", "1e3", ".5")] == [
        None, None, None, True, False, 12, -3, 2.5, 1000.0, 0.5]
    # Dates, names with colons and dots stay text; JSON has no dates.
    assert [plain_scalar(s) for s in ("2027-01-01", "User:payments.app", "payments.orders.v1")] == [
        "2027-01-01", "User:payments.app", "payments.orders.v1"]


@pytest.mark.parametrize(("yaml_text", "path", "line", "words"), [
    ("version: 1\nteam: a\nteam: b\n", "/team", 3, "appears twice"),
    ("version: 1\nbase: &defaults {partitions: 3}\n", "/base", 2, "anchor &defaults"),
    ("version: 1\ntopics:\n  - *defaults\n", "/topics/0", 3, "alias *defaults"),
    ("version: 1\ntopics:\n  - <<: {partitions: 3}\n", "/topics/0/<<", 3, "merge keys"),
    ("version: 1\ncluster: !!str payments-dev\n", "/cluster", 2, "tags are refused"),
    ("version: 1\ncluster: !env CLUSTER\n", "/cluster", 2, "tag !env"),
    ("version: 1\ncluster: a\n---\nversion: 1\n", "", 3, "second YAML document"),
    ("version: 1\ncleanup: off\n", "/cleanup", 2, "YAML 1.1 reads off"),
    ("version: 1\nmode: 0755\n", "/mode", 2, "plain decimal"),
    ("version: 1\nrate: 0x1F\n", "/rate", 2, "plain decimal"),
    ("version: 1\nrate: 1_000\n", "/rate", 2, "plain decimal"),
    ("version: 1\nat: 12:30\n", "/at", 2, "base-60"),
    ("version: 1\nrate: .inf\n", "/rate", 2, "not a JSON number"),
    ("version: 1\n? [a, b]\n: c\n", "", 2, "keys must be plain text"),
])
def test_each_ambiguous_yaml_feature_is_refused_with_its_line(yaml_text: str, path: str, line: int,
                                                              words: str) -> None:
    errors = _errors(yaml_text.encode())
    assert len(errors) == 1
    assert errors[0].path == path
    assert errors[0].line == line
    assert words in errors[0].message


def test_quoting_makes_an_ambiguous_scalar_a_string() -> None:
    quoted = YAML_FILE.replace(b"description: >-\n      Orders placed,\n      one event per order\n",
                               b"description: 'on'\n")
    assert parse_desired_file(quoted, "application/yaml")["topics"][0]["description"] == "on"


def test_schema_errors_of_a_yaml_file_name_their_line_and_column() -> None:
    broken = (YAML_FILE.replace(b'retention.ms: "604800000"', b"retention.ms: 604800000")
              .replace(b"    partitions: 6\n", b"").replace(b"team: payments\n", b"team: payments\ncolour: red\n"))
    errors = _errors(broken)
    located = {e.path: (e.line, e.column) for e in errors}
    assert located == {
        "/colour": (5, 1),  # the unknown key itself
        "/topics/0/config/retention.ms": (10, 7),  # the offending value's key
        "/topics/0/partitions": (7, 5),  # missing: where its object starts
    }
    message = next(e.message for e in errors if e.path == "/topics/0/config/retention.ms")
    assert "strings" in message


def test_syntax_errors_name_their_line() -> None:
    errors = _errors(b"version: 1\ntopics:\n  - name: [a, b\n    partitions: 3\n")
    assert errors[0].line is not None
    assert errors[0].line >= 3
    assert "not valid YAML" in errors[0].message
    json_errors = _errors(b'{\n  "version": 1,\n  "team": \n}\n', "application/json")
    assert (json_errors[0].line, json_errors[0].column) == (4, 1)
    assert "not valid JSON" in json_errors[0].message


def test_json_files_refuse_duplicate_keys_and_locate_schema_errors() -> None:
    duplicated = b'{"version": 1,\n "topics": [{"name": "a",\n              "name": "b"}]}'
    errors = _errors(duplicated, "application/json")
    assert [(e.path, e.line, e.column) for e in errors] == [("/topics/0/name", 3, 15)]
    assert "appears twice" in errors[0].message
    bad = json.dumps({**EXPECTED, "quotas": [{"principal": "User:payments.x"}]}, indent=2).encode()
    errors = _errors(bad, "application/json")
    assert [e.path for e in errors] == ["/quotas/0"]
    quota_line = bad.decode().splitlines().index('  "quotas": [') + 2  # the quota's "{" on the next line
    assert (errors[0].line, errors[0].column) == (quota_line, 5)
    assert _errors(b'{"version": NaN}', "application/json")[0].message.startswith("not valid JSON")
    assert "nested deeper than 32 levels" in _errors(b"[" * 100_000, "application/json")[0].message


def test_empty_and_non_mapping_files_are_refused() -> None:
    assert "empty" in _errors(b"  \n")[0].message
    assert "no content" in _errors(b"# nothing yet\n")[0].message
    assert "must be a mapping" in _errors(b"- version: 1\n")[0].message
    assert "not UTF-8" in _errors(b"version: \xff\n")[0].message
    deep = ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 40))).encode()
    assert "nested deeper" in _errors(deep)[0].message


def test_other_content_types_are_unsupported() -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        with pytest.raises(UnsupportedMediaType):
            parse_desired_file(YAML_FILE, content_type)
    with pytest.raises(UnsupportedMediaType):
        parse_desired_file(YAML_FILE, "application/yaml; charset=latin-1")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[FlaskClient, dict[str, str]]]:
    desk = build_desk(tmp_path, FakeClusterPort(), clusters={"payments-dev": "payments"},
                      tokens={"ci": ("payments", Role.MEMBER)})
    yield desk.app.test_client(), {"Authorization": f"Bearer {desk.tokens['ci']}"}
    desk.engine.dispose()


def test_the_endpoint_takes_yaml_and_answers_422_with_lines_and_415_for_other_types(
    client: tuple[FlaskClient, dict[str, str]],
) -> None:
    http, headers = client
    plan = http.post("/api/v1/desired-state?dry_run=true", data=YAML_FILE, content_type="application/yaml",
                     headers=headers)
    assert plan.status_code == 200, plan.json
    assert [c["request"]["kind"] for c in _body(plan)["changes"]] == ["topic.create", "quota.set"]

    broken = YAML_FILE.replace(b"    partitions: 6\n", b"    partitions: six\n")
    refused = http.post("/api/v1/desired-state?dry_run=true", data=broken, content_type="application/yaml",
                        headers=headers)
    assert refused.status_code == 422
    assert refused.mimetype == "application/problem+json"
    assert _body(refused)["errors"] == [{"path": "/topics/0/partitions", "message": "must be a whole number, "
                                       "not a string", "line": 7, "column": 5}]

    # An error the service finds after parsing (no such cluster) is located in the file too.
    unknown = http.post("/api/v1/desired-state?dry_run=true", content_type="application/yaml", headers=headers,
                        data=YAML_FILE.replace(b"cluster: payments-dev", b"cluster: payments-nowhere"))
    assert unknown.status_code == 422
    assert _body(unknown)["errors"] == [{"path": "/cluster", "message": "no such cluster", "line": 3, "column": 1}]

    form = http.post("/api/v1/desired-state?dry_run=true", data=YAML_FILE, headers=headers,
                     content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415
    assert form.mimetype == "application/problem+json"
    assert "Content-Type: application/yaml" in _body(form)["detail"]
    assert "application/yaml" in form.headers["Accept-Post"]
    assert "errors" not in _body(form)

    # Errors without a position (requests' schema errors) keep their old shape: no line, no column.
    request_error = http.post("/api/v1/requests", json={"kind": "topic.create", "cluster": "payments-dev",
                                                        "spec": {"name": "payments.x"}}, headers=headers)
    assert request_error.status_code == 422
    assert all(set(e) == {"path", "message"} for e in _body(request_error)["errors"])

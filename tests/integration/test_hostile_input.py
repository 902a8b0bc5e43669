"""A corpus of hostile input against every endpoint that takes a body, and the URL values of the reads, on
SQLite and PostgreSQL: each answers a 4xx problem+json, never a 500, and no row is written.

The Flask test client sends what it is given (a NUL, a lie in the charset, no Content-Type); a real
`topicdesk serve` (gunicorn) over a raw socket gets the bodies only a socket can send: chunked without a
length, a Content-Length that lies in either direction.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from tests.fakes import FakeClusterPort
from tests.support import seed_teams, wait_healthy
from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import ClusterRow
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.local_oidc import stop_process
from topicdesk.ports import free_port
from topicdesk.services.tokens import create_token

REPO = Path(__file__).resolve().parents[2]
# Large enough that 100,000 levels of nesting reach the parser, small enough to overrun cheaply.
LIMIT = 200_000
CLUSTER = "payments-dev"
JSON = "application/json"
# (who, method, path) of every endpoint that reads a JSON body; approve and reject take an optional one.
JSON_ENDPOINTS = (
    ("member", "POST", "/api/v1/requests"),
    ("member", "POST", "/api/v1/requests?dry_run=true"),
    ("admin", "POST", "/api/v1/clusters"),
    ("admin", "PATCH", f"/api/v1/clusters/{CLUSTER}"),
    ("member", "POST", f"/api/v1/clusters/{CLUSTER}/service-accounts"),
    ("owner", "POST", "/api/v1/teams/payments/tokens"),
    ("owner", "POST", "/api/v1/requests/r-unknown/approve"),
    ("owner", "POST", "/api/v1/requests/r-unknown/reject"),
    ("owner", "POST", f"/api/v1/clusters/{CLUSTER}/drift/d-unknown/triage"),
)


def _request(reason: str = "hostile", name: str = "payments.hostile", description: str = "d") -> dict[str, Any]:
    return {"kind": "topic.create", "cluster": CLUSTER, "reason": reason,
            "spec": {"name": name, "partitions": 1, "replication_factor": 1, "description": description}}


def _text(document: Any) -> str:
    return json.dumps(document)


def _nested(depth: int) -> str:
    return '{"kind": ' * depth + "1" + "}" * depth


# label -> (body bytes, Content-Type or None, expected status). Each is refused by the body reader itself.
BODIES: dict[str, tuple[bytes, str | None, int]] = {
    "nested 1,000 objects": (_nested(1000).encode(), JSON, 400),
    "nested 100,000 arrays": (b"[" * 100_000, JSON, 400),
    "nested 100,000 objects (over the limit)": (_nested(100_000).encode(), JSON, 413),
    "NUL escaped in reason": (_text(_request(reason="a\u0000b")).encode(), JSON, 422),
    "raw NUL byte in reason": (_text(_request(reason="ab")).replace("ab", "a\x00b").encode(), JSON, 400),
    "bell in description": (_text(_request(description="ding\u0007")).encode(), JSON, 422),
    "escape sequence in name": (_text(_request(name="payments.\u001b[31mred")).encode(), JSON, 422),
    "newline at the end of a name ($ matches before it)": (_text(_request(name="payments.x\n")).encode(), JSON, 422),
    "DEL in name": (_text(_request(name="payments.x\u007f")).encode(), JSON, 422),
    "C1 control in reason": (_text(_request(reason="a\u0085b")).encode(), JSON, 422),
    "zero-width space in name": (_text(_request(name="payments.\u200bx")).encode(), JSON, 422),
    "bidi override in description": (_text(_request(description="abc\u202edcba")).encode(), JSON, 422),
    "BOM inside a name": (_text(_request(name="payments.\ufeffx")).encode(), JSON, 422),
    "lone surrogate in reason": (_text(_request()).replace('"hostile"', '"\\ud800"').encode(), JSON, 422),
    "control character in a key": (b'{"kind\\u0000": 1}', JSON, 422),
    "text/plain": (_text(_request()).encode(), "text/plain", 415),
    "form-encoded": (b"kind=topic.create&cluster=payments-dev", "application/x-www-form-urlencoded", 415),
    "multipart": (b"--b\r\n\r\n{}\r\n--b--", "multipart/form-data; boundary=b", 415),
    "no Content-Type": (_text(_request()).encode(), None, 415),
    "latin-1 charset": (_text(_request()).encode(), "application/json; charset=iso-8859-1", 415),
    "JSON with a +json suffix": (_text(_request()).encode(), "application/problem+json", 415),
    "oversized with Content-Length": (b'{"reason": "' + b"x" * LIMIT + b'"}', JSON, 413),
    "duplicate top-level key": (b'{"kind": "topic.create", "kind": "topic.delete"}', JSON, 400),
    "duplicate nested key": (b'{"spec": {"name": "a", "name": "b"}}', JSON, 400),
    "NaN": (b'{"spec": {"partitions": NaN}}', JSON, 400),
    "Infinity": (b'{"spec": {"partitions": Infinity}}', JSON, 400),
    "-Infinity": (b'{"spec": {"partitions": -Infinity}}', JSON, 400),
    "float overflowing to infinity": (b'{"spec": {"partitions": 1e999}}', JSON, 422),
    "integer past 64 bits": (b'{"spec": {"partitions": 99999999999999999999999}}', JSON, 422),
    "integer of 5,000 digits": (b'{"spec": {"partitions": ' + b"9" * 5000 + b"}}", JSON, 400),
    "invalid UTF-8": (b'{"reason": "\xff\xfe"}', JSON, 400),
    "overlong UTF-8 encoding of NUL": (b'{"reason": "a\xc0\x80b"}', JSON, 400),
    "UTF-16": (_text(_request()).encode("utf-16"), JSON, 400),
    "array at the top": (b"[]", JSON, 422),
    "string at the top": (b'"topic.create"', JSON, 422),
    "null at the top": (b"null", JSON, 422),
    "number at the top": (b"1", JSON, 422),
    "empty body with a JSON type": (b"", JSON, 400),
    "whitespace only": (b"   ", JSON, 400),
    "truncated JSON": (b'{"kind": "topic.cr', JSON, 400),
    "trailing garbage": (b'{"kind": "topic.create"} {}', JSON, 400),
}

# Bodies that pass the reader and must be refused by the endpoint's own validation (schema, lengths).
SUBMISSIONS: dict[str, tuple[dict[str, Any], int]] = {
    "spec as an array": ({**_request(), "spec": []}, 422),
    "reason of 3,000 characters": (_request(reason="x" * 3000), 422),
    "name of 300 characters": (_request(name="payments." + "x" * 300), 422),
    "Cyrillic a in the team prefix (homoglyph)": (_request(name="p\u0430yments.x"), 422),
    "fullwidth letters": (_request(name="\uff50\uff41\uff59\uff4d\uff45\uff4e\uff54\uff53.x"), 422),
    "partitions as a huge number": ({**_request(), "spec": {**_request()["spec"], "partitions": 2**62}}, 422),
    "partitions as a string": ({**_request(), "spec": {**_request()["spec"], "partitions": "1"}}, 422),
    "partitions as a float": ({**_request(), "spec": {**_request()["spec"], "partitions": 1.5}}, 422),
    "cluster as an object": ({**_request(), "cluster": {"$gt": ""}}, 422),
}

# GET paths whose path or query values are hostile: 4xx before any query runs.
READS = (
    "/api/v1/requests/%00",
    "/api/v1/requests?cluster=a%00b",
    "/api/v1/requests?status=%00",
    "/api/v1/topics?q=%00",
    "/api/v1/topics?cluster=%1b%5b31m",
    "/api/v1/topics?team=%E2%80%AEevil",
    f"/api/v1/topics?q={'x' * 5000}",
    f"/api/v1/clusters/{CLUSTER}/topics/a%00b",
    f"/api/v1/clusters/{'c' * 2000}/topics/x",
    "/api/v1/clusters/%00/drift",
    "/api/v1/teams/%00/tokens",
    "/api/v1/audit?subject=%00",
    "/api/v1/audit?since=%00",
    f"/api/v1/desired-state?cluster={CLUSTER}%00",
    "/api/v1/grants/expiring?within_days=%00",
    "/api/v1/reports/stale?team=%00",
    "/api/v1/requests?limit=99999999999999999999999",
    "/api/v1/requests?%00=1",
)

YAML = "application/yaml"
FILES: dict[str, tuple[bytes, str | None, int]] = {
    "YAML with an escaped NUL in a description": (
        b'version: 1\ncluster: payments-dev\nteam: payments\ntopics:\n'
        b'  - name: payments.a\n    partitions: 1\n    replication_factor: 1\n    description: "a\\0b"\n', YAML, 422),
    "YAML with a zero-width space in a name": (
        b"version: 1\ncluster: payments-dev\nteam: payments\ntopics:\n"
        b"  - name: \"payments.\\u200Ba\"\n    partitions: 1\n    replication_factor: 1\n", YAML, 422),
    "YAML with an integer past 64 bits": (
        b"version: 1\ncluster: payments-dev\nteam: payments\ntopics:\n"
        b"  - name: payments.a\n    partitions: 99999999999999999999999\n    replication_factor: 1\n", YAML, 422),
    "JSON file nested 1,000 levels": (_nested(1000).encode(), JSON, 422),
    "JSON file with a lone surrogate": (b'{"version": 1, "team": "\\udfff"}', JSON, 422),
    "file without a Content-Type": (b"version: 1\n", None, 415),
    "file as text/plain": (b"version: 1\n", "text/plain", 415),
    "file over the limit": (b"# " + b"x" * LIMIT + b"\nversion: 1\n", YAML, 413),
    "file with invalid UTF-8": (b"version: 1\nteam: \xff\n", YAML, 422),
}


@dataclass
class Desk:
    engine: Engine
    client: FlaskClient
    tokens: dict[str, str]

    def send(self, who: str, method: str, path: str, body: bytes | None = None,
             content_type: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        return self.client.open(path, method=method, data=body, headers=headers)


def seed(database_url: str) -> tuple[Engine, dict[str, str]]:
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    seed_teams(engine)
    with unit_of_work(engine) as session:
        session.add(ClusterRow(name=CLUSTER, environment="dev", owner_team="payments", bootstrap_servers="127.0.0.1:1",
                               admin_secret_ref="env:NOWHERE", broker_count=1))
    tokens = {who: create_token(engine, team=team, name=who, role=role, actor="test").token
              for who, team, role in (("member", "payments", Role.MEMBER), ("owner", "payments", Role.OWNER),
                                      ("admin", "platform", Role.ADMIN))}
    return engine, tokens


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in SQLModel.metadata.tables.items()}


@pytest.fixture
def desk(database_url: str, tmp_path: Path) -> Iterator[Desk]:
    engine, tokens = seed(database_url)
    settings = Settings.from_env({"DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(tmp_path),
                                  "TOPICDESK_MAX_BODY_BYTES": str(LIMIT), "TOPICDESK_WRITE_BURST": "100000"})
    port = FakeClusterPort()
    app = create_app(settings, engine=engine, port_factory=lambda _cluster, **_options: port)
    yield Desk(engine, app.test_client(), tokens)
    engine.dispose()


def assert_refused(response: Any, expected: int, label: str) -> dict[str, Any]:
    assert response.status_code == expected, (label, response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/problem+json", label
    problem: dict[str, Any] = json.loads(response.get_data())
    assert {"type", "title", "status", "detail"} <= problem.keys(), label
    assert problem["status"] == expected, label
    return problem


def test_every_hostile_body_on_every_json_endpoint_is_a_4xx_problem_and_stores_nothing(desk: Desk) -> None:
    before = row_counts(desk.engine)
    for who, method, path in JSON_ENDPOINTS:
        for label, (body, content_type, expected) in BODIES.items():
            if label == "empty body with a JSON type" and path.endswith(("/approve", "/reject")):
                expected = 404 if path.endswith("/approve") else 422  # no body is fine there: the next check
            problem = assert_refused(desk.send(who, method, path, body, content_type), expected, f"{path}: {label}")
            if expected == 413:
                assert f"{LIMIT} bytes" in problem["detail"], problem
            if expected == 415:
                assert JSON in problem["detail"], problem
    assert row_counts(desk.engine) == before


def test_refusals_name_the_json_path_of_the_bad_value(desk: Desk) -> None:
    cases = {
        "NUL escaped in reason": "/reason", "bell in description": "/spec/description",
        "newline at the end of a name ($ matches before it)": "/spec/name", "lone surrogate in reason": "/reason",
        "duplicate nested key": "/spec/name", "float overflowing to infinity": "/spec/partitions",
        "integer past 64 bits": "/spec/partitions", "control character in a key": "/kind\u0000",
    }
    for label, path in cases.items():
        body, content_type, expected = BODIES[label]
        problem = assert_refused(desk.send("member", "POST", "/api/v1/requests", body, content_type), expected, label)
        assert [error["path"] for error in problem["errors"]] == [path], (label, problem)


def test_free_text_keeps_line_breaks_and_tabs(desk: Desk) -> None:
    body = _text(_request(reason="first line\nsecond\tline\r\n", description="two\nlines")).encode()
    response = desk.send("member", "POST", "/api/v1/requests?dry_run=true", body, JSON)
    assert response.status_code == 200, response.json


def test_a_byte_order_mark_before_the_json_is_ignored(desk: Desk) -> None:
    body = "\ufeff".encode() + _text(_request()).encode()
    response = desk.send("member", "POST", "/api/v1/requests?dry_run=true", body, JSON)
    assert response.status_code == 200, response.json


def test_submissions_the_body_reader_passes_are_refused_by_validation(desk: Desk) -> None:
    before = row_counts(desk.engine)
    for label, (document, expected) in SUBMISSIONS.items():
        assert_refused(desk.send("member", "POST", "/api/v1/requests", _text(document).encode(), JSON), expected,
                       label)
    long_reason = _text({"reason": "x" * 2001}).encode()
    assert_refused(desk.send("owner", "POST", "/api/v1/requests/r-unknown/reject", long_reason, JSON), 422,
                   "rejection reason too long")
    assert_refused(desk.send("owner", "POST", "/api/v1/requests/r-unknown/approve",
                             _text({"comment": "x" * 2001}).encode(), JSON), 422, "comment too long")
    assert row_counts(desk.engine) == before


def test_hostile_idempotency_keys_are_refused(desk: Desk) -> None:
    before = row_counts(desk.engine)
    for key in ("a\u0000b", "x" * 201, "a\u202eb"):
        response = desk.client.post("/api/v1/requests", data=_text(_request()), content_type=JSON,
                                    headers={"Authorization": f"Bearer {desk.tokens['member']}",
                                             "Idempotency-Key": key})
        problem = assert_refused(response, 422, repr(key))
        assert problem["errors"][0]["path"] == "/headers/Idempotency-Key"
    assert row_counts(desk.engine) == before


def test_hostile_path_and_query_values_are_refused_before_any_query(desk: Desk) -> None:
    before = row_counts(desk.engine)
    for path in READS:
        response = desk.send("admin", "GET", path)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.get_data(as_text=True)[:300])
        assert response.mimetype == "application/problem+json", path
    assert row_counts(desk.engine) == before


def test_hostile_desired_state_files_are_refused_with_their_line(desk: Desk) -> None:
    before = row_counts(desk.engine)
    for label, (body, content_type, expected) in FILES.items():
        for query in ("?dry_run=true", ""):
            problem = assert_refused(desk.send("member", "POST", f"/api/v1/desired-state{query}", body, content_type),
                                     expected, label)
            if label.startswith("YAML with"):
                assert problem["errors"][0].get("line"), (label, problem)
    assert row_counts(desk.engine) == before


def test_methods_not_allowed_list_the_allowed_ones(desk: Desk) -> None:
    response = desk.send("member", "DELETE", "/api/v1/requests")
    assert_refused(response, 405, "DELETE /requests")
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}


# --- a real server, a raw socket ------------------------------------------------------------------


@dataclass
class Served:
    base: str
    port: int
    engine: Engine
    token: str


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    engine, tokens = seed(database_url)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(tmp_path),
           "TOPICDESK_MAX_BODY_BYTES": str(LIMIT), "SECRET_KEY": "hostile-input-secret-key-0123456789"}
    log = tmp_path / "serve.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "topicdesk.cli", "serve", "--host", "127.0.0.1", "--port",
                                    str(port), "--no-migrate"], env=env, cwd=REPO, stdout=log_file,
                                   stderr=subprocess.STDOUT)

    def check_alive() -> None:
        if process.poll() is not None:
            raise AssertionError(f"topicdesk serve exited:\n{log.read_text(errors='replace')[-4000:]}")

    try:
        wait_healthy(f"http://127.0.0.1:{port}", check_alive, lambda: log.read_text(errors="replace"))
        yield Served(f"http://127.0.0.1:{port}", port, engine, tokens["member"])
        check_alive()
        assert "Traceback" not in log.read_text(errors="replace")
    finally:
        # SIGINT: gunicorn's quick shutdown; the half-closed connections above need no graceful wait.
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        stop_process(process)
        engine.dispose()


def _exchange(port: int, head: bytes, body_parts: list[bytes], *, half_close: bool = False) -> tuple[int, bytes]:
    """Send a raw request; return the first response's status and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head)
        for part in body_parts:
            try:
                connection.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed before the rest was sent: read what it said
        if half_close:
            connection.shutdown(socket.SHUT_WR)
        received = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if b"\r\n\r\n" in received:
                header, _, rest = received.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in header.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), None)
                if length is not None and len(rest) >= length:
                    return int(header.split(b" ", 2)[1]), rest[:length]
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
        raise AssertionError(f"no complete response: {received[:500]!r}")


def _head(served: Served, extra: str) -> bytes:
    return (f"POST /api/v1/requests HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
            f"Authorization: Bearer {served.token}\r\nContent-Type: application/json\r\n{extra}\r\n").encode()


def _chunked(payload: bytes, size: int = 4096) -> list[bytes]:
    parts = [b"%x\r\n%s\r\n" % (len(payload[i:i + size]), payload[i:i + size]) for i in range(0, len(payload), size)]
    return [*parts, b"0\r\n\r\n"]


def test_bodies_only_a_socket_sends_are_refused_by_the_real_server(served: Served) -> None:
    before = row_counts(served.engine)
    oversized = b'{"reason": "' + b"x" * (LIMIT + 50_000) + b'"}'
    status, body = _exchange(served.port, _head(served, "Transfer-Encoding: chunked\r\n"), _chunked(oversized))
    assert status == 413, body
    assert f"{LIMIT} bytes".encode() in body

    # A chunked body within the limit is read, not dropped: its NUL is found.
    hostile = _text(_request(reason="a\u0000b")).encode()
    status, body = _exchange(served.port, _head(served, "Transfer-Encoding: chunked\r\n"), _chunked(hostile, 7))
    assert status == 422, body
    assert json.loads(body)["errors"][0]["path"] == "/reason"

    # A Content-Length past the limit is refused before the body is read.
    status, body = _exchange(served.port, _head(served, f"Content-Length: {LIMIT * 50}\r\n"), [b"{}"])
    assert status == 413, body

    # A Content-Length shorter than the body: only the announced bytes are the body (truncated JSON).
    valid = _text(_request()).encode()
    status, body = _exchange(served.port, _head(served, "Content-Length: 10\r\n"), [valid])
    assert status == 400, body

    # A Content-Length longer than what is sent before the client stops sending: never a 5xx.
    status, body = _exchange(served.port, _head(served, f"Content-Length: {len(valid) + 100}\r\n"), [valid],
                             half_close=True)
    assert status == 400, body

    # 100,000 levels of nesting, chunked: refused by the depth scan, not by a RecursionError.
    status, body = _exchange(served.port, _head(served, "Transfer-Encoding: chunked\r\n"),
                             _chunked(b"[" * 100_000))
    assert status == 400, body
    assert b"nested deeper" in body
    assert row_counts(served.engine) == before


def test_what_gunicorn_refuses_before_the_app_is_a_problem_too(served: Served) -> None:
    """A request line past gunicorn's limit (a long URL) and an oversized header field never reach
    the app; they are answered with problem+json like everything else, not gunicorn's HTML page."""
    def raw(request: bytes) -> tuple[int, dict[str, str], bytes]:
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as connection:
            connection.sendall(request)
            received = b""
            while chunk := connection.recv(65536):  # the server closes: Connection: close
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        return int(lines[0].split(" ")[1]), headers, body

    long_path = "/api/v1/clusters/" + "%C3%A9" * 1500  # 1,500 characters: 9,000 bytes on the request line
    cases = [
        (f"GET {long_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 414),
        (f"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 9000}\r\n\r\n".encode(), 431),
        (b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nBad Header: yes\r\n\r\n", 400),
    ]
    for request, expected in cases:
        status, headers, body = raw(request)
        assert status == expected, body
        assert headers["content-type"] == "application/problem+json"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["content-length"] == str(len(body))
        problem = json.loads(body)
        assert problem["status"] == expected
        assert problem["title"]
        assert problem["detail"]

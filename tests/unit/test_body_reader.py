"""The body reader (api/body.py) and the strict JSON rules under it (adapters/strict_json.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify

from topicdesk.adapters import strict_json
from topicdesk.api.body import MAX_URL_VALUE, json_body
from topicdesk.app import create_app
from topicdesk.config import Settings


def test_depth_is_counted_outside_strings_without_parsing() -> None:
    assert not strict_json.deeper_than(b'{"a": [[1]]}', 3)
    assert strict_json.deeper_than(b'{"a": [[[1]]]}', 3)
    # Brackets inside strings (also after escaped quotes and backslashes) are not nesting.
    assert not strict_json.deeper_than(b'{"a": "[[[[{{{{", "b": "\\"[[[[", "c": "\\\\"}', 3)
    assert strict_json.deeper_than(b'{"a": "\\\\", "b": [[[[1]]]]}', 3)
    # Closing brackets bring the depth back: many siblings are not depth.
    assert not strict_json.deeper_than(b"[" + b"[],".join([b""] * 1000) + b"[]]", 3)


def test_the_depth_scan_of_a_megabyte_is_fast() -> None:
    started = time.perf_counter()
    assert strict_json.deeper_than(b"[" * 1_000_000)
    assert not strict_json.deeper_than(b"[]," * 330_000)
    assert time.perf_counter() - started < 5  # linear: a quadratic scan would take minutes


def test_loads_refuses_what_is_not_json_and_never_recurses_past_the_limit() -> None:
    for text, message in (("[" * 100_000, "nested deeper than 32"), ('{"a": NaN}', "NaN is not a JSON number"),
                          ('{"a": -Infinity}', "-Infinity"), ('{"a": 1', "not valid JSON"),
                          ("9" * 5000, "not valid JSON")):
        with pytest.raises(strict_json.JsonRefused, match=message):
            strict_json.loads(text)
    assert strict_json.loads("[" * 32 + "]" * 32) is not None


def test_problems_name_every_duplicate_key_and_refused_value_by_pointer() -> None:
    document = strict_json.loads(
        '{"a": 1, "a": 2, "spec": {"x/y": {"n": 1, "n": 2}}, "reason": "ok\\nline\\t2", "name": "x\\n",'
        ' "list": ["fine", "zero\\u200bwidth"], "big": 9223372036854775808, "small": -9223372036854775808,'
        ' "inf": 1e999, "surrogate": "\\udc00", "description": "evil\\u202e", "k\\u0000": true}')
    found = strict_json.problems(document)
    assert [e.path for e in found.duplicate_keys] == ["/a", "/spec/x~1y/n"]
    assert sorted(e.path for e in found.refused_values) == ["/big", "/description", "/inf", "/k\x00", "/list/1",
                                                            "/name", "/surrogate"]
    assert all(e.path for e in found.all)


def test_free_text_keeps_line_breaks_and_names_keep_nothing_invisible() -> None:
    assert strict_json.refused_character("two\nlines\tand\r\n", free_text=True) is None
    assert strict_json.refused_character("emoji 👩\u200d💻 joiner", free_text=True) is None
    assert strict_json.refused_character("a\x00b", free_text=True) == "U+0000 at position 1"
    assert strict_json.refused_character("payments.x\n") == "U+000A at position 10"
    assert strict_json.refused_character("pay\u00adments") == "U+00AD at position 3"
    assert strict_json.refused_character("payments.orders-v1") is None


def test_a_bom_is_dropped_and_other_encodings_refused() -> None:
    assert strict_json.decode("\ufeff{}".encode()) == "{}"
    with pytest.raises(strict_json.JsonRefused, match="not UTF-8"):
        strict_json.decode("{}".encode("utf-16"))


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    settings = Settings.from_env({"TOPICDESK_DATA_DIR": str(tmp_path), "TOPICDESK_MAX_BODY_BYTES": "1000"})
    app = create_app(settings)

    @app.route("/echo", methods=["POST", "PATCH"])
    def echo() -> Any:
        return jsonify(json_body())

    @app.post("/echo-optional")
    def echo_optional() -> Any:
        return jsonify(json_body(optional=True))

    @app.get("/items/<name>")
    def item(name: str) -> Any:
        return jsonify(name=name)

    return app


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = json.loads(response.get_data())
    return body


def test_the_reader_takes_json_and_merge_patch_only_where_patch(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/echo", data='{"a": 1}', content_type="application/json; charset=utf-8").json == {"a": 1}
    assert client.patch("/echo", data='{"a": 1}', content_type="application/merge-patch+json").json == {"a": 1}
    refused = client.post("/echo", data='{"a": 1}', content_type="application/merge-patch+json")
    assert "application/json" in _problem(refused, 415)["detail"]
    assert refused.headers["Accept-Post"] == "application/json"
    patch = client.patch("/echo", data="a=1", content_type="application/x-www-form-urlencoded")
    assert "curl -d sends form data" in _problem(patch, 415)["detail"]
    assert patch.headers["Accept-Patch"] == "application/json, application/merge-patch+json"
    _problem(client.post("/echo", data='{"a": 1}'), 415)  # no Content-Type
    _problem(client.post("/echo", data='{"a": 1}', content_type="application/json; charset=latin-1"), 415)


def test_an_optional_body_may_be_absent_but_not_junk(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/echo-optional").json == {}
    assert client.post("/echo-optional", content_type="application/json").json == {}
    _problem(client.post("/echo-optional", data="x", content_type="text/plain"), 415)
    _problem(client.post("/echo-optional", data="[]", content_type="application/json"), 422)


def test_a_body_over_the_limit_is_413_with_the_limit(app: Flask) -> None:
    body = _problem(app.test_client().post("/echo", data=b"{" + b" " * 2000 + b"}",
                                           content_type="application/json"), 413)
    assert "1000 bytes" in body["detail"]
    assert "TOPICDESK_MAX_BODY_BYTES" in body["detail"]


def test_errors_carry_the_pointer_and_the_kind_of_refusal(app: Flask) -> None:
    client = app.test_client()
    duplicate = _problem(client.post("/echo", data='{"a": {"b": 1, "b": 2}}', content_type="application/json"), 400)
    assert duplicate["errors"] == [{"path": "/a/b", "message": duplicate["errors"][0]["message"]}]
    control = _problem(client.post("/echo", data='{"reason": "a\\u0000"}', content_type="application/json"), 422)
    assert [e["path"] for e in control["errors"]] == ["/reason"]
    syntax = _problem(client.post("/echo", data='{\n"a": }', content_type="application/json"), 400)
    assert syntax["errors"][0]["line"] == 2
    top = _problem(client.post("/echo", data="[1]", content_type="application/json"), 422)
    assert top["errors"] == [{"path": "", "message": "expected an object, got an array"}]


def test_path_and_query_values_are_bounded_and_printable(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/items/payments.orders?q=fine").json == {"name": "payments.orders"}
    nul = _problem(client.get("/items/a%00b"), 400)
    assert nul["errors"][0]["path"] == "/path/name"
    long = _problem(client.get(f"/items/x?q={'a' * (MAX_URL_VALUE + 1)}"), 400)
    assert long["errors"][0]["path"] == "/query/q"
    assert _problem(client.get("/items/x?%1b=1"), 400)["errors"][0]["path"] == "/query/\x1b"
    # /auth/* reduces a bad `next` to "/" itself, so a broken link still logs in.
    assert client.get("/auth/login?next=/%00").status_code != 400

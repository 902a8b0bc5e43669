"""The OpenAPI document: served, complete, and covering every operation the portal calls."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate

from topicdesk.adapters.strict_json import REFUSED_CHARACTER_PATTERN, refused_character
from topicdesk.api.body import MAX_URL_VALUE
from topicdesk.api.endpoints import ENDPOINTS
from topicdesk.api.openapi_bundle import refs, resolve
from topicdesk.app import create_app
from topicdesk.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _document(tmp_path: Path, **env: str) -> dict[str, Any]:
    app = create_app(Settings.from_env({"TOPICDESK_DATA_DIR": str(tmp_path), **env}))
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert isinstance(document, dict)
    return document


def test_document_is_openapi_31_and_reuses_the_request_schemas(tmp_path: Path) -> None:
    document = _document(tmp_path)
    assert document["openapi"] == "3.1.0"
    components = document["components"]
    assert isinstance(components, dict)
    for kind in ("topic_create", "topic_update", "topic_delete", "access_grant", "access_revoke", "quota_set",
                 "request"):
        assert kind in components["schemas"]
    paths = document["paths"]
    assert isinstance(paths, dict)
    assert "requestBody" in paths["/api/v1/requests"]["post"]
    assert "get" in paths["/api/v1/clusters/{cluster}/drift"]
    triage = paths["/api/v1/clusters/{cluster}/drift/{item_id}/triage"]["post"]
    assert triage["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/drift-triage"}
    assert "drift-triage" in components["schemas"]
    assert "status" in [p["name"] for p in paths["/api/v1/topics"]["get"]["parameters"]]


def test_every_operation_the_portal_calls_is_in_the_document(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node is needed to check the portal's API client against the document"
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(_document(tmp_path)))
    result = subprocess.run([node, str(ROOT / "frontend" / "scripts" / "check-api.mjs"), str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout


def test_the_served_document_is_valid_openapi_31(tmp_path: Path) -> None:
    validate(_document(tmp_path))  # raises, naming the first problem


def test_every_ref_points_inside_the_document_and_resolves(tmp_path: Path) -> None:
    document = _document(tmp_path)
    found = set(refs(document))
    assert len(found) > 50
    assert [ref for ref in found if not ref.startswith(("#/components/schemas/", "#/components/headers/"))] == []
    for ref in found:
        resolve(document, ref)  # KeyError names the reference that points nowhere
    # No schema keeps an $id: inside the document it would change what a relative reference means.
    assert "$id" not in json.dumps(document["components"]["schemas"]).replace('"$id": {', "")


def test_every_operation_documents_its_bodies_and_its_problems(tmp_path: Path) -> None:
    paths = _document(tmp_path)["paths"]
    for endpoint in ENDPOINTS:
        operation = paths[endpoint.path][endpoint.method.lower()]
        responses = operation["responses"]
        success = responses[str(endpoint.success)]
        assert ("content" in success) == (endpoint.success != 204), endpoint.endpoint
        for status, answer in responses.items():
            if status == "default" or int(status) >= 400:
                assert list(answer["content"]) == ["application/problem+json"], (endpoint.endpoint, status)
        if endpoint.method in ("POST", "PATCH") and endpoint.endpoint not in (
                "v1.cancel", "v1.rotate_service_account", "v1.restore_topic", "v1.refresh_stale_report",
                "v1.test_notification_subscription"):
            assert "requestBody" in operation, endpoint.endpoint
        if endpoint.access != "public":
            assert {"401", "403", "404", "422"} <= responses.keys(), endpoint.endpoint


def test_the_dry_run_and_the_desired_state_answers_are_documented(tmp_path: Path) -> None:
    paths = _document(tmp_path)["paths"]
    submit = paths["/api/v1/requests"]["post"]["responses"]
    assert submit["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RequestView"}
    assert submit["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/DryRunResult"}
    desired = paths["/api/v1/desired-state"]["post"]["responses"]
    assert desired["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/desired-state-result"}
    assert desired["409"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/DesiredStateNotApplied"}
    token = paths["/api/v1/teams/{team}/tokens"]["post"]["responses"]["201"]
    assert "token" in json.dumps(_document(tmp_path)["components"]["schemas"]["TokenWithSecret"])
    assert token["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TokenWithSecret"}


def test_limit_declares_the_bounds_the_server_enforces(tmp_path: Path) -> None:
    from topicdesk.api.common import MAX_PAGE

    operation = _document(tmp_path)["paths"]["/api/v1/topics"]["get"]
    limit = next(p for p in operation["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50}


def test_the_cookie_scheme_names_the_session_cookie_the_server_sets(tmp_path: Path) -> None:
    for env, cookie in (({}, "topicdesk_session"),
                        ({"SESSION_COOKIE_SECURE": "true"}, "__Host-topicdesk")):
        app = create_app(Settings.from_env({"TOPICDESK_DATA_DIR": str(tmp_path), **env}))
        assert app.config["SESSION_COOKIE_NAME"] == cookie
        scheme = app.test_client().get("/api/v1/openapi.json").get_json()["components"]["securitySchemes"]["session"]
        assert scheme == {**scheme, "in": "cookie", "name": cookie}


def test_service_account_responses_say_which_kafka_clients_can_log_in(tmp_path: Path) -> None:
    paths = _document(tmp_path)["paths"]
    assert isinstance(paths, dict)
    for path in ("/api/v1/clusters/{cluster}/service-accounts",
                 "/api/v1/clusters/{cluster}/service-accounts/{principal}/rotate"):
        description = paths[path]["post"]["description"]
        assert "SCRAM-SHA-512" in description
        assert "librdkafka older than 2.6.1" in description
        assert "kcat" in description


def test_path_and_query_strings_declare_the_characters_the_server_refuses(tmp_path: Path) -> None:
    """The document is not looser than check_url_values: every free string in a path or query says
    its bound and its characters, and the pattern accepts exactly what the server accepts."""
    document = _document(tmp_path)
    free = 0
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") not in ("path", "query") or schema.get("type") != "string" \
                        or {"enum", "const", "format"} & schema.keys():
                    continue
                free += 1
                assert schema["not"] == {"pattern": REFUSED_CHARACTER_PATTERN}, (operation["operationId"], parameter)
                assert schema["maxLength"] <= MAX_URL_VALUE
    assert free > 20
    samples = ["payments.orders-v1", "école", "名前", "a b", "tab\there", "line\n", "nul\x00", "del\x7f",
               "c1\x85", "zero\u200bwidth", "bidi\u202e", "bom\ufeff", "tag\U000e0041", "soft\u00adhyphen", "😀"]
    for value in samples:
        # JSON Schema's pattern is a search
        assert (re.search(REFUSED_CHARACTER_PATTERN, value) is None) == (refused_character(value) is None), value

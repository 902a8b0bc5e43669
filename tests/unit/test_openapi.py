"""The OpenAPI document: served, complete, and covering every operation the portal calls."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from topicdesk.app import create_app
from topicdesk.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _document(tmp_path: Path) -> dict[str, object]:
    app = create_app(Settings.from_env({"TOPICDESK_DATA_DIR": str(tmp_path)}))
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


def test_service_account_responses_say_which_kafka_clients_can_log_in(tmp_path: Path) -> None:
    paths = _document(tmp_path)["paths"]
    assert isinstance(paths, dict)
    for path in ("/api/v1/clusters/{cluster}/service-accounts",
                 "/api/v1/clusters/{cluster}/service-accounts/{principal}/rotate"):
        description = paths[path]["post"]["description"]
        assert "SCRAM-SHA-512" in description
        assert "librdkafka older than 2.6.1" in description
        assert "kcat" in description

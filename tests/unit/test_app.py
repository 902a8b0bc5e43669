"""App skeleton: probes and the one problem+json shape, through Flask's test client."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from topicdesk.app import create_app
from topicdesk.config import ConfigError, Settings, normalize_database_url
from topicdesk.domain.errors import FieldError, ValidationFailed


def _app(tmp_path: Path, database_url: str | None = None) -> Flask:
    settings = Settings.from_env({"TOPICDESK_DATA_DIR": str(tmp_path), "TOPICDESK_MAX_BODY_BYTES": "1000"})
    if database_url:
        settings = Settings(**{**settings.__dict__, "database_url": database_url})
    return create_app(settings)


def test_healthz_and_readyz(tmp_path: Path) -> None:
    client = _app(tmp_path).test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json


def test_readyz_is_503_problem_when_database_unreachable(tmp_path: Path) -> None:
    unreachable = f"sqlite:///{tmp_path}"  # a directory: SQLite cannot open it as a database
    response = _app(tmp_path, unreachable).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.json is not None
    assert response.json["status"] == 503


def test_unknown_path_is_problem_json(tmp_path: Path) -> None:
    response = _app(tmp_path).test_client().get("/nope")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body is not None
    assert {"type", "title", "status", "detail"} <= body.keys()


def test_domain_error_lists_every_field_error(tmp_path: Path) -> None:
    app = _app(tmp_path)

    @app.post("/boom")
    def boom() -> str:
        raise ValidationFailed("2 errors", errors=[FieldError("/spec/partitions", "must be >= 1"),
                                                    FieldError("/spec/name", "too long")])

    response = app.test_client().post("/boom")
    assert response.status_code == 422
    assert response.json is not None
    assert response.json["errors"] == [
        {"path": "/spec/partitions", "message": "must be >= 1"},
        {"path": "/spec/name", "message": "too long"},
    ]


def test_unexpected_error_is_500_problem_without_internals(tmp_path: Path) -> None:
    app = _app(tmp_path)

    @app.get("/crash")
    def crash() -> str:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/crash")
    assert response.status_code == 500
    assert b"secret internals" not in response.data
    assert response.mimetype == "application/problem+json"


def test_oversized_body_is_413_problem(tmp_path: Path) -> None:
    app = _app(tmp_path)

    @app.post("/echo")
    def echo() -> str:
        from flask import request

        return str(len(request.get_data()))

    response = app.test_client().post("/echo", data=b"x" * 5000)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def test_database_url_spellings() -> None:
    assert normalize_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_audit_poll_interval_must_be_positive(tmp_path: Path) -> None:
    for bad in ("0", "-1"):
        with pytest.raises(ConfigError, match="TOPICDESK_AUDIT_POLL_SECONDS"):
            Settings.from_env({"TOPICDESK_DATA_DIR": str(tmp_path), "TOPICDESK_AUDIT_POLL_SECONDS": bad})
    assert Settings.from_env({"TOPICDESK_DATA_DIR": str(tmp_path),
                              "TOPICDESK_AUDIT_POLL_SECONDS": "0.5"}).audit_poll_seconds == 0.5

"""Liveness and readiness probes (kept outside /api/v1 and outside authentication)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from topicdesk.adapters.db import database_reachable
from topicdesk.api.problems import problem_response

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@health.get("/readyz")
def readyz() -> ResponseReturnValue:
    ok, detail = database_reachable(current_app.extensions["topicdesk.engine"])
    if not ok:
        return problem_response(503, "Service Unavailable", f"database unreachable: {detail}")
    return jsonify(status="ready")

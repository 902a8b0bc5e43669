"""Flask application factory: wires settings, database and blueprints in one place."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from sqlalchemy.engine import Engine

import topicdesk.api.migrations
import topicdesk.api.notifications  # noqa: F401  (adds the notification routes to the v1 blueprint)
from topicdesk import schemas
from topicdesk.adapters.audit_log import AuditSequencer
from topicdesk.adapters.db import make_engine
from topicdesk.api.auth import init_auth
from topicdesk.api.body import register_input_checks
from topicdesk.api.headers import register_security_headers
from topicdesk.api.health import health
from topicdesk.api.openapi import openapi_document
from topicdesk.api.portal import register_portal
from topicdesk.api.problems import register_problem_handlers
from topicdesk.api.v1 import v1
from topicdesk.bootstrap import kafka_port_for, usage_evidence_from
from topicdesk.config import Settings
from topicdesk.observability import http as observability
from topicdesk.policy import PolicyBundle, build_evaluation_document, evaluate, load_bundle
from topicdesk.services.reconcile_loop import PortFactory
from topicdesk.services.requests import RequestDeps


@functools.cache
def _bundle(directory: Path | None) -> PolicyBundle:
    # Checking every rule's schema against the metaschema costs ~0.3 s; once per process and path.
    return load_bundle(directory) if directory else load_bundle()


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building the signer for requests that carry no session
    cookie (every API call with a bearer token): an empty session is what Flask would open for them."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, port_factory: PortFactory | None = None,
) -> Flask:
    settings = settings or Settings.from_env()
    # static_folder=None: the portal blueprint serves frontend/dist itself, with the SPA fallback.
    app = Flask("topicdesk", static_folder=None)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        TESTING=settings.testing,
    )
    # Flask 3 ignores JSON_SORT_KEYS: answers keep the order views build them in (id, kind, ... first),
    # and sorting every object's keys cost a sixth of encoding a topic page (bench P5, P6).
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = CookieSessions()
    engine = engine or make_engine(settings.database_url)
    # Schemas and policies load once, here: a broken file stops start-up instead of a request.
    schema_set = schemas.default_schemas()
    bundle = _bundle(settings.policy_dir)
    app.extensions["topicdesk.settings"] = settings
    app.extensions["topicdesk.policy_bundle"] = bundle
    app.extensions["topicdesk.engine"] = engine
    # First, so that its timing covers every other hook: request id, request log line, metrics, /metrics.
    observability.install(app)
    ports: PortFactory = port_factory or kafka_port_for
    app.extensions["topicdesk.port_factory"] = ports
    app.extensions["topicdesk.request_deps"] = RequestDeps(
        engine=engine,
        validate=lambda document: schemas.validate_request(document, schema_set),
        evaluate=lambda document: evaluate(bundle, document),
        build_document=lambda **parts: build_evaluation_document(
            parts["request"], parts["requester"], parts["cluster"], parts["topic"],
            evidence=parts.get("evidence"), migration=parts.get("migration")),
        usage_evidence=usage_evidence_from(ports),
        cluster_ports=ports,
    )
    # The server (topicdesk.server) runs this in each worker process, so requests only insert
    # their audit events and a background thread chains them (adapters/audit_log.py). Without
    # it (e.g. the Flask test client) the committing thread chains them itself.
    app.extensions["topicdesk.audit_sequencer"] = AuditSequencer(engine, poll_seconds=settings.audit_poll_seconds)
    register_problem_handlers(app)
    # Path and query values checked before any view; the 413 answer names the body limit.
    register_input_checks(app)
    register_security_headers(app, settings)
    app.register_blueprint(health)
    # Session cookie flags, OIDC verifier, write rate limiter, /auth/* (login, callback, session, logout).
    init_auth(app, settings)
    app.extensions["topicdesk.openapi"] = openapi_document(schemas.all_schemas(),
                                                           session_cookie=app.config["SESSION_COOKIE_NAME"])
    app.register_blueprint(v1)
    register_portal(app, settings.frontend_dist)
    logging.getLogger("topicdesk").setLevel(logging.INFO)
    return app

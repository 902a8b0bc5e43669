"""Flask application factory: wires settings, database and blueprints in one place."""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy.engine import Engine

from topicdesk.adapters.db import make_engine
from topicdesk.api.health import health
from topicdesk.api.problems import register_problem_handlers
from topicdesk.config import Settings


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask("topicdesk")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        TESTING=settings.testing,
        JSON_SORT_KEYS=False,
    )
    app.extensions["topicdesk.settings"] = settings
    app.extensions["topicdesk.engine"] = engine or make_engine(settings.database_url)
    register_problem_handlers(app)
    app.register_blueprint(health)
    logging.getLogger("topicdesk").setLevel(logging.INFO)
    return app

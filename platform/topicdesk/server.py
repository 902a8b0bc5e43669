"""Runs the WSGI app under gunicorn (the same server the Docker image uses)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from topicdesk.api import ratelimit
from topicdesk.config import Settings
from topicdesk.server_refusals import ProblemThreadWorker


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._app


def _start_worker_services(app: Flask) -> None:
    """In each worker process, after the fork: fresh database connections, and the app's background
    audit sequencer, if it has one."""
    engine = app.extensions.get("topicdesk.engine")
    if engine is not None:
        # Connections the parent opened must not be shared by several workers: forget them, unclosed
        # (closing would end the parent's session, which another worker may have inherited too).
        engine.dispose(close=False)
    sequencer = app.extensions.get("topicdesk.audit_sequencer")
    if sequencer is not None:
        sequencer.install().ensure_running()


def gunicorn_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    """The server settings `topicdesk serve` runs with (docs/architecture.md, "Running the server")."""
    return {
        "bind": f"{host}:{port}",
        # Workers from the CPU count on PostgreSQL, one on SQLite (config.py); threads overlap the
        # database round trips within each.
        "workers": settings.workers,
        "threads": settings.threads,
        # gthread, whose own refusals (414, 431, 400 before the app) are problem+json (server_refusals.py).
        "worker_class": ProblemThreadWorker,
        # Idle keep-alive connections cost a socket, not a thread, in gthread; each worker keeps up to
        # worker_connections of them.
        "keepalive": settings.keepalive_seconds,
        "worker_connections": 1000,
        # Connections arriving faster than the workers accept wait in the kernel, not refused.
        "backlog": 2048,
        # No max_requests: recycling a worker closes its kept-alive connections mid-use.
        "max_requests": 0,
        # No access log: every request gets one structured line from observability/http.py
        # (request id, route template, principal, status, duration; never the query string).
        "accesslog": None,
        "graceful_timeout": 5,
        "timeout": 60,
    }


def serve(app: Flask, host: str, port: int, settings: Settings | None = None) -> None:
    settings = settings or app.extensions.get("topicdesk.settings") or Settings.from_env()
    # Imported here, not at the top: prometheus_client must not be imported before `topicdesk serve`
    # has prepared its multiprocess directory (cli.py).
    from topicdesk.observability.logging import gunicorn_logger_class
    from topicdesk.observability.process import worker_exited

    options = gunicorn_options(settings, host, port)
    ratelimit.share_between_workers(app, settings.workers)
    # Each worker is a fork of this process: the app (and its engine) are built before, and the
    # audit sequencer thread is started in each worker.
    options["post_worker_init"] = lambda _worker: _start_worker_services(app)
    # Metrics of a dead worker (multiprocess mode, see observability/process.py).
    options["child_exit"] = lambda _arbiter, worker: worker_exited(worker.pid)
    options["logger_class"] = gunicorn_logger_class()
    _Gunicorn(app, options).run()

"""Runs the WSGI app under gunicorn (the same server the Docker image uses)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


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
    """In each worker process, after the fork: the app's background audit sequencer, if it has one."""
    sequencer = app.extensions.get("topicdesk.audit_sequencer")
    if sequencer is not None:
        sequencer.install().ensure_running()


def serve(app: Flask, host: str, port: int, *, threads: int = 8, workers: int = 1) -> None:
    # One worker process with threads by default: SQLite and the per-process rate limiter stay
    # consistent; production scales out with more containers against PostgreSQL.
    from topicdesk.observability.logging import gunicorn_logger_class
    from topicdesk.observability.process import worker_exited

    _Gunicorn(app, {
        "post_worker_init": lambda _worker: _start_worker_services(app),
        # Metrics of a dead worker (multiprocess mode, see observability/process.py).
        "child_exit": lambda _arbiter, worker: worker_exited(worker.pid),
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        # No access log: every request gets one structured line from observability/http.py
        # (request id, route template, principal, status, duration; never the query string).
        "accesslog": None,
        "logger_class": gunicorn_logger_class(),
        "graceful_timeout": 5,
        "timeout": 60,
    }).run()

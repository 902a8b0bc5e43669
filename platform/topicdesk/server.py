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


def serve(app: Flask, host: str, port: int, *, threads: int = 8) -> None:
    # One worker process with threads: SQLite and the per-process rate limiter stay consistent;
    # production scales out with more containers against PostgreSQL.
    _Gunicorn(app, {
        "post_worker_init": lambda _worker: _start_worker_services(app),
        "bind": f"{host}:{port}",
        "workers": 1,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        # The path without its query string: /auth/callback carries a one-time code in it.
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
        "graceful_timeout": 5,
        "timeout": 60,
    }).run()

"""Per-process set-up of metrics: the web server's multiprocess directory, the reconciler's port.

Under gunicorn every worker is its own process, so prometheus-client's multiprocess mode keeps
each worker's values in files of one directory that /metrics sums. That directory must be empty
at each start (values of a previous run would be added in) and a dead worker's gauges must be
dropped (gunicorn's child_exit hook), and PROMETHEUS_MULTIPROC_DIR must be set before
prometheus_client is first imported: `topicdesk serve` calls `prepare_multiprocess_dir` first.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import MutableMapping
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
RECONCILER_PORT_ENV = "TOPICDESK_RECONCILER_METRICS_PORT"


def prepare_multiprocess_dir(env: MutableMapping[str, str] | None = None) -> tuple[Path, bool]:
    """A fresh, empty directory: PROMETHEUS_MULTIPROC_DIR's (emptied) when set, else a new one
    under the temp dir (created: True). Exported in this process's environment, which the
    workers inherit."""
    environ: MutableMapping[str, str] = os.environ if env is None else env
    configured = environ.get(MULTIPROC_ENV)
    if configured:
        directory = Path(configured)
        if directory.exists():
            for entry in directory.iterdir():
                if entry.is_file() and entry.suffix == ".db":
                    entry.unlink()
        directory.mkdir(parents=True, exist_ok=True)
        return directory, False
    directory = Path(tempfile.mkdtemp(prefix="topicdesk-metrics-"))
    environ[MULTIPROC_ENV] = str(directory)
    return directory, True


def remove_multiprocess_dir(directory: Path, *, created: bool) -> None:
    if created:
        shutil.rmtree(directory, ignore_errors=True)
        if os.environ.get(MULTIPROC_ENV) == str(directory):
            del os.environ[MULTIPROC_ENV]


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit: drop the dead worker's live gauges (its counters stay summed). A
    server started without a multiprocess directory (bench/p3_bare_app.py) has nothing to drop."""
    if not os.environ.get(MULTIPROC_ENV):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def start_reconciler_metrics(port: int, host: str = "0.0.0.0", token: str | None = None) -> None:
    """Serve this process's metrics on `port` from a daemon thread; with `token`, only to a scrape
    that sends it as a bearer token (observability/metrics_auth.py), as the web server's /metrics."""
    from prometheus_client import make_wsgi_app

    from topicdesk.observability.metrics_auth import guarded_wsgi

    server = make_server(host, port, guarded_wsgi(make_wsgi_app(), token), _ThreadingServer, _QuietHandler)
    threading.Thread(target=server.serve_forever, name="topicdesk-metrics", daemon=True).start()


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # A slow scrape must not hold the next one; the threads die with the reconciler.
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Each scrape would print an access line on stderr, among the JSON log lines."""

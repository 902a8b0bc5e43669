"""The gunicorn settings `topicdesk serve` runs with, and the write limiter's share per worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from topicdesk.api import ratelimit
from topicdesk.api.ratelimit import worker_share
from topicdesk.config import ConfigError, Settings, cpu_count
from topicdesk.server import gunicorn_options
from topicdesk.server_refusals import ProblemThreadWorker

PG = "postgresql://td@db/td"


def test_postgresql_runs_one_worker_per_cpu_and_sqlite_one() -> None:
    assert Settings.from_env({"DATABASE_URL": PG}).workers == min(cpu_count(), 64)
    assert Settings.from_env({"DATABASE_URL": PG, "TOPICDESK_WORKERS": "auto"}).workers == min(cpu_count(), 64)
    assert Settings.from_env({"DATABASE_URL": "sqlite:///x.db"}).workers == 1
    assert Settings.from_env({"DATABASE_URL": PG, "TOPICDESK_WORKERS": "5"}).workers == 5


def test_an_explicit_worker_count_wins_on_either_database() -> None:
    assert Settings.from_env({"DATABASE_URL": "sqlite:///x.db", "TOPICDESK_WORKERS": "3"}).workers == 3
    assert Settings.from_env({"DATABASE_URL": PG, "TOPICDESK_WORKERS": "1"}).workers == 1


@pytest.mark.parametrize(("name", "value", "message"), [
    ("TOPICDESK_WORKERS", "0", "TOPICDESK_WORKERS must be a positive integer"),
    ("TOPICDESK_WORKERS", "many", "TOPICDESK_WORKERS must be an integer"),
    ("TOPICDESK_WORKERS", "65", "TOPICDESK_WORKERS must be at most 64"),
    ("TOPICDESK_THREADS", "0", "TOPICDESK_THREADS must be a positive integer"),
    ("TOPICDESK_KEEPALIVE", "0", "TOPICDESK_KEEPALIVE must be a positive integer"),
    ("TOPICDESK_KEEPALIVE", "soon", "TOPICDESK_KEEPALIVE must be an integer"),
])
def test_bad_server_settings_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"DATABASE_URL": PG, name: value})


def test_gunicorn_options_follow_the_settings() -> None:
    settings = Settings.from_env({"DATABASE_URL": PG, "TOPICDESK_WORKERS": "3", "TOPICDESK_THREADS": "12",
                                  "TOPICDESK_KEEPALIVE": "90"})
    options = gunicorn_options(settings, "0.0.0.0", 8080)
    assert options["bind"] == "0.0.0.0:8080"
    assert (options["workers"], options["threads"], options["worker_class"]) == (3, 12, ProblemThreadWorker)
    assert options["keepalive"] == 90
    # Recycling workers would close kept-alive connections under the clients' feet.
    assert options["max_requests"] == 0
    assert options["backlog"] >= 1024


def test_default_keepalive_outlasts_common_client_pool_idle_timeouts() -> None:
    # Load balancers and HTTP client pools commonly drop idle connections after 60 s; the server must
    # not be the side that closes first.
    assert Settings.from_env({"DATABASE_URL": PG}).keepalive_seconds > 60


def test_each_worker_gets_an_equal_share_of_the_write_rate() -> None:
    assert worker_share(60, 30, 1) == (60, 30)
    assert worker_share(60, 30, 2) == (30, 15)
    assert worker_share(60, 30, 4) == (15, 7)
    # A burst is never below one request.
    assert worker_share(60, 1, 4) == (15, 1)


def test_served_by_several_workers_each_limiter_keeps_its_share(tmp_path: Path) -> None:
    app = Flask("limits")
    settings = Settings(database_url=PG, data_dir=tmp_path, secret_key="k", write_rate_per_minute=60,
                        write_burst=30, dry_run_rate_per_minute=600, dry_run_burst=120)
    ratelimit.install(app, settings)
    ratelimit.share_between_workers(app, 1)
    assert app.extensions[ratelimit.EXTENSION_KEY].burst == 30
    ratelimit.share_between_workers(app, 2)
    writes: ratelimit.RateLimiter = app.extensions[ratelimit.EXTENSION_KEY]
    dry_runs: ratelimit.RateLimiter = app.extensions[ratelimit.DRY_RUN_EXTENSION_KEY]
    assert (writes.per_minute, writes.burst, writes.what) == (30, 15, "writes")
    assert (dry_runs.per_minute, dry_runs.burst, dry_runs.what) == (300, 60, "dry runs")

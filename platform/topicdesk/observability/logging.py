"""Log output: one JSON object per line for machines, plain text for a person at a terminal.

`TOPICDESK_LOG_FORMAT=json|text` overrides the choice (default: text when stderr is a terminal,
else JSON). Fields passed with `extra=` (request_id, route, cluster, counts...) become JSON keys;
the text form appends them as key=value. Nothing here knows about secrets: callers log ids,
routes and counts, never headers, bodies or query strings.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

from topicdesk.config import ConfigError

LOG_FORMAT_ENV = "TOPICDESK_LOG_FORMAT"
# Attributes every LogRecord has; the rest came from `extra=`.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{k}={v}" for k, v in extra_fields(record).items())
        return f"{line} {fields}" if fields else line


def json_formatter() -> logging.Formatter:
    return JsonFormatter("%(levelname)s %(name)s %(message)s",
                         rename_fields={"levelname": "level", "name": "logger"},
                         timestamp="time", json_ensure_ascii=False)


def chosen_format(stream: IO[str], env: dict[str, str] | None = None) -> str:
    wanted = (os.environ if env is None else env).get(LOG_FORMAT_ENV, "").strip().lower()
    if wanted in ("json", "text"):
        return wanted
    if wanted:
        raise ConfigError(f"{LOG_FORMAT_ENV} must be json or text, not {wanted!r}")
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure_logging(stream: IO[str] | None = None, *, level: int = logging.INFO, fmt: str | None = None) -> str:
    """Route the root logger (and gunicorn's error log, which propagates to it) to `stream`
    (stderr) in the chosen format; returns the format used. For long-running processes only:
    serve and reconcile."""
    out = stream or sys.stderr
    chosen = fmt or chosen_format(out)
    handler = logging.StreamHandler(out)
    handler.setFormatter(json_formatter() if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_topicdesk", False):
            root.removeHandler(old)
    handler._topicdesk = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("topicdesk").setLevel(level)
    # kafka-python (client quotas only) warns on every SCRAM login that SASL_PLAINTEXT sends the exchange in
    # the clear — once per quota read, every drift interval; the listener's protocol is the cluster's choice.
    logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)
    return chosen


def gunicorn_logger_class() -> type:
    """gunicorn's logger, sending its lines (worker start/exit, timeouts) through the root logger
    when configure_logging set it up, so stderr has one format; otherwise gunicorn's own."""
    from gunicorn.glogging import Logger

    class _ThroughRoot(Logger):  # type: ignore[misc]
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            if not any(getattr(h, "_topicdesk", False) for h in logging.getLogger().handlers):
                return
            for logger in (self.error_log, self.access_log):
                for handler in list(logger.handlers):
                    logger.removeHandler(handler)
                logger.propagate = True

    return _ThroughRoot

"""Reading a local cluster's logs after a failed start: which port it could not bind, and a one-line
summary of why it stopped (without Java stack frames), from the lines of the last run only.
"""

from __future__ import annotations

import os
import re
from contextlib import suppress
from pathlib import Path

from topicdesk.local_kafka.model import LocalCluster

_BIND_RE = re.compile(r"failed to bind to [^:\s]+:(\d+)", re.IGNORECASE)


RUN_MARKER = "--- topicdesk: starting "


def this_run_logs(cluster: LocalCluster) -> str:
    texts = []
    for name in ("server.log", "jvm.log"):
        with suppress(OSError):
            text = tail(cluster.log_dir / name)
            # Both files are appended to across starts; only lines after the last start count.
            texts.append(text.rsplit(RUN_MARKER, 1)[-1])
    return "\n".join(texts)


def bind_failure_port(cluster: LocalCluster) -> int | None:
    """The port the last start failed to bind, if that is why it stopped."""
    text = this_run_logs(cluster)
    bind = _BIND_RE.search(text)
    if bind:
        return int(bind.group(1))
    if "Address already in use" in text:
        return cluster.client_port
    return None


def failure_summary(cluster: LocalCluster, max_lines: int = 3) -> str:
    """A one-line digest of why a JVM failed, from its logs, without Java stack frames."""
    joined = this_run_logs(cluster)
    where = f"(logs in {cluster.log_dir})"
    port = bind_failure_port(cluster)
    if port is not None:
        return f"port {port} on {cluster.host} is already in use {where}"
    if "UnsupportedClassVersionError" in joined:
        return f"Kafka {cluster.kafka_version} needs Java 17 or newer {where}"
    error = first_error(joined, max_lines)
    return f"{error or 'no error in the logs'} {where}"


def tail(path: Path, max_bytes: int = 64 * 1024) -> str:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - max_bytes))
        return fh.read().decode(errors="replace")


def first_error(text: str, max_lines: int = 3) -> str:
    picked: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("at ", "...", "Caused by: java.lang.reflect")):
            continue
        if any(tag in line for tag in (" ERROR ", " FATAL ", "Exception", "Error:", "error:")):
            line = re.sub(r"^\[[^\]]+\]\s*", "", line)
            if line not in picked:
                picked.append(line)
    return " | ".join(picked[-max_lines:])[:800]

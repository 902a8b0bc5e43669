"""The mirror port on an existing Kafka Connect cluster, driven through its REST API.

A mirror is two connectors (domain/mirror_config.py: `connector_names`, `connector_configs`):
`topicdesk-<mirror_id>-source` (MirrorSourceConnector: copies the records) and
`topicdesk-<mirror_id>-checkpoint` (MirrorCheckpointConnector: translates the groups' offsets).

- ensure_running: GET each connector's config and PUT it only when it differs (a PUT restarts the
  connector and its tasks, so an unchanged mirror is never disturbed); then GET the statuses and
  restart what FAILED (`POST /connectors/<name>/restart?includeTasks=true&onlyFailed=true`). The
  answer is the status seen before that restart, so a failure stays visible (with its trace)
  while the restart is attempted: level-triggered, every pass restarts what failed again.
- status: RUNNING only when both connectors and every task run; FAILED names the connector or
  task and the first lines of its trace. A source connector that runs with no task at all found
  none of the topics' partitions on the source: MirrorMaker logs that (wrong credentials, a
  missing Describe ACL, a topic gone) and retries quietly, so Connect never shows it FAILED;
  this adapter does, once it stays so for `settle_seconds`.
- stop: DELETE both connectors (404 is fine).

Connect answers 409 while its workers rebalance: such calls are retried a few times with a short
pause. A worker that cannot be reached, times out or answers 5xx gives `UNREACHABLE`, never an
exception. Connect's REST API is the same from Kafka 3.x on for everything used here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests

from topicdesk.domain.mirror_config import REDACTED, connector_configs, connector_names
from topicdesk.services.mirror_port import MirrorSpec, MirrorState, MirrorStatus, TaskStatus

ENGINE = "connect"
TRACE_LINES = 3
ConnectorStatus = Mapping[str, Any]


class _Unreachable(Exception):
    """The Connect cluster could not be asked (connection, timeout, 5xx, its credentials refused)."""


class _Refused(Exception):
    """Connect answered with a client error other than 404/409 (e.g. 400: the config is invalid)."""


# --- pure mapping: Connect's status JSON -> MirrorStatus ------------------------------------------


def first_lines(trace: str, lines: int = TRACE_LINES) -> str:
    """The start of a Java stack trace: the exception and its message, without the frames."""
    kept = [ln.strip() for ln in trace.splitlines() if ln.strip() and not ln.strip().startswith("at ")]
    return " | ".join(kept[:lines])


def _tasks_of(name: str, status: ConnectorStatus) -> list[TaskStatus]:
    connector = status.get("connector") or {}
    rows = [TaskStatus(name, None, str(connector.get("state", "UNKNOWN")), str(connector.get("trace", "")))]
    for task in sorted(status.get("tasks") or [], key=lambda t: int(t.get("id", 0))):
        rows.append(TaskStatus(name, int(task.get("id", 0)), str(task.get("state", "UNKNOWN")),
                               str(task.get("trace", ""))))
    return rows


def _where(task: TaskStatus) -> str:
    return f"{task.connector} task {task.task}" if task.task is not None else f"connector {task.connector}"


def has_failed(status: ConnectorStatus | None) -> bool:
    return status is not None and any(t.state == "FAILED" for t in _tasks_of("", status))


def source_without_tasks(name: str, status: ConnectorStatus | None) -> bool:
    return status is not None and (status.get("connector") or {}).get("state") == "RUNNING" \
        and not status.get("tasks")


def mirror_status(mirror_id: str, observed: Mapping[str, ConnectorStatus | None], *,
                  source: str, fresh: Iterable[str] = ()) -> MirrorStatus:
    """Map the connectors' `GET /connectors/<name>/status` bodies (None: 404) to the port's status.

    `source` names the MirrorSourceConnector; `fresh` the connectors whose configuration was put
    just now (their tasks are being replaced: at most STARTING, and no task yet is no failure).
    """
    fresh = set(fresh)
    present = {n: s for n, s in observed.items() if s is not None}
    if not present:
        return MirrorStatus(mirror_id, MirrorState.ABSENT, ENGINE, "no connector of this mirror on the Connect cluster")
    tasks = tuple(t for name in sorted(present) for t in _tasks_of(name, present[name]))
    failed = [t for t in tasks if t.state == "FAILED"]
    if failed:
        detail = "; ".join(f"{_where(t)} FAILED: {first_lines(t.trace) or 'no trace'}" for t in failed)
        return MirrorStatus(mirror_id, MirrorState.FAILED, ENGINE, detail, tasks)
    if source in present and source not in fresh and source_without_tasks(source, present[source]):
        detail = (f"connector {source} runs without tasks: it found none of the topics' partitions on the source "
                  f"cluster (wrong credentials, no Describe/Read ACL for its principal, or the topics are gone); "
                  f"the Connect worker's log says which")
        return MirrorStatus(mirror_id, MirrorState.FAILED, ENGINE, detail, tasks)
    missing = sorted(n for n in observed if observed[n] is None)
    if missing:
        return MirrorStatus(mirror_id, MirrorState.STARTING, ENGINE,
                            f"connector {', '.join(missing)} not on the Connect cluster yet", tasks)
    halted = [t for t in tasks if t.task is None and t.state in ("PAUSED", "STOPPED")]
    if halted:
        detail = "; ".join(f"{_where(t)} is {t.state} on the Connect cluster (resume it there)" for t in halted)
        return MirrorStatus(mirror_id, MirrorState.STOPPED, ENGINE, detail, tasks)
    waiting = [t for t in tasks if t.state != "RUNNING"]
    if waiting:
        detail = "; ".join(f"{_where(t)} is {t.state}" for t in waiting)
        return MirrorStatus(mirror_id, MirrorState.STARTING, ENGINE, detail, tasks)
    if fresh & set(present):
        return MirrorStatus(mirror_id, MirrorState.STARTING, ENGINE,
                            f"configuration of {', '.join(sorted(fresh & set(present)))} applied; tasks restarting",
                            tasks)
    if source in present and not present[source].get("tasks"):
        return MirrorStatus(mirror_id, MirrorState.STARTING, ENGINE, f"connector {source} has no tasks yet", tasks)
    return MirrorStatus(mirror_id, MirrorState.RUNNING, ENGINE, "", tasks)


# --- the engine ----------------------------------------------------------------------------------


class ConnectMirrorEngine:
    """MirrorEngine over the REST API of the Connect cluster at `url` (any worker: they forward)."""

    name = ENGINE

    def __init__(self, url: str, *, auth: tuple[str, str] | None = None, timeout: float = 10.0,
                 conflict_retries: int = 8, conflict_pause: float = 0.5, settle_seconds: float = 5.0,
                 session: requests.Session | None = None,
                 configs: Callable[[MirrorSpec], dict[str, dict[str, str]]] = connector_configs) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.conflict_retries = conflict_retries
        self.conflict_pause = conflict_pause
        self.settle_seconds = settle_seconds
        self.auth = auth
        self._session = session or requests.Session()
        self._session.auth = auth
        self._configs = configs

    def __repr__(self) -> str:  # never the password (`auth`)
        return f"ConnectMirrorEngine(url={self.url!r})"

    # -- the port --

    def ensure_running(self, spec: MirrorSpec) -> MirrorStatus:
        names = connector_names(spec.mirror_id)
        try:
            changed: set[str] = set()
            for name, config in self._configs(spec).items():
                current = self._call("GET", f"/connectors/{name}/config")
                if current != config:
                    self._call("PUT", f"/connectors/{name}/config", config)
                    changed.add(name)
            observed = self._observe(list(names.values()), source=names["source"], fresh=changed)
            status = mirror_status(spec.mirror_id, observed, source=names["source"], fresh=changed)
            restarted = []
            for name, connector in observed.items():
                if name in changed:
                    continue
                if has_failed(connector):
                    self._call("POST", f"/connectors/{name}/restart?includeTasks=true&onlyFailed=true")
                    restarted.append(name)
                elif name == names["source"] and source_without_tasks(name, connector):
                    # Makes MirrorMaker look for the source partitions again now, not at its next refresh.
                    self._call("POST", f"/connectors/{name}/restart")
                    restarted.append(name)
        except _Unreachable as exc:
            return self._unreachable(spec.mirror_id, exc)
        except _Refused as exc:
            # Connect's validation messages may quote a value, the JAAS config with its password among them.
            detail = scrub(str(exc), (spec.source.password, spec.target.password))
            return MirrorStatus(spec.mirror_id, MirrorState.FAILED, ENGINE, detail)
        if restarted:
            return MirrorStatus(status.mirror_id, status.state, ENGINE,
                                f"{status.detail} (restarted {', '.join(restarted)})", status.tasks)
        return status

    def status(self, mirror_id: str) -> MirrorStatus:
        names = connector_names(mirror_id)
        try:
            observed = self._observe(list(names.values()), source=names["source"])
        except (_Unreachable, _Refused) as exc:
            return self._unreachable(mirror_id, exc)
        return mirror_status(mirror_id, observed, source=names["source"])

    def stop(self, mirror_id: str) -> MirrorStatus:
        names = list(connector_names(mirror_id).values())
        try:
            for name in names:
                self._call("DELETE", f"/connectors/{name}")
            # The status of a deleted connector lingers until its tasks have stopped.
            deadline = time.monotonic() + self.settle_seconds
            while True:
                left = [n for n in names if self._call("GET", f"/connectors/{n}/status") is not None]
                if not left or time.monotonic() >= deadline:
                    break
                time.sleep(0.25)
        except (_Unreachable, _Refused) as exc:
            return self._unreachable(mirror_id, exc)
        if left:
            return MirrorStatus(mirror_id, MirrorState.STOPPED, ENGINE, f"connector {', '.join(left)} still deleting")
        return MirrorStatus(mirror_id, MirrorState.ABSENT, ENGINE, "")

    # -- helpers --

    def connectors(self) -> list[str]:
        """Every connector on the Connect cluster (ours and others')."""
        found = self._call("GET", "/connectors")
        return sorted(str(n) for n in found or [])

    def _observe(self, names: list[str], *, source: str,
                 fresh: Iterable[str] = ()) -> dict[str, ConnectorStatus | None]:
        fresh = set(fresh)
        deadline = time.monotonic() + self.settle_seconds
        while True:
            observed = {name: self._call("GET", f"/connectors/{name}/status") for name in names}
            # A source connector just (re)started has no tasks for a moment: only a lasting
            # absence of tasks means it cannot find the partitions.
            if source in fresh or not source_without_tasks(source, observed.get(source)) \
                    or time.monotonic() >= deadline:
                return observed
            time.sleep(0.5)

    def _unreachable(self, mirror_id: str, exc: Exception) -> MirrorStatus:
        return MirrorStatus(mirror_id, MirrorState.UNREACHABLE, ENGINE, f"Connect at {self.url}: {exc}")

    def _call(self, method: str, path: str, body: Mapping[str, str] | None = None) -> Any:
        """Connect's JSON answer; None for 404 (and for empty bodies: 202/204)."""
        for attempt in range(self.conflict_retries + 1):
            try:
                response = self._session.request(method, self.url + path, json=body, timeout=self.timeout,
                                                 headers={"Accept": "application/json"})
            except requests.RequestException as exc:
                raise _Unreachable(f"{method} {path}: {type(exc).__name__}") from exc
            code = response.status_code
            if code == 409 and attempt < self.conflict_retries:
                # The workers are rebalancing; the leader answers again within moments.
                time.sleep(self.conflict_pause)
                continue
            if code == 404:
                return None
            if code >= 500 or code in (401, 403, 409):
                raise _Unreachable(f"{method} {path} answered {code}: {_message(response)}")
            if code >= 400:
                raise _Refused(f"Connect refused {method} {path} ({code}): {_message(response)}")
            return response.json() if response.content else None
        raise AssertionError("unreachable")  # the loop returns or raises


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])[:600]
    return str(body)[:300]

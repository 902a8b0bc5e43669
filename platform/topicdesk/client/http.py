"""The API over HTTP: one session, bounded timeouts, and every failure as one line (`ClientError`)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from topicdesk import __version__ as VERSION  # noqa: N812

NOT_APPLIED_PROBLEM = "https://topicdesk.dev/problems/desired-state-not-applied"
CONNECT_TIMEOUT = 10.0
# A plan of a big file evaluates every change server-side; a minute is generous, not endless.
DEFAULT_READ_TIMEOUT = 60.0


class ClientError(Exception):
    """Anything that stops a command: printed as `error: <message>` on one line, exit code 1."""


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def problem_line(status: int, body: Mapping[str, Any]) -> str:
    """`422 Validation failed: <detail>: /topics/0/partitions (line 7): must be >= 1; ...`"""
    title, detail = one_line(body.get("title") or ""), one_line(body.get("detail") or "")
    head = f"{status} {title}" if title else str(status)
    if detail and detail != title:
        head += f": {detail}"
    parts = []
    for error in body.get("errors") or []:
        if not isinstance(error, Mapping):
            continue
        where = str(error.get("path") or "/")
        if error.get("line") is not None:
            where += f" (line {error['line']})"
        parts.append(f"{where}: {one_line(error.get('message') or '')}")
    line = head + (": " + "; ".join(parts) if parts else "")
    retry_after = body.get("retry_after")
    return line + (f" (retry after {retry_after} s)" if retry_after is not None else "")


@dataclass(frozen=True)
class Response:
    status: int
    text: str
    content_type: str

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError as exc:
            raise ClientError(f"{self.status}: the server's answer is not JSON: {one_line(self.text)[:200]}") from exc


def read_timeout_from_env() -> float:
    raw = os.environ.get("TOPICDESK_HTTP_TIMEOUT")
    if not raw:
        return DEFAULT_READ_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ClientError(f"TOPICDESK_HTTP_TIMEOUT must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ClientError("TOPICDESK_HTTP_TIMEOUT must be more than 0 seconds")
    return value


class ApiClient:
    """`/api/v1` at `url` with a bearer token. Error statuses raise ClientError with the problem's
    one-line form, except those a caller names in `accept` (a 409 that carries a result)."""

    def __init__(self, url: str | None, token: str | None, *, read_timeout: float | None = None) -> None:
        if not url:
            raise ClientError("no server: set TOPICDESK_URL or pass --url (e.g. http://127.0.0.1:8080)")
        if not url.startswith(("http://", "https://")):
            raise ClientError(f"the server URL must start with http:// or https://, not {url!r}")
        if not token:
            raise ClientError("no token: set TOPICDESK_TOKEN or pass --token (a team API token)")
        self.base = url.rstrip("/")
        self.timeout = (CONNECT_TIMEOUT, read_timeout or read_timeout_from_env())
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}",
                                     "User-Agent": f"topicdesk-cli/{VERSION}"})

    def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                data: bytes | None = None, headers: Mapping[str, str] | None = None,
                accept: tuple[int, ...] = ()) -> Response:
        url = f"{self.base}{path}"
        try:
            raw = self.session.request(method, url, params=params, data=data,
                                       headers={"Accept": "application/json", **(headers or {})},
                                       timeout=self.timeout, allow_redirects=False)
        except requests.exceptions.Timeout:
            raise ClientError(f"{self.base} did not answer {method} {path} within {self.timeout[1]:g} s "
                              f"(TOPICDESK_HTTP_TIMEOUT)") from None
        except requests.exceptions.ConnectionError as exc:
            raise ClientError(f"cannot reach {self.base}: {_connection_reason(exc)} "
                              f"(check TOPICDESK_URL / --url)") from None
        except requests.exceptions.RequestException as exc:
            raise ClientError(f"{method} {url} failed: {one_line(str(exc))}") from None
        response = Response(raw.status_code, raw.text, raw.headers.get("Content-Type", ""))
        if raw.status_code < 400 or raw.status_code in accept:
            return response
        raise ClientError(_error_line(response, raw.headers.get("Retry-After")))

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, body: Any, params: Mapping[str, str] | None = None) -> Any:
        return self.request("POST", path, params=params, data=json.dumps(body).encode(),
                            headers={"Content-Type": "application/json"}).json()


def _error_line(response: Response, retry_after: str | None) -> str:
    body: Any = None
    if "json" in response.content_type:
        try:
            body = json.loads(response.text)
        except ValueError:
            body = None
    if isinstance(body, dict):
        if retry_after is not None:
            body = {**body, "retry_after": retry_after}
        line = problem_line(response.status, body)
    else:
        # Not ours (a proxy's HTML page, a load balancer): status and the start of the text.
        line = f"{response.status}: {one_line(response.text)[:200] or 'no body'}"
    if response.status == 401:
        line += " (check TOPICDESK_TOKEN / --token)"
    return line


def _connection_reason(exc: requests.exceptions.ConnectionError) -> str:
    text = str(exc)
    for needle, reason in (("Connection refused", "connection refused"),
                           ("Name or service not known", "unknown host"),
                           ("nodename nor servname", "unknown host"),
                           ("Temporary failure in name resolution", "unknown host"),
                           ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
                           ("Connection reset", "connection reset"),
                           ("RemoteDisconnected", "the server closed the connection")):
        if needle in text:
            return reason
    return one_line(text)[:200]

"""The client commands: `plan`, `apply`, `export`, `requests`, `topics`. Registered on the one
`topicdesk` entry point by topicdesk/cli.py."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from topicdesk.client.files import content_type_for, derive_source
from topicdesk.client.http import NOT_APPLIED_PROBLEM, ApiClient, ClientError, Response, problem_line
from topicdesk.client.render import (
    EXIT_FAILED,
    exit_code,
    failure_line,
    outcome_of,
    render_request,
    render_request_table,
    render_result,
    render_topic_table,
    request_subject,
    resource_label,
    status_chain,
    use_color,
)
from topicdesk.client.watch import Watched, wait_for

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_WAIT_TIMEOUT = 300.0
# Outcomes whose request the cluster has yet to reach: --wait follows them.
WATCHED_OUTCOMES = ("submitted", "auto_approved", "awaiting_approval", "already_requested")


def connection_options(command: F) -> F:
    command = click.option("--token", envvar="TOPICDESK_TOKEN", default=None, metavar="TOKEN",
                           help="A team API token [env TOPICDESK_TOKEN].")(command)
    return click.option("--url", envvar="TOPICDESK_URL", default=None, metavar="URL",
                        help="Topicdesk's address, e.g. https://topicdesk.example.com [env TOPICDESK_URL].")(command)


def _color() -> bool:
    return use_color(sys.stdout.isatty(), os.environ)


def _read_file(path: str) -> bytes:
    file = Path(path)
    if not file.exists():
        raise ClientError(f"{path}: no such file")
    if not file.is_file():
        raise ClientError(f"{path}: not a file")
    try:
        return file.read_bytes()
    except OSError as exc:
        raise ClientError(f"{path}: {exc.strerror or exc}") from None


def _result_of(response: Response) -> dict[str, Any]:
    body = response.json()
    if not isinstance(body, dict) or ("changes" not in body and "in_sync" not in body):
        raise ClientError(f"{response.status}: the server's answer is not a desired-state result")
    return body


def _submit_file(client: ApiClient, path: str, *, dry_run: bool, allow_destroy: bool,
                 source: str | None) -> tuple[Response, dict[str, Any]]:
    raw = _read_file(path)
    params = {"dry_run": "true" if dry_run else "false", "source": source or derive_source(path)}
    if allow_destroy:
        params["allow_destroy"] = "true"
    # 409 with the not-applied problem type carries the whole result: it is rendered, not an error line.
    response = client.request("POST", "/api/v1/desired-state", params=params, data=raw,
                              headers={"Content-Type": content_type_for(path),
                                       "Accept": "application/json, application/problem+json"},
                              accept=(409,))
    if response.status == 409:
        body = response.json()
        if not (isinstance(body, dict) and body.get("type") == NOT_APPLIED_PROBLEM):
            raise ClientError(problem_line(409, body if isinstance(body, dict) else {}))
    return response, _result_of(response)


def _show_result(response: Response, result: Mapping[str, Any], output: str, base: str,
                 json_file: str | None) -> None:
    if json_file:
        try:
            Path(json_file).write_text(response.text)
        except OSError as exc:
            raise ClientError(f"{json_file}: {exc.strerror or exc}") from None
    if output == "json":
        click.echo(response.text.rstrip("\n"))  # the server's result, unchanged
    else:
        click.echo(render_result(result, color=_color(), base_url=base), nl=False)


def _fail_line(line: str | None) -> None:
    if line:
        click.echo(f"error: {line}", err=True)


output_option = click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
                             show_default=True, help="json: the server's result unchanged, for machines.")
file_option = click.option("-f", "--file", "path", required=True, metavar="FILE",
                           help="The desired-state file (.yaml/.yml as YAML, anything else as JSON).")
source_option = click.option("--source", default=None, metavar="NAME",
                             help="The file's source name [default: <repository>:<path in it>, from git].")
json_file_option = click.option("--json-file", default=None, metavar="PATH",
                                help="Also write the server's result (what -o json prints) to PATH, e.g. "
                                     "for a CI artifact.")
destroy_option = click.option("--allow-destroy", is_flag=True,
                              help="Also submit destructive changes (topic delete, grant revoke, config "
                                   "reset, quota removal).")


@click.command()
@file_option
@output_option
@source_option
@destroy_option
@json_file_option
@connection_options
def plan(path: str, output: str, source: str | None, allow_destroy: bool, json_file: str | None,
         url: str | None, token: str | None) -> None:
    """Show what applying FILE would change; nothing is submitted.

    Exit code: 0 in sync, 2 changes to apply, 1 something would be denied or skipped as
    destructive, or an error."""
    client = ApiClient(url, token)
    response, result = _submit_file(client, path, dry_run=True, allow_destroy=allow_destroy, source=source)
    _show_result(response, result, output, client.base, json_file)
    code = exit_code(result)
    if code == EXIT_FAILED:
        _fail_line(failure_line(result))
    raise SystemExit(code)


@click.command()
@file_option
@destroy_option
@click.option("--wait", is_flag=True, help="Follow each submitted request until it is applied, failed or denied.")
@click.option("--timeout", type=click.FloatRange(min=0), default=DEFAULT_WAIT_TIMEOUT, show_default=True,
              metavar="SECONDS", help="With --wait: give up after this long (exit 2 if only approvals are missing).")
@output_option
@source_option
@json_file_option
@connection_options
def apply(path: str, allow_destroy: bool, wait: bool, timeout: float, output: str, source: str | None,
          json_file: str | None, url: str | None, token: str | None) -> None:
    """Submit the changes FILE asks for, as requests decided by policy.

    Exit code: 0 in sync or all auto-approved (with --wait: all applied), 2 waiting for approval,
    1 denied, skipped as destructive, failed, timed out while applying, or an error."""
    client = ApiClient(url, token)
    response, result = _submit_file(client, path, dry_run=False, allow_destroy=allow_destroy, source=source)
    _show_result(response, result, output, client.base, json_file)
    code = exit_code(result)
    if wait:
        code = _wait_for_changes(client, result, code, timeout, to_stderr=output == "json")
    if code == EXIT_FAILED:
        _fail_line(failure_line(result) or "not every change was applied")
    raise SystemExit(code)


def _wait_for_changes(client: ApiClient, result: Mapping[str, Any], code: int, timeout: float,
                      *, to_stderr: bool) -> int:
    dry_run = bool(result.get("dry_run"))
    watched = []
    for change in result.get("changes") or []:
        if outcome_of(change, dry_run) in WATCHED_OUTCOMES and change.get("request_id"):
            kind = str((change.get("request") or {}).get("kind") or "")
            status = change.get("status")
            watched.append(Watched(str(change["request_id"]), resource_label(change)[1], kind,
                                   [str(status)] if status else []))
    if not watched:
        return code
    emit = (lambda line: click.echo(line, err=True)) if to_stderr else click.echo
    emit("")
    emit(f"Waiting for {len(watched)} request(s) (up to {timeout:g} s):")
    done = wait_for(watched, lambda rid: client.get_json(f"/api/v1/requests/{rid}"), emit, timeout=timeout,
                    color=_color() and not to_stderr, stop_at_approval=code == EXIT_FAILED)
    if done.timed_out:
        waiting = [w for w in done.watched if w.status not in ("applied",)]
        emit(f"timed out after {timeout:g} s; still {', '.join(sorted({w.status for w in waiting}))}")
    # A failed apply stays failed, whatever got applied meanwhile.
    return EXIT_FAILED if code == EXIT_FAILED else done.code


@click.command()
@click.option("--cluster", required=True, help="The cluster to export.")
@click.option("--team", default=None, help="The team whose resources to export [default: the token's team].")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@connection_options
def export(cluster: str, team: str | None, output: str, url: str | None, token: str | None) -> None:
    """Print a team's resources on a cluster as a desired-state file.

    The file applies as in sync: `topicdesk export --cluster payments-dev > payments-dev.yaml`."""
    client = ApiClient(url, token)
    params = {"cluster": cluster, "format": output}
    if team:
        params["team"] = team
    accept = "application/yaml" if output == "yaml" else "application/json"
    response = client.request("GET", "/api/v1/desired-state", params=params, headers={"Accept": accept})
    if output == "json" and "json" not in response.content_type:
        raise ClientError(f"{response.status}: expected JSON, the server answered {response.content_type or 'no type'}")
    click.echo(response.text, nl=not response.text.endswith("\n"))


@click.group()
def requests() -> None:
    """Requests: list, show, wait for one."""


def _print_list(client: ApiClient, path: str, params: dict[str, str], limit: int, output: str,
                render: Callable[[list[Any]], str]) -> None:
    """A list command's output: the items as JSON or as a table, and a hint when there are more."""
    items, more = _paged(client, path, params, limit)
    if output == "json":
        click.echo(json.dumps({"items": items}, indent=2))
        return
    click.echo(render(items), nl=False)
    if more:
        click.echo(f"(first {limit} shown; --limit for more)", err=True)


def _paged(client: ApiClient, path: str, params: dict[str, str], limit: int) -> tuple[list[Any], bool]:
    items: list[Any] = []
    cursor: str | None = None
    while len(items) < limit:
        page = client.get_json(path, {**params, "limit": str(min(100, limit - len(items))),
                                      **({"cursor": cursor} if cursor else {})})
        items += page.get("items") or []
        cursor = page.get("next_cursor")
        if not cursor:
            return items, False
    return items[:limit], True


list_limit = click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True,
                          help="At most this many rows.")


@requests.command("list")
@click.option("--status", default=None, help="Only requests with this status (pending_approval, applied, ...).")
@click.option("--cluster", default=None)
@click.option("--mine", is_flag=True, help="Only requests I submitted.")
@click.option("--awaiting-me", is_flag=True, help="Only requests I may approve.")
@list_limit
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@connection_options
def requests_list(status: str | None, cluster: str | None, mine: bool, awaiting_me: bool, limit: int,
                  output: str, url: str | None, token: str | None) -> None:
    """Requests the token's team may see, newest first."""
    client = ApiClient(url, token)
    params = {k: v for k, v in (("status", status), ("cluster", cluster), ("mine", "true" if mine else None),
                                ("awaiting_me", "true" if awaiting_me else None)) if v}
    _print_list(client, "/api/v1/requests", params, limit, output, render_request_table)


@requests.command("show")
@click.argument("request_id")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@connection_options
def requests_show(request_id: str, output: str, url: str | None, token: str | None) -> None:
    """One request: decision, approvals, error and history."""
    client = ApiClient(url, token)
    view = client.get_json(f"/api/v1/requests/{request_id}")
    if output == "json":
        click.echo(json.dumps(view, indent=2))
    else:
        click.echo(render_request(view, color=_color(), base_url=client.base), nl=False)


@requests.command("wait")
@click.argument("request_id")
@click.option("--timeout", type=click.FloatRange(min=0), default=DEFAULT_WAIT_TIMEOUT, show_default=True,
              metavar="SECONDS")
@connection_options
def requests_wait(request_id: str, timeout: float, url: str | None, token: str | None) -> None:
    """Wait until a request is applied (exit 0), failed/denied/rejected/cancelled (exit 1), or the
    timeout passes (exit 2 while it awaits approval, else 1)."""
    client = ApiClient(url, token)
    view = client.get_json(f"/api/v1/requests/{request_id}")
    watched = [Watched(request_id, request_subject(view), str(view.get("kind")), status_chain(view), view)]
    done = wait_for(watched, lambda rid: client.get_json(f"/api/v1/requests/{rid}"), click.echo,
                    timeout=timeout, color=_color())
    if done.timed_out:
        click.echo(f"timed out after {timeout:g} s; still {watched[0].status}", err=True)
    if done.code == EXIT_FAILED:
        click.echo(f"error: request {request_id} is {watched[0].status}", err=True)
    raise SystemExit(done.code)


@click.group()
def topics() -> None:
    """The topic catalogue."""


@topics.command("list")
@click.option("--cluster", default=None)
@click.option("--team", default=None, help="Only topics this team owns.")
@click.option("-q", "query", default=None, help="Name or description contains this.")
@list_limit
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@connection_options
def topics_list(cluster: str | None, team: str | None, query: str | None, limit: int, output: str,
                url: str | None, token: str | None) -> None:
    """Topics Topicdesk manages, every team's (the catalogue is open to all)."""
    client = ApiClient(url, token)
    params = {k: v for k, v in (("cluster", cluster), ("team", team), ("q", query)) if v}
    _print_list(client, "/api/v1/topics", params, limit, output, render_topic_table)


CLIENT_COMMANDS: list[click.Command] = [plan, apply, export, requests, topics]

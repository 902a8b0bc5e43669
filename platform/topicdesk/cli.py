"""`topicdesk` command line: the API client for CI (plan, apply, export, requests, topics) and the
admin commands that work on the database directly. Errors are one line on stderr, never a traceback."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import click

from topicdesk.client.commands import CLIENT_COMMANDS
from topicdesk.client.http import ClientError
from topicdesk.config import ConfigError, Settings
from topicdesk.domain.errors import TopicdeskError
from topicdesk.local_kafka.cli import local
from topicdesk.policy.cli import policy

EXIT_CODES = """Exit codes of plan, apply and requests wait (like terraform plan -detailed-exitcode):

\b
  0  in sync, or every change applied (apply: accepted and auto-approved; with --wait: applied)
  2  plan: changes to apply; apply/wait: changes awaiting approval
  1  an error, or something denied, skipped as destructive, failed, or still applying at --timeout

Client commands read TOPICDESK_URL and TOPICDESK_TOKEN (or --url, --token)."""


class _Group(click.Group):
    """Domain and client errors become one line on stderr and exit code 1, never a traceback; so do
    usage errors, whose usual exit code 2 would read as "changes pending" in a pipeline."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from None
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            click.echo(f"error: {exc.format_message()} (see `{where} --help`)", err=True)
            raise SystemExit(1) from None
        except TopicdeskError as exc:
            details = "; ".join(f"{e.path or '/'}: {e.message}" for e in exc.errors)
            raise click.ClickException(exc.message + (f" ({details})" if details else "")) from exc
        except ConfigError as exc:
            raise click.ClickException(f"configuration: {exc}") from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        client = {c.name for c in CLIENT_COMMANDS}
        sections: dict[str, list[tuple[str, str]]] = {"Commands (over the HTTP API)": [],
                                                      "Admin commands (on the database and clusters)": []}
        titles = list(sections)
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            sections[titles[0] if name in client else titles[1]].append(
                (name, command.get_short_help_str(limit=formatter.width - 6 - len(name))))
        for title, rows in sections.items():
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def list_commands(self, ctx: click.Context) -> list[str]:
        client = [c.name for c in CLIENT_COMMANDS if c.name]
        return client + sorted(name for name in self.commands if name not in client)


@click.group(cls=_Group, epilog=EXIT_CODES)
def main() -> None:
    """Topicdesk: self-service Kafka topics and access."""


def _engine() -> Any:
    from topicdesk.adapters.db import make_engine

    return make_engine(Settings.from_env().database_url)


@main.command()
@click.option("--host", default=None, help="Interface to bind (default HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default PORT or 8080).")
@click.option("--no-migrate", is_flag=True, help="Do not apply database migrations first.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="gunicorn worker processes (default TOPICDESK_WORKERS, else one per CPU on PostgreSQL and "
                   "1 on SQLite); /metrics sums them all.")
def serve(host: str | None, port: int | None, no_migrate: bool, workers: int | None) -> None:
    """Serve the portal and the API; Prometheus metrics at /metrics.

    Logs are JSON lines on stderr (text on a terminal; TOPICDESK_LOG_FORMAT=json|text)."""
    from topicdesk.observability.logging import configure_logging
    from topicdesk.observability.process import prepare_multiprocess_dir, remove_multiprocess_dir

    # Before anything imports prometheus_client: it picks multiprocess mode at import.
    metrics_dir, created = prepare_multiprocess_dir()
    # Cleaned up however serve ends (also a refused start), so the directory and the variable never leak.
    try:
        configure_logging()
        from topicdesk import migrations
        from topicdesk.app import create_app
        from topicdesk.ports import PortInUse, ensure_port_free
        from topicdesk.server import serve as run_server

        settings = Settings.from_env()
        bind_host, bind_port = host or settings.host, port or settings.port
        try:
            ensure_port_free(bind_host, bind_port)
        except PortInUse as exc:
            raise click.ClickException(str(exc)) from exc
        if not no_migrate:
            migrations.upgrade(settings.database_url)
        if workers is not None:
            settings = dataclasses.replace(settings, workers=workers)
        run_server(create_app(settings), bind_host, bind_port, settings)
    finally:
        remove_multiprocess_dir(metrics_dir, created=created)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations to DATABASE_URL."""
    from topicdesk import migrations

    settings = Settings.from_env()
    migrations.upgrade(settings.database_url, revision)
    click.echo(f"database at {settings.database_url.split('@')[-1]} is at {revision}")


@main.command()
def demo() -> None:
    """Start local Kafka, the database, the portal and the reconciler with demo data (make run)."""
    from topicdesk.demo import main as run_demo

    run_demo()


@main.command()
@click.option("--once", is_flag=True, help="One pass over every cluster, then exit (non-zero if any failed).")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds between passes.")
@click.option("--cluster", "clusters", multiple=True, help="Only these clusters (repeatable).")
@click.option("--lease-seconds", type=float, default=15.0, show_default=True,
              help="How long a cluster stays claimed without renewal: after a crash another reconciler "
                   "takes it over this long after the last heartbeat.")
@click.option("--heartbeat-seconds", type=float, default=None,
              help="How often held leases are renewed, also during a long pass [default: a third of the lease].")
@click.option("--drift-interval", type=float, default=300.0, show_default=True,
              help="Seconds between drift scans of each cluster this process holds.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None, envvar="TOPICDESK_RECONCILER_METRICS_PORT",
              help="Serve Prometheus metrics of this process on this port (env TOPICDESK_RECONCILER_METRICS_PORT; "
                   "default: none).")
@click.option("--metrics-host", default="0.0.0.0", show_default=True, help="Interface of the metrics port.")
def reconcile(once: bool, interval: float, clusters: tuple[str, ...], lease_seconds: float,
              heartbeat_seconds: float | None, drift_interval: float, metrics_port: int | None,
              metrics_host: str) -> None:
    """Apply approved desired state to the clusters, then keep them reconciled.

    SIGTERM or SIGINT stops it cleanly: the pass in progress stops sending, and the leases are
    handed back so another reconciler takes over at once. Logs are JSON lines on stderr (text on
    a terminal; TOPICDESK_LOG_FORMAT=json|text), one per pass that did something."""
    import signal
    import threading

    from topicdesk.observability.logging import configure_logging

    configure_logging()
    if metrics_port and not once:
        from topicdesk.observability.process import start_reconciler_metrics

        start_reconciler_metrics(metrics_port, metrics_host, Settings.from_env().metrics_token)

    from topicdesk.adapters.db import make_engine
    from topicdesk.bootstrap import kafka_port_for
    from topicdesk.services.reconcile import ReconcilerSettings
    from topicdesk.services.reconcile_loop import run_forever, run_once

    app_settings = Settings.from_env()
    engine = make_engine(app_settings.database_url)
    if lease_seconds <= 0 or (heartbeat_seconds is not None and not 0 < heartbeat_seconds < lease_seconds):
        raise click.BadParameter("need 0 < --heartbeat-seconds < --lease-seconds")
    settings = ReconcilerSettings(lease_seconds=lease_seconds, heartbeat_seconds=heartbeat_seconds)
    if once:
        reports = run_once(engine, kafka_port_for, clusters=clusters or None, settings=settings)
        for report in reports:
            click.echo(f"{report.cluster}: {report.resources} resources, {report.applied} applied, "
                       f"{report.failed} failed, {report.retrying} retrying"
                       + (f" ({report.error})" if report.error else ""))
        if any(r.error for r in reports):
            raise SystemExit(1)
        return
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt  # a second signal: do not wait for the pass to wind down
        click.echo(f"received {signal.Signals(signum).name}; releasing leases and stopping", err=True)
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    run_forever(engine, kafka_port_for, interval=interval, clusters=clusters or None, settings=settings,
                drift_interval=drift_interval, stop=stopping.is_set,
                notifications=_deliverer(engine, app_settings, "reconciler"), mirror_engine=_mirror_engine())


def _mirror_engine() -> Any:
    """The MirrorMaker 2 engine the migrations run on (TOPICDESK_MIRROR_*: adapters/mirror_factory.py)."""
    from topicdesk.adapters.mirror_factory import mirror_engine_from_env

    return mirror_engine_from_env()


def _deliverer(engine: Any, settings: Settings, role: str) -> Any:
    from topicdesk.observability.metrics import record_delivery
    from topicdesk.services.notify_worker import Deliverer
    from topicdesk.services.reconcile_loop import default_holder

    return Deliverer(engine, settings.notify, worker=f"{role}:{default_holder()}", on_delivery=record_delivery)


@main.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
def notify(once: bool) -> None:
    """Deliver webhook notifications from the outbox (the reconciler also does, in the background)."""
    import signal
    import threading

    from topicdesk.adapters.db import make_engine

    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    deliverer = _deliverer(engine, settings, "notify")
    if once:
        click.echo(f"{deliverer.drain()} delivery attempts")
        return
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stopping.set())
    from topicdesk.services.notify_worker import DelivererThread

    running = DelivererThread(deliverer).start()
    while not stopping.wait(1.0):
        pass
    running.stop()


@main.group()
def token() -> None:
    """API tokens for service templates and CI pipelines."""


@token.command("create")
@click.option("--team", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["member", "owner", "admin"]), default="member", show_default=True)
@click.option("--expires-days", type=int, default=None, help="Expire after this many days (default: never).")
def token_create(team: str, name: str, role: str, expires_days: int | None) -> None:
    """Create a token; it is printed once, on the last line of stdout."""
    from topicdesk.domain.identity import Role
    from topicdesk.services.tokens import create_token

    created = create_token(_engine(), team=team, name=name, role=Role(role), actor="cli",
                           expires_in=timedelta(days=expires_days) if expires_days else None)
    click.echo(f"token {created.id} for team {team} ({role})" +
               (f", expires {created.expires_at.isoformat()}" if created.expires_at else ""), err=True)
    click.echo(created.token)


@token.command("list")
@click.option("--team", required=True)
def token_list(team: str) -> None:
    """List a team's tokens (never their values)."""
    from topicdesk.adapters.db import unit_of_work
    from topicdesk.services.tokens import list_tokens

    with unit_of_work(_engine()) as session:
        for row in list_tokens(session, team):
            state = "revoked" if row.revoked_at else "active"
            used = row.last_used_at.isoformat() if row.last_used_at else "never"
            click.echo(f"{row.id}  {row.name:<24} {row.role:<7} {state:<8} last used {used}")


@token.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id."""
    from topicdesk.services.tokens import revoke_token

    row = revoke_token(_engine(), token_id=token_id, actor="cli")
    click.echo(f"revoked {row.id} ({row.team}/{row.name})")


@main.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the hash chain; exit 1 and name the first bad event if it was tampered with."""
    from topicdesk.services.audit import verify_log

    verdict = verify_log(_engine())
    if not verdict.ok:
        raise click.ClickException(f"audit chain broken at event {verdict.first_bad}: {verdict.problem}")
    waiting = f"; {verdict.pending} events still waiting to be chained" if verdict.pending else ""
    click.echo(f"ok: {verdict.events} events, head {verdict.head}{waiting}")


@main.group()
def drift() -> None:
    """Compare managed resources with the clusters; adopt unmanaged topics."""


@drift.command("scan")
@click.argument("cluster")
def drift_scan(cluster: str) -> None:
    """Report drift per resource and the unmanaged topics and ACLs of a cluster.

    Differences are kept for triage (GET /api/v1/clusters/CLUSTER/drift); on a cluster in enforce
    mode the scan also queues the reverts the reconciler then applies."""
    from topicdesk.services.cluster_port import close_port
    from topicdesk.services.drift import scan_cluster

    engine = _engine()
    port = _port(engine, cluster)
    try:
        result = scan_cluster(engine, cluster, port)
    finally:
        close_port(port)
    for item in result.items:
        click.echo(f"drift     {item['id']}  {item['kind']:<26} {item['key']}  {item.get('message', '')}")
    for name in result.unmanaged_topics:
        click.echo(f"unmanaged topic {name}")
    for binding in result.unmanaged_acls:
        click.echo(f"unmanaged acl   {binding}")
    click.echo(f"{len(result.items)} drifted, {len(result.unmanaged_topics)} unmanaged topics, "
               f"{len(result.unmanaged_acls)} unmanaged ACLs", err=True)


@drift.command("import")
@click.argument("cluster")
@click.argument("topics", nargs=-1, required=True)
@click.option("--team", required=True, help="The team that will own the topics.")
def drift_import(cluster: str, topics: tuple[str, ...], team: str) -> None:
    """Adopt existing topics into a team's ownership, as they are on the cluster."""
    from topicdesk.services.cluster_port import close_port
    from topicdesk.services.drift import import_topics

    engine = _engine()
    port = _port(engine, cluster)
    try:
        imported = import_topics(engine, cluster, list(topics), team, port, actor="cli")
    finally:
        close_port(port)
    click.echo(f"imported {len(imported)} topics into team {team}")


def _port(engine: Any, cluster: str) -> Any:
    from topicdesk.adapters.db import unit_of_work
    from topicdesk.adapters.tables import ClusterRow
    from topicdesk.bootstrap import kafka_port_for
    from topicdesk.domain.errors import NotFound

    with unit_of_work(engine) as session:
        row = session.get(ClusterRow, cluster)
    if row is None:
        raise NotFound(f"no cluster named {cluster!r}")
    return kafka_port_for(row)


main.add_command(local)
main.add_command(policy)
for _command in CLIENT_COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":
    main()

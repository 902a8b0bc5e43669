"""`topicdesk` command line: errors are one line on stderr and exit code 1."""

from __future__ import annotations

import click

from topicdesk.config import Settings
from topicdesk.local_kafka.cli import local


@click.group()
def main() -> None:
    """Topicdesk: self-service Kafka topics and access."""


@main.command()
@click.option("--host", default=None, help="Interface to bind (default HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default PORT or 8080).")
@click.option("--no-migrate", is_flag=True, help="Do not apply database migrations first.")
def serve(host: str | None, port: int | None, no_migrate: bool) -> None:
    """Serve the portal and the API."""
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
    run_server(create_app(settings), bind_host, bind_port)


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
@click.option("--lease-seconds", type=float, default=60.0, show_default=True,
              help="How long a cluster stays claimed by this process without renewal.")
def reconcile(once: bool, interval: float, clusters: tuple[str, ...], lease_seconds: float) -> None:
    """Apply approved desired state to the clusters, then keep them reconciled."""
    from topicdesk.adapters.db import make_engine
    from topicdesk.bootstrap import kafka_port_for
    from topicdesk.services.reconcile import ReconcilerSettings, run_forever, run_once

    engine = make_engine(Settings.from_env().database_url)
    settings = ReconcilerSettings(lease_seconds=lease_seconds)
    if once:
        reports = run_once(engine, kafka_port_for, clusters=clusters or None, settings=settings)
        for report in reports:
            click.echo(f"{report.cluster}: {report.resources} resources, {report.applied} applied, "
                       f"{report.failed} failed, {report.retrying} retrying"
                       + (f" ({report.error})" if report.error else ""))
        if any(r.error for r in reports):
            raise SystemExit(1)
        return
    run_forever(engine, kafka_port_for, interval=interval, clusters=clusters or None, settings=settings)


main.add_command(local)


if __name__ == "__main__":
    main()

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


main.add_command(local)


if __name__ == "__main__":
    main()

"""`topicdesk local ...`: run local Kafka clusters for development and tests."""

from __future__ import annotations

from pathlib import Path

import click

from topicdesk.local_kafka import cluster as lk
from topicdesk.local_kafka.errors import LocalKafkaError

_STATE_DIR_HELP = "Folder for state, data and logs [default: $TOPICDESK_LOCAL_DIR or ./.topicdesk/local]."


def _state_dir(value: Path | None) -> Path:
    return (value or lk.default_state_dir()).absolute()


@click.group("local")
def local() -> None:
    """Run single-node Kafka clusters (KRaft, SASL/SCRAM, ACLs enforced) on 127.0.0.1."""


@local.command("up")
@click.option("--clusters", "-n", "count", type=click.IntRange(min=1), default=None,
              help="Number of clusters, named local-1, local-2, ... [default: 1].")
@click.option("--name", "names", multiple=True, help="Cluster name; repeat for several clusters.")
@click.option("--port", "ports", multiple=True, type=click.IntRange(1, 65535),
              help="Client port, one per cluster in order [default: first free from 19092].")
@click.option("--controller-port", "controller_ports", multiple=True, type=click.IntRange(1, 65535),
              help="Controller port, one per cluster in order [default: first free].")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=_STATE_DIR_HELP)
@click.option("--heap-mb", type=click.IntRange(min=128), default=lk.DEFAULT_HEAP_MB, show_default=True,
              help="JVM heap of each broker.")
@click.option("--timeout", type=click.FloatRange(min=1), default=lk.DEFAULT_START_TIMEOUT,
              show_default=True, help="Seconds to wait for the clusters to answer.")
def up_command(
    count: int | None,
    names: tuple[str, ...],
    ports: tuple[int, ...],
    controller_ports: tuple[int, ...],
    state_dir: Path | None,
    heap_mb: int,
    timeout: float,
) -> None:
    """Start local clusters (or reuse the running ones) and wait until they answer."""
    if count is not None and names:
        raise click.UsageError("give either --clusters or --name, not both")
    wanted: int | list[str] = list(names) if names else (count or 1)
    folder = _state_dir(state_dir)
    try:
        clusters = lk.up(wanted, folder, client_ports=list(ports) or None,
                         controller_ports=list(controller_ports) or None,
                         heap_mb=heap_mb, timeout=timeout)
    except LocalKafkaError as exc:
        raise click.ClickException(exc.message) from exc
    how = {"reused": "already running", "restarted": "restarted", "formatted": "started (new)"}
    for c in clusters:
        click.echo(
            f"{c.name}: {how.get(c.origin, 'running')}  bootstrap={c.bootstrap}  "
            f"controller-port={c.controller_port}  cluster-id={c.cluster_id}  pid={c.pid}"
        )
    click.echo(
        "Clients: security.protocol=SASL_PLAINTEXT sasl.mechanism=SCRAM-SHA-512; super user "
        f"'{lk.ADMIN_USER}', password in {folder}/<name>.json (admin_password)."
    )


@local.command("down")
@click.option("--name", "names", multiple=True, help="Only this cluster; repeat for several.")
@click.option("--purge", is_flag=True, help="Also delete the clusters' data, logs and state.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=_STATE_DIR_HELP)
def down_command(names: tuple[str, ...], purge: bool, state_dir: Path | None) -> None:
    """Stop local clusters (SIGTERM, then SIGKILL); their data stays unless --purge."""
    folder = _state_dir(state_dir)
    try:
        stopped = lk.down(folder, list(names) or None, purge=purge)
    except LocalKafkaError as exc:
        raise click.ClickException(exc.message) from exc
    if not stopped:
        click.echo(f"no local cluster was running in {folder}")
    for c in stopped:
        click.echo(f"{c.name}: stopped (pid {c.pid})")
    if purge:
        click.echo(f"purged data and state in {folder}")


@local.command("status")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=_STATE_DIR_HELP)
def status_command(state_dir: Path | None) -> None:
    """Show the recorded local clusters and whether they answer."""
    folder = _state_dir(state_dir)
    try:
        rows = lk.status(folder)
    except LocalKafkaError as exc:
        raise click.ClickException(exc.message) from exc
    if not rows:
        click.echo(f"no local clusters recorded in {folder}")
    for row in rows:
        c = row.cluster
        state = "ready" if row.ready else ("running, not answering" if row.running else "stopped")
        pid = f"  pid={c.pid}" if row.running else ""
        click.echo(f"{c.name}: {state}  bootstrap={c.bootstrap}  cluster-id={c.cluster_id}{pid}  "
                   f"logs={c.log_dir}")

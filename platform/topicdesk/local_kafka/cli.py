"""`topicdesk local ...`: run local Kafka clusters for development and tests."""

from __future__ import annotations

from pathlib import Path

import click

from topicdesk.local_kafka import cluster as lk
from topicdesk.local_kafka import connect_worker
from topicdesk.local_kafka.distribution import KAFKA_VERSION, ensure_mirror_libs
from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.local_kafka.model import MAX_BROKERS
from topicdesk.local_kafka.versions import ALIASES, RELEASES

_STATE_DIR_HELP = "Folder for state, data and logs [default: $TOPICDESK_LOCAL_DIR or ./.topicdesk/local]."


def _state_dir(value: Path | None) -> Path:
    return (value or lk.default_state_dir()).absolute()


@click.group("local")
def local() -> None:
    """Run Kafka clusters (KRaft, SASL/SCRAM, ACLs enforced) on 127.0.0.1."""


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
@click.option("--brokers", type=click.IntRange(1, MAX_BROKERS), default=1, show_default=True,
              help="Nodes per cluster, each a broker and a KRaft controller (3: RF 3, min.insync.replicas 2).")
@click.option("--kafka-version", type=click.Choice(sorted([*RELEASES, *ALIASES])), default=KAFKA_VERSION,
              show_default=True, help="Kafka release the clusters run (3.9 = 3.9.2).")
@click.option("--mirror-libs", is_flag=True,
              help="Also fetch MirrorMaker 2 (connect-mirror and Connect) of the same release into the cache.")
def up_command(
    count: int | None,
    names: tuple[str, ...],
    ports: tuple[int, ...],
    controller_ports: tuple[int, ...],
    state_dir: Path | None,
    heap_mb: int,
    timeout: float,
    brokers: int,
    kafka_version: str,
    mirror_libs: bool,
) -> None:
    """Start local clusters (or reuse the running ones) and wait until they answer."""
    if count is not None and names:
        raise click.UsageError("give either --clusters or --name, not both")
    wanted: int | list[str] = list(names) if names else (count or 1)
    folder = _state_dir(state_dir)
    try:
        clusters = lk.up(wanted, folder, client_ports=list(ports) or None,
                         controller_ports=list(controller_ports) or None,
                         heap_mb=heap_mb, timeout=timeout, brokers=brokers, kafka_version=kafka_version)
        mirror = ensure_mirror_libs(kafka_version) if mirror_libs else None
    except LocalKafkaError as exc:
        raise click.ClickException(exc.message) from exc
    how = {"reused": "already running", "restarted": "restarted", "formatted": "started (new)"}
    for c in clusters:
        pids = ",".join(str(n.pid) for n in c.nodes)
        controllers = ",".join(str(n.controller_port) for n in c.nodes)
        click.echo(
            f"{c.name}: {how.get(c.origin, 'running')}  kafka={c.kafka_version}  brokers={c.broker_count}  "
            f"bootstrap={c.bootstrap}  controller-port={controllers}  cluster-id={c.cluster_id}  pid={pids}"
        )
    if mirror is not None:
        click.echo(f"MirrorMaker 2 jars of Kafka {clusters[0].kafka_version}: {mirror}")
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
    """Stop local clusters and their Connect worker (SIGTERM, then SIGKILL); their data stays unless --purge."""
    folder = _state_dir(state_dir)
    try:
        # A Connect worker of this folder goes first: without its cluster it only logs failures.
        worker = connect_worker.down(folder) if not names else None
        stopped = lk.down(folder, list(names) or None, purge=purge)
        if purge and not names:
            connect_worker.purge(folder)
    except LocalKafkaError as exc:
        raise click.ClickException(exc.message) from exc
    if worker is not None:
        click.echo(f"connect: stopped (pid {worker.pid})")
    if not stopped:
        click.echo(f"no local cluster was running in {folder}")
    for c in stopped:
        click.echo(f"{c.name}: stopped (pid {','.join(str(n.pid) for n in c.nodes if n.pid)})")
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
        if row.ready:
            state = "ready"
        elif row.running:
            state = "running, not answering"
        elif row.running_nodes:
            state = f"degraded ({len(row.running_nodes)} of {c.broker_count} nodes running)"
        else:
            state = "stopped"
        pids = ",".join(str(n.pid) for n in c.nodes if n.node_id in row.running_nodes)
        pid = f"  pid={pids}" if pids else ""
        logs = c.log_dir if not c.multi_node else c.home / "node-*" / "logs"
        click.echo(f"{c.name}: {state}  kafka={c.kafka_version}  brokers={c.broker_count}  bootstrap={c.bootstrap}  "
                   f"cluster-id={c.cluster_id}{pid}  logs={logs}")


@local.group("connect")
def connect_group() -> None:
    """A Kafka Connect distributed worker with MirrorMaker 2, to try the `connect` mirror engine locally."""


@connect_group.command("up")
@click.option("--cluster", "cluster_name", required=True,
              help="The local cluster the worker joins (the migration's target).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help=f"REST port [default: first free from {connect_worker.FIRST_REST_PORT}].")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=_STATE_DIR_HELP)
@click.option("--heap-mb", type=click.IntRange(min=128), default=connect_worker.DEFAULT_HEAP_MB, show_default=True)
def connect_up_command(cluster_name: str, port: int | None, state_dir: Path | None, heap_mb: int) -> None:
    """Start a Connect worker on a running local cluster (or reuse it) and wait until it answers."""
    folder = _state_dir(state_dir)
    cluster = lk.load_state(folder, cluster_name)
    if cluster is None or not all(lk.is_running(view) for view in cluster.views()):
        what = "no local cluster named" if cluster is None else "the local cluster is not running:"
        raise click.ClickException(f"{what} {cluster_name} in {folder}; start it with `topicdesk "
                                   f"local up --name {cluster_name}`")
    try:
        worker = connect_worker.up(cluster, folder, rest_port=port, heap_mb=heap_mb)
    except LocalKafkaError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"connect: ready  kafka={worker.kafka_version}  cluster={cluster.name}  url={worker.url}  "
               f"pid={worker.pid}  logs={worker.log_dir}")
    click.echo(f"Use it: TOPICDESK_MIRROR_ENGINE=connect TOPICDESK_CONNECT_URL={worker.url}")


@connect_group.command("down")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=_STATE_DIR_HELP)
def connect_down_command(state_dir: Path | None) -> None:
    """Stop the local Connect worker (its connectors stay in its topics and come back with `up`)."""
    folder = _state_dir(state_dir)
    try:
        stopped = connect_worker.down(folder)
    except LocalKafkaError as exc:
        raise click.ClickException(exc.message) from exc
    if stopped is None:
        click.echo(f"no local Connect worker was running in {folder}")
    else:
        click.echo(f"connect: stopped (pid {stopped.pid})")

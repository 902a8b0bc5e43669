"""KRaft Kafka clusters on loopback, for development, the demo and the integration tests.

Each cluster is one or more JVMs, each a combined broker + controller, with SASL/SCRAM-SHA-512
on its client listener and the StandardAuthorizer enforcing ACLs, so what works against it works
against a producer-owned production cluster; Kafka 4.3.1 or 3.9.2 (local_kafka/versions.py).
Everything a cluster needs lives under one state folder:

    <state_dir>/<name>.json          state: every node's pid and ports, cluster id, admin credentials (0600)
    <state_dir>/<name>/server.properties, log4j2.properties (log4j.properties on 3.9)
    <state_dir>/<name>/data/         KRaft metadata log and topic data
    <state_dir>/<name>/logs/         server.log and jvm.log (JVM stdout/stderr)

A cluster of several brokers has one such set per node under <state_dir>/<name>/node-<id>/.

JVMs run in their own session, so they outlive the CLI call that started them; `down` stops them.

This module runs the public lifecycle (up, down, status); the parts it uses live beside it:
`model` (LocalCluster), `config` (generated files), `processes` (ports, JVMs), `state`,
`planning` (reuse, restart or format, and which ports), `startup` (format, spawn, wait until ready)
and `run_logs` (why a start failed).
"""


from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

from topicdesk.local_kafka.config import (
    log4j2_properties,
    log4j_properties,
    new_cluster_id,
    new_secret,
    server_properties,
)
from topicdesk.local_kafka.distribution import KAFKA_VERSION, ensure_kafka_libs
from topicdesk.local_kafka.errors import LocalKafkaError, PortInUseError
from topicdesk.local_kafka.model import (
    ADMIN_USER,
    DEFAULT_HEAP_MB,
    DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
    HOST,
    ClusterShape,
    ClusterStatus,
    LocalCluster,
    LocalNode,
)
from topicdesk.local_kafka.planning import plan_cluster
from topicdesk.local_kafka.processes import (
    find_free_ports,
    find_jvms,
    is_running,
    java_executable,
    jvm_rss_bytes,
    kill_orphan,
    port_is_free,
    reap_exit,
    stop_nodes,
    stop_process,
)
from topicdesk.local_kafka.run_logs import RUN_MARKER, bind_failure_port, failure_summary
from topicdesk.local_kafka.startup import (
    format_storage,
    port_open,
    probe_cluster_id,
    start_jvm,
    wait_ready,
    write_configs,
)
from topicdesk.local_kafka.state import (
    data_dir_matches,
    default_state_dir,
    load_state,
    locked,
    node_data_matches,
    recorded_clusters,
    remove_tree,
    save_state,
)
from topicdesk.local_kafka.versions import resolve_version

log = logging.getLogger(__name__)


# --- public operations -------------------------------------------------------------------------


def _names(clusters: int | Sequence[str]) -> list[str]:
    if isinstance(clusters, int):
        if clusters < 1:
            raise LocalKafkaError("the number of local clusters must be at least 1")
        return [f"local-{i}" for i in range(1, clusters + 1)]
    names = list(clusters)
    if not names:
        raise LocalKafkaError("no local cluster names given")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LocalKafkaError(f"local cluster names given twice: {', '.join(dupes)}")
    return names


def _port_list(ports: Sequence[int] | None, count: int, what: str) -> list[int | None]:
    if ports is None or len(ports) == 0:
        return [None] * count
    if len(ports) != count:
        raise LocalKafkaError(f"{len(ports)} {what} ports given for {count} local clusters")
    return list(ports)


def up(
    clusters: int | Sequence[str] = 1,
    state_dir: Path | None = None,
    *,
    client_ports: Sequence[int] | None = None,
    controller_ports: Sequence[int] | None = None,
    libs: Path | None = None,
    heap_mb: int = DEFAULT_HEAP_MB,
    timeout: float = DEFAULT_START_TIMEOUT,
    kafka_version: str = KAFKA_VERSION,
    ensure_libs: Callable[[str], Path] | None = None,
    brokers: int = 1,
    shapes: Mapping[str, ClusterShape] | None = None,
) -> list[LocalCluster]:
    """Get the given clusters running and answering; return them in the order asked.

    Idempotent: clusters already running are reused. If any cluster cannot be brought up, the
    ones this call started are stopped again and LocalKafkaError says why. `brokers` nodes per
    cluster (each a broker and a KRaft controller) on Kafka `kafka_version` with `heap_mb` each,
    unless `shapes` says otherwise for a cluster: one call starts differently shaped clusters
    side by side and waits for all of them at once.
    """
    default_shape = ClusterShape(brokers, resolve_version(kafka_version), heap_mb)
    names = _names(clusters)
    shape_of = {n: (shapes or {}).get(n, default_shape) for n in names}
    cports = _port_list(client_ports, len(names), "client")
    kports = _port_list(controller_ports, len(names), "controller")
    explicit = [p for p in [*cports, *kports] if p is not None]
    repeated = sorted({p for p in explicit if explicit.count(p) > 1})
    if repeated:
        raise LocalKafkaError(f"port {repeated[0]} is given to two local cluster listeners")
    state_dir = (state_dir or default_state_dir()).absolute()
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with locked(state_dir):
        # Ports recorded by other clusters of this folder stay theirs, even while stopped.
        taken = {p for c in recorded_clusters(state_dir) if c.name not in names
                 for n in c.nodes for p in (n.client_port, n.controller_port)}
        taken.update(p for p in [*cports, *kports] if p is not None)
        plans = []
        for name, cport, kport in zip(names, cports, kports, strict=True):
            taken.difference_update(p for p in (cport, kport) if p is not None)
            shape = shape_of[name]
            plans.append(plan_cluster(state_dir, name, client_port=cport, controller_port=kport,
                                      taken=taken, kafka_version=shape.kafka_version, brokers=shape.brokers))
        to_start = [p for p in plans if p.action != "reuse"]
        java = java_executable() if to_start else ""
        libs_of: dict[str, Path] = {}
        try:
            if to_start:
                for version in sorted({p.cluster.kafka_version for p in to_start}):
                    libs_of[version] = libs if libs is not None else (ensure_libs or ensure_kafka_libs)(version)
                for plan in to_start:
                    if plan.action == "format":
                        # Recorded before any JVM runs, so a crash mid-way leaves every node known.
                        save_state(plan.cluster)
                    for node_id in plan.start:
                        view = plan.cluster.node(node_id)
                        write_configs(view)
                        if plan.action == "format":
                            format_storage(view, libs_of[view.kafka_version], java)
                    for node_id in plan.start:
                        started = start_jvm(plan.cluster.node(node_id), libs_of[plan.cluster.kafka_version], java,
                                            shape_of[plan.cluster.name].heap_mb)
                        plan.cluster = plan.cluster.merged(started)
            deadline = time.monotonic() + timeout
            for plan, cport, kport in zip(plans, cports, kports, strict=True):
                if plan.cluster.multi_node:
                    # No port moves: the controller endpoints are part of the quorum.
                    for view in plan.cluster.views():
                        wait_ready(view, deadline)
                    continue
                for attempt in range(_PORT_RETRIES + 1):
                    try:
                        wait_ready(plan.cluster, deadline)
                        break
                    except PortInUseError as exc:
                        # Ports picked here can be grabbed by another process between the
                        # check and the JVM's bind; explicitly asked ports are the caller's call.
                        if plan.action == "reuse" or exc.port in (cport, kport) or attempt == _PORT_RETRIES:
                            raise
                        plan.cluster = _restart_on_new_ports(plan.cluster, exc.port, cport, kport, taken,
                                                             libs_of[plan.cluster.kafka_version], java,
                                                             shape_of[plan.cluster.name].heap_mb)
        except BaseException:
            for plan in to_start:
                with suppress(LocalKafkaError):
                    begun = [plan.cluster.node(n) for n in plan.start]
                    stop_nodes(begun, timeout=10)
                    stopped = plan.cluster
                    for view in begun:
                        stopped = stopped.merged(replace(view, pid=None))
                    save_state(stopped)
            raise
        return [p.cluster for p in plans]


_PORT_RETRIES = 3


def _restart_on_new_ports(
    cluster: LocalCluster,
    busy: int,
    client_port: int | None,
    controller_port: int | None,
    taken: set[int],
    libs: Path,
    java: str,
    heap_mb: int,
) -> LocalCluster:
    stop_process(cluster, timeout=10)
    taken.add(busy)
    fresh = find_free_ports(2, taken | {cluster.client_port, cluster.controller_port})
    moved = replace(
        cluster,
        pid=None,
        client_port=client_port if client_port is not None else fresh[0],
        controller_port=controller_port if controller_port is not None else fresh[1],
    )
    taken.update((moved.client_port, moved.controller_port))
    log.warning("local cluster %s: port %s was taken meanwhile; moving to %s/%s", cluster.name, busy,
                moved.client_port, moved.controller_port)
    # A formatted single-voter quorum tolerates a new controller port: the node elects itself.
    write_configs(moved)
    return start_jvm(moved, libs, java, heap_mb)


def down(
    state_dir: Path | None = None,
    names: Sequence[str] | None = None,
    *,
    purge: bool = False,
    timeout: float = DEFAULT_STOP_TIMEOUT,
) -> list[LocalCluster]:
    """Stop the recorded clusters (all, or `names`); with purge also delete their data and state.

    Returns the clusters that were running and are now stopped.
    """
    state_dir = (state_dir or default_state_dir()).absolute()
    if not state_dir.is_dir():
        return []
    stopped: list[LocalCluster] = []
    with locked(state_dir):
        clusters = recorded_clusters(state_dir)
        if names is not None:
            unknown = sorted(set(names) - {c.name for c in clusters})
            if unknown:
                raise LocalKafkaError(f"no local cluster named {', '.join(unknown)} in {state_dir}")
            clusters = [c for c in clusters if c.name in names]
        for cluster in clusters:
            alive = [v for v in cluster.views() if is_running(v)]
            if alive:
                stop_nodes(alive, timeout=timeout)
                stopped.append(cluster)
            if purge:
                if cluster.home.exists():
                    remove_tree(cluster.home, state_dir)
                cluster.state_file.unlink(missing_ok=True)
            elif any(n.pid is not None for n in cluster.nodes):
                cleared = cluster
                for view in cluster.views():
                    cleared = cleared.merged(replace(view, pid=None))
                save_state(cleared)
        if names is None:
            for pid in find_jvms(state_dir):
                kill_orphan(pid, timeout=timeout)
    return stopped


def restart(cluster: LocalCluster, *, heap_mb: int = DEFAULT_HEAP_MB, libs: Path | None = None) -> LocalCluster:
    """Start a recorded node's JVM again on its own config, ports and data folder (after it died).

    `cluster` is the view from that node (`cluster.node(i)`; a one-node cluster is its own view).
    Never formats: a data folder that is gone or belongs to another cluster is an error, since a
    fresh one would silently lose every topic. Returns the view with its new pid (also saved).
    """
    with locked(cluster.home.parent):
        if is_running(cluster):
            return cluster
        if not node_data_matches(cluster):
            raise LocalKafkaError(
                f"local cluster {cluster.name}: {cluster.data_dir} is not its formatted data folder any more; "
                f"not restarting it (`topicdesk local up` formats a new one)"
            )
        java = java_executable()
        libs = libs or ensure_kafka_libs(cluster.kafka_version)
        write_configs(cluster)
        return start_jvm(cluster, libs, java, heap_mb)


def status(state_dir: Path | None = None, *, probe: bool = True) -> list[ClusterStatus]:
    state_dir = (state_dir or default_state_dir()).absolute()
    result = []
    for cluster in recorded_clusters(state_dir):
        alive = tuple(v.node_id for v in cluster.views() if is_running(v))
        running = len(alive) == cluster.broker_count
        ready = False
        if running and probe and port_open(cluster.host, cluster.client_port):
            with suppress(LocalKafkaError):
                ready = probe_cluster_id(cluster, timeout=3.0) == cluster.cluster_id
        result.append(ClusterStatus(cluster=cluster, running=running, ready=ready, running_nodes=alive))
    return result


# The façade: callers use `cluster as lk` for the whole lifecycle; the parts live in model,
# config, processes, state, planning, startup and run_logs.
__all__ = [
    "ADMIN_USER",
    "DEFAULT_HEAP_MB",
    "DEFAULT_START_TIMEOUT",
    "HOST",
    "RUN_MARKER",
    "ClusterShape",
    "ClusterStatus",
    "LocalCluster",
    "LocalNode",
    "bind_failure_port",
    "data_dir_matches",
    "default_state_dir",
    "down",
    "failure_summary",
    "find_free_ports",
    "find_jvms",
    "is_running",
    "jvm_rss_bytes",
    "load_state",
    "log4j2_properties",
    "log4j_properties",
    "new_cluster_id",
    "new_secret",
    "plan_cluster",
    "port_is_free",
    "reap_exit",
    "restart",
    "save_state",
    "server_properties",
    "status",
    "stop_nodes",
    "stop_process",
    "up",
]

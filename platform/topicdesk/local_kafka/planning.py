"""Planning `up` for one local cluster: reuse it, restart it, or format it anew, and on which ports.

Pure decisions from the state file, the data folder and what is listening; nothing is started here
(local_kafka/startup.py starts, cluster.py runs the lifecycle).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from topicdesk.local_kafka.config import new_cluster_id, new_directory_id, new_secret
from topicdesk.local_kafka.distribution import KAFKA_VERSION
from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.local_kafka.model import ADMIN_USER, HOST, MAX_BROKERS, NAME_RE, NODE_ID, LocalCluster, LocalNode
from topicdesk.local_kafka.processes import (
    find_free_ports,
    find_jvms,
    is_running,
    kill_orphan,
    port_is_free,
    require_free,
    stop_nodes,
)
from topicdesk.local_kafka.state import (
    data_dir_matches,
    load_state,
    node_data_matches,
    remove_tree,
    save_state,
    state_file_path,
)
from topicdesk.local_kafka.versions import dynamic_quorum, resolve_version

# Several-broker clusters pick ports from their own range, away from the one-node clusters that
# test sessions start from FIRST_PORT on, so two sessions rarely race for the same port.
MULTI_FIRST_PORT = 19300

log = logging.getLogger(__name__)


@dataclass
class StartPlan:
    cluster: LocalCluster
    action: Literal["reuse", "restart", "format"]
    # Nodes to start (restart: the ones not running; format: all).
    start: tuple[int, ...] = ()


def plan_cluster(
    state_dir: Path,
    name: str,
    *,
    client_port: int | None = None,
    controller_port: int | None = None,
    taken: set[int] | None = None,
    kafka_version: str = KAFKA_VERSION,
    brokers: int = 1,
) -> StartPlan:
    """Decide how to get cluster `name` running, cleaning what cannot be reused; starts nothing.

    A running JVM of the cluster is reused. A stopped one restarts on its data folder if that
    folder is the recorded cluster's (meta.properties cluster id matches); otherwise the folder
    is wiped and formatted as a new cluster. Port conflicts are reported here, before any work.
    """
    if not NAME_RE.match(name):
        raise LocalKafkaError(
            f"invalid local cluster name {name!r}: use lowercase letters, digits, '.', '_' or '-'"
        )
    if not 1 <= brokers <= MAX_BROKERS:
        raise LocalKafkaError(f"a local cluster has 1 to {MAX_BROKERS} brokers, not {brokers}")
    kafka_version = resolve_version(kafka_version)
    taken = taken if taken is not None else set()
    home = state_dir / name
    recorded = load_state(state_dir, name)
    if brokers > 1 or (recorded is not None and recorded.multi_node):
        return _plan_multi(state_dir, name, recorded, client_port, controller_port, taken, kafka_version,
                           brokers)
    _refuse_reshaping(recorded, kafka_version, brokers)
    strays = [pid for pid in find_jvms(home) if recorded is None or pid != recorded.pid]
    if recorded is not None and strays and not is_running(recorded):
        # `up` was interrupted after starting this JVM but before recording its pid: adopt it.
        adopted = replace(recorded, pid=strays.pop(0))
        if is_running(adopted):
            recorded = adopted
            save_state(recorded)
    # Any other JVM on this folder would hold Kafka's data-folder lock against a new start, or
    # keep writing into a folder about to be formatted.
    for pid in strays:
        kill_orphan(pid)
    if recorded is not None and is_running(recorded):
        for wanted, actual, what in ((client_port, recorded.client_port, "client"),
                                     (controller_port, recorded.controller_port, "controller")):
            if wanted is not None and wanted != actual:
                raise LocalKafkaError(
                    f"local cluster {name} is already running with {what} port {actual} (pid "
                    f"{recorded.pid}), not {wanted}; run 'topicdesk local down' first"
                )
        taken.update((recorded.client_port, recorded.controller_port))
        return StartPlan(replace(recorded, origin="reused"), "reuse")

    reusable = recorded is not None and data_dir_matches(recorded.data_dir, recorded.cluster_id)
    ports = choose_ports(name, recorded if reusable else None, client_port, controller_port, taken)
    if recorded is not None and reusable:
        cluster = replace(recorded, client_port=ports[0], controller_port=ports[1], pid=None,
                          kafka_version=kafka_version, origin="restarted")
        return StartPlan(cluster, "restart", (NODE_ID,))

    if recorded is not None:
        log.warning("local cluster %s: data folder %s is not a complete log of cluster %s; "
                    "formatting it anew", name, recorded.data_dir, recorded.cluster_id)
    _wipe(home)
    cluster = LocalCluster(
        name=name,
        cluster_id=new_cluster_id(),
        client_port=ports[0],
        controller_port=ports[1],
        admin_username=ADMIN_USER,
        admin_password=new_secret(),
        controller_password=new_secret(),
        home=home,
        state_file=state_file_path(state_dir, name),
        kafka_version=kafka_version,
        origin="formatted",
    )
    return StartPlan(cluster, "format", (NODE_ID,))


def _free_ports_for(view: LocalCluster, taken: set[int]) -> LocalCluster:
    """A stopped node keeps its recorded ports unless something else took them meanwhile. Its
    client port may move; its controller port only in a static quorum (3.9), whose voters are
    read from the config rewritten at every start — a 4.x log records the voters' endpoints."""
    client, controller = view.client_port, view.controller_port
    if not port_is_free(client):
        client = find_free_ports(1, taken, start=MULTI_FIRST_PORT)[0]
        log.warning("local cluster %s: node %s's client port %s is busy; moving to %s",
                    view.name, view.node_id, view.client_port, client)
    if not port_is_free(controller):
        if dynamic_quorum(view.kafka_version):
            require_free(controller, f"recorded controller port of node {view.node_id} of local cluster "
                                     f"{view.name} (part of its KRaft voter set)", HOST)
        controller = find_free_ports(1, taken | {client}, start=MULTI_FIRST_PORT)[0]
        log.warning("local cluster %s: node %s's controller port %s is busy; moving to %s",
                    view.name, view.node_id, view.controller_port, controller)
    taken.update((client, controller))
    return replace(view, client_port=client, controller_port=controller)


def _wipe(home: Path, owner: Path | None = None) -> None:
    """Empty a cluster folder (node folders included) except its logs.

    Whatever is here (a crashed format, a folder without state) cannot be trusted: without the
    recorded admin password even an intact log would be unusable."""
    owner = owner or home
    if not home.exists():
        return
    for child in home.iterdir():
        if child.name == "logs":
            continue
        if child.is_dir() and not child.is_symlink():
            if child.name.startswith("node-"):
                _wipe(child, owner)
            else:
                remove_tree(child, owner)
        else:
            child.unlink()


def _refuse_reshaping(recorded: LocalCluster | None, kafka_version: str, brokers: int) -> None:
    """A recorded cluster keeps its broker count and Kafka release: changing either in place
    would mean a reassignment or an upgrade (or, for a downgrade, a log Kafka cannot read), and
    formatting anew would silently drop its topics. Asking for another shape is an error that
    names the explicit way out."""
    if recorded is None:
        return
    usable = any(is_running(v) for v in recorded.views()) or all(node_data_matches(v) for v in recorded.views())
    if not usable:
        return
    if recorded.broker_count != brokers or recorded.kafka_version != kafka_version:
        raise LocalKafkaError(
            f"local cluster {recorded.name} runs {recorded.broker_count} broker(s) on Kafka "
            f"{recorded.kafka_version}, not {brokers} on Kafka {kafka_version}; to replace it (deleting its "
            f"topics) run 'topicdesk local down --name {recorded.name} --purge' first"
        )


def _plan_multi(
    state_dir: Path,
    name: str,
    recorded: LocalCluster | None,
    client_port: int | None,
    controller_port: int | None,
    taken: set[int],
    kafka_version: str,
    brokers: int,
) -> StartPlan:
    """Several nodes: reuse a fully running cluster, start the nodes that are down on their own
    data folders, or format all of them anew. Ports stay the recorded ones: the controller
    endpoints are part of the quorum (static voters in 3.9, the voter set in a 4.x log)."""
    if client_port is not None or controller_port is not None:
        raise LocalKafkaError(
            f"local cluster {name}: explicit ports are supported for one-broker clusters only; "
            f"a {brokers}-broker cluster picks its {2 * brokers} ports itself"
        )
    _refuse_reshaping(recorded, kafka_version, brokers)
    home = state_dir / name
    recorded_pids = {n.pid for n in recorded.nodes} if recorded is not None else set()
    strays = [pid for pid in find_jvms(home) if pid not in recorded_pids]
    for pid in strays:
        kill_orphan(pid)
    if recorded is not None:
        views = recorded.views()
        alive = [v for v in views if is_running(v)]
        ports = {p for n in recorded.nodes for p in (n.client_port, n.controller_port)}
        if len(alive) == len(views):
            taken.update(ports)
            return StartPlan(replace(recorded, origin="reused"), "reuse")
        if all(node_data_matches(v) for v in views):
            down = [v for v in views if v not in alive]
            taken.update(ports)
            cluster = recorded
            for v in down:
                cluster = cluster.merged(_free_ports_for(replace(v, pid=None), taken))
            return StartPlan(replace(cluster, origin="restarted"), "restart", tuple(v.node_id for v in down))
        log.warning("local cluster %s: its data folders are not a complete log of cluster %s; "
                    "formatting it anew", name, recorded.cluster_id)
        stop_nodes(alive)
    _wipe(home)
    free = find_free_ports(2 * brokers, taken, start=MULTI_FIRST_PORT)
    taken.update(free)
    nodes = tuple(LocalNode(node_id=i + 1, client_port=free[2 * i], controller_port=free[2 * i + 1],
                            directory_id=new_directory_id()) for i in range(brokers))
    cluster = LocalCluster(
        name=name,
        cluster_id=new_cluster_id(),
        client_port=nodes[0].client_port,
        controller_port=nodes[0].controller_port,
        admin_username=ADMIN_USER,
        admin_password=new_secret(),
        controller_password=new_secret(),
        home=home,
        state_file=state_file_path(state_dir, name),
        kafka_version=kafka_version,
        origin="formatted",
        node_id=nodes[0].node_id,
        nodes=nodes,
    )
    return StartPlan(cluster, "format", tuple(n.node_id for n in nodes))


def choose_ports(
    name: str,
    recorded: LocalCluster | None,
    client_port: int | None,
    controller_port: int | None,
    taken: set[int],
) -> tuple[int, int]:
    chosen: list[int] = []
    for wanted, role in ((client_port, "client"), (controller_port, "controller")):
        what = f"{role} port asked for local cluster {name}"
        if wanted is not None:
            if wanted in taken or wanted in chosen:
                raise LocalKafkaError(f"port {wanted} is given to two local cluster listeners ({what})")
            require_free(wanted, what, HOST)
            chosen.append(wanted)
            continue
        previous = None
        if recorded is not None:
            previous = recorded.client_port if role == "client" else recorded.controller_port
        if previous is not None and previous not in taken and previous not in chosen \
                and port_is_free(previous):
            chosen.append(previous)
        else:
            if previous is not None:
                log.warning("local cluster %s: recorded %s port %s is busy; choosing another",
                            name, role, previous)
            chosen.append(find_free_ports(1, taken | set(chosen))[0])
    taken.update(chosen)
    return chosen[0], chosen[1]

"""Planning `up` for one local cluster: reuse it, restart it, or format it anew, and on which ports.

Pure decisions from the state file, the data folder and what is listening; nothing is started here
(local_kafka/startup.py starts, cluster.py runs the lifecycle).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from topicdesk.local_kafka.config import new_cluster_id, new_secret
from topicdesk.local_kafka.distribution import KAFKA_VERSION
from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.local_kafka.model import ADMIN_USER, HOST, NAME_RE, LocalCluster
from topicdesk.local_kafka.processes import (
    find_free_ports,
    find_jvms,
    is_running,
    kill_orphan,
    port_is_free,
    require_free,
)
from topicdesk.local_kafka.state import data_dir_matches, load_state, remove_tree, save_state, state_file_path

log = logging.getLogger(__name__)


@dataclass
class StartPlan:
    cluster: LocalCluster
    action: Literal["reuse", "restart", "format"]


def plan_cluster(
    state_dir: Path,
    name: str,
    *,
    client_port: int | None = None,
    controller_port: int | None = None,
    taken: set[int] | None = None,
    kafka_version: str = KAFKA_VERSION,
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
    taken = taken if taken is not None else set()
    home = state_dir / name
    recorded = load_state(state_dir, name)
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
        return StartPlan(cluster, "restart")

    if recorded is not None:
        log.warning("local cluster %s: data folder %s is not a complete log of cluster %s; "
                    "formatting it anew", name, recorded.data_dir, recorded.cluster_id)
    if home.exists():
        # Whatever is here (a crashed format, a folder without state) cannot be trusted: without
        # the recorded admin password even an intact log would be unusable.
        for child in home.iterdir():
            if child.name != "logs":
                if child.is_dir() and not child.is_symlink():
                    remove_tree(child, home)
                else:
                    child.unlink()
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
    return StartPlan(cluster, "format")


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

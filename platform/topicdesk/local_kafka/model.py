"""A local cluster as recorded in its state file: names, nodes, ports, credentials, folders.

A cluster has one or more nodes, each a combined broker + controller JVM. A `LocalCluster` value
is always seen from one of its nodes (`node_id`): its top-level ports, pid and folders are that
node's, `nodes` lists every node. `cluster.node(i)` gives the view from node i; the lifecycle code
starts, probes and stops a node through its view.
"""


from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from topicdesk.local_kafka.distribution import KAFKA_VERSION
from topicdesk.local_kafka.versions import uses_log4j2

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
ADMIN_USER = "admin"
# The controller listener speaks SASL/PLAIN with its own secret instead of PLAINTEXT: a PLAINTEXT
# controller listener forces `User:ANONYMOUS` into super.users, which would make anyone who can
# reach the controller port a super user. PLAIN rather than SCRAM because SCRAM credentials live
# in the metadata log, which controllers of a multi-node quorum must authenticate each other
# before having; on one combined node SCRAM happens to work too (tried with 4.3.1), but PLAIN
# stays valid if a cluster grows and keeps the controller principal apart from the admin user.
CONTROLLER_USER = "controller"
NODE_ID = 1
FIRST_PORT = 19092
DEFAULT_HEAP_MB = 256
DEFAULT_START_TIMEOUT = 120.0
DEFAULT_STOP_TIMEOUT = 30.0
# 2 added `nodes` (multi-broker clusters); version-1 files (one node, no `nodes`) still load.
STATE_VERSION = 2
MAX_BROKERS = 5
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")

Origin = Literal["reused", "restarted", "formatted", ""]


@dataclass(frozen=True)
class ClusterShape:
    """How one cluster of an `up` call differs from the call's defaults."""

    brokers: int = 1
    kafka_version: str = KAFKA_VERSION
    heap_mb: int = DEFAULT_HEAP_MB


@dataclass(frozen=True)
class LocalNode:
    """One combined broker + controller JVM of a local cluster."""

    node_id: int
    client_port: int
    controller_port: int
    pid: int | None = None
    # Kafka 4.x dynamic quorums name each controller's log directory in `--initial-controllers`.
    directory_id: str = ""


@dataclass(frozen=True)
class LocalCluster:
    name: str
    cluster_id: str
    client_port: int
    controller_port: int
    admin_username: str
    admin_password: str
    controller_password: str
    home: Path
    state_file: Path
    pid: int | None = None
    kafka_version: str = KAFKA_VERSION
    host: str = HOST
    # How the last `up` got this cluster running; not persisted.
    origin: Origin = field(default="", compare=False)
    # The node this value is seen from, and every node of the cluster (this one's entry always
    # mirrors the top-level ports and pid; see __post_init__).
    node_id: int = NODE_ID
    nodes: tuple[LocalNode, ...] = ()

    def __post_init__(self) -> None:
        previous = {n.node_id: n for n in self.nodes}
        own = LocalNode(self.node_id, self.client_port, self.controller_port, self.pid,
                        previous[self.node_id].directory_id if self.node_id in previous else "")
        if not self.nodes:
            object.__setattr__(self, "nodes", (own,))
        elif self.node_id not in previous:
            raise ValueError(f"node {self.node_id} is not a node of local cluster {self.name}")
        else:
            object.__setattr__(self, "nodes", tuple(own if n.node_id == self.node_id else n for n in self.nodes))

    @property
    def broker_count(self) -> int:
        return len(self.nodes)

    @property
    def multi_node(self) -> bool:
        return len(self.nodes) > 1

    def node(self, node_id: int) -> LocalCluster:
        """This cluster seen from node `node_id` (its ports, pid and folders at the top level)."""
        for n in self.nodes:
            if n.node_id == node_id:
                return replace(self, node_id=n.node_id, client_port=n.client_port,
                               controller_port=n.controller_port, pid=n.pid)
        raise ValueError(f"node {node_id} is not a node of local cluster {self.name}")

    def views(self) -> list[LocalCluster]:
        return [self.node(n.node_id) for n in self.nodes]

    def merged(self, view: LocalCluster) -> LocalCluster:
        """This cluster with node `view.node_id` as `view` has it (its pid and ports)."""
        own = next(n for n in view.nodes if n.node_id == view.node_id)
        nodes = tuple(own if n.node_id == own.node_id else n for n in self.nodes)
        mine = next(n for n in nodes if n.node_id == self.node_id)
        # The top-level fields must follow too: __post_init__ copies them into this node's entry.
        return replace(self, nodes=nodes, client_port=mine.client_port, controller_port=mine.controller_port,
                       pid=mine.pid)

    @property
    def bootstrap(self) -> str:
        """Every broker: clients reach the cluster while any one of them is up."""
        return ",".join(f"{self.host}:{n.client_port}" for n in self.nodes)

    @property
    def node_home(self) -> Path:
        # A one-node cluster keeps the layout of state version 1 (everything in `home`).
        return self.home / f"node-{self.node_id}" if self.multi_node else self.home

    @property
    def data_dir(self) -> Path:
        return self.node_home / "data"

    @property
    def log_dir(self) -> Path:
        return self.node_home / "logs"

    @property
    def config_file(self) -> Path:
        return self.node_home / "server.properties"

    @property
    def log4j_file(self) -> Path:
        name = "log4j2.properties" if uses_log4j2(self.kafka_version) else "log4j.properties"
        return self.node_home / name

    def client_config(self) -> dict[str, str | int | float | bool]:
        """confluent-kafka configuration that authenticates as the cluster's super user."""
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": self.admin_username,
            "sasl.password": self.admin_password,
        }

    def to_state(self) -> dict[str, Any]:
        # Top-level ports, pid and folders are the first node's, as version 1 had them: tools
        # reading those keys (adapters/secrets.py, older topicdesk) keep working.
        first = self.node(self.nodes[0].node_id)
        data = asdict(first)
        for key in ("origin", "node_id", "nodes"):
            data.pop(key)
        data["home"] = str(self.home)
        data["state_file"] = str(self.state_file)
        data.update(
            state_version=STATE_VERSION,
            bootstrap=self.bootstrap,
            data_dir=str(first.data_dir),
            log_dir=str(first.log_dir),
            nodes=[{**asdict(n), "data_dir": str(self.node(n.node_id).data_dir),
                    "log_dir": str(self.node(n.node_id).log_dir)} for n in self.nodes],
        )
        return data

    @classmethod
    def from_state(cls, data: dict[str, Any], state_file: Path) -> LocalCluster:
        pid = data.get("pid")
        nodes = tuple(
            LocalNode(node_id=int(n["node_id"]), client_port=int(n["client_port"]),
                      controller_port=int(n["controller_port"]),
                      pid=int(n["pid"]) if n.get("pid") is not None else None,
                      directory_id=str(n.get("directory_id", "")))
            for n in data.get("nodes") or ()
        )
        first = nodes[0] if nodes else None
        return cls(
            name=str(data["name"]),
            cluster_id=str(data["cluster_id"]),
            client_port=first.client_port if first else int(data["client_port"]),
            controller_port=first.controller_port if first else int(data["controller_port"]),
            admin_username=str(data["admin_username"]),
            admin_password=str(data["admin_password"]),
            controller_password=str(data["controller_password"]),
            home=Path(data["home"]),
            state_file=state_file,
            pid=first.pid if first else (int(pid) if pid is not None else None),
            kafka_version=str(data.get("kafka_version", KAFKA_VERSION)),
            host=str(data.get("host", HOST)),
            node_id=first.node_id if first else NODE_ID,
            nodes=nodes,
        )


@dataclass(frozen=True)
class ClusterStatus:
    cluster: LocalCluster
    # running: the recorded JVM is alive; ready: it also answered describe_cluster as admin.
    running: bool
    ready: bool
    # Nodes whose JVM is alive (all of them when `running` on a healthy cluster).
    running_nodes: tuple[int, ...] = ()

"""A local cluster as recorded in its state file: names, ports, credentials, folders."""


from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from topicdesk.local_kafka.distribution import KAFKA_VERSION

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
STATE_VERSION = 1
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")

Origin = Literal["reused", "restarted", "formatted", ""]


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

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.client_port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def log4j_file(self) -> Path:
        return self.home / "log4j2.properties"

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
        data = asdict(self)
        data.pop("origin")
        data["home"] = str(self.home)
        data["state_file"] = str(self.state_file)
        data.update(
            state_version=STATE_VERSION,
            bootstrap=self.bootstrap,
            data_dir=str(self.data_dir),
            log_dir=str(self.log_dir),
        )
        return data

    @classmethod
    def from_state(cls, data: dict[str, Any], state_file: Path) -> LocalCluster:
        pid = data.get("pid")
        return cls(
            name=str(data["name"]),
            cluster_id=str(data["cluster_id"]),
            client_port=int(data["client_port"]),
            controller_port=int(data["controller_port"]),
            admin_username=str(data["admin_username"]),
            admin_password=str(data["admin_password"]),
            controller_password=str(data["controller_password"]),
            home=Path(data["home"]),
            state_file=state_file,
            pid=int(pid) if pid is not None else None,
            kafka_version=str(data.get("kafka_version", KAFKA_VERSION)),
            host=str(data.get("host", HOST)),
        )


@dataclass(frozen=True)
class ClusterStatus:
    cluster: LocalCluster
    # running: the recorded JVM is alive; ready: it also answered describe_cluster as admin.
    running: bool
    ready: bool

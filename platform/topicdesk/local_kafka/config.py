"""Generated configuration of a local cluster: server.properties, log4j2, JVM options, ids and secrets."""


from __future__ import annotations

import base64
import logging
import secrets

from topicdesk.local_kafka.model import CONTROLLER_USER, NODE_ID, LocalCluster

log = logging.getLogger(__name__)
# --- generated configuration -------------------------------------------------------------


def new_cluster_id() -> str:
    """16 random bytes, URL-safe base64 without padding: the form `kafka-storage random-uuid` prints.

    Kafka's tools parse an id starting with '-' as an option, so such ids are drawn again.
    """
    while True:
        cid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")
        if not cid.startswith("-"):
            return cid


def new_secret() -> str:
    # Alphanumeric only: the value is embedded in a JAAS string and a StorageTool argument, where
    # quotes, commas, brackets and '=' would need escaping.
    return secrets.token_hex(24)


def server_properties(cluster: LocalCluster) -> str:
    host, port, ctl = cluster.host, cluster.client_port, cluster.controller_port
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.bootstrap.servers": f"{host}:{ctl}",
        "listeners": f"CLIENT://{host}:{port},CONTROLLER://{host}:{ctl}",
        "advertised.listeners": f"CLIENT://{host}:{port}",
        "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "CLIENT",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.client.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.client.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{cluster.admin_username}" password="{cluster.admin_password}";'
        ),
        "listener.name.controller.plain.sasl.jaas.config": (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{CONTROLLER_USER}" password="{cluster.controller_password}" '
            f'user_{CONTROLLER_USER}="{cluster.controller_password}";'
        ),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{cluster.admin_username};User:{CONTROLLER_USER}",
        "allow.everyone.if.no.acl.found": "false",
        "auto.create.topics.enable": "false",
        "log.dirs": str(cluster.data_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Internal topics default to 50 partitions each; on a laptop that is 150 logs created on
        # first use for no benefit.
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.num.partitions": "5",
        "group.initial.rebalance.delay.ms": "0",
        # After a crash the restarted node cannot register until its previous broker session
        # expires (9 s by default); a shorter session makes `up` after a crash that much faster
        # while staying well above G1 pauses of a 256 MiB heap.
        "broker.session.timeout.ms": "4000",
        "broker.heartbeat.interval.ms": "1000",
        # The log cleaner allocates its dedupe buffer on the heap up front (128 MiB by default),
        # half of the small heap these brokers get.
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "2",
    }
    header = (
        f"# Written by topicdesk for local cluster {cluster.name}; rewritten on every start.\n"
        "# Holds the admin and controller secrets: keep it private (mode 0600).\n"
    )
    return header + "".join(f"{k}={_escape_property(v)}\n" for k, v in lines.items())


def _escape_property(value: str) -> str:
    return value.replace("\\", "\\\\")


def log4j2_properties(cluster: LocalCluster) -> str:
    server_log = cluster.log_dir / "server.log"
    return f"""# Written by topicdesk for local cluster {cluster.name}.
status = error
name = topicdesk-local-{cluster.name}
appender.server.type = RollingFile
appender.server.name = server
appender.server.fileName = {server_log}
appender.server.filePattern = {server_log}.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 10MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server
"""


def jvm_options(heap_mb: int) -> list[str]:
    return [
        f"-Xms{heap_mb}m",
        f"-Xmx{heap_mb}m",
        # Kafka's own start script uses G1 as well; a small fixed heap keeps it from growing.
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        # A broker that ran out of heap is useless; exiting makes `up`/`status` see it.
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
    ]

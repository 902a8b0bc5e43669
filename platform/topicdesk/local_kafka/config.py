"""Generated configuration of a local cluster node: server.properties, log4j, the storage format
arguments, JVM options, ids and secrets — per Kafka line (local_kafka/versions.py):

- quorum: 4.x formats a dynamic quorum (`--standalone` for one node, `--initial-controllers` with
  every controller's directory id for several) found through `controller.quorum.bootstrap.servers`;
  3.9 lists the static `controller.quorum.voters` and is formatted without either flag;
- logging: 4.x reads log4j2 properties (`-Dlog4j2.configurationFile`), 3.9 log4j 1.x properties
  (`-Dlog4j.configuration=file:`);
- share-group settings exist from 4.0 on only; 3.9 would log each as an unknown config;
- SCRAM: both bootstrap the admin credential into the metadata log with `format --add-scram`.
"""


from __future__ import annotations

import base64
import logging
import secrets

from topicdesk.local_kafka.model import CONTROLLER_USER, LocalCluster
from topicdesk.local_kafka.versions import dynamic_quorum, uses_log4j2

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


def new_directory_id() -> str:
    # Kafka's Uuid text form, like a cluster id; ids reserved by Kafka start with 'AAAAAAAAAAAAAAAAAAAA'.
    return new_cluster_id()


def new_secret() -> str:
    # Alphanumeric only: the value is embedded in a JAAS string and a StorageTool argument, where
    # quotes, commas, brackets and '=' would need escaping.
    return secrets.token_hex(24)


def replication_defaults(brokers: int) -> dict[str, str]:
    """RF 3 and min.insync.replicas 2 once there are three brokers: one broker may be down and
    acks=all writes still succeed, as on a production cluster."""
    rf = min(3, brokers)
    min_isr = 2 if brokers >= 3 else 1
    return {
        "default.replication.factor": str(rf),
        "min.insync.replicas": str(min_isr),
        "offsets.topic.replication.factor": str(rf),
        "transaction.state.log.replication.factor": str(rf),
        "transaction.state.log.min.isr": str(min_isr),
        "share.coordinator.state.topic.replication.factor": str(rf),
        "share.coordinator.state.topic.min.isr": str(min_isr),
    }


def quorum_properties(cluster: LocalCluster) -> dict[str, str]:
    host = cluster.host
    if dynamic_quorum(cluster.kafka_version):
        servers = ",".join(f"{host}:{n.controller_port}" for n in cluster.nodes)
        return {"controller.quorum.bootstrap.servers": servers}
    voters = ",".join(f"{n.node_id}@{host}:{n.controller_port}" for n in cluster.nodes)
    return {"controller.quorum.voters": voters}


def format_arguments(cluster: LocalCluster, config_file: str) -> list[str]:
    """kafka-storage `format` arguments for this node (the admin password included: an args file)."""
    args = ["format", "--config", config_file, "--cluster-id", cluster.cluster_id]
    if dynamic_quorum(cluster.kafka_version):
        if cluster.multi_node:
            args += ["--initial-controllers", ",".join(
                f"{n.node_id}@{cluster.host}:{n.controller_port}:{n.directory_id}" for n in cluster.nodes)]
        else:
            args.append("--standalone")
    args += ["--add-scram",
             f"SCRAM-SHA-512=[name={cluster.admin_username},password={cluster.admin_password}]"]
    return args


def server_properties(cluster: LocalCluster) -> str:
    host, port, ctl = cluster.host, cluster.client_port, cluster.controller_port
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(cluster.node_id),
        **quorum_properties(cluster),
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
        **replication_defaults(cluster.broker_count),
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
    if not uses_log4j2(cluster.kafka_version):
        lines = {k: v for k, v in lines.items() if not k.startswith("share.coordinator.")}
    header = (
        f"# Written by topicdesk for local cluster {cluster.name}; rewritten on every start.\n"
        "# Holds the admin and controller secrets: keep it private (mode 0600).\n"
    )
    return header + "".join(f"{k}={_escape_property(v)}\n" for k, v in lines.items())


def _escape_property(value: str) -> str:
    return value.replace("\\", "\\\\")


def log4j_properties(cluster: LocalCluster) -> str:
    """The logging config in the format the cluster's Kafka line reads (cluster.log4j_file)."""
    if uses_log4j2(cluster.kafka_version):
        return log4j2_properties(cluster)
    server_log = cluster.log_dir / "server.log"
    return f"""# Written by topicdesk for local cluster {cluster.name} (log4j 1.x / reload4j).
log4j.rootLogger=INFO, server
log4j.appender.server=org.apache.log4j.RollingFileAppender
log4j.appender.server.File={server_log}
log4j.appender.server.MaxFileSize=10MB
log4j.appender.server.MaxBackupIndex=3
log4j.appender.server.layout=org.apache.log4j.PatternLayout
log4j.appender.server.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


def log4j_system_property(cluster: LocalCluster) -> str:
    if uses_log4j2(cluster.kafka_version):
        return f"-Dlog4j2.configurationFile={cluster.log4j_file}"
    return f"-Dlog4j.configuration=file:{cluster.log4j_file}"


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

"""Local Kafka as a product feature: broker jars from Maven Central, single-node KRaft clusters
with SASL/SCRAM and enforced ACLs on 127.0.0.1, and the `topicdesk local` commands."""

from topicdesk.local_kafka.cluster import ClusterStatus, LocalCluster, down, status, up
from topicdesk.local_kafka.distribution import KAFKA_VERSION, ensure_kafka_libs
from topicdesk.local_kafka.errors import LocalKafkaError, PortInUseError

__all__ = [
    "KAFKA_VERSION",
    "ClusterStatus",
    "LocalCluster",
    "LocalKafkaError",
    "PortInUseError",
    "down",
    "ensure_kafka_libs",
    "status",
    "up",
]

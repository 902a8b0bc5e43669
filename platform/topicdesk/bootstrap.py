"""Wiring in one place: real adapters for the running app and CLI; tests pass their own."""

from __future__ import annotations

from topicdesk.adapters.secrets import client_config, resolve_credentials
from topicdesk.adapters.tables import ClusterRow
from topicdesk.services.cluster_port import ClusterPort


def kafka_port_for(cluster: ClusterRow, *, request_timeout: float = 30.0) -> ClusterPort:
    from topicdesk.adapters.kafka_cluster import KafkaCluster

    credentials = resolve_credentials(cluster.admin_secret_ref)
    return KafkaCluster(client_config(cluster.bootstrap_servers, cluster.security_protocol, cluster.sasl_mechanism,
                                      credentials), request_timeout=request_timeout)

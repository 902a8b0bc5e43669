"""Wiring in one place: real adapters for the running app and CLI; tests pass their own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from topicdesk.adapters.secrets import client_config, resolve_credentials
from topicdesk.adapters.tables import ClusterRow
from topicdesk.domain.evidence import TopicEvidence
from topicdesk.services.cluster_port import ClusterPort, close_port


def kafka_port_for(cluster: ClusterRow, *, request_timeout: float = 30.0) -> ClusterPort:
    from topicdesk.adapters.kafka_cluster import KafkaCluster

    credentials = resolve_credentials(cluster.admin_secret_ref)
    return KafkaCluster(client_config(cluster.bootstrap_servers, cluster.security_protocol, cluster.sasl_mechanism,
                                      credentials), request_timeout=request_timeout)


def usage_evidence_from(port_factory: Callable[..., ClusterPort], *, request_timeout: float = 10.0
                        ) -> Callable[[ClusterRow, Sequence[str]], dict[str, TopicEvidence]]:
    """RequestDeps.usage_evidence over a port factory: one port per ask, closed after it."""
    def usage_evidence(cluster: ClusterRow, topic_names: Sequence[str]) -> dict[str, TopicEvidence]:
        port: Any = port_factory(cluster, request_timeout=request_timeout)
        try:
            found: dict[str, TopicEvidence] = port.usage_evidence(topic_names)
            return found
        finally:
            close_port(port)

    return usage_evidence

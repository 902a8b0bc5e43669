"""How the migration driver reaches a cluster from its row: the Kafka probe and MirrorMaker's
endpoint, both with the admin credentials behind the cluster's secret reference."""

from __future__ import annotations

from topicdesk.adapters.secrets import resolve_credentials
from topicdesk.adapters.tables import ClusterRow
from topicdesk.services.migration_probe import MigrationProbe
from topicdesk.services.mirror_port import ClusterEndpoint


def kafka_probe_for(cluster: ClusterRow, *, request_timeout: float = 10.0) -> MigrationProbe:
    from topicdesk.adapters.kafka_migration_probe import KafkaMigrationProbe
    from topicdesk.adapters.secrets import client_config

    credentials = resolve_credentials(cluster.admin_secret_ref)
    return KafkaMigrationProbe(client_config(cluster.bootstrap_servers, cluster.security_protocol,
                                             cluster.sasl_mechanism, credentials), request_timeout=request_timeout)


def endpoint(cluster: ClusterRow) -> ClusterEndpoint:
    """How MirrorMaker reaches a cluster: its admin credentials, from the cluster's secret reference."""
    credentials = resolve_credentials(cluster.admin_secret_ref)
    return ClusterEndpoint(cluster.name, cluster.bootstrap_servers, credentials.username, credentials.password,
                           cluster.security_protocol, cluster.sasl_mechanism)

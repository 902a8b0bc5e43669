"""How the migration driver reaches a cluster from its row: the Kafka probe with the admin
credentials behind the cluster's secret reference, and MirrorMaker's endpoint as the migration's
own mirror principal (domain/mirror_access.py), whose password is derived from that secret."""

from __future__ import annotations

from topicdesk.adapters.secrets import resolve_credentials
from topicdesk.adapters.tables import ClusterRow
from topicdesk.domain.mirror_access import mirror_password, mirror_principal, mirror_username
from topicdesk.services.cluster_port import ScramCredential
from topicdesk.services.migration_probe import MigrationProbe
from topicdesk.services.mirror_port import ClusterEndpoint


def kafka_probe_for(cluster: ClusterRow, *, request_timeout: float = 10.0) -> MigrationProbe:
    from topicdesk.adapters.kafka_migration_probe import KafkaMigrationProbe
    from topicdesk.adapters.secrets import client_config

    credentials = resolve_credentials(cluster.admin_secret_ref)
    return KafkaMigrationProbe(client_config(cluster.bootstrap_servers, cluster.security_protocol,
                                             cluster.sasl_mechanism, credentials), request_timeout=request_timeout)


def _password(cluster: ClusterRow, mirror_id: str) -> str:
    # Keyed by the cluster's admin password: the secret Topicdesk already holds for it, the same in
    # every driver process and after a restart; nothing new to store.
    return mirror_password(resolve_credentials(cluster.admin_secret_ref).password, cluster.name, mirror_id)


def mirror_endpoint(cluster: ClusterRow, mirror_id: str) -> ClusterEndpoint:
    """How MirrorMaker reaches a cluster: as `User:topicdesk-mirror-<id>`, never as the admin."""
    return ClusterEndpoint(cluster.name, cluster.bootstrap_servers, mirror_username(mirror_id),
                           _password(cluster, mirror_id), cluster.security_protocol, cluster.sasl_mechanism)


def mirror_credential(cluster: ClusterRow, mirror_id: str) -> ScramCredential:
    """The mirror principal's SCRAM credential on `cluster`, as the driver sets it."""
    return ScramCredential(mirror_principal(mirror_id), _password(cluster, mirror_id))

"""Client quotas (KIP-546) over the Kafka protocol, through kafka-python.

librdkafka (and so confluent-kafka) has no AlterClientQuotas/DescribeClientQuotas API yet, so
this is the one place Topicdesk uses kafka-python. It sends the protocol messages directly,
the way kafka-python's own admin client sends DescribeAcls, because 3.0.12 has the messages but
no admin method for them. kafka-python is pinned exactly: this module reaches into its
KafkaAdminClient internals (`_manager`), which are not a stable API.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

with warnings.catch_warnings():
    # kafka-python 3.0.12 loads its protocol schemas at import time through
    # importlib.resources.read_text, deprecated since Python 3.11; the test suite turns
    # warnings into errors.
    warnings.filterwarnings("ignore", r"(read_text|open_text) is deprecated", DeprecationWarning)
    import kafka.errors as kafka_errors
    from kafka.admin import KafkaAdminClient
    from kafka.protocol.admin.client_quotas import (
        AlterClientQuotasRequest,
        DescribeClientQuotasRequest,
    )

# Entity types and quota keys as the broker names them.
USER = "user"
CLIENT_ID = "client-id"
IP = "ip"
PRODUCER_BYTE_RATE = "producer_byte_rate"
CONSUMER_BYTE_RATE = "consumer_byte_rate"
REQUEST_PERCENTAGE = "request_percentage"
CONTROLLER_MUTATION_RATE = "controller_mutation_rate"

# An entity maps entity type to name; a None name is that type's default entity.
Entity = Mapping[str, str | None]


class MatchType(IntEnum):
    EXACT = 0
    DEFAULT = 1
    ANY = 2


@dataclass(frozen=True)
class QuotaAlteration:
    entity: Entity
    set_values: Mapping[str, float] = field(default_factory=dict)
    remove: Sequence[str] = ()


@dataclass(frozen=True)
class QuotaFilter:
    entity_type: str
    match_type: MatchType = MatchType.EXACT
    match: str | None = None


@dataclass(frozen=True)
class QuotaEntry:
    entity: dict[str, str | None]
    values: dict[str, float]


class ClientQuotaError(Exception):
    """The broker refused a quota request; `code` is Kafka's error name (e.g. CLUSTER_AUTHORIZATION_FAILED)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def admin_config(
    bootstrap_servers: str,
    *,
    username: str,
    password: str,
    mechanism: str = "SCRAM-SHA-512",
    security_protocol: str = "SASL_PLAINTEXT",
    request_timeout_ms: int = 30000,
) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap_servers,
        "security_protocol": security_protocol,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": username,
        "sasl_plain_password": password,
        "request_timeout_ms": request_timeout_ms,
        "bootstrap_timeout_ms": request_timeout_ms,
        "client_id": "topicdesk-quotas",
    }


def admin_config_from_confluent(conf: Mapping[str, Any], request_timeout_ms: int = 30000) -> dict[str, Any]:
    """Translate the confluent-kafka settings used everywhere else into kafka-python's names."""
    return admin_config(
        str(conf["bootstrap.servers"]),
        username=str(conf["sasl.username"]),
        password=str(conf["sasl.password"]),
        mechanism=str(conf.get("sasl.mechanism", "SCRAM-SHA-512")),
        security_protocol=str(conf.get("security.protocol", "SASL_PLAINTEXT")),
        request_timeout_ms=request_timeout_ms,
    )


@contextmanager
def open_admin(config: Mapping[str, Any]) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(**dict(config))
    try:
        yield admin
    finally:
        admin.close()


def pick_node(admin: KafkaAdminClient) -> int:
    """A broker id to address both alter and describe to, so a read-back sees that broker's view."""
    brokers = admin._manager.cluster.brokers()
    if not brokers:
        raise ClientQuotaError("NO_BROKERS", "the cluster metadata lists no brokers")
    return int(min(b.node_id for b in brokers))


def _send(admin: KafkaAdminClient, request: Any, node_id: int | None) -> Any:
    # Same path as kafka-python's describe_acls: the request runs on the admin's IO thread.
    return admin._manager.run(admin._manager.send, request, node_id)


def _error_name(code: int) -> str:
    if code not in kafka_errors.kafka_errors:
        return f"ERROR_{code}"
    return str(kafka_errors.for_code(code).message)


def alter_client_quotas(
    admin: KafkaAdminClient,
    alterations: Sequence[QuotaAlteration],
    *,
    validate_only: bool = False,
    node_id: int | None = None,
) -> None:
    """Set and remove quota values; raises ClientQuotaError for the first entity the broker refused."""
    entries = []
    for alt in alterations:
        ops = [
            AlterClientQuotasRequest.EntryData.OpData(key=k, value=float(v), remove=False)
            for k, v in alt.set_values.items()
        ] + [AlterClientQuotasRequest.EntryData.OpData(key=k, value=0.0, remove=True) for k in alt.remove]
        entity = [
            AlterClientQuotasRequest.EntryData.EntityData(entity_type=t, entity_name=n)
            for t, n in alt.entity.items()
        ]
        entries.append(AlterClientQuotasRequest.EntryData(entity=entity, ops=ops))
    request = AlterClientQuotasRequest(entries=entries, validate_only=validate_only)
    response = _send(admin, request, node_id)
    for entry in response.entries:
        if entry.error_code:
            who = ",".join(f"{e.entity_type}={e.entity_name}" for e in entry.entity)
            raise ClientQuotaError(_error_name(entry.error_code),
                                   f"altering quotas of {who}: {entry.error_message or 'no message'}")


def describe_client_quotas(
    admin: KafkaAdminClient,
    components: Sequence[QuotaFilter] = (),
    *,
    strict: bool = False,
    node_id: int | None = None,
) -> list[QuotaEntry]:
    """Quota entries matching all `components` (no components: every entity that has quotas)."""
    request = DescribeClientQuotasRequest(
        components=[
            DescribeClientQuotasRequest.ComponentData(
                entity_type=c.entity_type, match_type=int(c.match_type), match=c.match
            )
            for c in components
        ],
        strict=strict,
    )
    response = _send(admin, request, node_id)
    if response.error_code:
        raise ClientQuotaError(_error_name(response.error_code),
                               f"describing quotas: {response.error_message or 'no message'}")
    return [
        QuotaEntry(
            entity={e.entity_type: e.entity_name for e in entry.entity},
            values={v.key: float(v.value) for v in entry.values},
        )
        for entry in (response.entries or [])
    ]

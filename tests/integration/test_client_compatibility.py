"""The Kafka client we ship logs in to a Kafka 4.x broker with SCRAM-SHA-512.

Kafka 4.x brokers refuse SCRAM logins from librdkafka older than 2.6.1 (Debian's kcat is built on
2.0.2); the service-account response and the README say so. This pins the version we ship and
proves the login against the session's local broker.
"""

from __future__ import annotations

import confluent_kafka
from confluent_kafka.admin import AdminClient

from topicdesk.local_kafka.cluster import LocalCluster

MIN_LIBRDKAFKA = (2, 6, 1)


def test_shipped_librdkafka_is_new_enough_and_logs_in_with_scram_sha_512(kafka_cluster: LocalCluster) -> None:
    version = tuple(int(part) for part in confluent_kafka.libversion()[0].split("-")[0].split(".")[:3])
    assert version >= MIN_LIBRDKAFKA, f"librdkafka {confluent_kafka.libversion()[0]} is older than 2.6.1"
    assert kafka_cluster.kafka_version.split(".")[0] == "4"
    config = kafka_cluster.client_config()
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    admin = AdminClient(config)
    described = admin.describe_cluster(request_timeout=15).result(timeout=20)
    assert len(described.nodes) == 1

"""The local Connect worker's generated configuration (local_kafka/connect_worker.py), pure."""

from __future__ import annotations

from pathlib import Path

from topicdesk.local_kafka.connect_worker import ConnectWorker, worker_home, worker_properties


def worker() -> ConnectWorker:
    return ConnectWorker(name="connect", home=Path("/tmp/x/connect-workers/connect"), rest_port=18083,
                         bootstrap_servers="127.0.0.1:19092,127.0.0.1:19094", kafka_version="4.3.1")


def test_security_settings_are_repeated_for_the_clients_connect_builds() -> None:
    props = worker_properties(worker(), username="admin", password='p"w\\d')
    jaas = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="p\\"w\\\\d";'
    for prefix in ("", "producer.", "consumer.", "admin."):
        assert props[f"{prefix}security.protocol"] == "SASL_PLAINTEXT"
        assert props[f"{prefix}sasl.mechanism"] == "SCRAM-SHA-512"
        assert props[f"{prefix}sasl.jaas.config"] == jaas


def test_internal_topics_rest_listener_and_byte_converters() -> None:
    props = worker_properties(worker(), username="admin", password="pw", replication_factor=3)
    assert props["bootstrap.servers"] == "127.0.0.1:19092,127.0.0.1:19094"
    assert props["group.id"] == "topicdesk-connect-connect"
    assert [props[f"{k}.storage.topic"] for k in ("config", "offset", "status")] == [
        "topicdesk-connect-connect-configs", "topicdesk-connect-connect-offsets", "topicdesk-connect-connect-status"]
    assert {props[f"{k}.storage.replication.factor"] for k in ("config", "offset", "status")} == {"3"}
    assert props["listeners"] == "http://127.0.0.1:18083"
    assert {props[f"{k}.converter"] for k in ("key", "value", "header")} == {
        "org.apache.kafka.connect.converters.ByteArrayConverter"}
    assert props["connector.client.config.override.policy"] == "All"


def test_a_plaintext_worker_has_no_sasl_settings_and_extra_wins() -> None:
    props = worker_properties(worker(), username="u", password="p", security_protocol="PLAINTEXT",
                              extra={"offset.flush.interval.ms": "5000"})
    assert not [k for k in props if "sasl" in k]
    assert props["offset.flush.interval.ms"] == "5000"


def test_workers_live_beside_the_clusters_not_in_a_cluster_folder() -> None:
    assert worker_home(Path("/s"), "connect") == Path("/s/connect-workers/connect")

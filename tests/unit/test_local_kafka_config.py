"""Local-cluster configuration and fault handling that needs no broker, JVM or network."""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from topicdesk.local_kafka import cluster as lk
from topicdesk.local_kafka import distribution
from topicdesk.local_kafka.cli import local
from topicdesk.local_kafka.errors import LocalKafkaError


def parse_properties(text: str) -> dict[str, str]:
    props = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            props[key] = value
    return props


@pytest.fixture
def fresh(tmp_path: Path) -> lk.LocalCluster:
    """A never-started cluster as `up` would record it (ports fixed, not probed)."""
    return lk.LocalCluster(
        name="dev", cluster_id=lk.new_cluster_id(), client_port=29092, controller_port=29093,
        admin_username="admin", admin_password=lk.new_secret(), controller_password=lk.new_secret(),
        home=tmp_path / "dev", state_file=tmp_path / "dev.json",
    )


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port inside the range local clusters pick from, held by a listening socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        for port in range(29500, 30000):
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            break
        sock.listen()
        yield sock.getsockname()[1]


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def write_meta(data_dir: Path, cluster_id: str, *, complete: bool = True) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "meta.properties").write_text(
        f"#\nnode.id=1\ndirectory.id=abc\nversion=1\ncluster.id={cluster_id}\n"
    )
    if complete:
        (data_dir / "__cluster_metadata-0").mkdir()


# --- generated configuration -----------------------------------------------------------------


def test_server_properties_enforce_sasl_scram_and_acls(fresh: lk.LocalCluster) -> None:
    props = parse_properties(lk.server_properties(fresh))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "CLIENT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["advertised.listeners"] == "CLIENT://127.0.0.1:29092"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:29093"
    assert "controller.quorum.voters" not in props  # --standalone format requires its absence
    assert props["listener.security.protocol.map"] == "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
    assert props["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["super.users"] == "User:admin;User:controller"
    assert "ANONYMOUS" not in lk.server_properties(fresh)
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "share.coordinator.state.topic.replication.factor", "transaction.state.log.min.isr",
                "share.coordinator.state.topic.min.isr"):
        assert props[key] == "1", key
    assert props["log.dirs"] == str(fresh.data_dir)
    assert f'password="{fresh.admin_password}"' in props["listener.name.client.scram-sha-512.sasl.jaas.config"]


def test_client_config_is_confluent_kafka_sasl_scram(fresh: lk.LocalCluster) -> None:
    assert fresh.client_config() == {
        "bootstrap.servers": "127.0.0.1:29092",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "admin",
        "sasl.password": fresh.admin_password,
    }


def test_log4j_config_writes_into_the_cluster_log_dir(fresh: lk.LocalCluster) -> None:
    text = lk.log4j2_properties(fresh)
    assert f"fileName = {fresh.log_dir / 'server.log'}" in text


def test_cluster_id_is_16_random_bytes_urlsafe_without_padding() -> None:
    ids = {lk.new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cid in ids:
        assert len(cid) == 22
        assert "=" not in cid
        assert not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_cluster_id_starting_with_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([b"\xf8" + bytes(15), bytes(range(16))])
    monkeypatch.setattr(secrets, "token_bytes", lambda n: next(draws))
    assert base64.urlsafe_b64encode(b"\xf8" + bytes(15)).startswith(b"-")
    assert lk.new_cluster_id() == base64.urlsafe_b64encode(bytes(range(16))).decode().rstrip("=")


def test_state_file_is_private_and_round_trips(fresh: lk.LocalCluster) -> None:
    fresh.home.mkdir(parents=True)
    lk.save_state(fresh)
    assert stat.S_IMODE(fresh.state_file.stat().st_mode) == 0o600
    data = json.loads(fresh.state_file.read_text())
    assert data["bootstrap"] == "127.0.0.1:29092"
    assert data["admin_username"] == "admin"
    assert data["data_dir"] == str(fresh.data_dir)
    assert lk.load_state(fresh.state_file.parent, "dev") == fresh


# --- ports -------------------------------------------------------------------------------------


def test_port_in_use_is_reported_by_number(tmp_path: Path, listening_port: int) -> None:
    with pytest.raises(LocalKafkaError) as caught:
        lk.up(["dev"], tmp_path, client_ports=[listening_port], libs=tmp_path)
    assert f"port {listening_port} " in caught.value.message
    assert "already in use" in caught.value.message
    assert lk.find_jvms(tmp_path) == []


def test_cli_reports_port_in_use_on_one_stderr_line(tmp_path: Path, listening_port: int) -> None:
    result = CliRunner().invoke(local, ["up", "--name", "dev", "--port", str(listening_port),
                                        "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(listening_port) in lines[0]
    assert result.stdout == ""


def test_free_ports_skip_busy_ones(listening_port: int) -> None:
    ports = lk.find_free_ports(2, taken=set(), start=listening_port)
    assert listening_port not in ports
    assert len(set(ports)) == 2


def test_ports_recorded_by_other_clusters_are_not_handed_out(tmp_path: Path) -> None:
    taken: set[int] = set()
    first = lk.plan_cluster(tmp_path, "a", taken=taken).cluster
    second = lk.plan_cluster(tmp_path, "b", taken=taken).cluster
    assert len({first.client_port, first.controller_port, second.client_port, second.controller_port}) == 4


def test_same_port_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LocalKafkaError, match="port 29100"):
        lk.up(["a", "b"], tmp_path, client_ports=[29100, 29100], libs=tmp_path)


# --- crashed runs --------------------------------------------------------------------------------


def test_dead_pid_with_matching_data_dir_is_restarted_on_its_data(fresh: lk.LocalCluster) -> None:
    crashed = dataclasses.replace(fresh, pid=dead_pid())
    crashed.home.mkdir(parents=True)
    lk.save_state(crashed)
    write_meta(crashed.data_dir, crashed.cluster_id)
    (crashed.data_dir / "orders-0").mkdir()

    assert not lk.is_running(crashed)
    plan = lk.plan_cluster(crashed.state_file.parent, "dev")
    assert plan.action == "restart"
    assert plan.cluster.cluster_id == crashed.cluster_id
    assert plan.cluster.admin_password == crashed.admin_password
    assert (crashed.data_dir / "orders-0").is_dir()
    assert [s.running for s in lk.status(crashed.state_file.parent, probe=False)] == [False]


@pytest.mark.parametrize("meta", ["other-cluster", "half-formatted", "missing"])
def test_data_dir_not_matching_the_recorded_cluster_is_wiped(fresh: lk.LocalCluster, meta: str) -> None:
    crashed = dataclasses.replace(fresh, pid=dead_pid())
    crashed.home.mkdir(parents=True)
    lk.save_state(crashed)
    if meta == "other-cluster":
        write_meta(crashed.data_dir, lk.new_cluster_id())
    elif meta == "half-formatted":
        write_meta(crashed.data_dir, crashed.cluster_id, complete=False)
    else:
        crashed.data_dir.mkdir()
        (crashed.data_dir / "bootstrap.checkpoint").write_bytes(b"\0")
    (crashed.home / "data.formatting").mkdir()

    plan = lk.plan_cluster(crashed.state_file.parent, "dev")
    assert plan.action == "format"
    assert plan.cluster.cluster_id != crashed.cluster_id
    assert not crashed.data_dir.exists()
    assert not (crashed.home / "data.formatting").exists()


def test_folder_without_state_file_is_formatted_anew(tmp_path: Path) -> None:
    write_meta(tmp_path / "dev" / "data", lk.new_cluster_id())
    plan = lk.plan_cluster(tmp_path, "dev")
    assert plan.action == "format"
    assert not (tmp_path / "dev" / "data").exists()


def test_unreadable_state_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "dev.json").write_text("{not json")
    assert lk.load_state(tmp_path, "dev") is None
    assert lk.plan_cluster(tmp_path, "dev").action == "format"


def test_invalid_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LocalKafkaError, match="invalid local cluster name"):
        lk.plan_cluster(tmp_path, "../escape")


def test_down_on_empty_state_dir_stops_nothing(tmp_path: Path) -> None:
    assert lk.down(tmp_path / "nothing-here") == []


# --- distribution cache ---------------------------------------------------------------------------


def test_complete_cache_is_used_without_maven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    libs = distribution.libs_dir("4.3.1", tmp_path)
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-4.3.1.jar").write_bytes(b"PK")
    (libs / distribution.MARKER_NAME).write_text("kafka_2.13-4.3.1.jar\n")
    monkeypatch.setenv("PATH", "")
    assert distribution.ensure_kafka_libs("4.3.1", tmp_path) == libs


def test_cache_missing_a_listed_jar_is_fetched_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    libs = distribution.libs_dir("4.3.1", tmp_path)
    libs.mkdir(parents=True)
    (libs / distribution.MARKER_NAME).write_text("kafka_2.13-4.3.1.jar\n")
    assert not distribution.is_cached("4.3.1", tmp_path)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(LocalKafkaError, match="'mvn' is not on PATH"):
        distribution.ensure_kafka_libs("4.3.1", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_maven_is_reported_with_version_and_cache(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(LocalKafkaError) as caught:
        distribution.ensure_kafka_libs("4.3.1", tmp_path)
    message = caught.value.message
    assert "'mvn' is not on PATH" in message
    assert "Kafka 4.3.1" in message
    assert str(tmp_path / "kafka-4.3.1" / "libs") in message
    assert list(tmp_path.iterdir()) == []


def test_cache_root_follows_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPICDESK_CACHE", str(tmp_path))
    assert distribution.libs_dir("4.3.1") == tmp_path / "kafka-4.3.1" / "libs"


def test_pom_pins_kafka_and_the_matching_log4j_binding() -> None:
    pom = distribution.pom_xml("4.3.1", "2.25.4")
    assert "<artifactId>kafka_2.13</artifactId>\n      <version>4.3.1</version>" in pom
    assert "<artifactId>log4j-slf4j-impl</artifactId>\n      <version>2.25.4</version>" in pom
    assert "<packaging>pom</packaging>" in pom


# --- log digests -----------------------------------------------------------------------------------


def test_failure_digest_covers_only_the_last_start_and_drops_stack_frames(fresh: lk.LocalCluster) -> None:
    fresh.log_dir.mkdir(parents=True)
    (fresh.log_dir / "server.log").write_text(
        f"{lk.RUN_MARKER}dev at earlier\n"
        "[2026-01-01 00:00:00,000] ERROR Exiting Kafka due to fatal exception (kafka.Kafka$)\n"
        "org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:1234: "
        "Address already in use.\n"
        f"{lk.RUN_MARKER}dev at now\n"
        "[2026-01-01 00:01:00,000] INFO starting (kafka.server.KafkaRaftServer)\n"
        "[2026-01-01 00:01:01,000] ERROR Exiting Kafka due to fatal exception during startup. (kafka.Kafka$)\n"
        "java.lang.RuntimeException: Invalid cluster.id in meta.properties\n"
        "\tat kafka.server.KafkaRaftServer.<init>(KafkaRaftServer.scala:60)\n"
        "\tat kafka.Kafka$.main(Kafka.scala:80)\n"
    )
    assert lk.bind_failure_port(fresh) is None
    digest = lk.failure_summary(fresh)
    assert "Invalid cluster.id in meta.properties" in digest
    assert "KafkaRaftServer.scala" not in digest
    assert "1234" not in digest
    assert str(fresh.log_dir) in digest
    assert "\n" not in digest


def test_bind_failure_names_the_port_kafka_could_not_bind(fresh: lk.LocalCluster) -> None:
    fresh.log_dir.mkdir(parents=True)
    (fresh.log_dir / "server.log").write_text(
        f"{lk.RUN_MARKER}dev at now\n"
        "[2026-01-01 00:00:00,000] ERROR Unable to start acceptor for CONTROLLER (kafka.network.DataPlaneAcceptor)\n"
        "org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:29093: "
        "Address already in use.\n"
    )
    assert lk.bind_failure_port(fresh) == 29093
    assert lk.failure_summary(fresh).startswith("port 29093 on 127.0.0.1 is already in use")

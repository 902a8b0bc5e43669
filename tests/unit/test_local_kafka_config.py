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
from topicdesk.local_kafka.config import format_arguments, log4j_system_property
from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.local_kafka.versions import resolve_version


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


def three_nodes(cluster: lk.LocalCluster, version: str) -> lk.LocalCluster:
    nodes = tuple(lk.LocalNode(i, 29100 + 2 * i, 29101 + 2 * i, directory_id=f"dir{i}") for i in (1, 2, 3))
    return dataclasses.replace(cluster, kafka_version=version, client_port=29102, controller_port=29103,
                               nodes=nodes)


def test_3_9_uses_static_voters_log4j1_and_no_share_group_settings(fresh: lk.LocalCluster) -> None:
    old = dataclasses.replace(fresh, kafka_version="3.9.2")
    props = parse_properties(lk.server_properties(old))
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29093"
    assert "controller.quorum.bootstrap.servers" not in props
    assert not [k for k in props if k.startswith("share.")]
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert old.log4j_file.name == "log4j.properties"
    assert "log4j.appender.server.File=" + str(old.log_dir / "server.log") in lk.log4j_properties(old)
    assert log4j_system_property(old) == f"-Dlog4j.configuration=file:{old.log4j_file}"
    args = format_arguments(old, "x.properties")
    assert "--standalone" not in args
    assert "--initial-controllers" not in args
    assert args[-2] == "--add-scram"


def test_4_x_single_node_formats_standalone(fresh: lk.LocalCluster) -> None:
    args = format_arguments(fresh, "x.properties")
    assert args[:5] == ["format", "--config", "x.properties", "--cluster-id", fresh.cluster_id]
    assert "--standalone" in args
    assert args[-1] == f"SCRAM-SHA-512=[name=admin,password={fresh.admin_password}]"
    assert log4j_system_property(fresh) == f"-Dlog4j2.configurationFile={fresh.log4j_file}"


@pytest.mark.parametrize("version", ["3.9.2", "4.3.1"])
def test_three_nodes_form_one_quorum_with_rf_3_and_min_isr_2(fresh: lk.LocalCluster, version: str) -> None:
    cluster = three_nodes(fresh, version)
    node2 = cluster.node(2)
    props = parse_properties(lk.server_properties(node2))
    assert props["node.id"] == "2"
    assert props["listeners"] == "CLIENT://127.0.0.1:29104,CONTROLLER://127.0.0.1:29105"
    assert props["log.dirs"] == str(fresh.home / "node-2" / "data")
    for key in ("default.replication.factor", "offsets.topic.replication.factor",
                "transaction.state.log.replication.factor"):
        assert props[key] == "3", key
    assert props["min.insync.replicas"] == "2"
    assert props["transaction.state.log.min.isr"] == "2"
    args = format_arguments(node2, "x.properties")
    if version == "3.9.2":
        assert props["controller.quorum.voters"] == "1@127.0.0.1:29103,2@127.0.0.1:29105,3@127.0.0.1:29107"
        assert "--initial-controllers" not in args
    else:
        assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:29103,127.0.0.1:29105,127.0.0.1:29107"
        voters = args[args.index("--initial-controllers") + 1]
        assert voters == "1@127.0.0.1:29103:dir1,2@127.0.0.1:29105:dir2,3@127.0.0.1:29107:dir3"
        assert "--standalone" not in args
    assert cluster.bootstrap == "127.0.0.1:29102,127.0.0.1:29104,127.0.0.1:29106"


def test_multi_node_state_records_every_node_and_old_files_still_load(fresh: lk.LocalCluster) -> None:
    cluster = three_nodes(fresh, "3.9.2")
    cluster = cluster.merged(dataclasses.replace(cluster.node(3), pid=4242))
    fresh.home.mkdir(parents=True)
    lk.save_state(cluster)
    data = json.loads(fresh.state_file.read_text())
    assert data["state_version"] == 2
    assert [n["node_id"] for n in data["nodes"]] == [1, 2, 3]
    assert data["nodes"][2]["pid"] == 4242
    assert data["nodes"][1]["data_dir"] == str(fresh.home / "node-2" / "data")
    assert data["client_port"] == 29102  # the first node's, as version 1 had it
    loaded = lk.load_state(fresh.state_file.parent, "dev")
    assert loaded == cluster
    assert loaded is not None
    assert loaded.node(3).pid == 4242

    # A version-1 file: one node, no `nodes`, everything in the cluster folder.
    old = {k: v for k, v in fresh.to_state().items() if k != "nodes"}
    old["state_version"] = 1
    fresh.state_file.write_text(json.dumps(old))
    legacy = lk.load_state(fresh.state_file.parent, "dev")
    assert legacy == fresh
    assert legacy is not None
    assert legacy.broker_count == 1
    assert legacy.data_dir == fresh.home / "data"


def test_asking_another_shape_of_a_recorded_cluster_is_refused(fresh: lk.LocalCluster) -> None:
    fresh.home.mkdir(parents=True)
    lk.save_state(fresh)
    write_meta(fresh.data_dir, fresh.cluster_id)
    with pytest.raises(LocalKafkaError, match="--purge"):
        lk.plan_cluster(fresh.state_file.parent, "dev", brokers=3)
    with pytest.raises(LocalKafkaError, match=r"Kafka 4\.3\.1, not 1 on Kafka 3\.9\.2"):
        lk.plan_cluster(fresh.state_file.parent, "dev", kafka_version="3.9")
    assert (fresh.data_dir / "__cluster_metadata-0").is_dir()


def test_three_node_plan_picks_six_distinct_ports(tmp_path: Path) -> None:
    plan = lk.plan_cluster(tmp_path, "big", brokers=3, kafka_version="3.9")
    ports = [p for n in plan.cluster.nodes for p in (n.client_port, n.controller_port)]
    assert len(set(ports)) == 6
    assert plan.action == "format"
    assert plan.start == (1, 2, 3)
    assert all(n.directory_id for n in plan.cluster.nodes)
    with pytest.raises(LocalKafkaError, match="explicit ports"):
        lk.plan_cluster(tmp_path, "big2", brokers=3, client_port=29999)


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
    pom = distribution.pom_xml("4.3.1", distribution.broker_artifacts("4.3.1"))
    assert "<artifactId>kafka_2.13</artifactId>\n      <version>4.3.1</version>" in pom
    assert "<artifactId>log4j-slf4j-impl</artifactId>\n      <version>2.25.4</version>" in pom
    assert "<packaging>pom</packaging>" in pom


def test_pom_for_3_9_uses_reload4j_pinned_to_the_distribution_release() -> None:
    pom = distribution.pom_xml("3.9.2", distribution.broker_artifacts("3.9"))
    assert "<artifactId>kafka_2.13</artifactId>\n      <version>3.9.2</version>" in pom
    assert "<artifactId>slf4j-reload4j</artifactId>\n      <version>1.7.36</version>" in pom
    assert "<artifactId>reload4j</artifactId>\n      <version>1.2.25</version>" in pom
    assert "log4j-slf4j-impl" not in pom


def test_mirror_libs_are_the_same_release_in_their_own_cache_folder(tmp_path: Path) -> None:
    names = {(a.artifact, a.version) for a in distribution.mirror_artifacts("3.9.2")}
    for artifact in ("connect-mirror", "connect-mirror-client", "connect-runtime", "connect-json",
                     "connect-transforms"):
        assert (artifact, "3.9.2") in names
    assert distribution.mirror_libs_dir("3.9.2", tmp_path) == tmp_path / "kafka-3.9.2" / "mirror-libs"
    assert distribution.mirror_libs_dir("3.9.2", tmp_path) != distribution.libs_dir("3.9.2", tmp_path)


def test_unknown_kafka_version_is_refused_with_the_choices() -> None:
    with pytest.raises(LocalKafkaError, match=r"3\.9\.2.*4\.3\.1"):
        resolve_version("3.8.0")
    assert resolve_version("3.9") == "3.9.2"
    assert resolve_version("4.3.1") == "4.3.1"


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


def test_merging_a_started_node_keeps_its_pid_also_for_the_first_node(fresh: lk.LocalCluster) -> None:
    cluster = three_nodes(fresh, "3.9.2")
    for node_id, pid in ((1, 101), (2, 102), (3, 103)):
        cluster = cluster.merged(dataclasses.replace(cluster.node(node_id), pid=pid))
    assert [n.pid for n in cluster.nodes] == [101, 102, 103]
    assert cluster.pid == 101
    assert cluster.node(2).pid == 102

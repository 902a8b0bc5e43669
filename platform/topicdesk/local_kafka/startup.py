"""Starting one local cluster's JVM: write its configs, format its storage, spawn it, wait until ready.

Each start appends a run marker to the cluster's logs (local_kafka/run_logs.py reads only what
follows the last one when it explains a failure).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from topicdesk.local_kafka.config import (
    format_arguments,
    jvm_options,
    log4j_properties,
    log4j_system_property,
    server_properties,
)
from topicdesk.local_kafka.errors import LocalKafkaError, PortInUseError
from topicdesk.local_kafka.model import LocalCluster
from topicdesk.local_kafka.processes import is_running, owns_listener, spawn_detached
from topicdesk.local_kafka.run_logs import RUN_MARKER, bind_failure_port, failure_summary, first_error
from topicdesk.local_kafka.state import node_data_matches, record_node, remove_tree, write_private


def write_configs(cluster: LocalCluster) -> None:
    cluster.node_home.mkdir(mode=0o700, parents=True, exist_ok=True)
    cluster.log_dir.mkdir(mode=0o700, exist_ok=True)
    write_private(cluster.config_file, server_properties(cluster))
    write_private(cluster.log4j_file, log4j_properties(cluster))


def format_storage(cluster: LocalCluster, libs: Path, java: str) -> None:
    """Format into a scratch folder and rename it into place: an interrupted format never
    leaves a data folder that looks usable."""
    scratch = cluster.node_home / "data.formatting"
    if scratch.exists():
        remove_tree(scratch, cluster.home)
    if cluster.data_dir.exists():
        remove_tree(cluster.data_dir, cluster.home)
    scratch_props = cluster.node_home / "format.properties"
    write_private(
        scratch_props,
        server_properties(cluster).replace(f"log.dirs={cluster.data_dir}", f"log.dirs={scratch}"),
    )
    # The admin password goes through an argument file, not argv, where any local user could
    # read it from /proc while the format runs.
    args_file = cluster.node_home / "format.args"
    write_private(args_file, "\n".join(format_arguments(cluster, str(scratch_props))) + "\n")
    try:
        proc = subprocess.run(
            [java, "-Xmx128m", "-cp", str(libs / "*"), "kafka.tools.StorageTool", f"@{args_file}"],
            cwd=cluster.node_home, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=120, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LocalKafkaError(f"formatting local cluster {cluster.name} took over 120s") from exc
    finally:
        args_file.unlink(missing_ok=True)
        scratch_props.unlink(missing_ok=True)
    # The tool prints the SCRAM record (salted keys); keep that out of shared terminals.
    write_private(cluster.log_dir / "format.log", proc.stdout + proc.stderr)
    if proc.returncode != 0 or not node_data_matches(cluster, scratch):
        reason = first_error(proc.stdout + "\n" + proc.stderr) or f"exit code {proc.returncode}"
        raise LocalKafkaError(
            f"formatting local cluster {cluster.name} (Kafka {cluster.kafka_version}) failed: {reason} "
            f"(full output in {cluster.log_dir / 'format.log'})"
        )
    os.rename(scratch, cluster.data_dir)


def start_jvm(cluster: LocalCluster, libs: Path, java: str, heap_mb: int) -> LocalCluster:
    argv = [
        java,
        *jvm_options(heap_mb),
        log4j_system_property(cluster),
        f"-Dkafka.logs.dir={cluster.log_dir}",
        # The JVM runs in the caller's folder; keep crash reports with the cluster's logs.
        f"-XX:ErrorFile={cluster.log_dir}/hs_err_pid%p.log",
        # Lets `ps`/`pgrep` tell which local cluster a JVM belongs to.
        f"-Dtopicdesk.local.cluster={cluster.name}",
        "-cp",
        str(libs / "*"),
        "kafka.Kafka",
        str(cluster.config_file),
    ]
    jvm_log = cluster.log_dir / "jvm.log"
    marker = f"{RUN_MARKER}{cluster.name} at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n"
    for log_file in (jvm_log, cluster.log_dir / "server.log"):
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(marker)
    pid = spawn_detached(argv, jvm_log)
    started = replace(cluster, pid=pid)
    record_node(started)
    return started


def probe_cluster_id(cluster: LocalCluster, timeout: float = 5.0) -> str | None:
    """The cluster id the broker reports to the admin user, or None if it does not answer yet.

    Raises LocalKafkaError when the broker answers but rejects the admin credentials: waiting
    longer would not help.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    auth_errors: list[str] = []

    def on_error(err: KafkaError) -> None:
        if err.code() == KafkaError._AUTHENTICATION:
            auth_errors.append(err.str())

    conf: dict[str, Any] = {
        **cluster.client_config(),
        # This node only: every node must answer before a cluster counts as up.
        "bootstrap.servers": f"{cluster.host}:{cluster.client_port}",
        # Connection-refused noise while the JVM starts is expected; failures are reported by us.
        "log_level": 0,
        "error_cb": on_error,
    }
    admin = AdminClient(conf)
    try:
        result = admin.describe_cluster(request_timeout=timeout).result(timeout=timeout + 1)
    except (KafkaException, TimeoutError, RuntimeError):
        admin.poll(0)
        if auth_errors:
            raise LocalKafkaError(
                f"local cluster {cluster.name} at {cluster.bootstrap} rejects the admin credentials "
                f"recorded in {cluster.state_file}: {auth_errors[0]}"
            ) from None
        return None
    if len(result.nodes) < cluster.broker_count:
        # Answers, but not every broker has registered yet: not ready.
        return None
    return str(result.cluster_id)


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_ready(cluster: LocalCluster, deadline: float) -> None:
    """Return once the cluster's own JVM answers describe_cluster as admin with its cluster id."""
    while True:
        if not is_running(cluster):
            port = bind_failure_port(cluster)
            if port is not None:
                raise PortInUseError(
                    port,
                    f"local cluster {cluster.name} could not listen on port {port} of {cluster.host}: "
                    f"it is already in use (logs in {cluster.log_dir})",
                )
            raise LocalKafkaError(
                f"local cluster {cluster.name} stopped while starting: {failure_summary(cluster)}"
            )
        if cluster.pid is not None and owns_listener(cluster.pid, cluster.client_port):
            remaining = max(1.0, min(5.0, deadline - time.monotonic()))
            got = probe_cluster_id(cluster, timeout=remaining)
            if got == cluster.cluster_id:
                return
            if got is not None:
                raise LocalKafkaError(
                    f"local cluster {cluster.name} at {cluster.bootstrap} reports cluster id {got}, not "
                    f"the recorded {cluster.cluster_id}; its data folder {cluster.data_dir} was replaced"
                )
        if time.monotonic() >= deadline:
            raise LocalKafkaError(
                f"local cluster {cluster.name} did not answer at {cluster.bootstrap} in time: "
                f"{failure_summary(cluster)}"
            )
        time.sleep(0.25)

"""Single-node KRaft Kafka clusters on loopback, for development and the integration tests.

Each cluster is one JVM (combined broker + controller) with SASL/SCRAM-SHA-512 on its client
listener and the StandardAuthorizer enforcing ACLs, so what works against it works against a
producer-owned production cluster. Everything a cluster needs lives under one state folder:

    <state_dir>/<name>.json          state: pid, ports, cluster id, admin credentials (0600)
    <state_dir>/<name>/server.properties, log4j2.properties
    <state_dir>/<name>/data/         KRaft metadata log and topic data
    <state_dir>/<name>/logs/         server.log (log4j2) and jvm.log (JVM stdout/stderr)

JVMs run in their own session, so they outlive the CLI call that started them; `down` stops them.

This module plans and runs the lifecycle (up, down, status); the parts it uses live beside it:
`model` (LocalCluster), `config` (generated files), `processes` (ports, JVMs) and `state`.
"""


from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from topicdesk.local_kafka.config import jvm_options, log4j2_properties, new_cluster_id, new_secret, server_properties
from topicdesk.local_kafka.distribution import KAFKA_VERSION, ensure_kafka_libs
from topicdesk.local_kafka.errors import LocalKafkaError, PortInUseError
from topicdesk.local_kafka.model import (
    ADMIN_USER,
    DEFAULT_HEAP_MB,
    DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
    HOST,
    NAME_RE,
    ClusterStatus,
    LocalCluster,
)
from topicdesk.local_kafka.processes import (
    find_free_ports,
    find_jvms,
    is_running,
    java_executable,
    jvm_rss_bytes,
    kill_orphan,
    owns_listener,
    port_is_free,
    require_free,
    spawn_detached,
    stop_process,
)
from topicdesk.local_kafka.state import (
    data_dir_matches,
    default_state_dir,
    load_state,
    locked,
    recorded_clusters,
    remove_tree,
    save_state,
    state_file_path,
    write_private,
)

log = logging.getLogger(__name__)
# --- planning ---------------------------------------------------------------------------------


@dataclass
class _Plan:
    cluster: LocalCluster
    action: Literal["reuse", "restart", "format"]


def plan_cluster(
    state_dir: Path,
    name: str,
    *,
    client_port: int | None = None,
    controller_port: int | None = None,
    taken: set[int] | None = None,
    kafka_version: str = KAFKA_VERSION,
) -> _Plan:
    """Decide how to get cluster `name` running, cleaning what cannot be reused; starts nothing.

    A running JVM of the cluster is reused. A stopped one restarts on its data folder if that
    folder is the recorded cluster's (meta.properties cluster id matches); otherwise the folder
    is wiped and formatted as a new cluster. Port conflicts are reported here, before any work.
    """
    if not NAME_RE.match(name):
        raise LocalKafkaError(
            f"invalid local cluster name {name!r}: use lowercase letters, digits, '.', '_' or '-'"
        )
    taken = taken if taken is not None else set()
    home = state_dir / name
    recorded = load_state(state_dir, name)
    strays = [pid for pid in find_jvms(home) if recorded is None or pid != recorded.pid]
    if recorded is not None and strays and not is_running(recorded):
        # `up` was interrupted after starting this JVM but before recording its pid: adopt it.
        adopted = replace(recorded, pid=strays.pop(0))
        if is_running(adopted):
            recorded = adopted
            save_state(recorded)
    # Any other JVM on this folder would hold Kafka's data-folder lock against a new start, or
    # keep writing into a folder about to be formatted.
    for pid in strays:
        kill_orphan(pid)
    if recorded is not None and is_running(recorded):
        for wanted, actual, what in ((client_port, recorded.client_port, "client"),
                                     (controller_port, recorded.controller_port, "controller")):
            if wanted is not None and wanted != actual:
                raise LocalKafkaError(
                    f"local cluster {name} is already running with {what} port {actual} (pid "
                    f"{recorded.pid}), not {wanted}; run 'topicdesk local down' first"
                )
        taken.update((recorded.client_port, recorded.controller_port))
        return _Plan(replace(recorded, origin="reused"), "reuse")

    reusable = recorded is not None and data_dir_matches(recorded.data_dir, recorded.cluster_id)
    ports = _choose_ports(name, recorded if reusable else None, client_port, controller_port, taken)
    if recorded is not None and reusable:
        cluster = replace(recorded, client_port=ports[0], controller_port=ports[1], pid=None,
                          kafka_version=kafka_version, origin="restarted")
        return _Plan(cluster, "restart")

    if recorded is not None:
        log.warning("local cluster %s: data folder %s is not a complete log of cluster %s; "
                    "formatting it anew", name, recorded.data_dir, recorded.cluster_id)
    if home.exists():
        # Whatever is here (a crashed format, a folder without state) cannot be trusted: without
        # the recorded admin password even an intact log would be unusable.
        for child in home.iterdir():
            if child.name != "logs":
                if child.is_dir() and not child.is_symlink():
                    remove_tree(child, home)
                else:
                    child.unlink()
    cluster = LocalCluster(
        name=name,
        cluster_id=new_cluster_id(),
        client_port=ports[0],
        controller_port=ports[1],
        admin_username=ADMIN_USER,
        admin_password=new_secret(),
        controller_password=new_secret(),
        home=home,
        state_file=state_file_path(state_dir, name),
        kafka_version=kafka_version,
        origin="formatted",
    )
    return _Plan(cluster, "format")


def _choose_ports(
    name: str,
    recorded: LocalCluster | None,
    client_port: int | None,
    controller_port: int | None,
    taken: set[int],
) -> tuple[int, int]:
    chosen: list[int] = []
    for wanted, role in ((client_port, "client"), (controller_port, "controller")):
        what = f"{role} port asked for local cluster {name}"
        if wanted is not None:
            if wanted in taken or wanted in chosen:
                raise LocalKafkaError(f"port {wanted} is given to two local cluster listeners ({what})")
            require_free(wanted, what, HOST)
            chosen.append(wanted)
            continue
        previous = None
        if recorded is not None:
            previous = recorded.client_port if role == "client" else recorded.controller_port
        if previous is not None and previous not in taken and previous not in chosen \
                and port_is_free(previous):
            chosen.append(previous)
        else:
            if previous is not None:
                log.warning("local cluster %s: recorded %s port %s is busy; choosing another",
                            name, role, previous)
            chosen.append(find_free_ports(1, taken | set(chosen))[0])
    taken.update(chosen)
    return chosen[0], chosen[1]


# --- starting ----------------------------------------------------------------------------------


def _write_configs(cluster: LocalCluster) -> None:
    cluster.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    cluster.log_dir.mkdir(mode=0o700, exist_ok=True)
    write_private(cluster.config_file, server_properties(cluster))
    write_private(cluster.log4j_file, log4j2_properties(cluster))


def _format(cluster: LocalCluster, libs: Path, java: str) -> None:
    """Format into a scratch folder and rename it into place: an interrupted format never
    leaves a data folder that looks usable."""
    scratch = cluster.home / "data.formatting"
    if scratch.exists():
        remove_tree(scratch, cluster.home)
    if cluster.data_dir.exists():
        remove_tree(cluster.data_dir, cluster.home)
    scratch_props = cluster.home / "format.properties"
    write_private(
        scratch_props,
        server_properties(cluster).replace(f"log.dirs={cluster.data_dir}", f"log.dirs={scratch}"),
    )
    # The admin password goes through an argument file, not argv, where any local user could
    # read it from /proc while the format runs.
    args_file = cluster.home / "format.args"
    write_private(args_file, "\n".join([
        "format", "--config", str(scratch_props), "--cluster-id", cluster.cluster_id, "--standalone",
        "--add-scram", f"SCRAM-SHA-512=[name={cluster.admin_username},password={cluster.admin_password}]",
    ]) + "\n")
    try:
        proc = subprocess.run(
            [java, "-Xmx128m", "-cp", str(libs / "*"), "kafka.tools.StorageTool", f"@{args_file}"],
            cwd=cluster.home, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=120, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LocalKafkaError(f"formatting local cluster {cluster.name} took over 120s") from exc
    finally:
        args_file.unlink(missing_ok=True)
        scratch_props.unlink(missing_ok=True)
    # The tool prints the SCRAM record (salted keys); keep that out of shared terminals.
    write_private(cluster.log_dir / "format.log", proc.stdout + proc.stderr)
    if proc.returncode != 0 or not data_dir_matches(scratch, cluster.cluster_id):
        reason = _first_error(proc.stdout + "\n" + proc.stderr) or f"exit code {proc.returncode}"
        raise LocalKafkaError(
            f"formatting local cluster {cluster.name} (Kafka {cluster.kafka_version}) failed: {reason} "
            f"(full output in {cluster.log_dir / 'format.log'})"
        )
    os.rename(scratch, cluster.data_dir)


def _start(cluster: LocalCluster, libs: Path, java: str, heap_mb: int) -> LocalCluster:
    argv = [
        java,
        *jvm_options(heap_mb),
        f"-Dlog4j2.configurationFile={cluster.log4j_file}",
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
    save_state(started)
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
    return str(result.cluster_id)


def _port_open(host: str, port: int) -> bool:
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


_BIND_RE = re.compile(r"failed to bind to [^:\s]+:(\d+)", re.IGNORECASE)


RUN_MARKER = "--- topicdesk: starting "


def _this_run_logs(cluster: LocalCluster) -> str:
    texts = []
    for name in ("server.log", "jvm.log"):
        with suppress(OSError):
            text = _tail(cluster.log_dir / name)
            # Both files are appended to across starts; only lines after the last start count.
            texts.append(text.rsplit(RUN_MARKER, 1)[-1])
    return "\n".join(texts)


def bind_failure_port(cluster: LocalCluster) -> int | None:
    """The port the last start failed to bind, if that is why it stopped."""
    text = _this_run_logs(cluster)
    bind = _BIND_RE.search(text)
    if bind:
        return int(bind.group(1))
    if "Address already in use" in text:
        return cluster.client_port
    return None


def failure_summary(cluster: LocalCluster, max_lines: int = 3) -> str:
    """A one-line digest of why a JVM failed, from its logs, without Java stack frames."""
    joined = _this_run_logs(cluster)
    where = f"(logs in {cluster.log_dir})"
    port = bind_failure_port(cluster)
    if port is not None:
        return f"port {port} on {cluster.host} is already in use {where}"
    if "UnsupportedClassVersionError" in joined:
        return f"Kafka {cluster.kafka_version} needs Java 17 or newer {where}"
    error = _first_error(joined, max_lines)
    return f"{error or 'no error in the logs'} {where}"


def _tail(path: Path, max_bytes: int = 64 * 1024) -> str:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - max_bytes))
        return fh.read().decode(errors="replace")


def _first_error(text: str, max_lines: int = 3) -> str:
    picked: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("at ", "...", "Caused by: java.lang.reflect")):
            continue
        if any(tag in line for tag in (" ERROR ", " FATAL ", "Exception", "Error:", "error:")):
            line = re.sub(r"^\[[^\]]+\]\s*", "", line)
            if line not in picked:
                picked.append(line)
    return " | ".join(picked[-max_lines:])[:800]


# --- public operations -------------------------------------------------------------------------


def _names(clusters: int | Sequence[str]) -> list[str]:
    if isinstance(clusters, int):
        if clusters < 1:
            raise LocalKafkaError("the number of local clusters must be at least 1")
        return [f"local-{i}" for i in range(1, clusters + 1)]
    names = list(clusters)
    if not names:
        raise LocalKafkaError("no local cluster names given")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LocalKafkaError(f"local cluster names given twice: {', '.join(dupes)}")
    return names


def _port_list(ports: Sequence[int] | None, count: int, what: str) -> list[int | None]:
    if ports is None or len(ports) == 0:
        return [None] * count
    if len(ports) != count:
        raise LocalKafkaError(f"{len(ports)} {what} ports given for {count} local clusters")
    return list(ports)


def up(
    clusters: int | Sequence[str] = 1,
    state_dir: Path | None = None,
    *,
    client_ports: Sequence[int] | None = None,
    controller_ports: Sequence[int] | None = None,
    libs: Path | None = None,
    heap_mb: int = DEFAULT_HEAP_MB,
    timeout: float = DEFAULT_START_TIMEOUT,
    kafka_version: str = KAFKA_VERSION,
    ensure_libs: Callable[[str], Path] | None = None,
) -> list[LocalCluster]:
    """Get the given clusters running and answering; return them in the order asked.

    Idempotent: clusters already running are reused. If any cluster cannot be brought up, the
    ones this call started are stopped again and LocalKafkaError says why.
    """
    names = _names(clusters)
    cports = _port_list(client_ports, len(names), "client")
    kports = _port_list(controller_ports, len(names), "controller")
    explicit = [p for p in [*cports, *kports] if p is not None]
    repeated = sorted({p for p in explicit if explicit.count(p) > 1})
    if repeated:
        raise LocalKafkaError(f"port {repeated[0]} is given to two local cluster listeners")
    state_dir = (state_dir or default_state_dir()).absolute()
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with locked(state_dir):
        # Ports recorded by other clusters of this folder stay theirs, even while stopped.
        taken = {p for c in recorded_clusters(state_dir) if c.name not in names
                 for p in (c.client_port, c.controller_port)}
        taken.update(p for p in [*cports, *kports] if p is not None)
        plans = []
        for name, cport, kport in zip(names, cports, kports, strict=True):
            taken.difference_update(p for p in (cport, kport) if p is not None)
            plans.append(plan_cluster(state_dir, name, client_port=cport, controller_port=kport,
                                      taken=taken, kafka_version=kafka_version))
        to_start = [p for p in plans if p.action != "reuse"]
        java = java_executable() if to_start else ""
        try:
            if to_start:
                if libs is None:
                    libs = (ensure_libs or ensure_kafka_libs)(kafka_version)
                for plan in to_start:
                    _write_configs(plan.cluster)
                    if plan.action == "format":
                        _format(plan.cluster, libs, java)
                    plan.cluster = _start(plan.cluster, libs, java, heap_mb)
            deadline = time.monotonic() + timeout
            for plan, cport, kport in zip(plans, cports, kports, strict=True):
                for attempt in range(_PORT_RETRIES + 1):
                    try:
                        wait_ready(plan.cluster, deadline)
                        break
                    except PortInUseError as exc:
                        # Ports picked here can be grabbed by another process between the
                        # check and the JVM's bind; explicitly asked ports are the caller's call.
                        if plan.action == "reuse" or exc.port in (cport, kport) or attempt == _PORT_RETRIES:
                            raise
                        assert libs is not None
                        plan.cluster = _restart_on_new_ports(plan.cluster, exc.port, cport, kport, taken,
                                                             libs, java, heap_mb)
        except BaseException:
            for plan in to_start:
                with suppress(LocalKafkaError):
                    stop_process(plan.cluster, timeout=10)
                    save_state(replace(plan.cluster, pid=None))
            raise
        return [p.cluster for p in plans]


_PORT_RETRIES = 3


def _restart_on_new_ports(
    cluster: LocalCluster,
    busy: int,
    client_port: int | None,
    controller_port: int | None,
    taken: set[int],
    libs: Path,
    java: str,
    heap_mb: int,
) -> LocalCluster:
    stop_process(cluster, timeout=10)
    taken.add(busy)
    fresh = find_free_ports(2, taken | {cluster.client_port, cluster.controller_port})
    moved = replace(
        cluster,
        pid=None,
        client_port=client_port if client_port is not None else fresh[0],
        controller_port=controller_port if controller_port is not None else fresh[1],
    )
    taken.update((moved.client_port, moved.controller_port))
    log.warning("local cluster %s: port %s was taken meanwhile; moving to %s/%s", cluster.name, busy,
                moved.client_port, moved.controller_port)
    # A formatted single-voter quorum tolerates a new controller port: the node elects itself.
    _write_configs(moved)
    return _start(moved, libs, java, heap_mb)


def down(
    state_dir: Path | None = None,
    names: Sequence[str] | None = None,
    *,
    purge: bool = False,
    timeout: float = DEFAULT_STOP_TIMEOUT,
) -> list[LocalCluster]:
    """Stop the recorded clusters (all, or `names`); with purge also delete their data and state.

    Returns the clusters that were running and are now stopped.
    """
    state_dir = (state_dir or default_state_dir()).absolute()
    if not state_dir.is_dir():
        return []
    stopped: list[LocalCluster] = []
    with locked(state_dir):
        clusters = recorded_clusters(state_dir)
        if names is not None:
            unknown = sorted(set(names) - {c.name for c in clusters})
            if unknown:
                raise LocalKafkaError(f"no local cluster named {', '.join(unknown)} in {state_dir}")
            clusters = [c for c in clusters if c.name in names]
        for cluster in clusters:
            if is_running(cluster):
                stop_process(cluster, timeout=timeout)
                stopped.append(cluster)
            if purge:
                if cluster.home.exists():
                    remove_tree(cluster.home, state_dir)
                cluster.state_file.unlink(missing_ok=True)
            elif cluster.pid is not None:
                save_state(replace(cluster, pid=None))
        if names is None:
            for pid in find_jvms(state_dir):
                kill_orphan(pid, timeout=timeout)
    return stopped


def status(state_dir: Path | None = None, *, probe: bool = True) -> list[ClusterStatus]:
    state_dir = (state_dir or default_state_dir()).absolute()
    result = []
    for cluster in recorded_clusters(state_dir):
        running = is_running(cluster)
        ready = False
        if running and probe and _port_open(cluster.host, cluster.client_port):
            with suppress(LocalKafkaError):
                ready = probe_cluster_id(cluster, timeout=3.0) == cluster.cluster_id
        result.append(ClusterStatus(cluster=cluster, running=running, ready=ready))
    return result


# The façade: callers use `cluster as lk` for the whole lifecycle; the parts live in model,
# config, processes and state.
__all__ = [
    "ADMIN_USER",
    "DEFAULT_HEAP_MB",
    "DEFAULT_START_TIMEOUT",
    "HOST",
    "RUN_MARKER",
    "ClusterStatus",
    "LocalCluster",
    "bind_failure_port",
    "data_dir_matches",
    "default_state_dir",
    "down",
    "failure_summary",
    "find_free_ports",
    "find_jvms",
    "is_running",
    "jvm_rss_bytes",
    "load_state",
    "log4j2_properties",
    "new_cluster_id",
    "new_secret",
    "plan_cluster",
    "port_is_free",
    "save_state",
    "server_properties",
    "status",
    "stop_process",
    "up",
]

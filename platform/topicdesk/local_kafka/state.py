"""State files and data folders of local clusters (one JSON state file per cluster, written 0600)."""


from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.local_kafka.model import NODE_ID, LocalCluster

log = logging.getLogger(__name__)
# --- state files -----------------------------------------------------------------------------


def default_state_dir() -> Path:
    env = os.environ.get("TOPICDESK_LOCAL_DIR")
    return Path(env) if env else Path.cwd() / ".topicdesk" / "local"


def state_file_path(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.json"


def write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600 from the first byte (the files hold passwords)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_state(cluster: LocalCluster) -> None:
    write_private(cluster.state_file, json.dumps(cluster.to_state(), indent=2, sort_keys=True) + "\n")


def load_state(state_dir: Path, name: str) -> LocalCluster | None:
    """The recorded cluster, or None if there is no state file or it cannot be used."""
    path = state_file_path(state_dir, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cluster = LocalCluster.from_state(data, path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable state file %s: %s", path, exc)
        return None
    if cluster.name != name or cluster.home != state_dir / name:
        log.warning("ignoring state file %s: it describes another cluster or folder", path)
        return None
    return cluster


def recorded_clusters(state_dir: Path) -> list[LocalCluster]:
    if not state_dir.is_dir():
        return []
    found = []
    for path in sorted(state_dir.glob("*.json")):
        cluster = load_state(state_dir, path.stem)
        if cluster is not None:
            found.append(cluster)
    return found


@contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another topicdesk process using %s", state_dir)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- data folders ----------------------------------------------------------------------------


def read_meta_properties(data_dir: Path) -> dict[str, str] | None:
    try:
        text = (data_dir / "meta.properties").read_text(encoding="utf-8")
    except OSError:
        return None
    props: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        props[key.strip()] = value.strip()
    return props


def data_dir_matches(data_dir: Path, cluster_id: str, node_id: int = NODE_ID) -> bool:
    """True if data_dir is a completely formatted log folder of `cluster_id` for node `node_id`."""
    props = read_meta_properties(data_dir)
    if props is None:
        return False
    # 4.x formats the metadata log folder itself (it holds the voter set); 3.9 with static voters
    # writes only bootstrap.checkpoint and creates the log on first start. Either one finishes a
    # format (the format is renamed into place whole, so a half one never gets here).
    return (
        props.get("cluster.id") == cluster_id
        and props.get("node.id") == str(node_id)
        and ((data_dir / "__cluster_metadata-0").is_dir() or (data_dir / "bootstrap.checkpoint").is_file())
    )


def node_data_matches(view: LocalCluster, data_dir: Path | None = None) -> bool:
    return data_dir_matches(data_dir or view.data_dir, view.cluster_id, view.node_id)


def record_node(view: LocalCluster) -> None:
    """Save node `view.node_id`'s pid and ports into its cluster's state file, keeping what the
    file says about the other nodes (a supervisor may have restarted one of them meanwhile).
    Callers hold the state-folder lock."""
    current = load_state(view.state_file.parent, view.name)
    same = current is not None and current.cluster_id == view.cluster_id \
        and {n.node_id for n in current.nodes} == {n.node_id for n in view.nodes}
    base = current if same and current is not None else view
    save_state(base.merged(view))


def remove_tree(path: Path, owner: Path) -> None:
    # Guard against a state file pointing anywhere else on disk: only delete inside our folder.
    if owner.resolve() not in path.resolve().parents:
        raise LocalKafkaError(f"refusing to delete {path}: it is outside {owner}")
    shutil.rmtree(path, ignore_errors=False)

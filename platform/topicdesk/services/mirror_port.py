"""The mirror port: what the migration driver asks of MirrorMaker 2, whichever engine runs it.

Two adapters stand behind it (issue 15 item 4):
- adapters/mirror_process.py: a dedicated MirrorMaker 2 process per migration on this machine
  (local clusters, the demo, tests);
- adapters/mirror_connect.py: an existing Kafka Connect cluster driven through its REST API (the
  distributed engine production already runs).

Every call is level-triggered and idempotent: `ensure_running` starts what is missing, replaces a
changed configuration and restarts what died, and answers with what it observed; `stop` of a
mirror that is not there is no error. A failure to reach the engine is a status (`UNREACHABLE`),
never an exception, so one broken engine does not stop the reconcile pass.

Topic names are preserved (IdentityReplicationPolicy); Topicdesk creates the target topics itself
from the approved plan, so MirrorMaker neither creates topics nor copies configs or ACLs. Consumer
group offsets are translated onto the target by checkpoints with group offset sync.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class ClusterEndpoint:
    """How MirrorMaker reaches one cluster. `alias` is MirrorMaker's cluster alias (our cluster name)."""

    alias: str
    bootstrap_servers: str
    username: str
    password: str = field(repr=False)
    security_protocol: str = "SASL_PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"


@dataclass(frozen=True)
class MirrorSpec:
    """One migration's mirror: source -> target for `topics`, translating `groups`' offsets."""

    mirror_id: str  # the migration id; names the process or the connectors
    source: ClusterEndpoint
    target: ClusterEndpoint
    topics: tuple[str, ...]
    groups: tuple[str, ...] = ()
    # How often checkpoints are emitted and group offsets written to the target; short so a cut-over
    # waits seconds, not the minute of MirrorMaker's default.
    sync_interval_seconds: int = 1
    # An offset sync every this many records. Not what bounds the re-read after a consumer cut-over:
    # the driver commits exact offsets (domain/migration_offsets.py); 10 cost ~40% throughput (bench P8).
    offset_lag_max: int = 100
    # Source tasks MirrorMaker splits the topics' partitions over: one task (MirrorMaker's default)
    # copied at 0.35x a raw consume->produce loop in bench P8, two at 0.50x on 2 cores.
    tasks: int = 2
    extra: Mapping[str, str] = field(default_factory=dict)  # engine-level overrides (documented per adapter)
    # Replication factor of the topics MirrorMaker keeps on the target (offset syncs, checkpoints,
    # the dedicated worker's offsets/configs/status): -1 takes the target's default.replication.factor,
    # which fits its broker count; a driver may set it explicitly.
    internal_replication_factor: int = -1


class MirrorState(StrEnum):
    STARTING = "starting"  # started, tasks not all running yet
    RUNNING = "running"  # every connector and task running
    FAILED = "failed"  # a connector or task failed (detail says which and why)
    STOPPED = "stopped"  # known but not running (e.g. the process exited)
    ABSENT = "absent"  # nothing of this mirror exists on the engine
    UNREACHABLE = "unreachable"  # the engine could not be asked


@dataclass(frozen=True)
class TaskStatus:
    connector: str
    task: int | None  # None: the connector itself
    state: str  # RUNNING, FAILED, PAUSED, UNASSIGNED, ... as the engine says
    trace: str = ""


@dataclass(frozen=True)
class MirrorStatus:
    mirror_id: str
    state: MirrorState
    engine: str  # "process" or "connect"
    detail: str = ""
    tasks: tuple[TaskStatus, ...] = ()

    @property
    def running(self) -> bool:
        return self.state is MirrorState.RUNNING

    def as_dict(self) -> dict[str, object]:
        return {"mirror_id": self.mirror_id, "state": str(self.state), "engine": self.engine,
                "detail": self.detail,
                "tasks": [{"connector": t.connector, "task": t.task, "state": t.state, "trace": t.trace[:2000]}
                          for t in self.tasks]}


class MirrorEngine(Protocol):
    name: str  # "process" or "connect"

    def ensure_running(self, spec: MirrorSpec) -> MirrorStatus:
        """Start the mirror if absent, replace its configuration if `spec` changed, restart it if
        it died or failed; return what is observed now (STARTING is a normal answer)."""
        ...

    def status(self, mirror_id: str) -> MirrorStatus: ...

    def stop(self, mirror_id: str) -> MirrorStatus:
        """Stop and remove the mirror (ABSENT afterwards); stopping an absent mirror is no error."""
        ...

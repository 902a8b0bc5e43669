"""Connect's `GET /connectors/<name>/status` bodies mapped to the mirror port's status (pure), and the
Connect engine's settings."""

from __future__ import annotations

from typing import Any

import pytest

from topicdesk.adapters.mirror_connect import ConnectMirrorEngine, first_lines, mirror_status, scrub
from topicdesk.adapters.mirror_factory import mirror_engine_from_env
from topicdesk.config import ConfigError
from topicdesk.services.mirror_port import MirrorState

SOURCE, CHECKPOINT = "topicdesk-m1-source", "topicdesk-m1-checkpoint"
TRACE = """org.apache.kafka.connect.errors.ConnectException: Unrecoverable exception from producer send callback
\tat org.apache.kafka.connect.runtime.WorkerSourceTask.maybeThrowProducerSendException(WorkerSourceTask.java:312)
\tat org.apache.kafka.connect.runtime.WorkerSourceTask.execute(WorkerSourceTask.java:241)
Caused by: org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized to access topics: [legacy.x]
"""


def body(name: str, state: str = "RUNNING", tasks: list[dict[str, Any]] | None = None,
         trace: str | None = None) -> dict[str, Any]:
    connector: dict[str, Any] = {"state": state, "worker_id": "127.0.0.1:8083"}
    if trace is not None:
        connector["trace"] = trace
    return {"name": name, "connector": connector, "type": "source",
            "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "127.0.0.1:8083"}] if tasks is None else tasks}


def test_every_connector_and_task_running_is_running() -> None:
    status = mirror_status("m1", {SOURCE: body(SOURCE), CHECKPOINT: body(CHECKPOINT)}, source=SOURCE)
    assert status.state is MirrorState.RUNNING
    assert status.engine == "connect"
    assert [(t.connector, t.task, t.state) for t in status.tasks] == [
        (CHECKPOINT, None, "RUNNING"), (CHECKPOINT, 0, "RUNNING"), (SOURCE, None, "RUNNING"), (SOURCE, 0, "RUNNING")]


def test_a_checkpoint_connector_without_tasks_still_runs() -> None:
    # No group has committed yet: MirrorCheckpointConnector has nothing to translate, no task.
    status = mirror_status("m1", {SOURCE: body(SOURCE), CHECKPOINT: body(CHECKPOINT, tasks=[])}, source=SOURCE)
    assert status.state is MirrorState.RUNNING


def test_nothing_on_connect_is_absent() -> None:
    status = mirror_status("m1", {SOURCE: None, CHECKPOINT: None}, source=SOURCE)
    assert status.state is MirrorState.ABSENT
    assert status.tasks == ()


def test_a_failed_task_is_failed_with_the_start_of_its_trace() -> None:
    failed_task = {"id": 0, "state": "FAILED", "worker_id": "w", "trace": TRACE}
    status = mirror_status("m1", {SOURCE: body(SOURCE, tasks=[failed_task]), CHECKPOINT: body(CHECKPOINT)},
                           source=SOURCE)
    assert status.state is MirrorState.FAILED
    assert status.detail.startswith(f"{SOURCE} task 0 FAILED: org.apache.kafka.connect.errors.ConnectException")
    assert "TopicAuthorizationException: Not authorized to access topics: [legacy.x]" in status.detail
    assert "WorkerSourceTask.java" not in status.detail  # no stack frames
    assert next(t for t in status.tasks if t.task == 0 and t.connector == SOURCE).trace == TRACE


def test_a_failed_connector_is_failed() -> None:
    status = mirror_status("m1", {SOURCE: body(SOURCE), CHECKPOINT: body(CHECKPOINT, "FAILED", tasks=[],
                                                                             trace="java.lang.NullPointerException")},
                           source=SOURCE)
    assert status.state is MirrorState.FAILED
    assert status.detail == f"connector {CHECKPOINT} FAILED: java.lang.NullPointerException"


def test_a_source_connector_running_without_tasks_cannot_read_the_source() -> None:
    observed = {SOURCE: body(SOURCE, tasks=[]), CHECKPOINT: body(CHECKPOINT)}
    status = mirror_status("m1", observed, source=SOURCE)
    assert status.state is MirrorState.FAILED
    assert "found none of the topics' partitions on the source cluster" in status.detail
    # Right after its configuration was put, no task yet is normal.
    assert mirror_status("m1", observed, source=SOURCE, fresh={SOURCE}).state is MirrorState.STARTING


def test_a_just_changed_configuration_is_starting_even_while_old_tasks_run() -> None:
    status = mirror_status("m1", {SOURCE: body(SOURCE), CHECKPOINT: body(CHECKPOINT)}, source=SOURCE,
                           fresh={CHECKPOINT})
    assert status.state is MirrorState.STARTING
    assert CHECKPOINT in status.detail


def test_unassigned_or_restarting_tasks_are_starting() -> None:
    restarting = [{"id": 0, "state": "RESTARTING", "worker_id": "w"}]
    status = mirror_status("m1", {SOURCE: body(SOURCE, tasks=restarting), CHECKPOINT: body(CHECKPOINT, "UNASSIGNED")},
                           source=SOURCE)
    assert status.state is MirrorState.STARTING
    assert status.detail == f"connector {CHECKPOINT} is UNASSIGNED; {SOURCE} task 0 is RESTARTING"


def test_one_connector_missing_is_starting() -> None:
    status = mirror_status("m1", {SOURCE: body(SOURCE), CHECKPOINT: None}, source=SOURCE)
    assert status.state is MirrorState.STARTING
    assert CHECKPOINT in status.detail


def test_a_paused_connector_is_stopped() -> None:
    status = mirror_status("m1", {SOURCE: body(SOURCE, "PAUSED"), CHECKPOINT: body(CHECKPOINT)}, source=SOURCE)
    assert status.state is MirrorState.STOPPED
    assert "PAUSED" in status.detail


def test_failure_wins_over_everything_else() -> None:
    failed_task = {"id": 0, "state": "FAILED", "worker_id": "w", "trace": "boom"}
    status = mirror_status("m1", {SOURCE: body(SOURCE, tasks=[failed_task]), CHECKPOINT: None},
                           source=SOURCE, fresh={SOURCE})
    assert status.state is MirrorState.FAILED


def test_first_lines_skips_frames_and_blank_lines() -> None:
    assert first_lines("\n  java.io.IOException: gone\n\tat a.b(C.java:1)\nCaused by: x\n", lines=2) == \
        "java.io.IOException: gone | Caused by: x"
    assert first_lines("") == ""


def test_scrub_removes_the_passwords_from_a_message() -> None:
    message = 'Invalid value org...ScramLoginModule required username="a" password="hunter2"; for sasl.jaas.config'
    assert scrub(message, ("hunter2", "")) == \
        'Invalid value org...ScramLoginModule required username="a" password="[redacted]"; for sasl.jaas.config'


# --- TOPICDESK_MIRROR_ENGINE=connect ------------------------------------------------------------


def test_the_factory_builds_the_connect_engine_with_basic_auth_by_reference() -> None:
    engine = mirror_engine_from_env({"TOPICDESK_MIRROR_ENGINE": "connect",
                                     "TOPICDESK_CONNECT_URL": "https://connect.internal:8083/",
                                     "TOPICDESK_CONNECT_AUTH": "env:CONNECT",
                                     "CONNECT_USERNAME": "topicdesk", "CONNECT_PASSWORD": "s3cret",
                                     "TOPICDESK_CONNECT_TIMEOUT_SECONDS": "4.5"})
    assert isinstance(engine, ConnectMirrorEngine)
    assert engine.name == "connect"
    assert engine.url == "https://connect.internal:8083"
    assert engine.timeout == 4.5
    assert engine.auth == ("topicdesk", "s3cret")
    assert "s3cret" not in repr(engine)


@pytest.mark.parametrize(("env", "message"), [
    ({}, "needs TOPICDESK_CONNECT_URL"),
    ({"TOPICDESK_CONNECT_URL": "connect:8083"}, "needs TOPICDESK_CONNECT_URL"),
    ({"TOPICDESK_CONNECT_URL": "http://c:8083", "TOPICDESK_CONNECT_AUTH": "env:NOPE"}, "NOPE_USERNAME"),
    ({"TOPICDESK_CONNECT_URL": "http://c:8083", "TOPICDESK_CONNECT_TIMEOUT_SECONDS": "0"}, "positive"),
    ({"TOPICDESK_CONNECT_URL": "http://c:8083", "TOPICDESK_CONNECT_TIMEOUT_SECONDS": "soon"}, "positive"),
])
def test_the_factory_refuses_a_bad_connect_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        mirror_engine_from_env({"TOPICDESK_MIRROR_ENGINE": "connect", **env})

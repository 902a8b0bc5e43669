"""pytest plugin: real local Kafka clusters, started by the same code as `topicdesk local up`.

Loaded from tests/conftest.py through `pytest_plugins`, or alone with
`-p tests.integration.kafka_fixtures`. Clusters that cannot start fail the tests that need them,
in CI and on a laptop alike: an integration test that skips proves nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from topicdesk.local_kafka import cluster as lk
from topicdesk.local_kafka import connect_worker as lcw
from topicdesk.local_kafka.errors import LocalKafkaError

CLUSTER_NAMES = ("it-1", "it-2")


def _running(state_dir: Path, names: list[str], what: str, **options: Any) -> Iterator[list[lk.LocalCluster]]:
    """Start `names` (a failure fails the test, never skips it), yield them, stop them and check that
    no JVM of theirs is left."""
    try:
        clusters = lk.up(names, state_dir, **options)
    except LocalKafkaError as exc:
        lk.down(state_dir)
        where = "in CI" if os.environ.get("CI") == "true" else "on this machine"
        pytest.fail(f"{what} could not start {where}: {exc.message}", pytrace=False)
    try:
        yield clusters
    finally:
        lk.down(state_dir)
        left = lk.find_jvms(state_dir)
        if left:
            pytest.fail(f"local Kafka JVMs still running after down: pids {left}", pytrace=False)


@pytest.fixture(scope="session")
def kafka_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[lk.LocalCluster]]:
    """Two running single-node clusters (SASL/SCRAM, ACLs enforced), stopped after the session."""
    yield from _running(tmp_path_factory.mktemp("local-kafka"), list(CLUSTER_NAMES), "local Kafka clusters")


@pytest.fixture(scope="session")
def kafka_cluster(kafka_clusters: list[lk.LocalCluster]) -> lk.LocalCluster:
    return kafka_clusters[0]


LEGACY_NAME = "it-legacy"
LEGACY_VERSION = "3.9"


@pytest.fixture(scope="session")
def legacy_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[lk.LocalCluster]:
    """A running single-node Kafka 3.9 cluster (SASL/SCRAM, ACLs enforced): the source of the
    migration tests, whose target is `kafka_clusters[0]` (Kafka 4.3.1). Shared by the session."""
    for (cluster,) in _running(tmp_path_factory.mktemp("local-kafka-legacy"), [LEGACY_NAME],
                               f"a local Kafka {LEGACY_VERSION} cluster", kafka_version=LEGACY_VERSION):
        yield cluster


@pytest.fixture(scope="session")
def connect_worker(kafka_clusters: list[lk.LocalCluster],
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[lcw.ConnectWorker]:
    """A running Kafka Connect distributed worker (Kafka 4.3.1, MirrorMaker 2 on its classpath)
    attached to `kafka_clusters[0]` as its admin: the production engine of the migration tests."""
    state_dir = tmp_path_factory.mktemp("local-connect")
    try:
        worker = lcw.up(kafka_clusters[0], state_dir)
    except LocalKafkaError as exc:
        lcw.down(state_dir)
        where = "in CI" if os.environ.get("CI") == "true" else "on this machine"
        pytest.fail(f"a local Kafka Connect worker could not start {where}: {exc.message}", pytrace=False)
    try:
        yield worker
    finally:
        lcw.down(state_dir)
        left = lcw.find_workers(state_dir)
        if left:
            pytest.fail(f"local Connect JVMs still running after down: pids {left}", pytrace=False)

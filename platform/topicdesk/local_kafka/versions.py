"""The Kafka releases local clusters run, and what differs between their lines.

Two lines are supported: 4.x (the default, what producer-owned clusters run) and 3.9 (the last
line with ZooKeeper support, what long-lived shared "monolith" clusters still run). Each pinned
release names the SLF4J binding its broker needs, since neither kafka_2.13 POM brings one.
"""

from __future__ import annotations

from dataclasses import dataclass

from topicdesk.local_kafka.errors import LocalKafkaError

DEFAULT_VERSION = "4.3.1"


@dataclass(frozen=True)
class Artifact:
    group: str
    artifact: str
    version: str

    @property
    def jar(self) -> str:
        return f"{self.artifact}-{self.version}.jar"


@dataclass(frozen=True)
class Release:
    version: str
    # The SLF4J 1.7 binding the broker logs through (added to the POM beside kafka_2.13), and a
    # jar the fetched set must then hold, proving binding and backend agree.
    logging: tuple[Artifact, ...]
    logging_check_jar: str


RELEASES = {
    # Kafka 4.x logs through SLF4J 1.7 into log4j2: log4j-slf4j-impl (the SLF4J-1 binding), whose
    # version must equal the log4j-core the kafka_2.13 POM pulls in.
    "4.3.1": Release("4.3.1", (Artifact("org.apache.logging.log4j", "log4j-slf4j-impl", "2.25.4"),),
                     "log4j-core-2.25.4.jar"),
    # Kafka 3.9 ships log4j 1.x as reload4j with slf4j-reload4j (its binary distribution's libs/);
    # the POM declares only slf4j-api 1.7.36. slf4j-reload4j alone would bring reload4j 1.2.19,
    # so reload4j is pinned to the 1.2.25 the 3.9 distribution ships.
    "3.9.2": Release("3.9.2", (Artifact("org.slf4j", "slf4j-reload4j", "1.7.36"),
                               Artifact("ch.qos.reload4j", "reload4j", "1.2.25")), "reload4j-1.2.25.jar"),
}
# Short names a developer may type: the newest pinned release of that line.
ALIASES = {"4": "4.3.1", "4.3": "4.3.1", "3.9": "3.9.2", "3.9.x": "3.9.2"}


def resolve_version(asked: str) -> str:
    """The pinned release for `asked` ("3.9" -> "3.9.2"), or LocalKafkaError naming the choices."""
    version = ALIASES.get(asked.strip(), asked.strip())
    if version not in RELEASES:
        raise LocalKafkaError(
            f"Kafka {asked!r} is not a release local clusters run; choose one of {', '.join(sorted(RELEASES))} "
            f"(or {', '.join(sorted(ALIASES))})"
        )
    return version


def line(version: str) -> tuple[int, int]:
    major, minor, *_ = (int(part) for part in [*version.split(".")[:2], "0"])
    return major, minor


def uses_log4j2(version: str) -> bool:
    """4.x brokers log through log4j2; 3.x through log4j 1.x (reload4j)."""
    return line(version)[0] >= 4


def dynamic_quorum(version: str) -> bool:
    """4.x formats a dynamic KRaft quorum (`--standalone` / `--initial-controllers` with
    `controller.quorum.bootstrap.servers`); 3.9 runs the static `controller.quorum.voters` list,
    which its tooling (kafka-metadata-quorum, reassignments) and its upgrade path assume."""
    return line(version)[0] >= 4

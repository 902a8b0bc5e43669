"""Apache Kafka broker jars, assembled from Maven Central into a per-user cache.

The Apache download site is not reachable from every machine the project runs on, but Maven
Central is, and it serves every jar a broker needs. The cache lives outside the work tree so a
fresh clone, `git clean` or CI checkout reuses it without network.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.sax.saxutils import escape

from topicdesk.local_kafka.errors import LocalKafkaError

KAFKA_VERSION = "4.3.1"
SCALA_VERSION = "2.13"
# Kafka 4.x still logs through SLF4J 1.7, so the broker needs the log4j2 binding for SLF4J 1
# (log4j-slf4j-impl, not log4j-slf4j2-impl). Its version must equal the log4j-core that the
# kafka_2.13 POM pulls in, or the API/core pair disagree at runtime.
LOG4J_VERSIONS = {"4.3.1": "2.25.4"}
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
MARKER_NAME = ".topicdesk-complete"
MVN_TIMEOUT_SECONDS = 900


def cache_root_default() -> Path:
    env = os.environ.get("TOPICDESK_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "topicdesk"


def libs_dir(version: str = KAFKA_VERSION, cache_root: Path | None = None) -> Path:
    return (cache_root or cache_root_default()) / f"kafka-{version}" / "libs"


def is_cached(version: str = KAFKA_VERSION, cache_root: Path | None = None) -> bool:
    return _complete(libs_dir(version, cache_root))


def pom_xml(version: str, log4j_version: str) -> str:
    v = escape(version)
    l4j = escape(log4j_version)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.topicdesk.local</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>{v}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{SCALA_VERSION}</artifactId>
      <version>{v}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{l4j}</version>
    </dependency>
  </dependencies>
</project>
"""


def ensure_kafka_libs(
    version: str = KAFKA_VERSION,
    cache_root: Path | None = None,
    *,
    maven_settings: Path | None = None,
    log4j_version: str | None = None,
) -> Path:
    """Return the folder holding every runtime jar of Kafka `version`, fetching it once.

    A complete cache is recognised by its marker file alone, so a second call needs neither
    network nor Maven. A fetch that fails or is interrupted leaves no folder at the final path.
    """
    final = libs_dir(version, cache_root)
    if _complete(final):
        return final
    l4j = log4j_version or LOG4J_VERSIONS.get(version)
    if l4j is None:
        raise LocalKafkaError(
            f"no log4j version is pinned for Kafka {version}; pass log4j_version "
            f"(the log4j-core version that org.apache.kafka:kafka_{SCALA_VERSION}:{version} depends on)"
        )
    parent = final.parent
    parent.parent.mkdir(parents=True, exist_ok=True)
    # The lock is the cache root folder itself, so a failed fetch leaves not even a lock file.
    with _exclusive(parent.parent):
        # Another process may have finished the same fetch while this one waited for the lock.
        if _complete(final):
            return final
        parent.mkdir(exist_ok=True)
        _remove_leftovers(parent, final)
        staging = Path(tempfile.mkdtemp(prefix=".libs-staging-", dir=parent))
        committed = False
        try:
            out = staging / "libs"
            (staging / "pom.xml").write_text(pom_xml(version, l4j), encoding="utf-8")
            _run_maven(staging, out, version, final, maven_settings)
            jars = sorted(p.name for p in out.glob("*.jar"))
            if not any(j.startswith(f"kafka_{SCALA_VERSION}-") for j in jars):
                raise LocalKafkaError(
                    f"Maven finished but the Kafka {version} broker jar kafka_{SCALA_VERSION}-{version}.jar "
                    f"is missing from the fetched set; cache {final} left empty"
                )
            if f"log4j-core-{l4j}.jar" not in jars:
                found = [j for j in jars if j.startswith("log4j-core-")]
                raise LocalKafkaError(
                    f"Kafka {version} pulls {found or 'no log4j-core'}, but log4j-slf4j-impl {l4j} was "
                    f"pinned; fix LOG4J_VERSIONS for {version} (cache {final} left empty)"
                )
            # The marker is written before the rename, so the rename is the single commit point.
            (out / MARKER_NAME).write_text("\n".join(jars) + "\n", encoding="utf-8")
            os.rename(out, final)
            committed = True
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if not committed and not any(parent.iterdir()):
                parent.rmdir()
    return final


def _complete(libs: Path) -> bool:
    """The marker exists and every jar it lists is still there (a stat per jar, no network)."""
    try:
        listed = (libs / MARKER_NAME).read_text(encoding="utf-8").split()
    except OSError:
        return False
    return bool(listed) and all((libs / jar).is_file() for jar in listed)


def _run_maven(workdir: Path, out: Path, version: str, final: Path, settings: Path | None) -> None:
    mvn = shutil.which("mvn")
    what = (
        f"Kafka {version} jars (org.apache.kafka:kafka_{SCALA_VERSION}:{version} and its runtime "
        f"dependencies from Maven Central)"
    )
    if mvn is None:
        raise LocalKafkaError(
            f"cannot fetch {what}: 'mvn' is not on PATH; install Maven (apt-get install maven) "
            f"or fill the cache {final} on a machine that has it"
        )
    cmd = [mvn, "-q", "-B", "-Dstyle.color=never"]
    if settings is not None:
        cmd += ["-s", str(settings)]
    cmd += [
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={out}",
    ]
    try:
        proc = subprocess.run(
            cmd,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=MVN_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LocalKafkaError(
            f"cannot fetch {what}: mvn did not finish within {MVN_TIMEOUT_SECONDS}s; "
            f"cache {final} left empty"
        ) from exc
    if proc.returncode != 0:
        tail = _mvn_error_tail(proc.stdout + "\n" + proc.stderr)
        raise LocalKafkaError(
            f"cannot fetch {what} into cache {final}: mvn exited {proc.returncode}: {tail}"
        )


def _mvn_error_tail(output: str, max_lines: int = 2, max_chars: int = 600) -> str:
    lines = [_ANSI.sub("", ln).strip() for ln in output.splitlines()]
    errors = [
        ln.removeprefix("[ERROR]").removesuffix("-> [Help 1]").strip()
        for ln in lines
        if ln.startswith("[ERROR]")
    ]
    # Maven closes with generic advice (re-run with -e/-X, help links); the cause comes first.
    useful = [ln for ln in errors if ln and not any(noise in ln for noise in _MVN_NOISE)]
    picked = useful[:max_lines] if useful else [ln for ln in lines if ln][-max_lines:]
    text = " | ".join(picked)
    if not text:
        return "(mvn printed nothing)"
    return text if len(text) <= max_chars else text[:max_chars] + "..."


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MVN_NOISE = ("-e switch", "-X switch", "For more information about the errors", "[Help 1] http")


def _remove_leftovers(parent: Path, final: Path) -> None:
    # Staging folders of an interrupted fetch, or a final folder without its marker (written by
    # something other than this code), are not trusted.
    for p in parent.glob(".libs-staging-*"):
        shutil.rmtree(p, ignore_errors=True)
    if final.exists():
        shutil.rmtree(final)


@contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

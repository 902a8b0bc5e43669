"""Apache Kafka broker jars, assembled from Maven Central into a per-user cache.

The Apache download site is not reachable from every machine the project runs on, but Maven
Central is, and it serves every jar a broker needs. The cache lives outside the work tree so a
fresh clone, `git clean` or CI checkout reuses it without network. Per release it holds:

    <cache>/kafka-<version>/libs/          the broker (kafka_2.13 and its runtime dependencies)
    <cache>/kafka-<version>/mirror-libs/   MirrorMaker 2 (connect-mirror, connect-runtime, ...),
                                           a classpath of its own: Connect brings Jetty and
                                           Jersey, which a broker has no use for
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
from topicdesk.local_kafka.versions import DEFAULT_VERSION, RELEASES, Artifact, resolve_version

KAFKA_VERSION = DEFAULT_VERSION
SCALA_VERSION = "2.13"
# What MirrorMaker 2 needs beside connect-mirror, all of the broker's release.
MIRROR_ARTIFACTS = ("connect-mirror", "connect-mirror-client", "connect-runtime", "connect-json",
                    "connect-transforms")
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
MARKER_NAME = ".topicdesk-complete"
MVN_TIMEOUT_SECONDS = 900


def cache_root_default() -> Path:
    env = os.environ.get("TOPICDESK_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "topicdesk"


def libs_dir(version: str = KAFKA_VERSION, cache_root: Path | None = None) -> Path:
    return (cache_root or cache_root_default()) / f"kafka-{version}" / "libs"


def mirror_libs_dir(version: str = KAFKA_VERSION, cache_root: Path | None = None) -> Path:
    return (cache_root or cache_root_default()) / f"kafka-{version}" / "mirror-libs"


def tools_libs_dir(version: str = KAFKA_VERSION, cache_root: Path | None = None) -> Path:
    return (cache_root or cache_root_default()) / f"kafka-{version}" / "tools-libs"


def is_cached(version: str = KAFKA_VERSION, cache_root: Path | None = None) -> bool:
    return _complete(libs_dir(version, cache_root))


def broker_artifacts(version: str) -> list[Artifact]:
    release = RELEASES[resolve_version(version)]
    return [Artifact("org.apache.kafka", f"kafka_{SCALA_VERSION}", release.version), *release.logging]


def mirror_artifacts(version: str) -> list[Artifact]:
    release = RELEASES[resolve_version(version)]
    return [*(Artifact("org.apache.kafka", a, release.version) for a in MIRROR_ARTIFACTS), *release.logging]


def pom_xml(version: str, artifacts: list[Artifact], purpose: str = "broker") -> str:
    deps = "".join(
        f"""    <dependency>
      <groupId>{escape(a.group)}</groupId>
      <artifactId>{escape(a.artifact)}</artifactId>
      <version>{escape(a.version)}</version>
    </dependency>
""" for a in artifacts)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.topicdesk.local</groupId>
  <artifactId>kafka-{escape(purpose)}-libs</artifactId>
  <version>{escape(version)}</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}  </dependencies>
</project>
"""


def ensure_kafka_libs(
    version: str = KAFKA_VERSION,
    cache_root: Path | None = None,
    *,
    maven_settings: Path | None = None,
) -> Path:
    """Return the folder holding every runtime jar of the Kafka `version` broker, fetching it once.

    A complete cache is recognised by its marker file alone, so a second call needs neither
    network nor Maven. A fetch that fails or is interrupted leaves no folder at the final path.
    """
    version = resolve_version(version)
    required = [f"kafka_{SCALA_VERSION}-{version}.jar", RELEASES[version].logging_check_jar]
    return _ensure(libs_dir(version, cache_root), version, broker_artifacts(version), required,
                   "broker", maven_settings)


def ensure_mirror_libs(
    version: str = KAFKA_VERSION,
    cache_root: Path | None = None,
    *,
    maven_settings: Path | None = None,
) -> Path:
    """The folder holding MirrorMaker 2 (connect-mirror and Connect's runtime) of Kafka `version`."""
    version = resolve_version(version)
    required = [f"connect-mirror-{version}.jar", f"connect-runtime-{version}.jar",
                RELEASES[version].logging_check_jar]
    return _ensure(mirror_libs_dir(version, cache_root), version, mirror_artifacts(version), required,
                   "mirror", maven_settings)


def ensure_tools_libs(
    version: str = KAFKA_VERSION,
    cache_root: Path | None = None,
    *,
    maven_settings: Path | None = None,
) -> Path:
    """The folder holding Kafka's own command-line tools of `version` (kafka-tools: TopicCommand,
    AclCommand, ConfigCommand, ...), which the broker jars do not include; tests read clusters with them."""
    version = resolve_version(version)
    release = RELEASES[version]
    return _ensure(tools_libs_dir(version, cache_root), version,
                   [Artifact("org.apache.kafka", "kafka-tools", release.version), *release.logging],
                   [f"kafka-tools-{version}.jar", release.logging_check_jar], "tools", maven_settings)


def _ensure(final: Path, version: str, artifacts: list[Artifact], required: list[str], purpose: str,
            maven_settings: Path | None) -> Path:
    if _complete(final):
        return final
    parent = final.parent
    parent.parent.mkdir(parents=True, exist_ok=True)
    # The lock is the cache root folder itself, so a failed fetch leaves not even a lock file.
    with _exclusive(parent.parent):
        # Another process may have finished the same fetch while this one waited for the lock.
        if _complete(final):
            return final
        parent.mkdir(exist_ok=True)
        _remove_leftovers(parent, final)
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-staging-", dir=parent))
        committed = False
        try:
            out = staging / "libs"
            (staging / "pom.xml").write_text(pom_xml(version, artifacts, purpose), encoding="utf-8")
            _run_maven(staging, out, version, final, maven_settings, artifacts)
            jars = sorted(p.name for p in out.glob("*.jar"))
            missing = [j for j in required if j not in jars]
            if missing:
                prefixes = {j.rsplit("-", 1)[0] + "-" for j in missing}
                found = [j for j in jars if any(j.startswith(p) for p in prefixes)]
                raise LocalKafkaError(
                    f"Maven finished but the Kafka {version} {purpose} jars {', '.join(missing)} are missing "
                    f"from the fetched set (found {', '.join(found) or 'none of that name'}); fix the "
                    f"pins in local_kafka/versions.py (cache {final} left empty)"
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


def _run_maven(workdir: Path, out: Path, version: str, final: Path, settings: Path | None,
               artifacts: list[Artifact]) -> None:
    mvn = shutil.which("mvn")
    what = (
        f"Kafka {version} jars ({artifacts[0].group}:{artifacts[0].artifact}:{version} and its runtime "
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
    for p in parent.glob(f".{final.name}-staging-*"):
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

"""A throwaway PostgreSQL server on loopback for tests and the demo, from Debian's packages.

PostgreSQL refuses to run as root, so when we are root the data directory belongs to the
`postgres` system user (created by the Debian package) and the server runs as that user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from topicdesk.ports import free_port, port_is_free


class LocalPostgresError(RuntimeError):
    pass


def find_pg_bindir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for bindir in candidates:
        if (bindir / "pg_ctl").exists() and (bindir / "initdb").exists():
            return bindir
    return None


def ensure_postgres_installed() -> Path:
    """Install the Debian server package when it is missing (the machines here run as root)."""
    bindir = find_pg_bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0:
        raise LocalPostgresError("PostgreSQL server binaries are missing; install the 'postgresql' package")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
        result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise LocalPostgresError(f"'{' '.join(args)}' failed: {tail[0]}")
    bindir = find_pg_bindir()
    if bindir is None:
        raise LocalPostgresError("installed 'postgresql' but found no server binaries under /usr/lib/postgresql")
    # Debian's package starts a system cluster on port 5432; ours run on their own ports, so stop it.
    subprocess.run(["service", "postgresql", "stop"], capture_output=True, check=False)
    return bindir


@dataclass
class LocalPostgres:
    data_dir: Path
    port: int
    bindir: Path
    user: str = "postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise LocalPostgresError(f"{Path(args[-1]).name if args else ''}: {result.stderr.strip()}")
        return result

    def start(self) -> None:
        if os.geteuid() == 0:
            # The parent must be traversable by the postgres user.
            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self.data_dir.parent, 0o755)  # noqa: S103 (only traversal; the data dir stays 0700)
        if not (self.data_dir / "PG_VERSION").exists():
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)  # a half-initialised dir from a crashed run
            self.data_dir.mkdir(parents=True)
            if os.geteuid() == 0:
                shutil.chown(self.data_dir, "postgres", "postgres")
            self._run([str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", self.user,
                       "--auth=trust", "-E", "UTF8", "--no-sync"])
        log = self.data_dir / "server.log"
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.data_dir}"
                   " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        result = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(log),
                            "-o", options, "-w", "-t", "60", "start"], check=False)
        if result.returncode != 0:
            detail = log.read_text()[-500:] if log.exists() else result.stderr
            if not port_is_free("127.0.0.1", self.port):
                detail = f"port {self.port} is already in use. {detail}"
            raise LocalPostgresError(f"PostgreSQL did not start on 127.0.0.1:{self.port}: {detail.strip()}")

    def create_database(self, name: str) -> None:
        if not name.replace("_", "").isalnum():
            raise LocalPostgresError(f"database name {name!r} must be letters, digits and underscores")
        deadline = time.monotonic() + 30
        while True:
            exists_query = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"  # noqa: S608 (name checked above)
            result = self._run([str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                                self.user, "-d", "postgres", "-tAc", exists_query], check=False)
            if result.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise LocalPostgresError(f"PostgreSQL on port {self.port} does not answer: {result.stderr}")
            time.sleep(0.3)
        if result.stdout.strip() != "1":
            self._run([str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                       name])

    def stop(self) -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                  check=False)


def start_local_postgres(data_dir: Path, port: int | None = None) -> LocalPostgres:
    server = LocalPostgres(data_dir=data_dir, port=port or free_port(), bindir=ensure_postgres_installed())
    server.start()
    return server

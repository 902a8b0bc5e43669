"""What the CLI sends with a desired-state file: its content type and its source name."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath

YAML_SUFFIXES = (".yaml", ".yml")


def content_type_for(path: str) -> str:
    """The file's bytes are sent as they are; the extension says how the server parses them."""
    return "application/yaml" if path.lower().endswith(YAML_SUFFIXES) else "application/json"


def repository_name(remote_url: str | None, toplevel: str) -> str:
    """`acme/payments-topics` from the origin remote (https, ssh or scp-like, GitLab subgroups kept),
    else the checkout directory's name."""
    if remote_url:
        url = remote_url.strip()
        match = re.match(r"^[\w.-]+@[\w.-]+:(?P<path>[^/].*)$", url)  # git@github.com:acme/repo.git
        if match is None:
            match = re.match(r"^[a-z][a-z0-9+.-]*://[^/]+/(?P<path>.+)$", url)
        if match is not None:
            path = match.group("path").rstrip("/").removesuffix(".git").strip("/")
            if path:
                return path
    return PurePosixPath(toplevel.rstrip("/")).name or toplevel


def source_name(given_path: str, *, toplevel: str | None, remote_url: str | None, cwd: str) -> str:
    """`<repository>:<path from the repository root>` inside a git checkout, else the path as given.

    The same file gives the same name from any working directory, so a CI job and a laptop agree on
    which file manages a resource."""
    if toplevel is None:
        return given_path
    absolute = Path(cwd, given_path).resolve()
    try:
        relative = absolute.relative_to(Path(toplevel).resolve())
    except ValueError:  # a file outside the checkout (e.g. a temporary file)
        return given_path
    return f"{repository_name(remote_url, toplevel)}:{relative.as_posix()}"


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None  # no git on PATH: fall back to the path as given
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def derive_source(given_path: str) -> str:
    """The default `source` of a file: asks git about the directory the file is in."""
    folder = Path(given_path).resolve().parent
    toplevel = _git(["rev-parse", "--show-toplevel"], folder)
    remote = _git(["remote", "get-url", "origin"], folder) if toplevel else None
    return source_name(given_path, toplevel=toplevel, remote_url=remote, cwd=str(Path.cwd()))

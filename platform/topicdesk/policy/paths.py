"""Dotted paths into the evaluation document, as written in policy files and rule messages.

`proposed.config.min.insync.replicas` walks proposed -> config and then, as no key "min" leads
anywhere, joins the following parts into the key "min.insync.replicas": config names with dots need
no escaping. `*` stands for every item of a list: `request.spec.consumers.*.principal`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

DOCUMENT_ROOTS: Final = frozenset({"request", "requester", "cluster", "topic", "proposed", "ownership", "grant",
                                   "evidence", "migration"})


class _Missing:
    """The value at a path that leads nowhere (distinct from a JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


@dataclass(frozen=True)
class DocumentPath:
    text: str
    segments: tuple[str, ...]

    @classmethod
    def parse(cls, text: str, roots: frozenset[str] = DOCUMENT_ROOTS) -> DocumentPath:
        segments = tuple(text.split("."))
        if not text or any(not s for s in segments):
            raise ValueError(f"{text!r} is not a dotted path")
        if segments[0] not in roots:
            raise ValueError(f"{text!r} must start with one of {', '.join(sorted(roots))}")
        return cls(text, segments)

    @property
    def has_wildcard(self) -> bool:
        return "*" in self.segments

    def value(self, document: Mapping[str, Any]) -> Any:
        """The one value at this path, or MISSING (a path with * gives its first value)."""
        found: list[Any] = []
        _walk(document, self.segments, 0, found, first_only=True)
        return found[0] if found else MISSING

    def values(self, document: Mapping[str, Any]) -> list[Any]:
        """Every value at this path (each list item for a *); empty when the path leads nowhere."""
        found: list[Any] = []
        _walk(document, self.segments, 0, found, first_only=False)
        return found


def _walk(node: Any, segments: Sequence[str], start: int, found: list[Any], *, first_only: bool) -> None:
    if start == len(segments):
        found.append(node)
        return
    segment = segments[start]
    if segment == "*":
        if isinstance(node, list):
            for item in node:
                _walk(item, segments, start + 1, found, first_only=first_only)
                if first_only and found:
                    return
        return
    if isinstance(node, Mapping):
        # One segment per key first; when that leads nowhere, keys holding dots (config names such as
        # "min.insync.replicas") are tried by joining the following segments.
        before = len(found)
        if segment in node:
            _walk(node[segment], segments, start + 1, found, first_only=first_only)
            if len(found) > before:
                return
        stop = start + 2
        while stop <= len(segments) and segments[stop - 1] != "*":
            key = ".".join(segments[start:stop])
            if key in node:
                _walk(node[key], segments, stop, found, first_only=first_only)
                if len(found) > before:
                    return
            stop += 1
    elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
        _walk(node[int(segment)], segments, start + 1, found, first_only=first_only)

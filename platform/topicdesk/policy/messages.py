"""Rule messages: text written for the requester with {path} placeholders, compiled at load time.

`{request.spec.partitions}` inserts a value of the evaluation document; `{check.required_bytes}`
one of the check's findings; `{params.max_per_broker}` one of the rule's params. A `|bytes` or
`|duration` suffix formats bytes (IEC units) or milliseconds; a path with `*` lists every value
(`{topic.grants.*.principal}`). `{{` and `}}` are literal braces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from topicdesk.policy.builtins import as_number
from topicdesk.policy.paths import DOCUMENT_ROOTS, MISSING, DocumentPath

MESSAGE_ROOTS: Final = DOCUMENT_ROOTS | {"check", "params"}
NOT_SET: Final = "(not set)"

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def _number(value: Any) -> float | None:
    number = as_number(value)
    return None if number is None else float(number)


def format_bytes(value: Any) -> str:
    number = _number(value)
    if number is None:
        return format_value(value)
    if number < 0:
        return "unlimited"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(number) < 1024 or unit == "PiB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}".replace(".0 ", " ")
        number /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_duration(value: Any) -> str:
    number = _number(value)
    if number is None:
        return format_value(value)
    if number < 0:
        return "unlimited"
    seconds = number / 1000
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            amount = seconds / size
            text = f"{amount:.0f}" if amount == int(amount) else f"{amount:.1f}"
            return f"{text} {unit}{'' if text == '1' else 's'}"
    text = f"{seconds:.0f}" if seconds == int(seconds) else f"{seconds:.1f}"
    return f"{text} second{'' if text == '1' else 's'}"


def format_value(value: Any) -> str:
    if value is MISSING or value is None:
        return NOT_SET
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


FORMATTERS: Final[Mapping[str, Callable[[Any], str]]] = {
    "bytes": format_bytes,
    "duration": format_duration,
}


@dataclass(frozen=True)
class _Slot:
    path: DocumentPath
    formatter: Callable[[Any], str]


@dataclass(frozen=True)
class MessageTemplate:
    text: str
    parts: tuple[str | _Slot, ...]

    @classmethod
    def compile(cls, text: str) -> MessageTemplate:
        """Parse once; a ValueError names the broken placeholder."""
        parts: list[str | _Slot] = []
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            parts.append(text[position : match.start()])
            position = match.end()
            token = match.group(0)
            if token in ("{{", "}}"):
                parts.append(token[0])
                continue
            if token in ("{", "}"):
                raise ValueError(f"unmatched {token!r} at character {match.start()}; write {token * 2} for a brace")
            inner = (match.group(1) or "").strip()
            path_text, _, formatter_name = inner.partition("|")
            formatter: Callable[[Any], str] = format_value
            if formatter_name:
                if formatter_name.strip() not in FORMATTERS:
                    raise ValueError(
                        f"unknown format {formatter_name.strip()!r} in {{{inner}}}; known: {', '.join(FORMATTERS)}"
                    )
                formatter = FORMATTERS[formatter_name.strip()]
            parts.append(_Slot(DocumentPath.parse(path_text.strip(), MESSAGE_ROOTS), formatter))
        parts.append(text[position:])
        return cls(text, tuple(part for part in parts if part != ""))

    @property
    def paths(self) -> tuple[DocumentPath, ...]:
        return tuple(part.path for part in self.parts if isinstance(part, _Slot))

    def render(self, document: Mapping[str, Any], check: Mapping[str, Any], params: Mapping[str, Any]) -> str:
        roots = {"check": check, "params": params}
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            root = part.path.segments[0]
            source: Mapping[str, Any] = {root: roots[root]} if root in roots else document
            if part.path.has_wildcard:
                values = part.path.values(source)
                out.append(", ".join(part.formatter(value) for value in values) if values else NOT_SET)
            else:
                out.append(part.formatter(part.path.value(source)))
        return "".join(out)

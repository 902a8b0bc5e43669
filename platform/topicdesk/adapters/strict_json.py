"""JSON text read strictly: one meaning per text, bounded before it is parsed, and nothing a database
or a reader would take differently from what was sent.

Both the API's JSON bodies (api/body.py) and desired-state files (adapters/desired_file_format.py)
read JSON through here. Refused:

- nesting deeper than MAX_DEPTH, found by a scan over the text before the recursive parser runs;
- NaN / Infinity / -Infinity (not JSON; other parsers refuse them) and numbers that overflow a
  float (1e999 would become Infinity) or a 64-bit integer (the database columns and Kafka's);
- duplicate keys (readers disagree on which one counts); each is reported with its pointer;
- in every string and key: lone surrogates (\\ud800 is valid JSON but no UTF-8: PostgreSQL refuses
  it, SQLite stores junk); in keys and in every value except free text: every control character
  (C0 with NUL, tab and newline; DEL; C1) and invisible format characters (zero-width, bidi
  controls, soft hyphen, BOM) that make two different names look alike, or `name\\n` pass a `$`
  anchored pattern; in free text (FREE_TEXT_KEYS): controls other than tab, CR and LF, and the bidi
  embedding/override/isolate controls that make text display in another order than it is stored.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from topicdesk.domain.errors import FieldError

MAX_DEPTH = 32
INT64 = 2**63
# Values of these keys are prose for people (a request's reason, a topic's description, an approval's
# comment, a drift triage's reason): line breaks and tabs are fine there.
# A data contract's `schema` is the text of an Avro/Protobuf/JSON schema, indented as its author wrote it.
FREE_TEXT_KEYS = frozenset({"reason", "description", "comment", "schema"})

# Unicode's Cf (format) characters, as listed in Unicode 15; with every control and the surrogates.
_FORMAT = ("\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
           "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
           "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f")
_REFUSED_IN_NAMES = f"\x00-\x1f\x7f-\x9f{_FORMAT}"
_NOT_IN_NAMES = re.compile(f"[{_REFUSED_IN_NAMES}\ud800-\udfff]")
# The same rule as a JSON Schema pattern that finds a refused character (the OpenAPI document's path
# and query strings say `"not": {"pattern": ...}`: no anchors, so no `$` that Python lets match
# before a final newline). A lone surrogate cannot arrive in a URL: percent-decoding yields UTF-8.
REFUSED_CHARACTER_PATTERN = f"[{_REFUSED_IN_NAMES}]"
_NOT_IN_FREE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_SIGNIFICANT = re.compile(rb'["\\\[\]{}]')


class JsonRefused(ValueError):
    """The text is not JSON we read (syntax, depth, NaN); `line`/`column` where the parser knows it."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


def deeper_than(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays/objects nest past `limit`, counted outside strings, without parsing.

    Linear in the number of quotes, backslashes and brackets; texts with fewer brackets than the
    limit (nearly every body) are not scanned at all.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth, in_string, skip_to = 0, False, -1
    for match in _SIGNIFICANT.finditer(raw):
        at = match.start()
        if at < skip_to:  # the character after a backslash
            continue
        char = raw[at]
        if in_string:
            if char == 0x5C:  # backslash: the next character is escaped
                skip_to = at + 2
            elif char == 0x22:
                in_string = False
        elif char == 0x22:
            in_string = True
        elif char in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif char in (0x5D, 0x7D):
            depth -= 1
    return False


class _Duplicated(dict[str, Any]):
    """An object in which a key appeared more than once (the walk reports each such key's pointer)."""

    duplicates: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    duplicates = []
    for key, value in pairs:
        if key in result:
            duplicates.append(key)
        result[key] = value
    if not duplicates:
        return result
    marked = _Duplicated(result)
    marked.duplicates = duplicates
    return marked


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads with the depth bound and without NaN/Infinity; raises JsonRefused.

    Duplicate keys do not raise here: `problems` reports each with its pointer.
    """
    if deeper_than(text.encode("utf-8", "surrogatepass"), max_depth):
        raise JsonRefused(f"nested deeper than {max_depth} levels of arrays and objects")
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})", exc.lineno,
                          exc.colno) from exc
    except RecursionError as exc:  # unreachable past the depth scan; kept so that it can never be a 500
        raise JsonRefused("nested too deeply") from exc
    except ValueError as exc:  # NaN/Infinity, an integer of more than 4300 digits
        raise JsonRefused(f"not valid JSON: {exc}") from exc


def decode(raw: bytes) -> str:
    """UTF-8 text (a leading BOM is dropped, as RFC 8259 section 8.1 allows); JsonRefused otherwise."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JsonRefused(f"the body is not UTF-8 (byte {exc.start} is not valid UTF-8)") from exc


@dataclass(frozen=True)
class Problems:
    """What a parsed document has that the API does not take, each with its JSON pointer."""

    duplicate_keys: list[FieldError]  # the text is ambiguous
    refused_values: list[FieldError]  # characters and numbers no field takes

    @property
    def all(self) -> list[FieldError]:
        return sorted([*self.duplicate_keys, *self.refused_values], key=lambda error: error.path)


def problems(document: Any, *, free_text_keys: frozenset[str] = FREE_TEXT_KEYS) -> Problems:
    """Every duplicate key, refused character and out-of-range number of a document from loads()."""
    found = Problems([], [])
    for duplicate, error in _walk(document, free_text_keys):
        (found.duplicate_keys if duplicate else found.refused_values).append(error)
    return found


def refused_character(value: str, *, free_text: bool = False) -> str | None:
    """The first character `value` may not contain (as U+XXXX, with its position), or None."""
    found = (_NOT_IN_FREE_TEXT if free_text else _NOT_IN_NAMES).search(value)
    return None if found is None else f"{_name(found.group())} at position {found.start()}"


def _walk(document: Any, free_text_keys: frozenset[str]) -> Iterator[tuple[bool, FieldError]]:
    # Iterative: the depth is bounded already, but a walk must not be what breaks if it was not.
    stack: list[tuple[str, str | None, Any]] = [("", None, document)]
    while stack:
        path, key, value = stack.pop()
        if isinstance(value, dict):
            for duplicate in getattr(value, "duplicates", ()):
                yield True, FieldError(f"{path}/{_escape(duplicate)}",
                                 f"the key {duplicate!r} appears twice in the same object; JSON readers disagree "
                                 "on which one counts, so send it once")
            for child_key, child in reversed(value.items()):
                child_path = f"{path}/{_escape(child_key)}"
                found = _NOT_IN_NAMES.search(child_key)
                if found:
                    yield False, FieldError(child_path, f"the key has the character {_name(found.group())} at "
                                                 f"position {found.start()}; keys cannot contain it")
                stack.append((child_path, child_key, child))
        elif isinstance(value, list):
            stack.extend((f"{path}/{index}", None, child) for index, child in reversed(list(enumerate(value))))
        elif isinstance(value, str):
            pattern = _NOT_IN_FREE_TEXT if key in free_text_keys else _NOT_IN_NAMES
            found = pattern.search(value)
            if found:
                yield False, FieldError(path, f"has the character {_name(found.group())} at position {found.start()}, "
                                       "which this field cannot contain")
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and not -INT64 <= value < INT64:
            yield False, FieldError(path, "is outside the 64-bit integer range")
        elif isinstance(value, float) and not math.isfinite(value):
            yield False, FieldError(path, "is too large for a number")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _name(char: str) -> str:
    return f"U+{ord(char):04X}"

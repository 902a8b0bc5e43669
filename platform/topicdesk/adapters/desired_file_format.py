"""Desired-state files as bytes: YAML or JSON in, a plain JSON document out, every error located.

Both formats come out as the same JSON value (objects, lists, strings, numbers, true/false, null)
and go through schemas/desired-state.json; each error names its JSON pointer and, where the file
has the node, its 1-based line and column (a pointer to something missing points at its parent).

YAML is read as data, never as objects (PyYAML's event stream only: no constructors run), and the
features that make a file mean something else than it says to a reader, or to another YAML tool,
are refused with their line:

- duplicate keys (most parsers keep the last one silently; JSON files are checked too);
- anchors, aliases and merge keys (`&x`, `*x`, `<<:`): one edit changes several resources;
- tags (`!!str`, `!custom`): quote a string instead;
- more than one document (`---` between two): one file is one team on one cluster;
- plain scalars that YAML 1.1 and YAML 1.2 read differently: yes/no/on/off (true/false in 1.1,
  strings in 1.2), numbers with a leading zero, 0x/0o/0b, `_` separators or `:` sexagesimals,
  .inf/.nan. Quote them (`"on"`, `"0755"`) or write true/false, a plain decimal.
- non-scalar mapping keys and nesting deeper than MAX_DEPTH.

Other plain scalars follow YAML 1.2's core schema: null/~/empty, true/false, decimal integers and
floats; everything else (dates included) is a string.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from topicdesk.adapters import strict_json
from topicdesk.domain.errors import FieldError, TopicdeskError, UnsupportedMediaType, ValidationFailed
from topicdesk.schemas import DESIRED_STATE_SCHEMA_ID, SchemaSet, default_schemas, json_pointer

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
ACCEPTED_TYPES = (*JSON_TYPES, *YAML_TYPES)
MAX_DEPTH = strict_json.MAX_DEPTH

Position = tuple[int, int]  # 1-based line and column

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it: same events


@dataclass(frozen=True)
class ParsedFile:
    """The file as a JSON document, and where each of its nodes is (by JSON pointer)."""

    document: dict[str, Any]
    positions: Callable[[], dict[str, Position]]

    def locate(self, errors: list[FieldError]) -> list[FieldError]:
        """The errors with the line and column of their pointer's node, or of its nearest ancestor."""
        if not errors:
            return errors
        known = self.positions()
        located = []
        for error in errors:
            if error.line is not None:
                located.append(error)
                continue
            at = _nearest(known, error.path)
            located.append(error if at is None else FieldError(error.path, error.message, at[0], at[1]))
        return located


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header; 415 for one this endpoint does not read."""
    bare, _, params = (content_type or "").partition(";")
    kind = bare.strip().lower() or "application/json"  # no Content-Type: JSON, as before YAML was read
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", params, re.IGNORECASE)
    if kind not in ACCEPTED_TYPES:
        hint = " (curl -d sends form data: add -H 'Content-Type: application/yaml')" \
            if kind == "application/x-www-form-urlencoded" else ""
        raise UnsupportedMediaType(f"a desired-state file is sent as JSON or YAML, not {kind}{hint}; use "
                                   f"Content-Type: {', '.join(ACCEPTED_TYPES)}", accepted=ACCEPTED_TYPES)
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"desired-state files are UTF-8, not {charset.group(1)}", accepted=ACCEPTED_TYPES)
    return kind


def parse_desired_file(raw: bytes, content_type: str, schemas: SchemaSet | None = None) -> dict[str, Any]:
    """The file as a JSON document, checked against schemas/desired-state.json.

    Raises UnsupportedMediaType (415) for a content type other than JSON or YAML and
    ValidationFailed (422) listing every problem with its pointer, line and column.
    """
    return parse_located(raw, content_type, schemas).document


def parse_located(raw: bytes, content_type: str | None, schemas: SchemaSet | None = None, *,
                  validate: bool = True) -> ParsedFile:
    """parse_desired_file, keeping the node positions so that later errors can be located too.

    validate=False leaves the schema to the caller (the desired-state service checks it anyway, and
    on a file of thousands of topics validating takes seconds: not twice); locate its errors with
    locate_errors.
    """
    kind = media_type(content_type)
    text = _text(raw)
    parsed = _parse_json(text) if kind in JSON_TYPES else _parse_yaml(text)
    # NUL and other controls, invisible characters in names, numbers past 64 bits: as in JSON bodies.
    refused = strict_json.problems(parsed.document).refused_values
    if refused:
        count = f"{len(refused)} problems" if len(refused) > 1 else "1 problem"
        raise ValidationFailed(f"the desired-state file has values Topicdesk does not accept: {count}",
                               errors=parsed.locate(refused))
    if not validate:
        return parsed
    errors = parsed.locate((schemas or default_schemas()).errors(DESIRED_STATE_SCHEMA_ID, parsed.document))
    if errors:
        count = f"{len(errors)} problems" if len(errors) > 1 else "1 problem"
        raise ValidationFailed(f"the desired-state file does not match its schema: {count}", errors=errors)
    return parsed


def locate_errors(error: TopicdeskError, parsed: ParsedFile) -> TopicdeskError:
    """The same error with its field errors located in the file (raised by a service after parsing)."""
    if error.errors:
        error.errors = parsed.locate(error.errors)
    return error


def _refused(message: str, path: str = "", at: Position | None = None) -> ValidationFailed:
    where = f" (line {at[0]})" if at else ""
    return ValidationFailed(f"the desired-state file cannot be read{where}: {message}",
                            errors=[FieldError(path, message, *(at or (None, None)))])


def _text(raw: bytes) -> str:
    if not raw.strip():
        raise _refused("the file is empty; send the desired-state file as the request body")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refused(f"the file is not UTF-8 (byte {exc.start} is not valid UTF-8)") from exc


def _nearest(known: dict[str, Position], path: str) -> Position | None:
    while True:
        if path in known:
            return known[path]
        if not path:
            return None
        path = path.rsplit("/", 1)[0]


def _top_level(document: Any, at: Position | None) -> dict[str, Any]:
    if not isinstance(document, dict):
        shown = "a list" if isinstance(document, list) else "a single value"
        raise _refused(f"the file must be a mapping of version, cluster, team, topics, ... ; this one is {shown}",
                       "", at)
    return document


# --- JSON --------------------------------------------------------------------------------------


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_json(text: str) -> ParsedFile:
    if strict_json.deeper_than(text.encode("utf-8", "surrogatepass"), MAX_DEPTH):
        raise _refused(f"not valid JSON: nested deeper than {MAX_DEPTH} levels", "", (1, 1))
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise _refused(f"not valid JSON: {exc.msg}", "", (exc.lineno, exc.colno)) from exc
    except _DuplicateKey as exc:
        # The fast parser says which key; the locating scanner finds where (it is only run for errors).
        path, at = _JsonScanner(text).first_duplicate() or ("", None)
        raise _refused(f"the key {exc.args[0]!r} appears twice in the same object; JSON readers disagree on "
                       "which one counts, so remove one", path, at) from exc
    except (ValueError, RecursionError) as exc:
        message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise _refused(f"not valid JSON: {message}") from exc
    scanned: dict[str, Position] = {}

    def positions() -> dict[str, Position]:
        if not scanned:
            scanned.update(_JsonScanner(text).positions())
        return scanned

    return ParsedFile(_top_level(document, (1, 1)), positions)


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER_OR_LITERAL = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


class _JsonScanner:
    """Where each node of a JSON text is, by pointer (keys of objects: where the key is written).

    Run only on text json.loads accepted, so it need not report syntax errors; iterative, so deep
    nesting cannot exhaust the stack.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.duplicates: list[tuple[str, Position]] = []

    def at(self, offset: int) -> Position:
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def first_duplicate(self) -> tuple[str, Position] | None:
        self.positions()
        return self.duplicates[0] if self.duplicates else None

    def positions(self) -> dict[str, Position]:
        found: dict[str, Position] = {}
        for path, offset in self._walk():
            found.setdefault(path, self.at(offset))
        return found

    def _skip(self, index: int) -> int:
        match = _WHITESPACE.match(self.text, index)
        return match.end() if match else index

    def _walk(self) -> Iterator[tuple[str, int]]:
        text = self.text
        # Each frame: [pointer of the container, "{" or "[", next list index, keys seen].
        stack: list[tuple[str, str, list[int], set[str]]] = []
        index = self._skip(0)
        path = ""
        while index < len(text):
            char = text[index]
            if stack and stack[-1][1] == "{" and char == '"':  # a key, then its value
                key_offset = index
                key, index = json.decoder.scanstring(text, index + 1)  # type: ignore[attr-defined]
                parent = stack[-1]
                path = parent[0] + "/" + json_pointer([key])[1:]
                if key in parent[3]:
                    self.duplicates.append((path, self.at(key_offset)))
                parent[3].add(key)
                yield path, key_offset
                index = self._skip(self._skip(index) + 1)  # past ':'
                char = text[index]
            elif stack and stack[-1][1] == "[":
                parent = stack[-1]
                path = f"{parent[0]}/{parent[2][0]}"
                parent[2][0] += 1
                yield path, index
            elif stack:
                raise AssertionError("unreachable for text json.loads accepted")
            else:
                yield "", index
            # The value at `index`, whose pointer is `path`.
            if char in "{[":
                stack.append((path, char, [0], set()))
                index = self._skip(index + 1)
                if text[index] in "}]":
                    index = self._close(stack, index)
                continue
            if char == '"':
                _, index = json.decoder.scanstring(text, index + 1)  # type: ignore[attr-defined]
            else:
                match = _NUMBER_OR_LITERAL.match(text, index)
                index = match.end() if match else index + 1
            index = self._close(stack, self._skip(index))

    def _close(self, stack: list[tuple[str, str, list[int], set[str]]], index: int) -> int:
        """Past the commas and closing brackets that follow a value."""
        text = self.text
        while index < len(text):
            if text[index] == ",":
                return self._skip(index + 1)
            if text[index] in "}]":
                stack.pop()
                index = self._skip(index + 1)
                continue
            break
        return index


# --- YAML --------------------------------------------------------------------------------------

_NULL = re.compile(r"(?:null|Null|NULL|~)?")
_TRUE, _FALSE = re.compile(r"true|True|TRUE"), re.compile(r"false|False|FALSE")
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")  # 0755 is caught before
_AMBIGUOUS = [
    (re.compile(r"yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N"),
     "YAML 1.1 reads {raw} as true/false and YAML 1.2 as a string: write true/false, or quote it (\"{raw}\")"),
    (re.compile(r"[-+]?0[0-9_]+|[-+]?0[oObBxX][0-9a-fA-F_]+|[-+]?[0-9][0-9_]*_[0-9_]*(?:\.[0-9_]*)?"),
     "{raw} is a number in another base or with separators in some YAML readers: write a plain decimal "
     "number, or quote it (\"{raw}\")"),
    (re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"),
     "YAML 1.1 reads {raw} as a base-60 number: quote it (\"{raw}\")"),
    (re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"), "{raw} is not a JSON number"),
]


def plain_scalar(raw: str) -> Any:
    """The JSON value of an unquoted YAML scalar; ValueError for one YAML readers disagree on."""
    if _NULL.fullmatch(raw):
        return None
    if _TRUE.fullmatch(raw):
        return True
    if _FALSE.fullmatch(raw):
        return False
    for pattern, message in _AMBIGUOUS:
        if pattern.fullmatch(raw):
            raise ValueError(message.format(raw=raw))
    if _INT.fullmatch(raw):
        return int(raw)
    if _FLOAT.fullmatch(raw):
        return float(raw)
    return raw


def _mark(event: Any) -> Position:
    return event.start_mark.line + 1, event.start_mark.column + 1


@dataclass
class _Frame:
    container: dict[str, Any] | list[Any]
    path: str
    key: str | None = None  # a mapping's key read, its value not yet
    keys: set[str] = field(default_factory=set)
    index: int = 0  # a list's next index


def _parse_yaml(text: str) -> ParsedFile:
    positions: dict[str, Position] = {}
    stack: list[_Frame] = []
    documents = 0
    root: Any = None
    root_at: Position | None = None

    def here() -> str:
        if not stack:
            return ""
        frame = stack[-1]
        if isinstance(frame.container, dict):
            return frame.path if frame.key is None else frame.path + "/" + json_pointer([frame.key])[1:]
        return f"{frame.path}/{frame.index}"

    def add(value: Any, at: Position) -> str:
        nonlocal root, root_at
        if not stack:
            root, root_at = value, at
            positions[""] = at
            return ""
        frame = stack[-1]
        if isinstance(frame.container, list):
            path = f"{frame.path}/{frame.index}"
            frame.index += 1
            frame.container.append(value)
            positions[path] = at
            return path
        key = frame.key or ""
        frame.key = None
        path = frame.path + "/" + json_pointer([key])[1:]
        frame.container[key] = value
        positions.setdefault(path, at)  # the key's position, set when the key was read
        return path

    try:
        events: Iterator[Any] = yaml.parse(text, Loader=_Loader)
        for event in events:
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _refused("a second YAML document (---): one desired-state file is one team on one "
                                   "cluster; send each document as its own file", "", _mark(event))
                continue
            if isinstance(event, yaml.StreamStartEvent | yaml.StreamEndEvent | yaml.DocumentEndEvent):
                continue
            at = _mark(event)
            if isinstance(event, yaml.AliasEvent):
                raise _refused(f"alias *{event.anchor}: anchors and aliases are refused, write the value out so "
                               "that each resource reads as it is", here(), at)
            if isinstance(event, yaml.CollectionEndEvent):
                stack.pop()
                continue
            if event.anchor is not None:
                raise _refused(f"anchor &{event.anchor}: anchors and aliases are refused, write the value out",
                               here(), at)
            if event.tag is not None:
                raise _refused(f"tag {event.tag}: YAML tags are refused; quote a value that must be a string",
                               here(), at)
            frame = stack[-1] if stack else None
            if frame is not None and isinstance(frame.container, dict) and frame.key is None:
                if not isinstance(event, yaml.ScalarEvent):
                    raise _refused("mapping keys must be plain text, not lists or mappings", here(), at)
                key = event.value
                path = frame.path + "/" + json_pointer([key])[1:]
                if not event.style and key == "<<":
                    raise _refused("merge keys (<<) are refused: write each field out", path, at)
                if key in frame.keys:
                    raise _refused(f"the key {key!r} appears twice in the same mapping; YAML readers keep one "
                                   "of them silently, so remove one", path, at)
                frame.keys.add(key)
                frame.key = key
                positions[path] = at
                continue
            if isinstance(event, yaml.ScalarEvent):
                try:
                    value = plain_scalar(event.value) if not event.style else event.value
                except ValueError as exc:
                    raise _refused(str(exc), here(), at) from exc
                add(value, at)
                continue
            if len(stack) >= MAX_DEPTH:
                raise _refused(f"nested deeper than {MAX_DEPTH} levels", here(), at)
            container: Any = {} if isinstance(event, yaml.MappingStartEvent) else []
            path = add(container, at)
            stack.append(_Frame(container, path))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise _refused(f"not valid YAML: {problem}", here(), where) from exc
    except yaml.YAMLError as exc:
        raise _refused(f"not valid YAML: {exc}", here()) from exc
    if documents == 0 or root is None:
        raise _refused("the file has no content (only comments or an empty document)")
    document = _top_level(root, root_at)
    return ParsedFile(document, lambda: positions)


# --- writing YAML ------------------------------------------------------------------------------


class _FileDumper(yaml.SafeDumper):
    """Block style with lists indented under their key, as people write desired-state files."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Quote every string this module would not read back as the same string (on, 0755, 1e3, null),
    # whatever another YAML writer would do; PyYAML quotes YAML 1.1's own look-alikes by itself.
    try:
        plain = plain_scalar(value) == value and isinstance(plain_scalar(value), str)
    except ValueError:
        plain = False
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=None if plain else '"')


_FileDumper.add_representer(str, _represent_str)


def dump_yaml(document: dict[str, Any], header: list[str]) -> str:
    """The document as a YAML file that parse_desired_file reads back as the same document."""
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header)
    body = yaml.dump(document, Dumper=_FileDumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                     width=120)
    return comments + body

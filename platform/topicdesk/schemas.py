"""The JSON Schemas in schemas/: loaded and compiled once, and turned into readable errors.

Every file in schemas/ is a draft 2020-12 schema whose `$id` is SCHEMA_BASE_URI + its file name, so
`$ref`s between files resolve through one `referencing` registry without touching the network.

Errors come out as FieldError(path, message) with a JSON Pointer into the submitted document. A
schema may say what to report when one of its keywords fails in an `x-messages` object beside that
keyword (`{"pattern": "...", "x-messages": {"pattern": "{value} has characters ..."}}`); templates
can use {value} (the value as JSON), {raw} (the value as text), {length}, {limit} (the keyword's
own value), {field} and {allowed}. Everything else gets a plain-English default.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.protocols import Validator
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from topicdesk.domain.errors import FieldError, ValidationFailed

# platform/topicdesk/schemas.py -> the repository root holds schemas/ next to platform/.
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
SCHEMA_BASE_URI = "https://topicdesk.dev/schemas/"

REQUEST_KINDS: tuple[str, ...] = (
    "topic.create",
    "topic.update",
    "topic.delete",
    "access.grant",
    "access.revoke",
    "quota.set",
    "topic.migrate",
)
REQUEST_SCHEMA_ID = SCHEMA_BASE_URI + "request.json"
POLICY_SCHEMA_ID = SCHEMA_BASE_URI + "policy.schema.json"
POLICY_CASES_SCHEMA_ID = SCHEMA_BASE_URI + "policy-cases.schema.json"
EVALUATION_DOCUMENT_SCHEMA_ID = SCHEMA_BASE_URI + "evaluation-document.json"
DESIRED_STATE_SCHEMA_ID = SCHEMA_BASE_URI + "desired-state.json"

_MESSAGES_KEYWORD = "x-messages"
# `format` is an assertion here, not an annotation: the server refuses what the schema (and the
# OpenAPI document built from it) says is not a date-time or a URI. The checks need
# rfc3339-validator and rfc3986-validator; without them jsonschema would skip them silently, so a
# missing one fails at import.
FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER
_CHECKED_FORMATS = ("date-time", "uri")
_missing_formats = [name for name in _CHECKED_FORMATS if name not in FORMAT_CHECKER.checkers]
if _missing_formats:
    raise ImportError(f"jsonschema cannot check format {_missing_formats}: install rfc3339-validator and "
                      "rfc3986-validator (dependencies in pyproject.toml)")
_FORMAT_MESSAGES = {
    "date-time": "{value} is not an RFC 3339 timestamp with an offset, e.g. 2027-03-31T00:00:00Z",
    "uri": "{value} is not an absolute URI, e.g. https://wiki.example.com/page",
}
_VALUE_PREVIEW_CHARS = 80


def kind_schema_id(kind: str) -> str:
    """The `$id` of the spec schema for a request kind."""
    return f"{SCHEMA_BASE_URI}{kind}.json"


class SchemaFileError(Exception):
    """A file in schemas/ is not valid JSON, not a valid schema, or is missing: a build error."""

    def __init__(self, file: Path, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.file = file
        self.message = message


@dataclass(frozen=True)
class SchemaSet:
    """Every schema of one directory, with a compiled validator per schema id (built on first use)."""

    directory: Path
    schemas: Mapping[str, Mapping[str, Any]]
    registry: Registry[Any]
    _validators: dict[str, Validator]
    _fast: dict[str, Any] = field(default_factory=dict)

    def validator(self, schema_id: str) -> Validator:
        """A validator for a schema id, or for `id#/json/pointer` into one; compiled once."""
        found = self._validators.get(schema_id)
        if found is None:
            base = schema_id.split("#", 1)[0]
            if base not in self.schemas:
                raise KeyError(f"no schema {base} in {self.directory}")
            schema: Mapping[str, Any] = self.schemas[schema_id] if "#" not in schema_id else {"$ref": schema_id}
            found = Draft202012Validator(inline_refs(self.registry, base, schema), registry=self.registry,
                                         format_checker=FORMAT_CHECKER)
            self._validators[schema_id] = found
        return found

    def fast_valid(self, schema_id: str, instance: object) -> bool:
        """True when `instance` (decoded JSON only) surely satisfies the schema, checked by jsonschema-rs
        (~100x faster than jsonschema on a request). False means "ask jsonschema": only jsonschema
        decides what is refused and says why, so a keyword the two read differently (Rust's regex `$`
        and `\\d` are stricter than Python's) can cost time, never accept what jsonschema refuses. The
        formats jsonschema enforces are checked by its own checker here too."""
        if schema_id not in self._fast:
            schema = self.validator(schema_id).schema
            # A `$ref` left after inlining (a loop, or outside the registry) would be fetched by jsonschema-rs.
            self._fast[schema_id] = None if _has_ref(schema) else jsonschema_rs.Draft202012Validator(
                dict(schema) if isinstance(schema, Mapping) else schema, validate_formats=True,
                formats={name: functools.partial(FORMAT_CHECKER.conforms, format=name) for name in _CHECKED_FORMATS})
        fast = self._fast[schema_id]
        return fast is not None and bool(fast.is_valid(instance))

    def errors(self, schema_id: str, instance: object, *, prefix: str = "") -> list[FieldError]:
        """Every error of `instance` against a schema, as readable FieldErrors sorted by path."""
        document: Any = instance
        return field_errors(self.validator(schema_id).iter_errors(document), prefix=prefix)


# Draft 2020-12 keywords whose value is a schema, a list of schemas, or a map of names to schemas.
_SUBSCHEMA = frozenset({"additionalProperties", "propertyNames", "items", "contains", "not", "if", "then", "else",
                        "unevaluatedItems", "unevaluatedProperties", "contentSchema"})
_SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})


def inline_refs(registry: Registry[Any], base_uri: str, schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema with each `$ref` replaced, in place, by `allOf: [the schema it points to]`.

    In draft 2020-12 the two mean the same and report the same errors (the same keywords fail, at
    the same instance paths, with the same subschema objects), but jsonschema resolves a `$ref` on
    every validation (URL joins and registry lookups: half the cost of validating a request), while
    an inlined schema costs nothing extra. A `$ref` that loops back to a schema being inlined, one
    beside an `allOf`, and one to a schema outside the registry stay, made absolute. The files'
    schemas are not modified; shared subschemas stay shared.
    """
    done: dict[int, Any] = {}
    active: set[int] = set()

    def walk(node: Any, base: str) -> Any:
        if not isinstance(node, Mapping):
            return node  # true / false
        if id(node) in done:
            return done[id(node)]
        if isinstance(node.get("$id"), str):
            base = urljoin(base, node["$id"])
        active.add(id(node))
        out: dict[str, Any] = {}
        for keyword, value in node.items():
            if keyword == "$ref" and isinstance(value, str):
                target = urljoin(base, value)
                try:
                    resolved = registry.resolver(base_uri=base).lookup(value)
                except Unresolvable:
                    out[keyword] = target
                    continue
                contents = resolved.contents
                if "allOf" in node or id(contents) in active or target.startswith("https://json-schema.org/"):
                    out[keyword] = target
                else:
                    out["allOf"] = [walk(contents, target.split("#", 1)[0])]
            elif keyword in _SUBSCHEMA:
                out[keyword] = walk(value, base)
            elif keyword in _SUBSCHEMA_LISTS and isinstance(value, list):
                out[keyword] = [walk(item, base) for item in value]
            elif keyword in _SUBSCHEMA_MAPS and isinstance(value, Mapping):
                out[keyword] = {name: walk(item, base) for name, item in value.items()}
            else:
                out[keyword] = value  # not a schema ($defs, enum, x-messages, ...): as it is
        active.discard(id(node))
        done[id(node)] = out
        return out

    inlined: Mapping[str, Any] = walk(schema, base_uri)
    return inlined


def _has_ref(node: object) -> bool:
    if isinstance(node, Mapping):
        return "$ref" in node or any(_has_ref(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_ref(item) for item in node)
    return False


def load_schemas(directory: Path = SCHEMA_DIR) -> SchemaSet:
    """Read and check every *.json schema of a directory; fail loudly naming the broken file."""
    schemas: dict[str, Mapping[str, Any]] = {}
    for file in sorted(directory.glob("*.json")):
        try:
            contents = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SchemaFileError(file, f"not valid JSON: {exc}") from exc
        if not isinstance(contents, dict):
            raise SchemaFileError(file, "a schema file holds a JSON object")
        expected_id = SCHEMA_BASE_URI + file.name
        if contents.get("$id") != expected_id:
            raise SchemaFileError(file, f"$id must be {expected_id!r}, found {contents.get('$id')!r}")
        try:
            Draft202012Validator.check_schema(contents)
        except SchemaError as exc:
            where = "/" + "/".join(str(p) for p in exc.absolute_path)
            raise SchemaFileError(file, f"not a valid JSON Schema at {where}: {exc.message}") from exc
        schemas[expected_id] = contents
    for needed in (REQUEST_SCHEMA_ID, *(kind_schema_id(kind) for kind in REQUEST_KINDS)):
        if needed not in schemas:
            raise SchemaFileError(directory / needed.removeprefix(SCHEMA_BASE_URI), "missing")
    declared_kinds = schemas[REQUEST_SCHEMA_ID]["properties"]["kind"]["enum"]
    if tuple(declared_kinds) != REQUEST_KINDS:
        raise SchemaFileError(
            directory / "request.json",
            f"/properties/kind/enum lists {declared_kinds}, the code knows {list(REQUEST_KINDS)}",
        )
    registry: Registry[Any] = Registry().with_resources(
        (schema_id, DRAFT202012.create_resource(contents))
        for schema_id, contents in schemas.items()
    )
    for schema_id, contents in schemas.items():
        _check_refs(registry, schema_id, contents, directory / schema_id.removeprefix(SCHEMA_BASE_URI))
    schema_set = SchemaSet(directory=directory, schemas=schemas, registry=registry, _validators={})
    # Compile the request validators now so that the first request pays nothing.
    for schema_id in (REQUEST_SCHEMA_ID, *(kind_schema_id(kind) for kind in REQUEST_KINDS)):
        schema_set.validator(schema_id).is_valid({})
        schema_set.fast_valid(schema_id, {})
    return schema_set


def _check_refs(registry: Registry[Any], schema_id: str, node: object, file: Path, at: str = "") -> None:
    """Fail at start-up, not on the first request, when a `$ref` points nowhere."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            _check_refs(registry, schema_id, item, file, f"{at}/{index}")
    elif isinstance(node, dict):
        ref = node.get("$ref")
        # The draft's own metaschema comes with jsonschema; only our files are checked here.
        if isinstance(ref, str) and not ref.startswith("https://json-schema.org/"):
            try:
                registry.resolver(base_uri=schema_id).lookup(ref)
            except Unresolvable as exc:
                raise SchemaFileError(file, f"$ref {ref!r} at {at or '/'} does not resolve") from exc
        for key, value in node.items():
            if key not in ("examples", "x-messages"):
                _check_refs(registry, schema_id, value, file, f"{at}/{json_pointer([key])[1:]}")


@functools.cache
def default_schemas() -> SchemaSet:
    """The schemas of SCHEMA_DIR, loaded once per process (call at start-up to fail fast)."""
    return load_schemas(SCHEMA_DIR)


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema of schemas/ by `$id` (a copy, free to embed in the OpenAPI document)."""
    return {schema_id: copy.deepcopy(dict(schema)) for schema_id, schema in default_schemas().schemas.items()}


def schema_errors(schema_id: str, instance: object, *, prefix: str = "") -> list[FieldError]:
    """Every error of `instance` against one of the default schemas, paths prefixed by `prefix`."""
    return default_schemas().errors(schema_id, instance, prefix=prefix)


def request_errors(document: object, schemas: SchemaSet | None = None) -> list[FieldError]:
    """Errors of a request: the envelope's first, then its spec's under /spec (when the kind is known)."""
    schema_set = schemas or default_schemas()
    if isinstance(document, dict) and schema_set.fast_valid(REQUEST_SCHEMA_ID, document):
        kind, spec = document.get("kind"), document.get("spec")
        if not (isinstance(kind, str) and kind in REQUEST_KINDS and isinstance(spec, dict)) or schema_set.fast_valid(
                kind_schema_id(kind), spec):
            return []
    errors = schema_set.errors(REQUEST_SCHEMA_ID, document)
    if isinstance(document, dict):
        kind, spec = document.get("kind"), document.get("spec")
        if isinstance(kind, str) and kind in REQUEST_KINDS and isinstance(spec, dict):
            errors.extend(schema_set.errors(kind_schema_id(kind), spec, prefix="/spec"))
    return errors


def validate_request(document: object, schemas: SchemaSet | None = None) -> None:
    """Raise ValidationFailed listing every error of a submitted request; return when it is valid."""
    errors = request_errors(document, schemas)
    if errors:
        count = f"{len(errors)} problems" if len(errors) > 1 else "1 problem"
        raise ValidationFailed(f"The request does not match its schema: {count}.", errors=errors)


# --- turning jsonschema errors into FieldErrors -------------------------------------------------


def json_pointer(parts: Iterable[str | int]) -> str:
    """RFC 6901 pointer for a path: ("spec", "config", "a/b") -> /spec/config/a~1b."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def field_errors(errors: Iterable[ValidationError], *, prefix: str = "") -> list[FieldError]:
    """Readable, de-duplicated FieldErrors for jsonschema errors, sorted by path."""
    raw = list(errors)
    # A value of the wrong type fails every other keyword beside `type` too; report only the type.
    wrong_type = {(tuple(e.absolute_path), id(e.schema)) for e in raw if e.validator == "type"}
    # A pattern that already says what a date-time looks like says it better than `format`.
    wrong_pattern = {(tuple(e.absolute_path), id(e.schema)) for e in raw if e.validator == "pattern"}
    seen: set[tuple[str, str]] = set()
    result: list[FieldError] = []
    for error in raw:
        where = (tuple(error.absolute_path), id(error.schema))
        if (error.validator != "type" and where in wrong_type) or (error.validator == "format"
                                                                     and where in wrong_pattern):
            continue
        for field_error in _describe(error, prefix):
            key = (field_error.path, field_error.message)
            if key not in seen:
                seen.add(key)
                result.append(field_error)
    result.sort(key=lambda e: e.path)
    return result


def _describe(error: ValidationError, prefix: str) -> Iterator[FieldError]:
    path = prefix + json_pointer(error.absolute_path)
    instance: Any = error.instance
    keyword = str(error.validator) if error.validator is not None else "false"
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    custom = schema.get(_MESSAGES_KEYWORD, {}).get(keyword)

    if keyword == "additionalProperties" and isinstance(instance, dict):
        allowed = list(schema.get("properties", {}))
        for name in _additional_properties(instance, schema):
            template = custom or "unknown field {field}; allowed fields: {allowed}"
            yield FieldError(
                f"{path}/{json_pointer([name])[1:]}",
                _fill(template, error, field=name, allowed=", ".join(allowed)),
            )
        return
    if keyword == "required" and isinstance(instance, dict):
        required: Any = error.validator_value
        for name in required:
            if name not in instance:
                template = custom or "{field} is required"
                yield FieldError(f"{path}/{json_pointer([name])[1:]}", _fill(template, error, field=name))
        return
    if custom is not None:
        yield FieldError(path, _fill(custom, error))
        return
    if keyword in ("oneOf", "anyOf") and error.context:
        # The alternative that got furthest says more than "not valid under any of the given schemas".
        yield from _describe(best_match(error.context), prefix)
        return
    yield FieldError(path, _default_message(keyword, error))


def _additional_properties(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    known = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [name for name in instance if name not in known and not any(p.search(name) for p in patterns)]


def _preview(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _VALUE_PREVIEW_CHARS else text[: _VALUE_PREVIEW_CHARS - 1] + "…"


def _fill(template: str, error: ValidationError, **extra: str) -> str:
    value: Any = error.instance
    limit: Any = error.validator_value
    values = {
        "value": _preview(value),
        "raw": value if isinstance(value, str) else _preview(value),
        "length": str(len(value)) if isinstance(value, str | list | dict) else "",
        "limit": _preview(limit),
        "field": "",
        "allowed": ", ".join(str(v) for v in limit) if isinstance(limit, list) else "",
        **{k: (_preview(v) if k == "field" else v) for k, v in extra.items()},
    }
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError):
        # A template with a typo still tells the user something; the schema tests catch the typo.
        return template


_JSON_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _expected_types(types: str | Sequence[str]) -> str:
    names = [_JSON_TYPE_NAMES.get(t, t) for t in ([types] if isinstance(types, str) else types)]
    return " or ".join(names)


def _default_message(keyword: str, error: ValidationError) -> str:
    value: Any = error.instance
    limit: Any = error.validator_value
    shown = _preview(value)
    match keyword:
        case "type":
            return f"must be {_expected_types(limit)}, not {_json_type(value)}"
        case "enum":
            return f"must be one of {', '.join(_preview(v) for v in limit)}; got {shown}"
        case "const":
            return f"must be {_preview(limit)}; got {shown}"
        case "minimum":
            return f"must be at least {limit}; got {shown}"
        case "maximum":
            return f"must be at most {limit}; got {shown}"
        case "exclusiveMinimum":
            return f"must be more than {limit}; got {shown}"
        case "exclusiveMaximum":
            return f"must be less than {limit}; got {shown}"
        case "minLength":
            return f"must be at least {limit} characters long"
        case "maxLength":
            return f"must be at most {limit} characters long; this one has {len(value)}"
        case "pattern":
            return f"{shown} does not match the pattern {limit}"
        case "minItems":
            return f"must have at least {limit} items"
        case "maxItems":
            return f"must have at most {limit} items; this one has {len(value)}"
        case "uniqueItems":
            return "must not list the same item twice"
        case "minProperties":
            return f"must have at least {limit} fields"
        case "maxProperties":
            return f"must have at most {limit} fields"
        case "format":
            return _FORMAT_MESSAGES.get(str(limit), "{value} is not a {limit}").format(value=shown, limit=limit)
        case "false" | "not":
            return "this field is not allowed here"
        case "dependentRequired":
            return error.message
        case _:
            return error.message

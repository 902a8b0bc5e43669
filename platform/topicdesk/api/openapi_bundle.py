"""The files of schemas/ as OpenAPI components, with every `$ref` pointing inside the document.

schemas/ stays the source of truth: each file's `$ref`s are relative to its `$id`
(`common.json#/$defs/topic_name`, `#/$defs/lifecycle`), which a JSON Schema validator resolves
but OpenAPI tools that load the served document do not: inside `components/schemas` a `#/...`
means the document's root. So each file the API uses (and every file those reference, followed
transitively) becomes one component named after its file, without `$id` and `$schema`, and each
`$ref` is rewritten to `#/components/schemas/<component>` plus the pointer it had inside its file.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin

COMPONENTS = "#/components/schemas/"
# The draft's metaschema is the one reference that may leave the document; no API schema uses it.
_METASCHEMA_PREFIX = "https://json-schema.org/"


class BundleError(ValueError):
    """A `$ref` in schemas/ names a file that is not there: a build error, caught at start-up."""


def component_name(schema_id: str) -> str:
    """https://topicdesk.dev/schemas/topic.create.json -> topic_create (OpenAPI component names)."""
    return schema_id.rsplit("/", 1)[-1].removesuffix(".json").replace(".", "_")


def component_ref(schema_ref: str) -> str:
    """An absolute schema reference (`$id`, optionally with `#pointer`) as a reference into the document."""
    base, _, pointer = schema_ref.partition("#")
    return COMPONENTS + component_name(base) + pointer


def bundle(schemas: Mapping[str, Mapping[str, Any]], roots: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Components for the schemas `roots` name (absolute `$id`s, optionally with a #pointer) and for
    every schema they reference, by component name; the input is not modified."""
    wanted = [root.partition("#")[0] for root in roots]
    components: dict[str, dict[str, Any]] = {}
    while wanted:
        schema_id = wanted.pop()
        name = component_name(schema_id)
        if name in components:
            continue
        if schema_id not in schemas:
            raise BundleError(f"no schema {schema_id} in schemas/")
        found: list[str] = []
        rewritten = _rewrite(copy.deepcopy(dict(schemas[schema_id])), schema_id, found)
        rewritten.pop("$id", None)
        rewritten.pop("$schema", None)
        components[name] = rewritten
        wanted.extend(found)
    return components


def _rewrite(node: Any, base: str, found: list[str]) -> Any:
    if isinstance(node, list):
        return [_rewrite(item, base, found) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            target = urljoin(base, value)
            if target.startswith(_METASCHEMA_PREFIX):
                raise BundleError(f"{base}: $ref {value!r} leaves the document")
            found.append(target.partition("#")[0])
            out[key] = component_ref(target)
        elif key == "x-messages":
            continue  # the server's message templates: tools read their "pattern" as a regex
        elif key in ("examples", "enum", "const", "default"):
            out[key] = value  # data, not schemas: a "$ref" key in an example stays as written
        else:
            out[key] = _rewrite(value, base, found)
    return out


def refs(node: Any) -> Iterable[str]:
    """Every `$ref` value in a document (for tests and for the start-up check)."""
    if isinstance(node, list):
        for item in node:
            yield from refs(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key not in ("examples", "enum", "const", "default", "example"):
                yield from refs(value)


def resolve(document: Mapping[str, Any], ref: str) -> Any:
    """The node a local `$ref` (`#/json/pointer`) points at; KeyError when it points nowhere."""
    if not ref.startswith("#"):
        raise KeyError(f"{ref} is not a reference inside the document")
    node: Any = document
    for raw in ref[1:].split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            raise KeyError(f"{ref}: no {part!r}")
    return node

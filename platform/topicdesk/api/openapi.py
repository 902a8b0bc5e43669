"""The OpenAPI 3.1 document served at /api/v1/openapi.json, built from ENDPOINTS (api/endpoints.py).

It is self-contained: the schemas/ files it uses are bundled into components/schemas
(api/openapi_bundle.py) and every `$ref` points inside it, so tools (schemathesis, code generators,
validators) load it as served. Every operation documents its success body, the problem+json of each
4xx/5xx it may answer, its request body and the bounds of its parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from topicdesk.adapters.strict_json import REFUSED_CHARACTER_PATTERN
from topicdesk.api.body import MAX_URL_VALUE
from topicdesk.api.endpoints import ENDPOINTS, REQUEST_ID_PARAMETER, REQUEST_ID_PATTERN, Endpoint
from topicdesk.api.openapi_bundle import bundle, component_ref
from topicdesk.api.openapi_components import COMPONENT_SCHEMAS, QUERY_SCHEMAS, ref
from topicdesk.api.responses import RESPONSE_SCHEMAS

PROBLEM_MEDIA = "application/problem+json"
_KINDS = ("topic.create", "topic.update", "topic.delete", "access.grant", "access.revoke", "quota.set")
_SCHEMA_BASE = "https://topicdesk.dev/schemas/"
# Always bundled: the request envelope's kinds (the submitted-request component refers to them) and
# the topic page (TopicDetail in api/responses.py extends it).
_ALWAYS = (*(f"{_SCHEMA_BASE}{kind}.json" for kind in _KINDS), f"{_SCHEMA_BASE}topic.json")
# What each answer means, for its description.
_STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted: some changes await approval", 204: "No Content",
    400: "Malformed body: not UTF-8, not JSON, nested deeper than 32 levels, NaN/Infinity, a key given twice "
         "(errors: the key's path), or a body shorter than its Content-Length", 401: "Not authenticated",
    403: "Authenticated, but not allowed", 404: "Not found (also: not yours to see)",
    409: "Conflict with the current state",
    422: "Does not match the schema or the rules, or a value holds a control or invisible character, a lone "
         "surrogate or a number beyond 64 bits: every wrong field with its JSON pointer",
    413: "The body is larger than TOPICDESK_MAX_BODY_BYTES (default 1,000,000 bytes; the detail names the limit), "
         "with Content-Length or chunked",
    415: "The Content-Type is missing or not one of the request body's media types, or its charset is not UTF-8; "
         "Accept-Post (Accept-Patch) lists the accepted ones",
    429: "Too many writes: see Retry-After", 500: "Unexpected error (logged)",
    503: "A dependency (database, cluster) does not answer",
}


def openapi_document(schemas: Mapping[str, Mapping[str, Any]], *, session_cookie: str) -> dict[str, Any]:
    """The document for ENDPOINTS; `schemas` are the files of schemas/ by `$id`, `session_cookie` the
    name of the browser session's cookie (it depends on whether cookies are Secure)."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    used = [schema for endpoint in ENDPOINTS
            for schema in (endpoint.request_schema, endpoint.response_schema, *(s for _, s in endpoint.also))
            if schema and schema.startswith("https://")]
    components = bundle(schemas, [*used, *_ALWAYS])
    components.update(RESPONSE_SCHEMAS)
    components.update(COMPONENT_SCHEMAS)
    components["SubmittedRequest"] = _submitted_request()
    return {
        "openapi": "3.1.0",
        "info": {"title": "Topicdesk API", "version": "1",
                 "description": "Self-service Kafka topics and access. Errors are application/problem+json."},
        "paths": paths,
        "components": {
            "schemas": components,
            "headers": {"X-Request-ID": {
                "description": "The request's id: the caller's X-Request-ID when valid, else a new one",
                "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN}}},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A Topicdesk API token (tdk_...) or an OIDC access token (JWT)"},
                "metrics_token": {"type": "http", "scheme": "bearer",
                                  "description": "The deployment's TOPICDESK_METRICS_TOKEN (only /metrics, only "
                                                 "when set)"},
                "session": {"type": "apiKey", "in": "cookie", "name": session_cookie,
                            "description": "Browser session (from /auth/login); writes also need the "
                                           "X-CSRF-Token header from GET /auth/session"},
            },
        },
    }


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.endpoint.replace(".", "_"),
        "summary": endpoint.summary,
        "description": f"Access: {endpoint.access}." + (f" {endpoint.note}." if endpoint.note else "")
        + (f" {endpoint.details}" if endpoint.details else ""),
        "tags": list(endpoint.tags),
        "responses": _responses(endpoint),
    }
    if endpoint.access != "public":
        operation["security"] = [{"bearer": []}, {"session": []}]
    elif endpoint.optional_security:
        operation["security"] = [{}, {endpoint.optional_security: []}]
    if endpoint.request_schema:
        schema = _schema_ref(endpoint.request_schema)
        if endpoint.endpoint == "v1.submit":
            schema = ref("SubmittedRequest")
        operation["requestBody"] = {"required": endpoint.body_required,
                                    "content": {media: {"schema": schema} for media in endpoint.request_media}}
    parameters = [{"name": part[1:-1], "in": "path", "required": True, "schema": _url_text({"type": "string"})}
                  for part in endpoint.path.split("/") if part.startswith("{")]
    parameters += [{"name": name, "in": "query", "required": name in endpoint.required_query,
                    "schema": _url_text(_query_schema(name, kind))} for name, kind in endpoint.query]
    operation["parameters"] = [REQUEST_ID_PARAMETER, *parameters]
    # Every answer carries the request id back (observability/http.py); copies, as answers are built per status.
    operation["responses"] = {status: {**answer, "headers": {"X-Request-ID": {
        "$ref": "#/components/headers/X-Request-ID"}}} for status, answer in operation["responses"].items()}
    return operation


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    bodies = [(endpoint.success, endpoint.response_schema), *endpoint.also]
    for status, schema in bodies:
        answer: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "OK")}
        if status >= 400:
            answer["content"] = {PROBLEM_MEDIA: {"schema": _schema_ref(schema or "Problem")}}
        elif schema is not None and status != 204:
            answer["content"] = {media: {"schema": _schema_ref(schema)} for media in endpoint.response_media}
        responses[str(status)] = answer
    for status in _problem_statuses(endpoint):
        responses.setdefault(str(status), {"description": _STATUS_TEXT[status],
                                           "content": {PROBLEM_MEDIA: {"schema": ref("Problem")}}})
    responses["default"] = {"description": "Any other problem",
                            "content": {PROBLEM_MEDIA: {"schema": ref("Problem")}}}
    return responses


def _problem_statuses(endpoint: Endpoint) -> list[int]:
    """The 4xx/5xx an operation may answer, each with a problem+json body."""
    statuses = [500]
    if endpoint.access == "public":
        return [503, *statuses] if endpoint.path == "/readyz" else statuses
    statuses += [400, 401, 403, 404, 422]
    if endpoint.method != "GET":
        statuses += [409, 429]
    if endpoint.request_schema:
        statuses += [413, 415]
    if "cluster" in endpoint.path or endpoint.path.endswith("/refresh"):
        statuses.append(503)
    return sorted(statuses)


def _schema_ref(schema: str) -> dict[str, str]:
    """A schemas/ $id (optionally with a #pointer) or a component's name, as a `$ref`."""
    return {"$ref": component_ref(schema)} if schema.startswith("https://") else ref(schema)


def _url_text(schema: dict[str, Any]) -> dict[str, Any]:
    """A path or query string as api/body.py check_url_values reads it: bounded, and free of control
    and invisible characters (refused with 400 before any view runs)."""
    if schema.get("type") != "string" or {"enum", "const", "format"} & schema.keys():
        return schema
    return {**schema, "maxLength": min(schema.get("maxLength", MAX_URL_VALUE), MAX_URL_VALUE),
            "not": {"pattern": REFUSED_CHARACTER_PATTERN}}


def _query_schema(name: str, kind: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(kind, dict):
        return kind
    return QUERY_SCHEMAS.get(name, {"type": kind})


def _submitted_request() -> dict[str, Any]:
    """POST /requests' body as tools need it: the envelope (schemas/request.json) with its spec
    checked against the schema of its kind, which the server does in a second step."""
    return {"allOf": [ref("request")], "oneOf": [
        {"type": "object", "required": ["kind"],
         "properties": {"kind": {"const": kind}, "spec": ref(kind.replace(".", "_"))}} for kind in _KINDS]}

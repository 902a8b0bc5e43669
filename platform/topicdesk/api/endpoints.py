"""Every endpoint in one table: who may call it, and what the OpenAPI document says about it.

The authorization matrix test is generated from this table, so an endpoint cannot ship without
its row. `access` names the weakest caller the endpoint answers; ownership rules inside the
services (team membership, routed approvers) narrow it further and are listed in `note`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from topicdesk.api.responses import RESPONSE_SCHEMAS

Access = Literal["public", "authenticated", "member", "owner", "platform_admin"]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # OpenAPI path template
    endpoint: str  # Flask endpoint name
    summary: str
    access: Access
    note: str = ""
    request_schema: str | None = None
    success: int = 200
    tags: tuple[str, ...] = ()
    # Query parameters: name -> JSON Schema type ("string", "integer", "boolean").
    query: tuple[tuple[str, str], ...] = ()
    # The success body's schema: a schemas/ $id (optionally with a #pointer), or the name of a
    # component in api/responses.py.
    response_schema: str | None = None
    # Media types of the request body and of the success body (both JSON unless said otherwise).
    request_media: tuple[str, ...] = ("application/json",)
    response_media: tuple[str, ...] = ("application/json",)


PAGE = (("limit", "integer"), ("cursor", "string"))
FILE_MEDIA = ("application/json", "application/yaml")


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/healthz", "health.healthz", "Process is up", "public", tags=("health",)),
    Endpoint("GET", "/readyz", "health.readyz", "Database is reachable", "public", tags=("health",)),
    Endpoint("GET", "/api/v1/openapi.json", "v1.openapi", "This document", "public", tags=("meta",)),
    Endpoint("GET", "/api/v1/me", "v1.me", "The caller: subject, teams, roles", "authenticated", tags=("identity",)),
    Endpoint("GET", "/api/v1/clusters", "v1.clusters", "Registered clusters (never credentials)", "authenticated",
             tags=("clusters",)),
    Endpoint("POST", "/api/v1/clusters", "v1.register_cluster", "Register a cluster (credentials by reference)",
             "platform_admin", request_schema="https://topicdesk.dev/schemas/cluster.json", success=201,
             tags=("clusters",)),
    Endpoint("PATCH", "/api/v1/clusters/{cluster}", "v1.change_cluster",
             "Change a cluster's owner, address, limits or drift mode (enforce | report)", "platform_admin",
             tags=("clusters",)),
    Endpoint("GET", "/api/v1/clusters/{cluster}/drift", "v1.cluster_drift",
             "The last drift scan: each open difference with its id, state and possible actions; unmanaged "
             "topics and ACLs", "authenticated", tags=("drift",)),
    Endpoint("POST", "/api/v1/clusters/{cluster}/drift/{item_id}/triage", "v1.triage_drift",
             "Revert, adopt (as an ordinary request) or ignore (with a reason, until an expiry) one difference",
             "owner", note="an owner of the difference's team (the resource's owner; the grantee's for ACLs)",
             request_schema="https://topicdesk.dev/schemas/drift-triage.json", tags=("drift",)),
    Endpoint("GET", "/api/v1/clusters/{cluster}/service-accounts", "v1.list_service_accounts",
             "The caller's teams' service accounts on a cluster, each with its access grants and client quota",
             "authenticated",
             note="lists only the caller's teams' accounts (all for platform admins)", tags=("service accounts",),
             response_schema="ServiceAccountList"),
    Endpoint("POST", "/api/v1/clusters/{cluster}/service-accounts", "v1.create_service_account",
             "Create a SCRAM service account named <team>.<name>; the password is in this response only",
             "member", note="name must start with one of the caller's teams", success=201,
             tags=("service accounts",)),
    Endpoint("POST", "/api/v1/clusters/{cluster}/service-accounts/{principal}/rotate",
             "v1.rotate_service_account", "New password (returned once)", "owner",
             note="owner of the account's team", tags=("service accounts",)),
    Endpoint("DELETE", "/api/v1/clusters/{cluster}/service-accounts/{principal}", "v1.delete_service_account",
             "Delete a service account with its access grants and client quota (the reconciler removes the SCRAM "
             "credential, ACLs and quota)", "owner",
             note="owner of the account's team; 409 while a desired-state file declares one of its grants or its quota",
             success=204,
             tags=("service accounts",)),
    Endpoint("POST", "/api/v1/requests", "v1.submit",
             "Submit a request (201), or ?dry_run=true for the decision only (200); 409 when it changes a resource "
             "a desired-state file manages", "member",
             note="topic.* and quota.set: members of the cluster's owner team; access.*: the principal's team; "
                  "topic.migrate: the target's owner team (policy denies others), the dry run also returns "
                  "migration_plan; override_managed_by=true: platform admins only, recorded in the request's "
                  "submit event",
             request_schema="https://topicdesk.dev/schemas/request.json", success=201, tags=("requests",),
             query=(("dry_run", "boolean"), ("override_managed_by", "boolean"))),
    Endpoint("POST", "/api/v1/desired-state", "v1.apply_desired_state",
             "Plan (dry_run) or apply a team's desired-state file (YAML or JSON): it manages exactly what it "
             "declares; the difference becomes ordinary requests. Apply: 200 all auto-approved or in sync, 202 some "
             "await approval, 409 problem+json with the result when any change was denied, skipped as destructive, "
             "previously denied or an error", "member",
             note="members of the file's team; destructive changes only with allow_destroy=true (alias prune); the "
                  "file is YAML or JSON (other types: 415), every error with its path, line and column",
             request_schema="https://topicdesk.dev/schemas/desired-state.json", tags=("requests",),
             query=(("dry_run", "boolean"), ("allow_destroy", "boolean"), ("prune", "boolean"), ("source", "string")),
             response_schema="https://topicdesk.dev/schemas/desired-state-result.json", request_media=FILE_MEDIA),
    Endpoint("GET", "/api/v1/desired-state", "v1.export_desired_state",
             "Export what Topicdesk holds for a team on a cluster as a desired-state file that re-applies as in sync "
             "(JSON; YAML with a comment header for format=yaml or Accept: application/yaml)", "member",
             note="members of the team (default: the caller's team); platform admins any team; another team is 404",
             tags=("requests",), query=(("cluster", "string"), ("team", "string"), ("format", "string")),
             response_schema="https://topicdesk.dev/schemas/desired-state.json", response_media=FILE_MEDIA),
    Endpoint("GET", "/api/v1/requests", "v1.list_requests", "Requests the caller may see", "authenticated",
             tags=("requests",), response_schema="RequestList",
             query=(("status", "string"), ("cluster", "string"), ("mine", "boolean"),
                    ("awaiting_me", "boolean"), *PAGE)),
    Endpoint("GET", "/api/v1/requests/{id}", "v1.get_request", "One request, with its history", "authenticated",
             note="404 unless requester, requesting team, owning team or platform admin", tags=("requests",),
             response_schema="RequestView"),
    Endpoint("POST", "/api/v1/requests/{id}/approve", "v1.approve", "Approve", "owner",
             note="a routed approver (owner of the named team, or platform admin); never the requester",
             tags=("requests",)),
    Endpoint("POST", "/api/v1/requests/{id}/reject", "v1.reject", "Reject with a reason", "owner",
             note="a routed approver", tags=("requests",)),
    Endpoint("POST", "/api/v1/requests/{id}/cancel", "v1.cancel", "Cancel a pending request", "member",
             note="the requester or an owner of the requesting team", tags=("requests",)),
    Endpoint("GET", "/api/v1/migrations", "v1.list_migrations",
             "Topic migrations the caller may see: of the caller's teams (owning the target or the source), all "
             "for platform admins", "authenticated", tags=("migrations",), response_schema="MigrationList",
             query=PAGE),
    Endpoint("GET", "/api/v1/migrations/{id}", "v1.get_migration",
             "One migration: its step, the steps as a timeline with their gates, history, plan and verification",
             "authenticated", note="404 unless a member of the target's owner team, of the source cluster's "
             "owner team, or platform admin", tags=("migrations",), response_schema="Migration"),
    Endpoint("GET", "/api/v1/topics", "v1.list_topics",
             "The topic catalogue across clusters (status: applied, drifted, pending or error)", "authenticated",
             tags=("topics",), query=(("cluster", "string"), ("team", "string"), ("q", "string"),
                                      ("status", "string"), *PAGE)),
    Endpoint("GET", "/api/v1/clusters/{cluster}/topics/{name}", "v1.get_topic",
             "Desired and observed state, drift, access grants, deletion phase, history (also of a deleted topic)",
             "authenticated", tags=("topics",),
             note="observed state: a live read bounded to about a second, else the stored observation (stale)",
             response_schema="TopicDetail"),
    Endpoint("POST", "/api/v1/clusters/{cluster}/topics/{name}/restore", "v1.restore_topic",
             "Undo a deletion during its quarantine: the suspended grants (and their ACLs) come back", "owner",
             note="owner of the topic's team; 409 unless the topic is quarantined", tags=("topics",),
             response_schema="https://topicdesk.dev/schemas/topic.json#/$defs/lifecycle"),
    Endpoint("GET", "/api/v1/grants/expiring", "v1.expiring_grants",
             "Access grants ending within within_days (default 14, 1..366), soonest first", "authenticated",
             note="grants whose consuming team (the principal's) or owning team (the topic's) is the caller's; "
                  "all for platform admins", tags=("access",),
             query=(("within_days", "integer"), *PAGE), response_schema="https://topicdesk.dev/schemas/grant-list.json"),
    Endpoint("GET", "/api/v1/reports/stale", "v1.stale_report",
             "Stale topics (no writes for days, default 30, 1..365) and unused grants (no commits for days), "
             "from stored usage observations; each row carries the topic.delete or access.revoke request body",
             "authenticated",
             note="team defaults to the caller's teams (every team for platform admins); another team is 404 "
                  "unless platform admin; cluster optional (all clusters)", tags=("reports",),
             query=(("days", "integer"), ("team", "string"), ("cluster", "string")),
             response_schema="https://topicdesk.dev/schemas/stale-report.json"),
    Endpoint("POST", "/api/v1/reports/stale/refresh", "v1.refresh_stale_report",
             "Gather the cluster's usage evidence now (one bulk call), record it, and answer the stale report "
             "for that cluster", "owner",
             note="owners of the cluster's owner team or platform admins; cluster required; 503 when the cluster "
                  "does not answer", tags=("reports",),
             query=(("cluster", "string"), ("days", "integer"), ("team", "string")),
             response_schema="https://topicdesk.dev/schemas/stale-report.json"),
    Endpoint("GET", "/api/v1/teams/{team}/tokens", "v1.list_team_tokens",
             "A team's API tokens with their last use (never their values)", "owner", tags=("tokens",),
             response_schema="ApiTokenList"),
    Endpoint("POST", "/api/v1/teams/{team}/tokens", "v1.create_team_token",
             "Create a team API token (member or owner role); the token is in this response only", "owner",
             success=201, tags=("tokens",)),
    Endpoint("DELETE", "/api/v1/teams/{team}/tokens/{token_id}", "v1.revoke_team_token", "Revoke a team API token",
             "owner", success=204, tags=("tokens",)),
    Endpoint("GET", "/api/v1/audit", "v1.audit", "Audit events of the caller's teams (all for admins)",
             "authenticated", tags=("audit",), query=(("since", "string"), ("subject", "string"), *PAGE)),
    Endpoint("GET", "/api/v1/audit/verify", "v1.audit_verify", "Verify the audit hash chain", "authenticated",
             tags=("audit",)),
)

PROBLEM = {"$ref": "#/components/schemas/Problem"}
# Endpoints that read a JSON body through api/body.py but declare no request schema (yet); with the ones
# that declare one, they answer the body reader's refusals below.
READS_BODY_WITHOUT_SCHEMA = frozenset({"v1.change_cluster", "v1.create_service_account", "v1.create_team_token",
                                       "v1.approve", "v1.reject"})


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": PROBLEM}}}


# What api/body.py answers for a body it does not read (docs/architecture.md, HTTP edge).
BODY_REFUSALS = {
    "400": _problem("Malformed body: not UTF-8, not JSON, nested deeper than 32 levels, NaN/Infinity, a key "
                    "given twice (errors: the key's path), or a body shorter than its Content-Length"),
    "413": _problem("The body is larger than TOPICDESK_MAX_BODY_BYTES (default 1,000,000 bytes; the detail names "
                    "the limit), with Content-Length or chunked"),
    "415": _problem("The Content-Type is missing or not one of the request body's media types, or its charset "
                    "is not UTF-8; Accept-Post (Accept-Patch) lists the accepted ones"),
    "422": _problem("Validation failed: the schema, or a control or invisible character, a lone surrogate or a "
                    "number beyond 64 bits in a value (errors: every path)"),
}


def openapi_document(schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """OpenAPI 3.1 built from ENDPOINTS; request bodies reuse the files in schemas/ by $id."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        operation: dict[str, Any] = {
            "operationId": endpoint.endpoint.replace(".", "_"),
            "summary": endpoint.summary,
            "description": f"Access: {endpoint.access}." + (f" {endpoint.note}." if endpoint.note else ""),
            "tags": list(endpoint.tags),
            "responses": {
                str(endpoint.success): _success(endpoint.response_schema),
                "default": {"description": "Problem", "content": {"application/problem+json": {"schema": PROBLEM}}},
            },
        }
        if endpoint.response_schema:
            operation["responses"][str(endpoint.success)]["content"] = {media: {
                "schema": {"$ref": f"#/components/schemas/{_component_name(endpoint.response_schema)}"}}
                for media in endpoint.response_media}
        if endpoint.access != "public":
            operation["security"] = [{"bearer": []}, {"session": []}]
        if endpoint.request_schema or endpoint.endpoint in READS_BODY_WITHOUT_SCHEMA:
            operation["responses"].update({status: response for status, response in BODY_REFUSALS.items()
                                           if status not in operation["responses"]})
        if endpoint.request_schema:
            operation["requestBody"] = {"required": True, "content": {media: {
                "schema": {"$ref": f"#/components/schemas/{_component_name(endpoint.request_schema)}"}}
                for media in endpoint.request_media}}
        parameters: list[dict[str, Any]] = [
            {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for part in endpoint.path.split("/") if part.startswith("{")]
        parameters += [{"name": name, "in": "query", "required": False, "schema": {"type": kind}}
                       for name, kind in endpoint.query]
        if parameters:
            operation["parameters"] = parameters
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    components = {_component_name(schema_id): schema for schema_id, schema in schemas.items()}
    components.update(RESPONSE_SCHEMAS)
    components["Problem"] = {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "instance": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "required": ["path", "message"],
                                                  "properties": {"path": {"type": "string"},
                                                                 "message": {"type": "string"},
                                                                 # desired-state files: where in the file, 1-based
                                                                 "line": {"type": "integer", "minimum": 1},
                                                                 "column": {"type": "integer", "minimum": 1}}}},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Topicdesk API", "version": "1",
                 "description": "Self-service Kafka topics and access. Errors are application/problem+json."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A Topicdesk API token (tdk_...) or an OIDC access token (JWT)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "Browser session; writes also need the X-CSRF-Token header"},
            },
        },
    }


def _success(schema: str | None) -> dict[str, Any]:
    if schema is None:
        return {"description": "OK"}
    if not schema.startswith("https://"):  # a component of api/responses.py, by name
        return {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{schema}"}}}}
    base, _, pointer = schema.partition("#")
    ref = f"#/components/schemas/{_component_name(base)}" + pointer
    return {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref}}}}


def _component_name(schema_id: str) -> str:
    return schema_id.rsplit("/", 1)[-1].removesuffix(".json").replace(".", "_")


ACCESS_WORDS = {
    "public": "anyone",
    "authenticated": "any signed-in caller",
    "member": "members of the team concerned",
    "owner": "owners of the team concerned",
    "platform_admin": "platform admins",
}


def render_markdown() -> str:
    """docs/authorization.md: the endpoint table as people read it (a test keeps the file in step)."""
    lines = [
        "# Who may call what",
        "",
        "Generated from `platform/topicdesk/api/endpoints.py` by",
        "`python -m topicdesk.api.endpoints > docs/authorization.md`; `tests/unit/test_authorization_matrix.py`",
        "checks every row against anonymous callers, another team's member, a member, an owner and a",
        "platform admin. Platform admins may do what owners may, except approve what is routed to a team.",
        "Things of other teams answer 404.",
        "",
        "| method | path | what | who | rules |",
        "| --- | --- | --- | --- | --- |",
    ]
    for endpoint in ENDPOINTS:
        lines.append(f"| {endpoint.method} | `{endpoint.path}` | {endpoint.summary} | "
                     f"{ACCESS_WORDS[endpoint.access]} | {endpoint.note} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")

"""Every endpoint in one table: who may call it, and what the OpenAPI document says about it.

The authorization matrix test is generated from this table, so an endpoint cannot ship without
its row. `access` names the weakest caller the endpoint answers; ownership rules inside the
services (team membership, routed approvers) narrow it further and are listed in `note`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from topicdesk.schemas import REQUEST_KINDS
from topicdesk.services.queries import TOPIC_STATUSES

Access = Literal["public", "authenticated", "member", "owner", "platform_admin"]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # OpenAPI path template
    endpoint: str  # Flask endpoint name
    summary: str
    access: Access
    note: str = ""
    # The body's schema: a schemas/ $id, or the name of a component (api/openapi_components.py).
    request_schema: str | None = None
    success: int = 200
    tags: tuple[str, ...] = ()
    # Query parameters: name -> JSON Schema type ("string", "integer", "boolean") or a whole schema
    # with the bounds the view enforces (limit and cursor: api/openapi_components.py QUERY_SCHEMAS).
    query: tuple[tuple[str, str | dict[str, Any]], ...] = ()
    # The success body's schema: a schemas/ $id (optionally with a #pointer), or the name of a
    # component in api/responses.py or api/openapi_components.py.
    response_schema: str | None = None
    # Media types of the request body and of the success body (both JSON unless said otherwise).
    request_media: tuple[str, ...] = ("application/json",)
    response_media: tuple[str, ...] = ("application/json",)
    required_query: tuple[str, ...] = ()
    # False: the body may be left out (an approval without a comment).
    body_required: bool = True
    # Other answers with a body of their own: (status, schema) as response_schema; a 4xx/5xx one is
    # application/problem+json.
    also: tuple[tuple[int, str], ...] = ()
    # More for the OpenAPI description (after access and note), e.g. what clients the response works with.
    details: str = ""
    # A public endpoint that a deployment may close with a credential of its own: the OpenAPI security
    # scheme it then needs (an empty requirement says it may also be open).
    optional_security: str | None = None


PAGE: tuple[tuple[str, str | dict[str, Any]], ...] = (("limit", "integer"), ("cursor", "string"))
BOOLEAN = {"type": "boolean", "default": False}
# The service-account responses carry SCRAM-SHA-512 credentials; not every client can use them.
SCRAM_CLIENTS = ("The credentials are for SASL/SCRAM-SHA-512 (the response's sasl_mechanism). Kafka 4.x brokers "
                 "refuse SCRAM logins from librdkafka older than 2.6.1, so clients built on librdkafka "
                 "(confluent-kafka for Python, Go and .NET, node-rdkafka, kcat) need librdkafka 2.6.1 or newer; "
                 "Debian's kcat package, built on librdkafka 2.0.2, cannot log in. Topicdesk itself ships "
                 "confluent-kafka 2.16 (librdkafka 2.16).")
FILE_MEDIA = ("application/json", "application/yaml")
# The stale report's days (1..365, default 30) and its optional team/cluster (never empty).
DAYS = {"type": "integer", "minimum": 1, "maximum": 365, "default": 30}
NON_EMPTY = {"type": "string", "minLength": 1, "pattern": "\\S"}
REQUEST_STATUSES = ("pending_approval", "denied", "rejected", "cancelled", "approved", "applying", "applied",
                    "failed")


_SUBSCRIPTIONS = "/api/v1/teams/{team}/notifications/subscriptions"
_SUBSCRIPTION_SCHEMA = "https://topicdesk.dev/schemas/notification-subscription.json"
_OWNERS = "owners of the team (platform admins any team); another team's is 404"
NOTIFICATION_ENDPOINTS = (
    Endpoint("GET", "/api/v1/notifications/event-types", "v1.notification_event_types",
             "The notification event types, payload formats and signature scheme (docs/notifications.md)",
             "authenticated", tags=("notifications",), response_schema="NotificationEventTypes"),
    Endpoint("GET", _SUBSCRIPTIONS, "v1.list_notification_subscriptions",
             "A team's webhook subscriptions: state (enabled, or disabled with the reason), failures, waiting "
             "deliveries (never the secret)", "owner", note=_OWNERS, tags=("notifications",),
             response_schema="NotificationSubscriptionList"),
    Endpoint("POST", _SUBSCRIPTIONS, "v1.create_notification_subscription",
             "Subscribe a webhook endpoint to event types (CloudEvents 1.0 JSON or Slack); the signing secret is in "
             "this response only", "owner",
             note=_OWNERS + "; https only (http for localhost or with TOPICDESK_NOTIFY_ALLOW_HTTP); link-local and "
                            "metadata addresses refused; audience platform_admins: platform admins only",
             request_schema=_SUBSCRIPTION_SCHEMA, success=201, tags=("notifications",),
             response_schema="NotificationSubscription"),
    Endpoint("GET", _SUBSCRIPTIONS + "/{subscription_id}", "v1.get_notification_subscription",
             "One subscription", "owner", note=_OWNERS, tags=("notifications",),
             response_schema="NotificationSubscription"),
    Endpoint("PATCH", _SUBSCRIPTIONS + "/{subscription_id}", "v1.update_notification_subscription",
             "Change a subscription; enabled=true re-enables a disabled endpoint (its waiting events go out), "
             "rotate_secret=true answers a new secret once", "owner", note=_OWNERS,
             request_schema="https://topicdesk.dev/schemas/notification-subscription.update.json",
             tags=("notifications",), response_schema="NotificationSubscription"),
    Endpoint("DELETE", _SUBSCRIPTIONS + "/{subscription_id}", "v1.delete_notification_subscription",
             "Delete a subscription with its waiting deliveries and history", "owner", note=_OWNERS, success=204,
             tags=("notifications",)),
    Endpoint("GET", _SUBSCRIPTIONS + "/{subscription_id}/deliveries", "v1.notification_deliveries",
             "The endpoint's delivery history: every attempt with its result, newest first", "owner", note=_OWNERS,
             tags=("notifications",), query=PAGE, response_schema="NotificationDeliveryList"),
    Endpoint("POST", _SUBSCRIPTIONS + "/{subscription_id}/test", "v1.test_notification_subscription",
             "Queue a notification.test event for this endpoint (202); it shows in the delivery history once sent",
             "owner", note=_OWNERS, success=202, tags=("notifications",), response_schema="NotificationTestQueued"),
)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/healthz", "health.healthz", "Process is up", "public", tags=("health",),
             response_schema="Health"),
    Endpoint("GET", "/readyz", "health.readyz", "Database is reachable", "public", tags=("health",),
             response_schema="Health"),
    Endpoint("GET", "/metrics", "metrics.metrics",
             "Prometheus metrics: HTTP, requests, approvals, drift, leases, audit (docs/architecture.md, "
             "\"Observability\")", "public", note="for the scraper on the internal network; no label carries "
             "a topic, request id or principal. With TOPICDESK_METRICS_TOKEN set it needs Authorization: Bearer "
             "<that token> (401 otherwise; API tokens and sessions do not open it), as the reconciler's "
             "--metrics-port does", tags=("health",), response_schema="PrometheusText",
             response_media=("text/plain",), also=((401, "Problem"),), optional_security="metrics_token"),
    Endpoint("GET", "/api/v1/openapi.json", "v1.openapi", "This document", "public", tags=("meta",),
             response_schema="OpenApiDocument"),
    Endpoint("GET", "/api/v1/me", "v1.me", "The caller: subject, teams, roles", "authenticated", tags=("identity",),
             response_schema="Me"),
    Endpoint("GET", "/api/v1/clusters", "v1.clusters", "Registered clusters (never credentials)", "authenticated",
             tags=("clusters",), response_schema="ClusterList"),
    Endpoint("POST", "/api/v1/clusters", "v1.register_cluster", "Register a cluster (credentials by reference)",
             "platform_admin", request_schema="https://topicdesk.dev/schemas/cluster.json", success=201,
             tags=("clusters",), response_schema="ClusterAdminView"),
    Endpoint("PATCH", "/api/v1/clusters/{cluster}", "v1.change_cluster",
             "Change a cluster's owner, address, limits or drift mode (enforce | report)", "platform_admin",
             tags=("clusters",), request_schema="ClusterChange", response_schema="ClusterAdminView"),
    Endpoint("GET", "/api/v1/clusters/{cluster}/drift", "v1.cluster_drift",
             "The last drift scan: each open difference with its id, state and possible actions; unmanaged "
             "topics and ACLs", "authenticated", tags=("drift",), response_schema="DriftReport"),
    Endpoint("POST", "/api/v1/clusters/{cluster}/drift/{item_id}/triage", "v1.triage_drift",
             "Revert, adopt (as an ordinary request) or ignore (with a reason, until an expiry) one difference",
             "owner", note="an owner of the difference's team (the resource's owner; the grantee's for ACLs)",
             request_schema="https://topicdesk.dev/schemas/drift-triage.json", tags=("drift",),
             response_schema="TriageResult"),
    Endpoint("GET", "/api/v1/clusters/{cluster}/service-accounts", "v1.list_service_accounts",
             "The caller's teams' service accounts on a cluster, each with its access grants and client quota",
             "authenticated",
             note="lists only the caller's teams' accounts (all for platform admins)", tags=("service accounts",),
             response_schema="ServiceAccountList"),
    Endpoint("POST", "/api/v1/clusters/{cluster}/service-accounts", "v1.create_service_account",
             "Create a SCRAM service account named <team>.<name>; the password is in this response only",
             "member", note="name must start with one of the caller's teams", success=201,
             tags=("service accounts",), request_schema="ServiceAccountNew",
             response_schema="ServiceAccountWithPassword", details=SCRAM_CLIENTS),
    Endpoint("POST", "/api/v1/clusters/{cluster}/service-accounts/{principal}/rotate",
             "v1.rotate_service_account", "New password (returned once)", "owner",
             note="owner of the account's team", tags=("service accounts",),
             response_schema="ServiceAccountWithPassword", details=SCRAM_CLIENTS),
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
             query=(("dry_run", BOOLEAN), ("override_managed_by", BOOLEAN)), response_schema="RequestView",
             also=((200, "DryRunResult"),)),
    Endpoint("POST", "/api/v1/desired-state", "v1.apply_desired_state",
             "Plan (dry_run) or apply a team's desired-state file (YAML or JSON): it manages exactly what it "
             "declares; the difference becomes ordinary requests. Apply: 200 all auto-approved or in sync, 202 some "
             "await approval, 409 problem+json with the result when any change was denied, skipped as destructive, "
             "previously denied or an error", "member",
             note="members of the file's team; destructive changes only with allow_destroy=true (alias prune); the "
                  "file is YAML or JSON (other types: 415), every error with its path, line and column",
             request_schema="https://topicdesk.dev/schemas/desired-state.json", tags=("requests",),
             query=(("dry_run", BOOLEAN), ("allow_destroy", BOOLEAN), ("prune", BOOLEAN), ("source", "string")),
             response_schema="https://topicdesk.dev/schemas/desired-state-result.json", request_media=FILE_MEDIA,
             also=((202, "https://topicdesk.dev/schemas/desired-state-result.json"),
                   (409, "DesiredStateNotApplied"))),
    Endpoint("GET", "/api/v1/desired-state", "v1.export_desired_state",
             "Export what Topicdesk holds for a team on a cluster as a desired-state file that re-applies as in sync "
             "(JSON; YAML with a comment header for format=yaml or Accept: application/yaml)", "member",
             note="members of the team (default: the caller's team); platform admins any team; another team is 404",
             tags=("requests",), query=(("cluster", {"type": "string", "minLength": 1}), ("team", "string"),
                                         ("format", {"enum": ["json", "yaml"]})), required_query=("cluster",),
             response_schema="https://topicdesk.dev/schemas/desired-state.json", response_media=FILE_MEDIA),
    Endpoint("GET", "/api/v1/requests", "v1.list_requests", "Requests the caller may see", "authenticated",
             note="newest first; filters combine: status, kind, cluster, team (the requesting or the owning team; "
             "a team's requests include those its API tokens made), mine (asked by the caller), awaiting_me "
             "(pending, and the caller is a routed approver); a bad value is 422 naming each parameter",
             tags=("requests",), response_schema="RequestList",
             query=(("status", {"enum": list(REQUEST_STATUSES)}), ("kind", {"enum": list(REQUEST_KINDS)}),
                    ("cluster", {"type": "string", "maxLength": 100}), ("team", {"type": "string", "maxLength": 64}),
                    ("mine", BOOLEAN), ("awaiting_me", BOOLEAN), *PAGE)),
    Endpoint("GET", "/api/v1/requests/{id}", "v1.get_request", "One request, with its history", "authenticated",
             note="404 unless requester, requesting team, owning team or platform admin", tags=("requests",),
             response_schema="RequestView"),
    Endpoint("POST", "/api/v1/requests/{id}/approve", "v1.approve", "Approve", "owner",
             note="a routed approver (owner of the named team, or platform admin); never the requester",
             tags=("requests",), request_schema="Approval", body_required=False, response_schema="RequestView"),
    Endpoint("POST", "/api/v1/requests/{id}/reject", "v1.reject", "Reject with a reason", "owner",
             note="a routed approver", tags=("requests",), request_schema="Rejection",
             response_schema="RequestView"),
    Endpoint("POST", "/api/v1/requests/{id}/cancel", "v1.cancel", "Cancel a pending request", "member",
             note="the requester or an owner of the requesting team", tags=("requests",),
             response_schema="RequestView"),
    Endpoint("GET", "/api/v1/migrations", "v1.list_migrations",
             "Topic migrations the caller may see: of the caller's teams (owning the target or the source), all "
             "for platform admins", "authenticated", tags=("migrations",), response_schema="MigrationList",
             query=PAGE),
    Endpoint("GET", "/api/v1/migrations/{id}", "v1.get_migration",
             "One migration: its step, the steps as a timeline with their gates, history, plan and verification",
             "authenticated", note="404 unless a member of the target's owner team, of the source cluster's "
             "owner team, or platform admin", tags=("migrations",), response_schema="Migration"),
    Endpoint("POST", "/api/v1/migrations/{id}/rollback", "v1.roll_back_migration",
             "Roll a migration back (planned, mirroring or consumers_cut_over only): the driver stops the mirror and "
             "removes the DENY ACLs Topicdesk added on the source; consumers go back to the source. The target "
             "topics are kept (deleting them is a separate topic.delete request)", "owner",
             note="an owner of the target's owner team or of the source cluster's owner team, or platform admin; "
             "409 once producers switched", tags=("migrations",), request_schema="Rejection",
             response_schema="Migration"),
    Endpoint("POST", "/api/v1/migrations/{id}/producers-switched", "v1.migration_producers_switched",
             "Confirm producers write to the target (at producers_cut_over; otherwise Topicdesk waits to see records "
             "on the target past the verified counts)", "owner", note="an owner of the target's owner team; 409 at "
             "another step; the optional comment goes into the audit event", tags=("migrations",),
             request_schema="Approval", body_required=False, response_schema="Migration"),
    Endpoint("GET", "/api/v1/topics", "v1.list_topics",
             "The topic catalogue across clusters (status: applied, drifted, pending or error)", "authenticated",
             note="q: a case-insensitive substring of the name or the description, where % matches any "
             "characters and _ one (SQL LIKE)", tags=("topics",),
             query=(("cluster", "string"), ("team", "string"), ("q", "string"),
                    ("status", {"enum": list(TOPIC_STATUSES)}), *PAGE),
             response_schema="TopicList"),
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
             query=(("within_days", {"type": "integer", "minimum": 1, "maximum": 366, "default": 14}), *PAGE),
             response_schema="https://topicdesk.dev/schemas/grant-list.json"),
    Endpoint("GET", "/api/v1/reports/stale", "v1.stale_report",
             "Stale topics (no writes for days, default 30, 1..365) and unused grants (no commits for days), "
             "from stored usage observations; each row carries the topic.delete or access.revoke request body",
             "authenticated",
             note="team defaults to the caller's teams (every team for platform admins); another team is 404 "
                  "unless platform admin; cluster optional (all clusters)", tags=("reports",),
             query=(("days", DAYS), ("team", NON_EMPTY), ("cluster", NON_EMPTY)),
             response_schema="https://topicdesk.dev/schemas/stale-report.json"),
    Endpoint("POST", "/api/v1/reports/stale/refresh", "v1.refresh_stale_report",
             "Gather the cluster's usage evidence now (one bulk call), record it, and answer the stale report "
             "for that cluster", "owner",
             note="owners of the cluster's owner team or platform admins; cluster required; 503 when the cluster "
                  "does not answer", tags=("reports",),
             query=(("cluster", NON_EMPTY), ("days", DAYS), ("team", NON_EMPTY)), required_query=("cluster",),
             response_schema="https://topicdesk.dev/schemas/stale-report.json"),
    Endpoint("GET", "/api/v1/teams/{team}/tokens", "v1.list_team_tokens",
             "A team's API tokens with their last use (never their values)", "owner", tags=("tokens",),
             response_schema="ApiTokenList"),
    Endpoint("POST", "/api/v1/teams/{team}/tokens", "v1.create_team_token",
             "Create a team API token (member or owner role); the token is in this response only", "owner",
             success=201, tags=("tokens",), request_schema="TokenNew", response_schema="TokenWithSecret"),
    Endpoint("DELETE", "/api/v1/teams/{team}/tokens/{token_id}", "v1.revoke_team_token", "Revoke a team API token",
             "owner", success=204, tags=("tokens",)),
    *NOTIFICATION_ENDPOINTS,
    Endpoint("GET", "/api/v1/audit", "v1.audit", "Audit events of the caller's teams (all for admins)",
             "authenticated", tags=("audit",),
             note="newest first; filters combine: since (RFC 3339), subject (the event's subject or actor), "
             "request (an id: short for subject=request:<id>), action (request:approve, or a family: request), "
             "hide_logins (leave out auth:* events unless action asks for them)",
             query=(("since", {"type": "string", "format": "date-time"}),
                    ("subject", {"type": "string", "maxLength": 600}), ("request", {"type": "string", "maxLength": 32}),
                    ("action", {"type": "string", "maxLength": 64}), ("hide_logins", BOOLEAN), *PAGE),
             response_schema="AuditPage"),
    Endpoint("GET", "/api/v1/audit/verify", "v1.audit_verify", "Verify the audit hash chain", "authenticated",
             tags=("audit",), response_schema="AuditVerdict"),
)

# observability/http.py keeps a caller's X-Request-ID only when it matches this.
REQUEST_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# Every operation takes it and every answer carries it back (the caller's, or a new one).
REQUEST_ID_PARAMETER = {"name": "X-Request-ID", "in": "header", "required": False,
                        "description": "Correlation id, logged with the request; a value that does not match "
                                       f"{REQUEST_ID_PATTERN} is replaced by a new id",
                        # Not refused when it does not match REQUEST_ID_PATTERN: a tracing header must never fail a
                        # request, so the parameter is any string and the answer's header carries the pattern.
                        "schema": {"type": "string"}}

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

"""OpenAPI components of the bodies that have no file in schemas/: the small request bodies of the
views that check their own fields (api/v1.py), and the responses beside those in api/responses.py.

They describe what the views do, field for field: the fuzzer (tests/integration/test_api_fuzz.py)
sends what these schemas allow and what they forbid, and checks every answer against them.
"""

from __future__ import annotations

from typing import Any

from topicdesk.api.common import MAX_PAGE
from topicdesk.api.openapi_bundle import COMPONENTS
from topicdesk.policy.engine import OUTCOMES

_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_STRINGS = {"type": "array", "items": {"type": "string"}}


def ref(name: str) -> dict[str, str]:
    return {"$ref": COMPONENTS + name}


def page_of(item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A page of a list: its items and the cursor of the next page (null: the last page)."""
    return {"type": "object", "required": ["items", "next_cursor", *extra],
            "properties": {"items": {"type": "array", "items": item}, **extra,
                           "next_cursor": {"type": ["string", "null"],
                                           "description": "Pass as ?cursor= for the next page; null: last page"}}}


# --- request bodies -------------------------------------------------------------------------------------

APPROVAL = {"type": "object", "description": "Optional: a body may be left out.",
            "properties": {"comment": {"type": "string", "description": "Recorded with the approval"}}}
REJECTION = {"type": "object", "required": ["reason"],
             "properties": {"reason": {"type": "string", "minLength": 1, "pattern": "\\S",
                                       "description": "Why; must not be blank"}}}
SERVICE_ACCOUNT_NEW = {
    "type": "object", "required": ["name"], "additionalProperties": False,
    "properties": {"name": {"type": "string", "maxLength": 200, "pattern": "^[a-z0-9][a-z0-9_-]*\\.[a-z0-9._-]*$",
                            "description": "<team>.<name>, the team one of the caller's"}}}
TOKEN_NEW = {
    "type": "object", "required": ["name"], "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,99}$"},
        "role": {"enum": ["member", "owner"], "default": "member"},
        "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 366, "default": 90},
    },
}
# PATCH /clusters/{cluster}: any of the registration's fields but the name; the merged cluster is
# checked against schemas/cluster.json.
CLUSTER_FIELDS = ("environment", "owner_team", "bootstrap_servers", "security_protocol", "sasl_mechanism",
                  "admin_secret_ref", "broker_count", "partition_budget", "disk_budget_bytes", "tags",
                  "quarantine_seconds", "drift_mode")
CLUSTER_CHANGE = {
    "type": "object", "additionalProperties": False,
    "properties": {name: {"$ref": f"{COMPONENTS}cluster/properties/{name}"} for name in CLUSTER_FIELDS},
}

# --- responses ------------------------------------------------------------------------------------------

PROBLEM: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; errors lists every field that is wrong, with its JSON pointer",
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
# A 409 of POST /desired-state: the problem with the whole result as extension members.
DESIRED_STATE_NOT_APPLIED = {"allOf": [ref("Problem"), ref("desired-state-result")]}

HEALTH = {"type": "object", "required": ["status"], "properties": {"status": {"enum": ["ok", "ready"]}}}
OPENAPI = {"type": "object", "required": ["openapi", "paths"], "description": "An OpenAPI 3.1 document"}
ME = {
    "type": "object", "required": ["subject", "teams", "roles", "platform_admin"],
    "properties": {"subject": {"type": "string"}, "teams": _STRINGS,
                   "roles": {**_STRINGS, "description": "<team>:<member|owner>, and platform_admin"},
                   "platform_admin": {"type": "boolean"}},
}
_CLUSTER_PUBLIC = {
    "name": {"type": "string"}, "environment": {"type": "string"}, "owner_team": {"type": "string"},
    "bootstrap_servers": {"type": "string"}, "security_protocol": {"type": "string"},
    "sasl_mechanism": {"type": "string"}, "drift_mode": {"enum": ["enforce", "report"]},
    "broker_count": {"type": "integer"}, "tags": _STRINGS,
}
CLUSTER_SUMMARY = {
    "type": "object", "description": "Never credentials: every team needs the coordinates to connect",
    "required": [*_CLUSTER_PUBLIC, "capacity"],
    "properties": {**_CLUSTER_PUBLIC, "capacity": {
        "type": "object", "required": ["partitions_used", "partition_budget", "disk_bytes_used", "disk_budget_bytes"],
        "properties": {key: {"type": "integer"} for key in ("partitions_used", "partition_budget",
                                                             "disk_bytes_used", "disk_budget_bytes")}}},
}
CLUSTER_ADMIN_VIEW = {
    "type": "object", "description": "A platform admin's view: the secret reference, never the secret",
    "required": [*_CLUSTER_PUBLIC, "admin_secret_ref", "partition_budget", "disk_budget_bytes",
                 "quarantine_seconds", "effective_quarantine_seconds"],
    "properties": {**_CLUSTER_PUBLIC, "admin_secret_ref": {"type": "string"},
                   "partition_budget": {"type": "integer"}, "disk_budget_bytes": {"type": "integer"},
                   "quarantine_seconds": {"type": ["integer", "null"]},
                   "effective_quarantine_seconds": {"type": "integer"}},
}
DRIFT_ITEM = {
    "type": "object",
    "required": ["id", "cluster", "kind", "key", "state", "drifted", "actions", "first_seen_at", "last_seen_at"],
    "properties": {
        "id": {"type": "string"}, "cluster": {"type": "string"}, "kind": {"type": "string"},
        "key": {"type": "string"}, "team": {"type": ["string", "null"]}, "subject": {"type": ["string", "null"]},
        "resources": {"type": "array", "items": {"type": "object"}}, "expected": {}, "desired": {}, "actual": {},
        "message": {"type": ["string", "null"]}, "first_seen_at": _TIME, "last_seen_at": _TIME,
        "state": {"enum": ["open", "ignored", "adopting", "reverting"]}, "drifted": {"type": "boolean"},
        "actions": {"type": "array", "items": {"enum": ["revert", "adopt", "ignore"]}},
        "ignore": {"type": ["object", "null"]},
    },
}
DRIFT_REPORT = {
    "type": "object", "required": ["cluster", "drift_mode", "scanned_at", "items", "unmanaged_topics",
                                   "unmanaged_acls"],
    "properties": {"cluster": {"type": "string"}, "drift_mode": {"enum": ["enforce", "report"]},
                   "scanned_at": _TIME_OR_NULL, "items": {"type": "array", "items": ref("DriftItem")},
                   "unmanaged_topics": {"type": "array"}, "unmanaged_acls": {"type": "array"}},
}
TRIAGE_RESULT = {
    "type": "object", "required": ["item"],
    "properties": {"item": ref("DriftItem"),
                   "requests": {"type": "array", "items": {"type": "object"},
                                "description": "adopt: the requests it submitted"}},
}
SERVICE_ACCOUNT = {
    "type": "object", "required": ["principal", "username", "cluster", "owner_team", "created_at", "rotated_at",
                                   "bootstrap_servers", "security_protocol", "sasl_mechanism"],
    "properties": {"principal": {"type": "string"}, "username": {"type": "string"}, "cluster": {"type": "string"},
                   "owner_team": {"type": "string"}, "team": {"type": "string"}, "created_at": _TIME,
                   "rotated_at": _TIME_OR_NULL, "bootstrap_servers": {"type": "string"},
                   "security_protocol": {"type": "string"}, "sasl_mechanism": {"type": "string"}},
}
SERVICE_ACCOUNT_SECRET = {
    "allOf": [ref("ServiceAccountCreated"), {
        "type": "object", "required": ["password"],
        "properties": {"password": {"type": "string", "description": "Shown once, never stored (Cache-Control: "
                                    "no-store); SCRAM-SHA-512 needs librdkafka 2.6.1 or newer on Kafka 4"}}}],
}
DECISION = {
    "type": "object", "required": ["outcome", "rules", "approvers"],
    "properties": {
        "outcome": {"enum": list(OUTCOMES)},
        "rules": {"type": "array", "items": {"type": "object", "required": ["id", "effect", "message"],
                                             "properties": {"id": {"type": "string"}, "effect": {"type": "string"},
                                                            "message": {"type": "string"}}}},
        "approvers": _STRINGS,
        "evidence": {"type": "object", "description": "topic.delete: the usage evidence it was decided on"},
    },
}
DRY_RUN = {"type": "object", "required": ["decision", "dry_run"],
           "properties": {"decision": ref("Decision"), "dry_run": {"const": True}}}
TOKEN = {
    "type": "object", "required": ["id", "team", "name", "role", "created_by", "created_at", "expires_at",
                                   "revoked_at", "last_used_at"],
    "properties": {"id": {"type": "string"}, "team": {"type": "string"}, "name": {"type": "string"},
                   "role": {"type": "string"}, "created_by": {"type": "string"}, "created_at": _TIME,
                   "expires_at": _TIME_OR_NULL, "revoked_at": _TIME_OR_NULL, "last_used_at": _TIME_OR_NULL},
}
TOKEN_SECRET = {
    "type": "object", "required": ["id", "team", "name", "role", "expires_at", "token"],
    "properties": {"id": {"type": "string"}, "team": {"type": "string"}, "name": {"type": "string"},
                   "role": {"enum": ["member", "owner"]}, "expires_at": _TIME_OR_NULL,
                   "token": {"type": "string", "description": "tdk_...: shown once, only its hash is stored"}},
}
AUDIT_EVENT = {
    "type": "object", "required": ["id", "event_id", "occurred_at", "actor", "action", "subject", "hash"],
    "properties": {"id": {"type": "string"}, "event_id": {"type": "string"}, "occurred_at": _TIME,
                   "actor": {"type": "string"}, "action": {"type": "string"}, "subject": {"type": "string"},
                   "team": {"type": ["string", "null"]}, "data": {}, "hash": {"type": ["string", "null"]},
                   "prev_hash": {"type": ["string", "null"]}},
}
AUDIT_VERDICT = {
    "type": "object", "required": ["ok", "events", "head", "first_bad", "problem", "pending", "oldest_pending"],
    "properties": {"ok": {"type": "boolean"}, "events": {"type": "integer"}, "head": {"type": ["string", "null"]},
                   "first_bad": {"type": ["string", "null"]}, "problem": {"type": ["string", "null"]},
                   "pending": {"type": "integer"}, "oldest_pending": _TIME_OR_NULL},
}
TOPIC_SUMMARY = {
    "type": "object", "required": ["cluster", "name", "owner_team", "status", "lifecycle"],
    "properties": {"cluster": {"type": "string"}, "name": {"type": "string"}, "owner_team": {"type": "string"},
                   "partitions": {"type": "integer"}, "replication_factor": {"type": "integer"},
                   "config": {"type": "object", "additionalProperties": {"type": "string"}},
                   "description": {"type": ["string", "null"]},
                   "status": {"$ref": COMPONENTS + "topic/properties/status"},
                   "last_error": {"type": ["string", "null"]}, "managed_by": {"type": ["string", "null"]},
                   "lifecycle": {"$ref": COMPONENTS + "topic/$defs/lifecycle/properties/lifecycle"}},
}

COMPONENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": PROBLEM, "DesiredStateNotApplied": DESIRED_STATE_NOT_APPLIED,
    "Health": HEALTH, "OpenApiDocument": OPENAPI, "Me": ME,
    "ClusterSummary": CLUSTER_SUMMARY, "ClusterList": page_of(ref("ClusterSummary")),
    "ClusterAdminView": CLUSTER_ADMIN_VIEW, "ClusterChange": CLUSTER_CHANGE,
    "DriftItem": DRIFT_ITEM, "DriftReport": DRIFT_REPORT, "TriageResult": TRIAGE_RESULT,
    # The list's items (with grants and quota) are ServiceAccount in api/responses.py; create and rotate answer
    # the account without them.
    "ServiceAccountCreated": SERVICE_ACCOUNT,
    "ServiceAccountWithPassword": SERVICE_ACCOUNT_SECRET, "ServiceAccountNew": SERVICE_ACCOUNT_NEW,
    "Decision": DECISION, "DryRunResult": DRY_RUN, "Approval": APPROVAL, "Rejection": REJECTION,
    "TopicSummary": TOPIC_SUMMARY, "TopicList": page_of(ref("TopicSummary")),
    "Token": TOKEN, "TokenList": page_of(ref("Token")), "TokenNew": TOKEN_NEW, "TokenWithSecret": TOKEN_SECRET,
    "AuditEvent": AUDIT_EVENT, "AuditPage": page_of(ref("AuditEvent")), "AuditVerdict": AUDIT_VERDICT,
}

# Query parameters by name: the bounds the views enforce (api/common.py, api/v1.py).
QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50},
    "cursor": {"type": "string", "description": "next_cursor of the previous page"},
}

"""JSON Schemas of the response bodies the OpenAPI document describes (components by name)."""

from __future__ import annotations

from typing import Any

from topicdesk.api.notification_responses import NOTIFICATION_RESPONSES

_TIME = {"type": ["string", "null"], "format": "date-time"}
_ERROR = {"type": ["object", "null"], "required": ["reason", "message"],
          "properties": {"reason": {"type": "string"}, "message": {"type": "string"}}}
_STATUS = ["pending_approval", "denied", "rejected", "cancelled", "approved", "applying", "applied", "failed"]

CHANGE_OUTCOME: dict[str, Any] = {
    "type": "object", "required": ["change", "key", "status"],
    "description": "One change the reconciler made (or would not make) to one resource.",
    "properties": {
        "change": {"type": "string", "description": "create_topic, alter_topic_config, add_partitions, create_acl, "
                   "...; for a refused change what was asked: partition_decrease, replication_factor_change"},
        "key": {"type": "string"},
        "status": {"enum": ["applied", "refused", "failed", "retrying"],
                   "description": "applied: sent and read back; refused: never sent; failed: Kafka refused it "
                                  "for good; retrying: transient failure, tried again after back-off"},
        "reason": {"type": ["string", "null"], "description": "Kafka's (or the planner's) reason"},
        "message": {"type": "string"},
        "before": {}, "after": {},
    },
}

RESOURCE_OUTCOME: dict[str, Any] = {
    "type": "object", "required": ["resource", "status", "changes"],
    "properties": {
        "resource": {"type": "string", "description": "e.g. topic:<cluster>/<name>"},
        "generation": {"type": "integer"},
        "status": {"enum": ["applied", "failed", "retrying", "pending"],
                   "description": "pending: no pass reached the resource before the request settled"},
        "changes": {"type": "array", "items": {"$ref": "#/components/schemas/ChangeOutcome"}},
        "reason": {"type": "string"}, "message": {"type": "string"},
    },
}

HISTORY_ENTRY: dict[str, Any] = {
    "type": "object", "required": ["status", "at", "by"],
    "properties": {
        "status": {"enum": _STATUS}, "at": {"type": "string", "format": "date-time"}, "by": {"type": "string"},
        "event": {"type": "string", "description": "submit, approve, applying, retry, applied, failed, ..."},
        "attempt": {"type": "integer", "description": "retry entries: the attempt that failed"},
        "error": _ERROR, "next_attempt_at": _TIME,
    },
}

_BUDGET = {"type": "object", "properties": {"used": {"type": "integer"}, "after": {"type": "integer"},
                                            "budget": {"type": ["integer", "null"]}}}

REQUEST_CHANGE: dict[str, Any] = {
    "type": "object", "required": ["field", "current", "new"],
    "description": "One field a request changes: the value Topicdesk holds (null: not set, the default) and the "
                   "asked-for one (null: back to the default).",
    "properties": {"field": {"type": "string", "description": "partitions, replication_factor, description, "
                             "config.<key>, expected_throughput.bytes_per_second, producer_byte_rate, "
                             "consumer_byte_rate, request_percentage, topic (a deletion), access (a grant/revoke)"},
                   "current": {}, "new": {}},
}

REQUEST_IMPACT: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "Who consumes the topic and the cluster's budgets before and after the change (null for quotas)",
    "properties": {
        "consumers": {"type": "array", "items": {"type": "object", "properties": {
            "principal": {"type": "string"}, "group": {"type": ["string", "null"]},
            "team": {"type": ["string", "null"]}}}},
        "consuming_teams": {"type": "array", "items": {"type": "string"}},
        "partition_replicas": _BUDGET, "disk_bytes": _BUDGET,
    },
}

REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["id", "kind", "cluster", "spec", "status", "decision", "approvals", "error", "applied_at",
                 "attempts", "last_error", "next_attempt_at", "outcomes", "partial"],
    "properties": {
        "id": {"type": "string"}, "kind": {"type": "string"}, "cluster": {"type": "string"},
        "spec": {"type": "object"}, "reason": {"type": "string"}, "requested_by": {"type": "string"},
        "requester_team": {"type": "string"}, "owner_team": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "status": {"enum": _STATUS}, "decision": {"type": "object"}, "approvals": {"type": "array"},
        "rejection_reason": {"type": ["string", "null"]},
        "error": {**_ERROR, "description": "Why the request failed; when some parts were applied the message "
                                           "lists the applied and the not applied ones"},
        "applied_at": _TIME,
        "attempts": {"type": "integer", "description": "Apply passes that left the request retrying so far"},
        "last_error": {**_ERROR, "description": "While retrying: Kafka's reason for the last failed attempt"},
        "next_attempt_at": {**_TIME, "description": "While retrying: when the reconciler tries again"},
        "outcomes": {"type": ["array", "null"], "items": {"$ref": "#/components/schemas/ResourceOutcome"},
                     "description": "Per resource, the outcome of each change (null until a pass reached one)"},
        "partial": {"type": "boolean", "description": "failed, but some changes were applied"},
        "source": {"type": ["string", "null"], "description": "The desired-state file that submitted the request "
                                                             "(null: portal/API)"},
        "history": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryEntry"},
                    "description": "Only in GET /api/v1/requests/{id}"},
        "changes": {"type": ["array", "null"], "items": {"$ref": "#/components/schemas/RequestChange"},
                    "description": "Current -> new of every changed field: against desired state now while the "
                                   "request waits (or when it never changed it); as at approval once approved. In "
                                   "lists only for pending_approval requests (else null)"},
        "impact": {"$ref": "#/components/schemas/RequestImpact"},
        "migration_plan": {"$ref": "#/components/schemas/MigrationPlan",
                           "description": "topic.migrate only: the plan computed at submission, shown before "
                                          "approval (null when the clusters could not be read)"},
        "migration_id": {"type": ["string", "null"],
                         "description": "topic.migrate only: the migration its last approval started "
                                        "(GET /api/v1/migrations/{id}); null until then"},
    },
}

_STRINGS = {"type": "array", "items": {"type": "string"}}
MIGRATION_PLAN: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "What the target needs so the topics can move (domain/migration_plan.py)",
    "required": ["source", "target", "topics", "missing_topics", "conflicting_topics", "refused_topics", "grants",
                 "service_accounts", "consumer_groups", "team_changes", "notes"],
    "properties": {
        "source": {"type": "string"}, "target": {"type": "string"}, "requested_topics": _STRINGS,
        "topics": {"type": "array", "items": {"type": "object", "required": [
            "name", "partitions", "replication_factor", "config", "adjustments", "refused", "refusals"], "properties": {
            "name": {"type": "string"}, "partitions": {"type": "integer"}, "replication_factor": {"type": "integer"},
            "source_replication_factor": {"type": "integer"}, "config": {"type": "object"},
            "adjustments": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "source": {}, "target": {}, "reason": {"type": "string"}}}},
            "refused": {"type": "boolean"}, "refusals": _STRINGS}}},
        "missing_topics": _STRINGS, "conflicting_topics": _STRINGS, "refused_topics": _STRINGS,
        "grants": {"type": "array", "items": {"type": "object", "properties": {
            "topic": {"type": "string"}, "principal": {"type": "string"}, "access": {"enum": ["produce", "consume"]},
            "group": {"type": "string"}, "group_pattern": {"type": "string"}, "transactional_id": {"type": "string"}}}},
        "service_accounts": {"type": "array", "items": {"type": "object", "properties": {
            "principal": {"type": "string"}, "team": {"type": "string"}, "exists_on_target": {"type": "boolean"},
            "action": {"enum": ["none", "create_scram_credentials"]}}}},
        "consumer_groups": {"type": "array", "items": {"type": "object", "properties": {
            "group": {"type": "string"}, "team": {"type": ["string", "null"]}, "topics": _STRINGS,
            "state": {"type": "string"}, "members": {"type": "integer"}, "lag": {"type": ["integer", "null"]},
            "discovered": {"type": "boolean"}}}},
        "team_changes": {"type": "array", "items": {"type": "object", "properties": {
            "team": {"type": "string"}, "producers": _STRINGS, "consumers": _STRINGS, "consumer_groups": _STRINGS,
            "topics": _STRINGS, "change": _STRINGS, "unchanged": {"type": "string"}}}},
        "notes": _STRINGS,
    },
}

_STEPS = ["planned", "mirroring", "consumers_cut_over", "producers_cut_over", "source_quarantined", "done",
          "rolled_back", "failed"]
MIGRATION: dict[str, Any] = {
    "type": "object",
    "required": ["id", "request_id", "source_cluster", "target_cluster", "owner_team", "topics", "step",
                 "can_roll_back", "next_steps", "steps", "history", "verification", "plan"],
    "properties": {
        "id": {"type": "string"}, "request_id": {"type": "string"}, "source_cluster": {"type": "string"},
        "target_cluster": {"type": "string"}, "owner_team": {"type": "string"}, "topics": _STRINGS,
        "step": {"enum": _STEPS},
        "can_roll_back": {"type": "boolean", "description": "true until producers switch to the target"},
        "next_steps": {"type": "array", "items": {"enum": _STEPS}},
        "steps": {"type": "array", "description": "The forward steps as a timeline", "items": {
            "type": "object", "properties": {
                "step": {"enum": _STEPS}, "status": {"enum": ["done", "current", "next", "skipped"]},
                "entered_at": _TIME, "can_roll_back": {"type": "boolean"},
                "gate": {"type": "array", "description": "What must be observed before the step is entered",
                         "items": {"type": "object", "properties": {
                             "fact": {"type": "string"}, "op": {"type": "string"}, "value": {},
                             "description": {"type": "string"}}}}}}},
        "history": {"type": "array", "items": {"type": "object", "properties": {
            "from": {"type": ["string", "null"]}, "to": {"type": "string"}, "at": {"type": "string"},
            "by": {"type": "string"}, "reason": {"type": "string"}, "facts": {"type": ["object", "null"]}}}},
        "verification": {"type": ["object", "null"], "description": "Per-partition counts and sampled records "
                                                                    "compared before producers switch"},
        "plan": {"$ref": "#/components/schemas/MigrationPlan"},
        "facts": {"type": "object", "description": "The gate facts the driver last measured on the clusters "
                                                   "(fact -> value; null: not measurable yet)"},
        "facts_at": {"type": ["string", "null"], "format": "date-time"},
        "gate": {"type": "array", "description": "The next step's gate, each check with whether it passes now",
                 "items": {"type": "object", "properties": {
                     "fact": {"type": "string"}, "op": {"type": "string"}, "value": {},
                     "description": {"type": "string"}, "passes": {"type": "boolean"}}}},
        "lag": {"type": "object", "description": "Mirror lag: records on the source not yet on the target, counted "
                                                 "per partition (source latest-earliest minus target latest-earliest)",
                "properties": {
                    "measured_at": {"type": ["string", "null"]}, "total": {"type": ["integer", "null"]},
                    "max": {"type": ["integer", "null"]},
                    "partitions": {"type": "array", "items": {"type": "object", "properties": {
                        "topic": {"type": "string"}, "partition": {"type": "integer"},
                        "source_end": {"type": "integer"}, "target_end": {"type": ["integer", "null"]},
                        "lag": {"type": "integer"}}}},
                    "history": {"type": "array", "description": "The last 120 measurements", "items": {
                        "type": "object", "properties": {"at": {"type": "string"}, "total": {"type": "integer"},
                                                         "max": {"type": "integer"}}}}}},
        "mirror": {"type": ["object", "null"], "description": "The MirrorMaker 2 engine's last answer",
                   "properties": {"engine": {"type": "string"}, "state": {
                       "enum": ["starting", "running", "failed", "stopped", "absent", "unreachable"]},
                       "detail": {"type": "string"},
                       "principal": {"type": "string", "description": "The mirror's own SCRAM principal on both "
                                     "clusters, User:topicdesk-mirror-<migration id> (never the admin)"},
                       "access": {"enum": ["granted", "revoked"], "description": "granted: the principal and its "
                                  "ACLs exist while the mirror runs; revoked: removed with its internal topics"},
                       "cleanup": {"type": "object", "description": "What the clean-up removed once the mirror "
                                   "stopped for good: `at`, and per cluster (`source`, `target`) the ACLs removed "
                                   "(count), the user removed and the internal topics deleted",
                                   "properties": {"at": {"type": "string"}, "source": {"type": "object"},
                                                  "target": {"type": "object"}}}}},
        "groups": {"type": "array", "items": {"type": "object", "properties": {
            "group": {"type": "string"}, "team": {"type": ["string", "null"]},
            "source_members": {"type": "integer"}, "target_members": {"type": "integer"},
            "offsets_translated": {"type": "boolean"},
            "ready_on_target": {"type": "boolean", "description": "Exact offsets are committed on the target for "
                                "every partition the group committed on the source: start it there now"},
            "translation": {"enum": ["exact", "mirrormaker"], "description": "exact: committed by Topicdesk from "
                            "the source commit (1:1 offsets, boundary record checked); mirrormaker: its checkpoint"},
            "translation_note": {"type": "string", "description": "Why the translation is not exact (yet)"}}}},
        "team_actions": {"type": "array", "description": "What each team must do now", "items": {
            "type": "object", "properties": {
                "team": {"type": "string"}, "role": {"enum": ["producer", "consumer", "owner", "source_owner"]},
                "now": _STRINGS, "done": {"type": "boolean"}}}},
        "producers_switched_by": {"type": ["string", "null"],
                                  "description": "Who confirmed producers write to the target"},
        "last_error": {"type": ["string", "null"],
                       "description": "The step's last failed action or read; retried every pass"},
        "finished_at": {"type": ["string", "null"], "format": "date-time",
                        "description": "When the driver finished with it (done, or a rollback's clean-up)"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
MIGRATION_LIST: dict[str, Any] = {
    "type": "object", "required": ["items", "next_cursor"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Migration"}},
                   "next_cursor": {"type": ["string", "null"]}},
}

REQUEST_LIST: dict[str, Any] = {
    "type": "object", "required": ["items", "next_cursor"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/RequestView"}},
                   "next_cursor": {"type": ["string", "null"]}},
}

_TOPIC_STATE = {"type": ["object", "null"], "properties": {
    "partitions": {"type": "integer"}, "replication_factor": {"type": "integer"}, "config": {"type": "object"}}}

# The topic page: the topic as Topicdesk holds it (schemas/topic.json: desired state, lifecycle,
# grants, history) plus what the cluster has, answered without blocking on the cluster.
TOPIC_DETAIL: dict[str, Any] = {
    "allOf": [
        {"$ref": "#/components/schemas/topic"},
        {
            "type": "object",
            "required": ["observed", "observed_at", "stale", "observed_error"],
            "properties": {
                "observed": {**_TOPIC_STATE, "description": "What the cluster has: a live read if it answered "
                             "within TOPICDESK_TOPIC_LIVE_READ_SECONDS, else the last stored observation (null: "
                             "not on the cluster, or never observed)"},
                "observed_at": {**_TIME, "description": "When `observed` was seen"},
                "stale": {"type": "boolean", "description": "true when the live read failed, timed out or was not "
                          "tried and the stored observation is older than TOPICDESK_OBSERVATION_MAX_AGE_SECONDS, "
                          "or none exists"},
                "observed_error": {"type": ["string", "null"], "description": "Why the live read failed"},
            },
        },
    ],
}

_RESOURCE_STATUS = {"enum": ["applied", "drifted", "pending", "error", "deleting", "deleted"],
                    "description": "applied: read back from the cluster; pending: not applied yet; error: the last "
                                   "attempt failed (last_error)"}

CLIENT_QUOTA: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "The principal's client quota as Topicdesk holds it (null: none set) and whether the cluster "
                   "has it yet",
    "required": ["producer_byte_rate", "consumer_byte_rate", "request_percentage", "status"],
    "properties": {
        "producer_byte_rate": {"type": ["integer", "null"], "description": "bytes/s"},
        "consumer_byte_rate": {"type": ["integer", "null"], "description": "bytes/s"},
        "request_percentage": {"type": ["number", "null"]},
        "status": _RESOURCE_STATUS, "last_error": {"type": ["string", "null"]},
        "managed_by": {"type": ["string", "null"]}, "applied_at": _TIME,
    },
}

SERVICE_ACCOUNT: dict[str, Any] = {
    "type": "object", "required": ["principal", "username", "cluster", "team", "created_at", "grants", "quota"],
    "properties": {
        "principal": {"type": "string"}, "username": {"type": "string"}, "cluster": {"type": "string"},
        "team": {"type": "string"}, "owner_team": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"}, "rotated_at": _TIME,
        "bootstrap_servers": {"type": "string"}, "security_protocol": {"type": "string"},
        "sasl_mechanism": {"type": "string"},
        "grants": {"type": "array", "description": "The account's live access grants on this cluster: a deletion "
                   "removes them (and their ACLs) with the account",
                   "items": {"type": "object", "required": ["topic", "access", "status"], "properties": {
                       "topic": {"type": "string"}, "pattern": {"type": "string"}, "access": {"type": "string"},
                       "group": {"type": ["string", "null"]}, "transactional_id": {"type": ["string", "null"]},
                       "status": _RESOURCE_STATUS, "expires_at": _TIME}}},
        "quota": {"$ref": "#/components/schemas/ClientQuota"},
        "pending_quota_request": {"type": ["string", "null"],
                                  "description": "Id of a quota.set for this principal awaiting approval"},
    },
}

SERVICE_ACCOUNT_LIST: dict[str, Any] = {
    "type": "object", "required": ["items", "next_cursor"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/ServiceAccount"}},
                   "next_cursor": {"type": ["string", "null"]}},
}

API_TOKEN: dict[str, Any] = {
    "type": "object", "required": ["id", "team", "name", "role", "created_at", "expires_at", "revoked_at",
                                   "last_used_at"],
    "properties": {
        "id": {"type": "string"}, "team": {"type": "string"}, "name": {"type": "string"},
        "role": {"enum": ["member", "owner", "admin"]}, "created_by": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"}, "expires_at": _TIME, "revoked_at": _TIME,
        "last_used_at": {**_TIME, "description": "Last successful authentication (to the minute)"},
    },
}

API_TOKEN_LIST: dict[str, Any] = {
    "type": "object", "required": ["items", "next_cursor"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/ApiToken"}},
                   "next_cursor": {"type": ["string", "null"]}},
}

RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "ClientQuota": CLIENT_QUOTA, "ServiceAccount": SERVICE_ACCOUNT, "ServiceAccountList": SERVICE_ACCOUNT_LIST,
    "ApiToken": API_TOKEN, "ApiTokenList": API_TOKEN_LIST,
    "RequestView": REQUEST, "RequestList": REQUEST_LIST, "HistoryEntry": HISTORY_ENTRY,
    "ResourceOutcome": RESOURCE_OUTCOME, "ChangeOutcome": CHANGE_OUTCOME, "TopicDetail": TOPIC_DETAIL,
    "PrometheusText": {"type": "string", "description": "Prometheus text exposition format 0.0.4"},
    **NOTIFICATION_RESPONSES,
    "RequestChange": REQUEST_CHANGE, "RequestImpact": REQUEST_IMPACT,
    "MigrationPlan": MIGRATION_PLAN, "Migration": MIGRATION, "MigrationList": MIGRATION_LIST,
}

"""Registering and changing clusters: platform admins only, validated against schemas/cluster.json."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from topicdesk.adapters.audit_log import record_event
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import ClusterRow, TeamRow
from topicdesk.domain.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from topicdesk.domain.evidence import quarantine_seconds
from topicdesk.domain.identity import Identity
from topicdesk.schemas import SCHEMA_BASE_URI, SchemaSet, default_schemas

CLUSTER_SCHEMA_ID = SCHEMA_BASE_URI + "cluster.json"
FIELDS = ("environment", "owner_team", "bootstrap_servers", "security_protocol", "sasl_mechanism",
          "admin_secret_ref", "broker_count", "partition_budget", "disk_budget_bytes", "tags", "quarantine_seconds",
          "drift_mode")


def _require_admin(identity: Identity) -> None:
    if not identity.platform_admin:
        raise Forbidden("only platform admins register and change clusters")


def _validate(document: dict[str, Any], schemas: SchemaSet | None) -> None:
    errors = (schemas or default_schemas()).errors(CLUSTER_SCHEMA_ID, document)
    if errors:
        raise ValidationFailed("the cluster does not match its schema", errors=errors)


def _view(row: ClusterRow) -> dict[str, Any]:
    # The secret reference says where the credentials are, not what they are: admins may see it.
    return {**row.public_view(), "admin_secret_ref": row.admin_secret_ref, "broker_count": row.broker_count,
            "partition_budget": row.partition_budget, "disk_budget_bytes": row.disk_budget_bytes, "tags": row.tags,
            "quarantine_seconds": row.quarantine_seconds,
            "effective_quarantine_seconds": quarantine_seconds(row.environment, row.quarantine_seconds)}


def register_cluster(engine: Engine, identity: Identity, document: dict[str, Any],
                     schemas: SchemaSet | None = None) -> dict[str, Any]:
    _require_admin(identity)
    _validate(document, schemas)
    with unit_of_work(engine) as session:
        if session.get(TeamRow, document["owner_team"]) is None:
            raise ValidationFailed("unknown team", errors=[FieldError("/owner_team", "no such team")])
        if session.get(ClusterRow, document["name"]) is not None:
            raise Conflict(f"a cluster named {document['name']!r} is already registered")
        row = ClusterRow(name=document["name"], **{k: document[k] for k in FIELDS if k in document})
        session.add(row)
        session.flush()
        record_event(session, actor=identity.subject, action="cluster:register", subject=f"cluster:{row.name}",
                     team=row.owner_team, data={"after": _view(row)})
        return _view(row)


def change_cluster(engine: Engine, identity: Identity, name: str, changes: dict[str, Any],
                   schemas: SchemaSet | None = None) -> dict[str, Any]:
    _require_admin(identity)
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise ValidationFailed("unknown or unchangeable fields",
                               errors=[FieldError(f"/{key}", "cannot be changed here") for key in unknown])
    with unit_of_work(engine) as session:
        row = session.get(ClusterRow, name)
        if row is None:
            raise NotFound(f"no cluster named {name!r}")
        before = _view(row)
        merged = {**{k: v for k, v in before.items() if k in FIELDS or k == "name"}, **changes}
        _validate(merged, schemas)
        if "owner_team" in changes and session.get(TeamRow, changes["owner_team"]) is None:
            raise ValidationFailed("unknown team", errors=[FieldError("/owner_team", "no such team")])
        for key, value in changes.items():
            setattr(row, key, value)
        session.add(row)
        session.flush()
        after = _view(row)
        record_event(session, actor=identity.subject, action="cluster:change", subject=f"cluster:{name}",
                     team=row.owner_team, data={"before": before, "after": after})
        return after

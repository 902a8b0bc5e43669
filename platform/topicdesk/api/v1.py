"""The public REST API (/api/v1): parse, call one service, serialize."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from topicdesk.adapters.db import read_connection, unit_of_work
from topicdesk.adapters.strict_json import refused_character
from topicdesk.api.auth import OIDC_EXTENSION, identity_from_request
from topicdesk.api.body import file_body, json_body
from topicdesk.api.common import (
    caller,
    decode_cursor,
    encode_cursor,
    engine,
    page_args,
    query_bool,
)
from topicdesk.api.list_filters import audit_filter, request_cursor, request_filter
from topicdesk.api.problems import problem_response
from topicdesk.api.ratelimit import enforce_write_rate
from topicdesk.domain.errors import FieldError, Unauthenticated, ValidationFailed
from topicdesk.policy.allow_list import allowed_config_keys
from topicdesk.services import audit as audit_service
from topicdesk.services import clusters as clusters_service
from topicdesk.services import deletion, drift_triage, expiry, observations, queries, stale
from topicdesk.services import requests as workflow
from topicdesk.services import service_accounts as accounts
from topicdesk.services.cluster_port import close_port

v1 = Blueprint("v1", __name__, url_prefix="/api/v1")

# An approval's comment and a rejection's reason: as long as a request's reason may be (schemas/request.json).
MAX_TEXT = 2000


@v1.before_request
def authenticate() -> None:
    if request.endpoint == "v1.openapi":
        return
    identity = identity_from_request(engine(), current_app.extensions["topicdesk.settings"],
                                     current_app.extensions.get(OIDC_EXTENSION))
    if identity is None:
        raise Unauthenticated("send Authorization: Bearer <token>, or log in at /auth/login")
    g.identity = identity
    enforce_write_rate(identity)


def _deps() -> workflow.RequestDeps:
    deps: workflow.RequestDeps = current_app.extensions["topicdesk.request_deps"]
    return deps


@v1.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    document: dict[str, Any] = current_app.extensions["topicdesk.openapi"]
    return jsonify(document)


@v1.get("/me")
def me() -> ResponseReturnValue:
    identity = caller()
    return jsonify(subject=identity.subject, teams=identity.teams, roles=identity.roles(),
                   platform_admin=identity.platform_admin)


@v1.get("/clusters")
def clusters() -> ResponseReturnValue:
    caller()
    with unit_of_work(engine()) as session:
        items = queries.list_clusters(session)
    return jsonify(items=items, next_cursor=None)


@v1.post("/clusters")
def register_cluster() -> ResponseReturnValue:
    view = clusters_service.register_cluster(engine(), caller(), json_body())
    response = jsonify(view)
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/clusters/{view['name']}"
    return response


@v1.patch("/clusters/<cluster>")
def change_cluster(cluster: str) -> ResponseReturnValue:
    return jsonify(clusters_service.change_cluster(engine(), caller(), cluster, json_body()))


@v1.post("/requests")
def submit() -> ResponseReturnValue:
    identity = caller()
    document = json_body()
    # A platform admin changing a resource a desired-state file manages (audited on the request).
    override = query_bool("override_managed_by")
    if query_bool("dry_run"):
        return jsonify(workflow.evaluate_request(_deps(), identity, document, override_managed_by=override)), 200
    key = request.headers.get("Idempotency-Key")
    if key is not None and (not 1 <= len(key) <= 200 or refused_character(key)):
        raise ValidationFailed("bad Idempotency-Key", errors=[FieldError(
            "/headers/Idempotency-Key", "must be 1-200 characters, without control or invisible characters")])
    result = workflow.submit_request(_deps(), identity, document, idempotency_key=key, override_managed_by=override)
    response = jsonify(result.body)
    response.status_code = result.status_code
    response.headers["Location"] = f"/api/v1/requests/{result.body['id']}"
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@v1.post("/desired-state")
def apply_desired_state() -> ResponseReturnValue:
    from topicdesk.adapters.desired_file_format import (
        ACCEPTED_TYPES,
        locate_errors,
        media_type,
        parse_located,
    )
    from topicdesk.domain.desired_result import NOT_APPLIED_TYPE, not_applied_detail, result_status
    from topicdesk.services.desired_state import apply_desired_state as apply_file

    identity = caller()
    # prune is the older name of allow_destroy; either allows every destructive change.
    allow_destroy = query_bool("allow_destroy") or query_bool("prune")
    # The file as it is in the repository (YAML or JSON); the body size limit is the app's, as for JSON.
    # The service checks the schema (once); its errors are located in the file below.
    parsed = parse_located(file_body(ACCEPTED_TYPES, media_type), request.content_type, validate=False)
    try:
        result = apply_file(_deps(), identity, parsed.document, dry_run=query_bool("dry_run"),
                            allow_destroy=allow_destroy, source=request.args.get("source"))
    except ValidationFailed as exc:
        locate_errors(exc, parsed)  # schema errors, an unknown cluster, a time-bound grant: with their line
        raise
    status = result_status(result)
    if status == 409:
        # problem+json so that curl --fail fails, with the whole result as extension members.
        return problem_response(409, "Desired state not applied", not_applied_detail(result),
                                problem_type=NOT_APPLIED_TYPE, extra=result)
    return jsonify(result), status


@v1.get("/desired-state")
def export_desired_state() -> ResponseReturnValue:
    from topicdesk.adapters.desired_file_format import YAML_TYPES, dump_yaml
    from topicdesk.services.desired_export import export_desired_state as export_file

    identity = caller()
    cluster = request.args.get("cluster", "")
    if not cluster:
        raise ValidationFailed("name the cluster to export",
                               errors=[FieldError("/query/cluster", "required, e.g. ?cluster=payments-dev")])
    wanted = request.args.get("format")
    if wanted is None:  # Accept decides; */* (curl's default) and ties give JSON
        accept = request.accept_mimetypes
        wanted = "yaml" if max(accept[m] for m in YAML_TYPES) > accept["application/json"] else "json"
    if wanted not in ("yaml", "json"):
        raise ValidationFailed("bad format", errors=[FieldError("/query/format", "yaml or json")])
    with unit_of_work(engine()) as session:
        exported = export_file(session, identity, cluster=cluster, team=request.args.get("team") or None)
    if wanted == "yaml":
        header = exported.yaml_header(source=request.url, exported_at=datetime.now(UTC), subject=identity.subject)
        response = Response(dump_yaml(exported.file, header), mimetype="application/yaml")
    else:
        response = Response(json.dumps(exported.file, indent=2, ensure_ascii=False) + "\n",
                            mimetype="application/json")
    response.headers["Vary"] = "Accept"
    return response


@v1.get("/requests")
def list_requests() -> ResponseReturnValue:
    identity = caller()
    limit, cursor = page_args()
    where, awaiting_me = request_filter(identity.subject)
    after = request_cursor(decode_cursor(cursor)) if cursor else None
    with unit_of_work(engine()) as session:
        items, nxt = queries.list_requests(session, identity, limit=limit, after=after, where=where,
                                           awaiting_me=awaiting_me)
    return jsonify(items=items, next_cursor=encode_cursor(list(nxt)) if nxt else None)


@v1.get("/requests/<request_id>")
def get_request(request_id: str) -> ResponseReturnValue:
    identity = caller()
    with unit_of_work(engine()) as session:
        return jsonify(queries.get_request(session, identity, request_id))


@v1.post("/requests/<request_id>/approve")
def approve(request_id: str) -> ResponseReturnValue:
    body = json_body(optional=True)
    comment = body.get("comment")
    if comment is not None and not (isinstance(comment, str) and len(comment) <= MAX_TEXT):
        raise ValidationFailed("bad comment", errors=[FieldError("/comment", f"must be a string of at most "
                                                                            f"{MAX_TEXT} characters")])
    return jsonify(workflow.approve_request(engine(), caller(), request_id, comment))


@v1.post("/requests/<request_id>/reject")
def reject(request_id: str) -> ResponseReturnValue:
    body = json_body(optional=True)
    reason = body.get("reason")
    if not isinstance(reason, str):
        raise ValidationFailed("a rejection needs a reason", errors=[FieldError("/reason", "is required")])
    if len(reason) > MAX_TEXT:
        raise ValidationFailed("bad reason", errors=[FieldError("/reason", f"at most {MAX_TEXT} characters")])
    return jsonify(workflow.reject_request(engine(), caller(), request_id, reason))


@v1.post("/requests/<request_id>/cancel")
def cancel(request_id: str) -> ResponseReturnValue:
    return jsonify(workflow.cancel_request(engine(), caller(), request_id))


@v1.get("/topics")
def list_topics() -> ResponseReturnValue:
    caller()
    limit, cursor = page_args()
    status = request.args.get("status")
    if status and status not in queries.TOPIC_STATUSES:
        raise ValidationFailed("bad status", errors=[FieldError("/query/status",
                                                                f"one of {', '.join(queries.TOPIC_STATUSES)}")])
    after = tuple(decode_cursor(cursor)) if cursor else None
    # A read of one statement: a plain connection, no ORM session to set up and commit.
    with read_connection(engine()) as connection:
        items, nxt = queries.list_topics(connection, limit=limit, after=after,
                                         cluster=request.args.get("cluster"), team=request.args.get("team"),
                                         q=request.args.get("q"), status=status or None)
    return jsonify(items=items, next_cursor=encode_cursor(list(nxt)) if nxt else None)


@v1.get("/clusters/<cluster>/topics/<name>")
def get_topic(cluster: str, name: str) -> ResponseReturnValue:
    caller()
    settings = current_app.extensions["topicdesk.settings"]
    with unit_of_work(engine()) as session:
        view = queries.get_topic(session, cluster, name)
        stored = observations.stored_observation(session, cluster, name)
    # The page never waits on a slow cluster: a live read gets a short, bounded wait, else the
    # observation the reconciler stored answers, marked stale.
    timeout = settings.topic_live_read_seconds
    live = None
    row = _cluster_row(cluster)
    if timeout > 0:
        # Resolved here: the read runs in a worker thread, outside this request's app context.
        factory = current_app.extensions["topicdesk.port_factory"]
        live = observations.read_live(lambda: factory(row, request_timeout=timeout), name, timeout)
    # What the portal's config editor offers: the keys the policies let a team set here.
    editable = allowed_config_keys(current_app.extensions["topicdesk.policy_bundle"], "topic.update",
                                   {"name": row.name, "environment": row.environment, "tags": row.tags})
    return jsonify({**view, **observations.observation_view(
        stored, live, max_age_seconds=settings.observation_max_age_seconds), "editable_config_keys": editable})


@v1.get("/grants/expiring")
def expiring_grants() -> ResponseReturnValue:
    identity = caller()
    limit, cursor = page_args()
    raw = request.args.get("within_days", "14")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= expiry.MAX_WITHIN_DAYS:
        raise ValidationFailed("bad within_days", errors=[FieldError(
            "/query/within_days", f"must be a whole number of days, 1..{expiry.MAX_WITHIN_DAYS}")])
    after = tuple(decode_cursor(cursor)) if cursor else None
    with unit_of_work(engine()) as session:
        items, nxt = expiry.list_expiring(session, identity, within=timedelta(days=int(raw)), limit=limit,
                                          after=after)
    return jsonify(items=items, within_days=int(raw), next_cursor=encode_cursor(list(nxt)) if nxt else None)
def _report_args(*, cluster_required: bool) -> tuple[int, str | None, str | None]:
    """days (default 30, 1..365), team and cluster of the stale report, every problem reported."""
    from topicdesk.domain.staleness import DEFAULT_DAYS, MAX_DAYS

    errors = []
    raw = request.args.get("days", str(DEFAULT_DAYS))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_DAYS:
        errors.append(FieldError("/query/days", f"must be a whole number of days, 1..{MAX_DAYS}"))
    team, cluster = request.args.get("team"), request.args.get("cluster")
    for name, value in (("team", team), ("cluster", cluster)):
        if value is not None and not value.strip():
            errors.append(FieldError(f"/query/{name}", "must not be empty; leave it out for all"))
    if cluster_required and cluster is None:
        errors.append(FieldError("/query/cluster", "is required: the cluster to gather usage evidence from"))
    unknown = sorted(set(request.args) - {"days", "team", "cluster"})
    errors += [FieldError(f"/query/{name}", "unknown query parameter") for name in unknown]
    if errors:
        raise ValidationFailed("bad stale report parameters", errors=errors)
    return int(raw), team, cluster


@v1.get("/reports/stale")
def stale_report() -> ResponseReturnValue:
    identity = caller()
    days, team, cluster = _report_args(cluster_required=False)
    with unit_of_work(engine()) as session:
        return jsonify(stale.stale_report(session, identity, days=days, cluster=cluster, team=team))


@v1.post("/reports/stale/refresh")
def refresh_stale_report() -> ResponseReturnValue:
    identity = caller()
    days, team, cluster = _report_args(cluster_required=True)
    assert cluster is not None
    return jsonify(stale.refresh_report(engine(), current_app.extensions["topicdesk.port_factory"], identity,
                                        cluster, days=days, team=team))


@v1.post("/clusters/<cluster>/topics/<name>/restore")
def restore_topic(cluster: str, name: str) -> ResponseReturnValue:
    return jsonify(deletion.restore_topic(engine(), caller(), cluster, name))


@v1.get("/clusters/<cluster>/drift")
def cluster_drift(cluster: str) -> ResponseReturnValue:
    caller()
    return jsonify(drift_triage.drift_report(engine(), cluster))


@v1.post("/clusters/<cluster>/drift/<item_id>/triage")
def triage_drift(cluster: str, item_id: str) -> ResponseReturnValue:
    return jsonify(drift_triage.triage_item(_deps(), caller(), cluster, item_id, json_body()))


@v1.get("/audit")
def audit() -> ResponseReturnValue:
    identity = caller()
    limit, cursor = page_args()
    before = None
    if cursor:
        values = decode_cursor(cursor)
        before = int(values[0]) if values and isinstance(values[0], int) else None
    items, nxt = audit_service.list_events(engine(), identity, limit=limit, before_seq=before, where=audit_filter())
    return jsonify(items=items, next_cursor=encode_cursor([nxt]) if nxt else None)


@v1.get("/audit/verify")
def audit_verify() -> ResponseReturnValue:
    caller()
    return jsonify(audit_service.verdict_view(audit_service.verify_log(engine())))


def _cluster_row(cluster_name: str) -> Any:
    from topicdesk.adapters.tables import ClusterRow
    from topicdesk.domain.errors import NotFound

    with unit_of_work(engine()) as session:
        cluster = session.get(ClusterRow, cluster_name)
    if cluster is None:
        raise NotFound(f"no cluster named {cluster_name!r}")
    return cluster


def _port_for(cluster_name: str, **options: Any) -> Any:
    return current_app.extensions["topicdesk.port_factory"](_cluster_row(cluster_name), **options)


@v1.get("/clusters/<cluster>/service-accounts")
def list_service_accounts(cluster: str) -> ResponseReturnValue:
    items = accounts.list_service_accounts(engine(), caller(), cluster)
    return jsonify(items=items, next_cursor=None)


@v1.post("/clusters/<cluster>/service-accounts")
def create_service_account(cluster: str) -> ResponseReturnValue:
    identity = caller()
    body = json_body()
    unknown = sorted(set(body) - {"name"})
    if unknown:
        raise ValidationFailed("unknown fields", errors=[FieldError(f"/{k}", "unknown field") for k in unknown])
    port = _port_for(cluster)
    try:
        view = accounts.create_service_account(engine(), port, identity, cluster, body.get("name"))
    finally:
        close_port(port)
    response = jsonify(view)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@v1.post("/clusters/<cluster>/service-accounts/<principal>/rotate")
def rotate_service_account(cluster: str, principal: str) -> ResponseReturnValue:
    port = _port_for(cluster)
    try:
        view = accounts.rotate_service_account(engine(), port, caller(), cluster, principal)
    finally:
        close_port(port)
    response = jsonify(view)
    response.headers["Cache-Control"] = "no-store"
    return response


@v1.delete("/clusters/<cluster>/service-accounts/<principal>")
def delete_service_account(cluster: str, principal: str) -> ResponseReturnValue:
    accounts.delete_service_account(engine(), caller(), cluster, principal)
    return "", 204


def _team_owner(team: str) -> Any:
    from topicdesk.domain.errors import Forbidden, NotFound

    identity = caller()
    if not identity.is_member(team):
        raise NotFound(f"no team {team!r} among yours")
    if not identity.is_owner(team):
        raise Forbidden(f"only owners of team {team!r} manage its API tokens")
    return identity


def _token_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "team": row.team, "name": row.name, "role": row.role, "created_by": row.created_by,
            "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
            "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None}


@v1.get("/teams/<team>/tokens")
def list_team_tokens(team: str) -> ResponseReturnValue:
    from topicdesk.services.tokens import list_tokens

    _team_owner(team)
    with unit_of_work(engine()) as session:
        items = [_token_view(row) for row in list_tokens(session, team)]
    return jsonify(items=items, next_cursor=None)


@v1.post("/teams/<team>/tokens")
def create_team_token(team: str) -> ResponseReturnValue:
    from datetime import timedelta

    from topicdesk.domain.identity import Role
    from topicdesk.services.tokens import create_token

    identity = _team_owner(team)
    body = json_body()
    errors = [FieldError(f"/{key}", "unknown field") for key in sorted(set(body) - {"name", "role", "expires_in_days"})]
    role = body.get("role", "member")
    if role not in ("member", "owner"):
        # An admin token is a platform decision: the CLI makes those, not a team's owners.
        errors.append(FieldError("/role", "must be member or owner"))
    days = body.get("expires_in_days", 90)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 366:
        errors.append(FieldError("/expires_in_days", "must be a whole number of days from 1 to 366"))
    if not isinstance(body.get("name"), str):
        errors.append(FieldError("/name", "is required"))
    if errors:
        raise ValidationFailed("the token cannot be created", errors=errors)
    created = create_token(engine(), team=team, name=body["name"], role=Role(role), actor=identity.subject,
                           expires_in=timedelta(days=days))
    response = jsonify(id=created.id, team=team, name=created.name, role=role,
                       expires_at=created.expires_at.isoformat() if created.expires_at else None,
                       token=created.token)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@v1.delete("/teams/<team>/tokens/<token_id>")
def revoke_team_token(team: str, token_id: str) -> ResponseReturnValue:
    from topicdesk.services.tokens import revoke_token

    identity = _team_owner(team)
    revoke_token(engine(), token_id=token_id, actor=identity.subject, team=team)
    return "", 204

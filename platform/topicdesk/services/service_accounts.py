"""Service accounts: SCRAM-SHA-512 users on a team's cluster. The password is generated here, set on
the broker, returned once and never stored.

An account is listed with what hangs on it — its access grants and client quota, each with its
status — so that the portal can show the quota and what a deletion takes away. Deleting an account
tombstones those too, in the same transaction: a principal recreated later under the same name
starts with no access and no quota."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from topicdesk.adapters.audit_log import NewEvent, record_event, record_events
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.request_store import bump
from topicdesk.adapters.tables import AccessGrantRow, ClientQuotaRow, ClusterRow, RequestRow, ServiceAccountRow, utcnow
from topicdesk.domain.errors import Conflict, FieldError, Forbidden, NotFound, TopicdeskError, ValidationFailed
from topicdesk.domain.identity import Identity
from topicdesk.services.cluster_port import ClusterPort, ScramCredential
from topicdesk.services.desired import resource_subject
from topicdesk.services.queries import grant_view, quota_view

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,199}$")
SCRAM_ITERATIONS = 8192


class ClusterRefused(TopicdeskError):
    status = 502
    reason = "cluster_refused"
    title = "The Kafka cluster refused the change"


@dataclass(frozen=True)
class CreatedServiceAccount:
    view: dict[str, Any]


def new_password() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def account_view(row: ServiceAccountRow, cluster: ClusterRow) -> dict[str, Any]:
    return {"principal": row.principal, "username": row.principal.partition(":")[2], "cluster": row.cluster,
            "owner_team": row.owner_team, "team": row.owner_team, "created_at": row.created_at.isoformat(),
            "rotated_at": row.rotated_at.isoformat() if row.rotated_at else None,
            "bootstrap_servers": cluster.bootstrap_servers, "security_protocol": cluster.security_protocol,
            "sasl_mechanism": cluster.sasl_mechanism}


def _team_of(name: str) -> str:
    return name.split(".", 1)[0] if "." in name else ""


def _check_name(identity: Identity, name: object) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or "." not in name:
        raise ValidationFailed("bad service account name", errors=[FieldError(
            "/name", "use <team>.<name>: lowercase letters, digits, '.', '_' or '-', at most 200 characters")])
    team = _team_of(name)
    if not identity.is_member(team):
        # Naming an account after another team is asking for that team's identity: not allowed.
        raise Forbidden(f"service account names start with your team's name and a dot "
                        f"({', '.join(t + '.' for t in identity.teams)}); {team!r} is not your team")
    return name


def _cluster(engine: Engine, name: str) -> ClusterRow:
    with unit_of_work(engine) as session:
        cluster = session.get(ClusterRow, name)
    if cluster is None:
        raise NotFound(f"no cluster named {name!r}")
    return cluster


def _set_password(port: ClusterPort, principal: str, password: str) -> None:
    outcome = port.upsert_scram_users([ScramCredential(principal, password, SCRAM_ITERATIONS)])[principal]
    if not outcome.ok:
        raise ClusterRefused(f"the cluster did not accept the credential: {outcome.message}")


def create_service_account(engine: Engine, port: ClusterPort, identity: Identity, cluster_name: str,
                           name: object) -> dict[str, Any]:
    username = _check_name(identity, name)
    principal = f"User:{username}"
    cluster = _cluster(engine, cluster_name)
    with unit_of_work(engine) as session:
        existing = session.exec(select(ServiceAccountRow).where(ServiceAccountRow.cluster == cluster_name,
                                                                ServiceAccountRow.principal == principal)).first()
        if existing is not None and not existing.deleted:
            raise Conflict(f"{principal} already exists on {cluster_name}; rotate its password instead")
    password = new_password()
    # The broker first: if this fails nothing is recorded; if the DB write then fails, the next
    # create simply overwrites the credential (SCRAM upsert is idempotent).
    _set_password(port, principal, password)
    with unit_of_work(engine) as session:
        row = session.exec(select(ServiceAccountRow).where(ServiceAccountRow.cluster == cluster_name,
                                                           ServiceAccountRow.principal == principal)).first()
        if row is None:
            row = ServiceAccountRow(cluster=cluster_name, principal=principal, owner_team=_team_of(username))
        else:
            row.deleted = False
            row.generation += 1
            row.rotated_at = utcnow()
        row.observed_generation = row.generation
        row.applied_at = utcnow()
        session.add(row)
        session.flush()
        record_event(session, actor=identity.subject, action="service_account:create",
                     subject=f"service_account:{cluster_name}/{principal}", team=row.owner_team,
                     data={"principal": principal, "cluster": cluster_name, "mechanism": "SCRAM-SHA-512"})
        return {**account_view(row, cluster), "password": password}


def _owned(engine: Engine, identity: Identity, cluster_name: str, principal: str) -> ServiceAccountRow:
    with unit_of_work(engine) as session:
        row = session.exec(select(ServiceAccountRow).where(ServiceAccountRow.cluster == cluster_name,
                                                           ServiceAccountRow.principal == principal,
                                                           col(ServiceAccountRow.deleted).is_(False))).first()
    if row is None or not identity.is_member(row.owner_team):
        raise NotFound(f"no service account {principal!r} on {cluster_name!r}")
    if not identity.is_owner(row.owner_team):
        raise Forbidden(f"only owners of team {row.owner_team!r} can rotate or delete its service accounts")
    return row


def rotate_service_account(engine: Engine, port: ClusterPort, identity: Identity, cluster_name: str,
                           principal: str) -> dict[str, Any]:
    cluster = _cluster(engine, cluster_name)
    row = _owned(engine, identity, cluster_name, principal)
    password = new_password()
    _set_password(port, principal, password)
    with unit_of_work(engine) as session:
        fresh = session.get(ServiceAccountRow, row.id)
        assert fresh is not None
        fresh.rotated_at = utcnow()
        session.add(fresh)
        record_event(session, actor=identity.subject, action="service_account:rotate",
                     subject=f"service_account:{cluster_name}/{principal}", team=fresh.owner_team,
                     data={"principal": principal})
        return {**account_view(fresh, cluster), "password": password}


def _attached(session: Session, cluster_name: str, principals: Sequence[str]) -> tuple[
        dict[str, list[AccessGrantRow]], dict[str, ClientQuotaRow]]:
    """Live grants and quotas of these principals on the cluster, by principal (two queries)."""
    grants: dict[str, list[AccessGrantRow]] = {p: [] for p in principals}
    for grant in session.exec(select(AccessGrantRow).where(
            AccessGrantRow.cluster == cluster_name, col(AccessGrantRow.principal).in_(principals),
            col(AccessGrantRow.deleted).is_(False)).order_by(col(AccessGrantRow.topic))).all():
        grants[grant.principal].append(grant)
    quotas = {q.principal: q for q in session.exec(select(ClientQuotaRow).where(
        ClientQuotaRow.cluster == cluster_name, col(ClientQuotaRow.principal).in_(principals),
        col(ClientQuotaRow.deleted).is_(False))).all()}
    return grants, quotas


def delete_service_account(engine: Engine, identity: Identity, cluster_name: str, principal: str) -> None:
    """Tombstone the account, its access grants and its quota; the reconciler deletes the SCRAM
    credential, the ACLs no other grant needs and the quota, and confirms."""
    row = _owned(engine, identity, cluster_name, principal)
    with unit_of_work(engine) as session:
        fresh = session.get(ServiceAccountRow, row.id)
        assert fresh is not None
        grants_by, quotas = _attached(session, cluster_name, [principal])
        grants, quota = grants_by[principal], quotas.get(principal)
        declared: list[AccessGrantRow | ClientQuotaRow] = [*grants, *([quota] if quota else [])]
        managed = sorted({r.managed_by for r in declared if r.managed_by})
        if managed:
            # A file changes only what it declares, and the portal nothing a file declares.
            raise Conflict(f"{principal} has access grants or a quota declared in {', '.join(managed)}; remove "
                           "them from that file (and apply it) before deleting the account")
        events = [NewEvent(actor=identity.subject, action="service_account:delete",
                           subject=f"service_account:{cluster_name}/{principal}", team=fresh.owner_team,
                           data={"principal": principal, "grants": [grant_view(g) for g in grants],
                                 "quota": quota_view(quota) if quota else None})]
        for resource in [fresh, *declared]:
            resource.deleted = True
            bump(resource)
            session.add(resource)
        events += [NewEvent(actor=identity.subject, action="access_grant:delete",
                            subject=resource_subject("access_grant", g), team=g.granted_team,
                            data={"principal": principal, "topic": g.topic, "access": g.access,
                                  "generation": g.generation, "because": "service_account:delete"})
                   for g in grants]
        record_events(session, events)


def _pending_quota_requests(session: Session, cluster_name: str) -> dict[str, str]:
    """principal -> id of its newest quota.set awaiting approval on the cluster."""
    rows = session.exec(select(RequestRow).where(RequestRow.cluster == cluster_name, RequestRow.kind == "quota.set",
                                                 RequestRow.status == "pending_approval")
                        .order_by(col(RequestRow.created_at))).all()
    return {str(r.spec.get("principal")): r.id for r in rows}


def list_service_accounts(engine: Engine, identity: Identity, cluster_name: str) -> list[dict[str, Any]]:
    cluster = _cluster(engine, cluster_name)
    with unit_of_work(engine) as session:
        query = select(ServiceAccountRow).where(ServiceAccountRow.cluster == cluster_name,
                                                col(ServiceAccountRow.deleted).is_(False))
        if not identity.platform_admin:
            query = query.where(col(ServiceAccountRow.owner_team).in_(identity.teams))
        rows = session.exec(query.order_by(col(ServiceAccountRow.principal))).all()
        grants, quotas = _attached(session, cluster_name, [r.principal for r in rows])
        pending = _pending_quota_requests(session, cluster_name)
        return [{**account_view(r, cluster), "grants": [grant_view(g) for g in grants[r.principal]],
                 "quota": quota_view(quotas[r.principal]) if r.principal in quotas else None,
                 "pending_quota_request": pending.get(r.principal)} for r in rows]

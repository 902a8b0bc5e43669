"""The mirror's own principal on both clusters of a migration: granted before MirrorMaker starts,
revoked with its internal topics once the mirror is stopped for good (issue 15).

`grant` runs in every mirroring pass (level-triggered): one describe, at most one SCRAM upsert and
one CreateAcls per cluster, whatever the number of topics. `revoke` runs in every pass after the
mirror stopped until nothing is left: every ACL bound to the principal, its SCRAM credential and
the internal topics MirrorMaker created for this mirror only (their names carry the migration id,
domain/mirror_config.internal_topic_names) are deleted, one call per kind per cluster. A user topic
is never deleted: only those exact names are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from topicdesk.adapters.audit_log import NewEvent
from topicdesk.adapters.migration_clients import mirror_credential, mirror_endpoint
from topicdesk.adapters.tables import ClusterRow, MigrationRow
from topicdesk.domain.mirror_access import MirrorAccess, mirror_access
from topicdesk.services.cluster_port import ClusterPort, Outcome, OutcomeReason, ScramCredential
from topicdesk.services.mirror_port import MirrorEngine, MirrorSpec, MirrorState, MirrorStatus

STOPPED = frozenset({MirrorState.ABSENT, MirrorState.STOPPED})

SIDES = ("source", "target")


def moved_groups(row: MigrationRow) -> list[str]:
    return [str(g["group"]) for g in row.plan.get("consumer_groups", ())]


def access_of(row: MigrationRow, *, dedicated: bool) -> MirrorAccess:
    return mirror_access(row.id, row.source_cluster, row.topics, moved_groups(row), dedicated=dedicated)


def dedicated_engine(engine_name: str) -> bool:
    """The process engine runs MirrorMaker's own Connect worker (its topics and group on the target);
    on a Connect cluster the workers' principal holds those."""
    return engine_name != "connect"


@dataclass
class AccessResult:
    changed: dict[str, Any] = field(default_factory=dict)  # what was created or removed, per cluster
    errors: list[str] = field(default_factory=list)


def _refused(what: str, side: str, outcomes: dict[Any, Outcome]) -> list[str]:
    # Gone already (a pass before this one, or someone else) is what a removal wants.
    messages = [f"{key if isinstance(key, str) else key.key}: {o.message}" for key, o in outcomes.items()
                if not o.ok and o.reason is not OutcomeReason.NOT_FOUND]
    return [f"the {side} refused {what}: " + "; ".join(messages)] if messages else []


def grant(access: MirrorAccess, ports: Callable[[str], ClusterPort], credentials: Mapping[str, ScramCredential],
          *, refresh_password: bool) -> AccessResult:
    """The principal's SCRAM credential (set when missing, or again with `refresh_password`: the
    derived password follows the admin secret) and its ACLs on both clusters."""
    out = AccessResult()
    for side in SIDES:
        try:
            created = _grant_on(ports(side), side, access, credentials[side], refresh_password, out.errors)
        except Exception as exc:  # a cluster that cannot be read: the other side still counts
            out.errors.append(f"the {side} could not be asked: {type(exc).__name__}: {exc}")
            continue
        if created:
            out.changed[side] = created
    return out


def _grant_on(port: ClusterPort, side: str, access: MirrorAccess, credential: ScramCredential,
              refresh_password: bool, errors: list[str]) -> dict[str, Any]:
    observed = port.describe([])  # no topic: its ACLs and SCRAM users
    created: dict[str, Any] = {}
    if refresh_password or access.principal not in observed.scram_users:
        errors += _refused("the mirror's SCRAM credential", side, dict(port.upsert_scram_users([credential])))
        if access.principal not in observed.scram_users:
            created["user"] = access.principal
    missing = sorted(access.acls(side) - observed.acls, key=lambda b: b.key)
    if missing:
        outcomes = port.create_acls(missing)
        errors += _refused("the mirror's ACLs", side, dict(outcomes))
        created["acls"] = sum(1 for o in outcomes.values() if o.ok)
    return created


def revoke(access: MirrorAccess, ports: Callable[[str], ClusterPort]) -> AccessResult:
    """Every ACL of the principal, its SCRAM credential and this mirror's internal topics, gone
    from both clusters; what is already gone is no error (a later pass finishes a partial one)."""
    out = AccessResult()
    for side in SIDES:
        removed: dict[str, Any] = {}
        try:
            _revoke_on(ports(side), side, access, removed, out.errors)
        except Exception as exc:  # what was removed before the failure is still recorded
            out.errors.append(f"the {side} could not be asked: {type(exc).__name__}: {exc}")
        if removed:
            out.changed[side] = removed
    return out


def _revoke_on(port: ClusterPort, side: str, access: MirrorAccess, removed: dict[str, Any],
               errors: list[str]) -> None:
    names = list(access.target_internal_topics)
    observed = port.describe(names)  # the source should hold none of them; if it does, they go too
    held = sorted((b for b in observed.acls if b.principal == access.principal), key=lambda b: b.key)
    if held:
        outcomes = port.delete_acls(held)
        errors += _refused("removing the mirror's ACLs", side, dict(outcomes))
        removed["acls"] = sum(1 for o in outcomes.values() if o.ok)
    if access.principal in observed.scram_users:
        user_outcomes = port.delete_scram_users([access.principal])
        errors += _refused("removing the mirror's SCRAM credential", side, dict(user_outcomes))
        if not _refused("", side, dict(user_outcomes)):
            removed["user"] = access.principal
    topics: Sequence[str] = sorted(n for n in names if n in observed.topics)
    if topics:
        topic_outcomes = port.delete_topics(list(topics))
        errors += _refused("deleting the mirror's internal topics", side, dict(topic_outcomes))
        removed["topics"] = [t for t, o in topic_outcomes.items() if o.ok]


@dataclass
class MirrorPass:
    """What one pass did with the mirror: the row's `mirror` view, audit events, an error."""

    status: MirrorStatus
    view: dict[str, Any]
    events: list[NewEvent] = field(default_factory=list)
    error: str | None = None
    clean: bool = False


def mirror_view(status: MirrorStatus, row: MigrationRow, *, access: str) -> dict[str, Any]:
    """The engine's answer, the mirror principal and its `access` (granted, revoked); the clean-up's
    record stays on the row once made."""
    view = {"engine": status.engine, "state": str(status.state), "detail": status.detail[:2000],
            "principal": access_of(row, dedicated=True).principal, "access": access}
    if (row.mirror or {}).get("cleanup"):
        view["cleanup"] = (row.mirror or {})["cleanup"]
    return view


def spec_of(row: MigrationRow, clusters: Mapping[str, ClusterRow], *, offset_lag_max: int) -> MirrorSpec:
    """The migration's mirror: its topics and moved groups, both clusters reached as its principal."""
    return MirrorSpec(mirror_id=row.id, source=mirror_endpoint(clusters["source"], row.id),
                      target=mirror_endpoint(clusters["target"], row.id), topics=tuple(row.topics),
                      groups=tuple(moved_groups(row)), offset_lag_max=offset_lag_max)


def credential_fingerprint(credentials: Mapping[str, ScramCredential]) -> str:
    """Which passwords the SCRAM credentials were last set with, kept on the row (never the passwords):
    the derived password changes only with a cluster's admin secret, and setting it again while
    MirrorMaker logs in would fail a login in flight, so it is set again only when it changed."""
    joined = "\x00".join(credentials[side].password for side in SIDES)
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def run(row: MigrationRow, ports: Callable[[str], ClusterPort], clusters: Mapping[str, ClusterRow],
        mirror: MirrorEngine, *, offset_lag_max: int, actor: str) -> MirrorPass:
    """Grant, then keep the mirror running as the principal. The SCRAM credential is set when the
    user is missing or its derived password changed (a rotated admin secret)."""
    access = access_of(row, dedicated=dedicated_engine(mirror.name))
    credentials = {side: mirror_credential(clusters[side], row.id) for side in SIDES}
    fingerprint = credential_fingerprint(credentials)
    granted = grant(access, ports, credentials, refresh_password=(row.mirror or {}).get("credential") != fingerprint)
    events = [NewEvent(actor, "migration:mirror-access", f"migration:{row.id}", team=row.owner_team,
                       data={"principal": access.principal, "granted": granted.changed})] if granted.changed else []
    status = mirror.ensure_running(spec_of(row, clusters, offset_lag_max=offset_lag_max))
    errors = granted.errors + ([f"mirror failed: {status.detail}"] if status.state is MirrorState.FAILED else [])
    view = {**mirror_view(status, row, access="granted"), "credential": fingerprint if not granted.errors else None}
    return MirrorPass(status, view, events, "; ".join(errors) or None)


def clean_up(row: MigrationRow, ports: Callable[[str], ClusterPort], status: MirrorStatus, at: datetime, *,
             actor: str) -> MirrorPass:
    """Once the mirror is stopped for good: its principal, ACLs and internal topics removed from both
    clusters (audit `migration:mirror-cleanup`, `mirror.cleanup` on the row); `clean` when nothing is left."""
    done = MirrorPass(status, mirror_view(status, row, access="granted"))
    if status.state not in STOPPED:
        done.error = f"the mirror did not stop: {status.state} {status.detail}"
        return done
    access = access_of(row, dedicated=True)  # whichever engine ran it: remove everything it may hold
    revoked = revoke(access, ports)
    if revoked.changed:
        done.view["cleanup"] = {"at": at.isoformat(), **revoked.changed}
        done.events.append(NewEvent(actor, "migration:mirror-cleanup", f"migration:{row.id}", team=row.owner_team,
                                    data={"principal": access.principal, **revoked.changed}))
    if revoked.errors:
        done.error = "; ".join(revoked.errors)
        return done
    done.view["access"], done.clean = "revoked", True
    return done

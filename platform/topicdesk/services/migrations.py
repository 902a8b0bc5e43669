"""Reading migrations: the list a caller may see and one migration with its timeline and gates."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from topicdesk.adapters import migration_store
from topicdesk.adapters.tables import ClusterRow, MigrationRow
from topicdesk.domain.errors import NotFound
from topicdesk.domain.identity import Identity
from topicdesk.domain.migration import Step, allowed_targets, can_roll_back, gates, next_step, steps_view
from topicdesk.domain.migration_actions import team_actions
from topicdesk.services.request_views import rfc3339


def may_see(session: Session, identity: Identity, row: MigrationRow) -> bool:
    if identity.platform_admin or identity.is_member(row.owner_team):
        return True
    source = session.get(ClusterRow, row.source_cluster)
    return source is not None and identity.is_member(source.owner_team)


EMPTY_LAG: dict[str, Any] = {"measured_at": None, "total": None, "max": None, "partitions": [], "history": []}


def _gate(step: Step, facts: dict[str, Any]) -> list[dict[str, Any]]:
    following = next_step(step)
    if following is None:
        return []
    return [{**check.to_dict(), "passes": check.passes(facts)} for check in gates().get(following, ())]


def migration_view(row: MigrationRow, source: ClusterRow | None = None, target: ClusterRow | None = None
                   ) -> dict[str, Any]:
    step = Step(row.step)
    facts = dict(row.facts or {})
    return {
        "id": row.id, "request_id": row.request_id, "source_cluster": row.source_cluster,
        "target_cluster": row.target_cluster, "owner_team": row.owner_team, "topics": list(row.topics),
        "step": row.step, "can_roll_back": can_roll_back(step),
        "next_steps": [str(s) for s in allowed_targets(step)],
        "steps": steps_view(step, row.history), "history": list(row.history),
        "verification": row.verification, "plan": row.plan,
        "facts": facts, "facts_at": rfc3339(row.facts_at) if row.facts_at else None,
        "gate": _gate(step, facts),
        "lag": row.lag or EMPTY_LAG,
        # The credential fingerprint tells the driver when to set the password again; nobody else needs it.
        "mirror": {k: v for k, v in row.mirror.items() if k != "credential"} if row.mirror else row.mirror,
        "groups": [{**{k: g.get(k) for k in ("group", "team", "source_members", "target_members",
                                             "offsets_translated")},
                    "ready_on_target": bool(g.get("ready_on_target")),
                    "translation": g.get("translation") or "mirrormaker", "translation_note": g.get("translation_note")
                    or ""} for g in row.groups or ()],
        "team_actions": team_actions(
            step, row.plan, source=row.source_cluster, target=row.target_cluster, owner_team=row.owner_team,
            source_owner=source.owner_team if source else "", groups=row.groups or (),
            target_bootstrap=target.bootstrap_servers if target else row.target_cluster,
            producers_switched=row.producers_switched_by is not None),
        "producers_switched_by": row.producers_switched_by,
        "last_error": row.last_error,
        "finished_at": rfc3339(row.finished_at) if row.finished_at else None,
        "created_at": rfc3339(row.created_at), "updated_at": rfc3339(row.updated_at),
    }


def view_of(session: Session, row: MigrationRow) -> dict[str, Any]:
    return migration_view(row, session.get(ClusterRow, row.source_cluster), session.get(ClusterRow, row.target_cluster))


def list_migrations(session: Session, identity: Identity, *, limit: int, after: str | None
                    ) -> tuple[list[dict[str, Any]], str | None]:
    """Migrations of the caller's teams (owning the target, or the source cluster), newest first."""
    cursor = migration_store.migration_by_id(session, after) if after else None
    if after and cursor is None:
        raise NotFound("the cursor names no migration")
    teams = None if identity.platform_admin else identity.teams
    rows = migration_store.visible_migrations(session, teams, limit=limit + 1, after=cursor)
    more = len(rows) > limit
    rows = rows[:limit]
    return [view_of(session, r) for r in rows], rows[-1].id if more and rows else None


def get_migration(session: Session, identity: Identity, migration_id: str) -> dict[str, Any]:
    row = migration_store.migration_by_id(session, migration_id)
    if row is None or not may_see(session, identity, row):
        raise NotFound("no such migration")
    return view_of(session, row)

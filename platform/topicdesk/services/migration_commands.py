"""What people do to a running migration through the API: roll it back, confirm producers switched.

Both only record the decision (with its audit event, in one transaction); the driver acts on it
in its next pass (services/migration_driver.py): a rollback's mirror stop and the removal of the
DENY ACLs on the source happen there, level-triggered, so a crash in between loses nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from topicdesk.adapters import migration_store
from topicdesk.adapters.audit_log import record_event
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import ClusterRow, MigrationRow, utcnow
from topicdesk.domain.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from topicdesk.domain.identity import Identity
from topicdesk.domain.migration import Step, TransitionRefused, roll_back
from topicdesk.services.migration_driver import teams_concerned
from topicdesk.services.migrations import may_see, view_of

MAX_REASON = 2000
BACK_TO_SOURCE = ("Consumers: run on the source again with the same group ids (their source offsets are where they "
                  "left them). The target topics are kept; deleting them is a separate topic.delete request.")


def _locked(session: Any, identity: Identity, migration_id: str) -> tuple[MigrationRow, ClusterRow | None]:
    row = migration_store.lock_migration(session, migration_id)
    if row is None or not may_see(session, identity, row):
        raise NotFound("no such migration")
    return row, session.get(ClusterRow, row.source_cluster)


def roll_back_migration(engine: Engine, identity: Identity, migration_id: str, body: dict[str, Any]
                        ) -> dict[str, Any]:
    """Owners of the target's or the source's owner team, or platform admins; until producers switch."""
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationFailed("a rollback needs a reason", errors=[FieldError("/reason", "is required")])
    if len(reason) > MAX_REASON:
        raise ValidationFailed("bad reason", errors=[FieldError("/reason", f"at most {MAX_REASON} characters")])
    with unit_of_work(engine) as session:
        row, source = _locked(session, identity, migration_id)
        source_owner = source.owner_team if source else ""
        if not (identity.is_owner(row.owner_team) or (source_owner and identity.is_owner(source_owner))):
            raise Forbidden(f"only owners of {row.owner_team!r} or {source_owner!r} can roll this migration back")
        try:
            transition = roll_back(Step(row.step), at=utcnow(), by=identity.subject, reason=reason)
        except TransitionRefused as exc:
            raise Conflict(str(exc)) from exc
        row.step, row.history, row.updated_at = str(transition.target), [*row.history, transition.to_dict()], utcnow()
        session.add(row)
        record_event(session, actor=identity.subject, action="migration:rollback", subject=f"migration:{row.id}",
                     team=row.owner_team,
                     data={"from": str(transition.source), "to": str(transition.target), "reason": reason.strip(),
                           "source": row.source_cluster, "target": row.target_cluster, "topics": list(row.topics),
                           "target_topics_kept": list(row.topics), "now": [BACK_TO_SOURCE],
                           "teams": teams_concerned(row.plan, row.owner_team, source_owner)})
        session.flush()
        return view_of(session, row)


def confirm_producers_switched(engine: Engine, identity: Identity, migration_id: str, comment: str = ""
                               ) -> dict[str, Any]:
    """An owner of the target's owner team says producers write to the target (at producers_cut_over)."""
    with unit_of_work(engine) as session:
        row, _ = _locked(session, identity, migration_id)
        if not identity.is_owner(row.owner_team):
            raise Forbidden(f"only owners of {row.owner_team!r} can confirm its producers switched")
        if row.step != str(Step.PRODUCERS_CUT_OVER):
            raise Conflict(f"the migration is {row.step}; producers switch at {Step.PRODUCERS_CUT_OVER}")
        if row.producers_switched_by is None:
            row.producers_switched_by, row.updated_at = identity.subject, utcnow()
            session.add(row)
            record_event(session, actor=identity.subject, action="migration:producers_switched",
                         subject=f"migration:{row.id}", team=row.owner_team,
                         data={"target": row.target_cluster, "comment": comment})
        session.flush()
        return view_of(session, row)

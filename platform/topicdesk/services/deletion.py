"""Deleting topics in two phases: quarantine with undo, then the final deletion by the reconciler.

An approved topic.delete quarantines the topic (adapters/deletion_store.py): its grants' ACLs are
removed, its data kept until `quarantined_until` (the cluster's grace period). The request is
`applied` once the cluster shows the ACLs gone. During grace an owner of the topic's team or a
platform admin restores it (`restore_topic`). After grace the reconciler starts the final deletion
at the beginning of its pass (`start_final_deletions`): the topic becomes a tombstone, is deleted
like any tombstone and, once the cluster confirms, is `deleted`; its row and page stay until a
topic of the same name is created again. Each phase is data on the topic row, so a crash at any
point simply resumes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from topicdesk.adapters import deletion_store as store
from topicdesk.adapters.audit_log import NewEvent, record_event
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import TopicRow, utcnow
from topicdesk.adapters.topic_catalogue import TopicRecord
from topicdesk.domain.errors import Conflict, Forbidden, NotFound
from topicdesk.domain.identity import Identity


def _rfc3339(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def subject(topic: TopicRow) -> str:
    return f"topic:{topic.cluster}/{topic.name}"


def quarantine_event(actor: str, quarantine: store.Quarantine, request_id: str) -> NewEvent:
    topic = quarantine.topic
    return NewEvent(actor=actor, action="topic:quarantine", subject=subject(topic), team=topic.owner_team,
                    data={"request": request_id, "quarantined_until": _rfc3339(topic.quarantined_until),
                          "grants": [{"principal": g.principal, "access": g.access, "group": g.group_id or None}
                                     for g in quarantine.grants]})


def quarantine_note(quarantine: store.Quarantine) -> dict[str, Any]:
    """What the request's outcome says about the quarantine it put in place."""
    return {"topic_lifecycle": store.QUARANTINED,
            "quarantined_until": _rfc3339(quarantine.topic.quarantined_until),
            "message": f"{quarantine.topic.name} is quarantined until {_rfc3339(quarantine.topic.quarantined_until)}: "
                       f"nobody can produce or consume, the data is kept and the topic can be restored until then; "
                       f"then it is deleted."}


def restore_topic(engine: Engine, identity: Identity, cluster: str, name: str) -> dict[str, Any]:
    """Undo a quarantine: the suspended grants come back (the reconciler re-creates their ACLs)."""
    with unit_of_work(engine) as session:
        topic = store.lock_topic(session, cluster, name)
        if topic is None:
            raise NotFound(f"no topic {name!r} on cluster {cluster!r}")
        if not (identity.platform_admin or identity.is_owner(topic.owner_team)):
            raise Forbidden(f"only owners of team {topic.owner_team!r} or platform admins restore its topics")
        if topic.lifecycle != store.QUARANTINED:
            raise Conflict(f"topic {name!r} is {topic.lifecycle}; only a quarantined topic can be restored"
                           + (" (its grace period is over)" if topic.lifecycle in (store.DELETING, store.DELETED)
                              else ""))
        until, request_id = topic.quarantined_until, topic.deletion_request_id
        grants = store.restore(session, topic)
        record_event(session, actor=identity.subject, action="topic:restore", subject=subject(topic),
                     team=topic.owner_team,
                     data={"request": request_id, "quarantined_until": _rfc3339(until),
                           "grants": [{"principal": g.principal, "access": g.access, "group": g.group_id or None}
                                      for g in grants]})
        return lifecycle_view(topic)


def start_final_deletions(session: Session, cluster: str, now: datetime) -> list[NewEvent]:
    """Level-triggered: every quarantine of the cluster past its grace becomes a tombstone now."""
    return [NewEvent(actor="reconciler", action="topic:delete_started", subject=subject(topic),
                     team=topic.owner_team, data={"request": topic.deletion_request_id,
                                                  "quarantined_until": _rfc3339(topic.quarantined_until)})
            for topic in store.start_final_deletions(session, cluster, now)]


def deletion_confirmed(topic: TopicRow, now: datetime, actor: str) -> NewEvent | None:
    """Called for a topic tombstone the cluster confirmed gone; the `topic:delete` event, once."""
    if not store.finish_deletion(topic, now):
        return None
    return NewEvent(actor=actor, action="topic:delete", subject=subject(topic), team=topic.owner_team,
                    data={"request": topic.deletion_request_id, "deleted_by": topic.deleted_by})


def lifecycle_view(topic: TopicRecord) -> dict[str, Any]:
    return {"lifecycle": topic.lifecycle, "quarantined_until": _rfc3339(topic.quarantined_until),
            "deletion_request_id": topic.deletion_request_id, "deleted_by": topic.deleted_by,
            "deleted_at": _rfc3339(topic.deleted_at)}


def lifecycle_status(topic: TopicRecord) -> str | None:
    """The topic's status when a deletion phase decides it, else None."""
    return topic.lifecycle if topic.lifecycle != store.ACTIVE else None


__all__ = ["deletion_confirmed", "lifecycle_status", "lifecycle_view", "quarantine_event", "quarantine_note",
           "restore_topic", "start_final_deletions", "utcnow"]

"""Appending to and verifying the audit chain inside the caller's unit of work."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Table, bindparam, insert, update
from sqlmodel import Session, col, select

from topicdesk.adapters.tables import AuditEventRow, AuditHeadRow, new_id, utcnow
from topicdesk.domain.audit import GENESIS_HASH, AuditRecord, ChainVerdict, event_hash, verify_chain


def table(model: type[Any]) -> Table:
    return model.__table__  # type: ignore[no-any-return]


@dataclass(frozen=True)
class NewEvent:
    """One event to append with record_events."""

    actor: str
    action: str
    subject: str
    data: dict[str, Any] | None = None
    team: str | None = None


def record_event(
    session: Session, *, actor: str, action: str, subject: str, data: dict[str, Any] | None = None,
    team: str | None = None,
) -> AuditRecord:
    """Append one event in the caller's transaction, so it commits or rolls back with the change."""
    return record_events(session, [NewEvent(actor, action, subject, data, team)])[0]


_EVENTS = table(AuditEventRow)
_HEAD = table(AuditHeadRow)
_INSERT_EVENTS = insert(_EVENTS)
_SET_HEAD_HASH = update(_HEAD).where(_HEAD.c.id == 1).values(hash=bindparam("head_hash"))
# Statements built once: SQLAlchemy memoizes their cache keys.
_TAKE_SEQS = (update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + bindparam("count", type_=Integer))
              .returning(_HEAD.c.seq, _HEAD.c.hash))
_HEAD_KEY = Session.identity_key(AuditHeadRow, 1)


def record_events(session: Session, events: Sequence[NewEvent]) -> list[AuditRecord]:
    """Append events, in order, in the caller's transaction.

    Taking the next sequence numbers locks the head row (PostgreSQL) or needs the write lock
    (SQLite) until the transaction ends: concurrent appends queue there, so the chain stays linear.
    Callers that append at the end of their unit of work hold that lock only for these few
    statements and the commit. The events go in with one Core executemany (no ORM objects).
    """
    if not events:
        return []
    session.flush()  # the caller's pending writes go out before the head is locked, not while it is held
    connection = session.connection()
    count = {"count": len(events)}
    taken = connection.execute(_TAKE_SEQS, count).first()
    if taken is None:  # the first event ever: start the chain
        connection.execute(insert(_HEAD).values(id=1, seq=0, hash=GENESIS_HASH))
        taken = connection.execute(_TAKE_SEQS, count).one()
    last_seq, prev_hash = int(taken[0]), str(taken[1])
    records = []
    for seq, event in enumerate(events, start=last_seq - len(events) + 1):
        occurred_at = utcnow()
        payload = event.data or {}
        event_id = new_id()
        digest = event_hash(prev_hash, seq, event_id, occurred_at, event.actor, event.action, event.subject, payload)
        records.append(AuditRecord(seq, event_id, occurred_at, event.actor, event.action, event.subject, payload,
                                   prev_hash, digest))
        prev_hash = digest
    connection.execute(_INSERT_EVENTS, [
        {"seq": r.seq, "event_id": r.event_id, "occurred_at": r.occurred_at, "actor": r.actor, "action": r.action,
         "subject": r.subject, "team": event.team, "data": r.data, "prev_hash": r.prev_hash, "hash": r.hash}
        for r, event in zip(records, events, strict=True)])
    connection.execute(_SET_HEAD_HASH, {"head_hash": prev_hash})
    # A head row this session loaded earlier is stale now.
    cached = session.identity_map.get(_HEAD_KEY)
    if cached is not None:
        session.expire(cached)
    return records


def _records(session: Session, batch: int = 2000) -> Iterator[AuditRecord]:
    last = 0
    while True:
        rows = session.exec(select(AuditEventRow).where(AuditEventRow.seq > last)
                            .order_by(col(AuditEventRow.seq)).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield AuditRecord(row.seq, row.event_id, row.occurred_at, row.actor, row.action, row.subject,
                              row.data, row.prev_hash, row.hash)
        last = rows[-1].seq


def verify(session: Session) -> ChainVerdict:
    head = session.get(AuditHeadRow, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    return verify_chain(_records(session), head_seq, head_hash)

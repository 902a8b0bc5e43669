"""Appending to and verifying the audit chain inside the caller's unit of work."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, update
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
) -> AuditEventRow:
    """Append one event in the caller's transaction, so it commits or rolls back with the change."""
    return record_events(session, [NewEvent(actor, action, subject, data, team)])[0]


def record_events(session: Session, events: Sequence[NewEvent]) -> list[AuditEventRow]:
    """Append events, in order, in the caller's transaction.

    Taking the next sequence numbers locks the head row (PostgreSQL) or needs the write lock
    (SQLite) until the transaction ends: concurrent appends queue there, so the chain stays linear.
    Callers that append at the end of their unit of work hold that lock only for these few
    statements and the commit.
    """
    if not events:
        return []
    session.flush()  # the caller's pending writes go out before the head is locked, not while it is held
    head = table(AuditHeadRow)
    bump = update(head).where(head.c.id == 1).values(seq=head.c.seq + len(events)).returning(head.c.seq, head.c.hash)
    taken = session.execute(bump).first()
    if taken is None:  # the first event ever: start the chain
        session.add(AuditHeadRow(id=1, seq=0, hash=GENESIS_HASH))
        session.flush()
        taken = session.execute(bump).one()
    last_seq, prev_hash = int(taken[0]), str(taken[1])
    rows = []
    for seq, event in enumerate(events, start=last_seq - len(events) + 1):
        occurred_at = utcnow()
        payload = event.data or {}
        event_id = new_id()
        digest = event_hash(prev_hash, seq, event_id, occurred_at, event.actor, event.action, event.subject, payload)
        rows.append(AuditEventRow(seq=seq, event_id=event_id, occurred_at=occurred_at, actor=event.actor,
                                  action=event.action, subject=event.subject, team=event.team, data=payload,
                                  prev_hash=prev_hash, hash=digest))
        prev_hash = digest
    session.add_all(rows)
    session.execute(update(head).where(head.c.id == 1).values(hash=prev_hash))
    # A head row this session loaded earlier is stale now.
    cached = session.identity_map.get(Session.identity_key(AuditHeadRow, 1))
    if cached is not None:
        session.expire(cached)
    session.flush()
    return rows


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

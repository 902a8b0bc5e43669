"""Appending to and verifying the audit chain inside the caller's unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from topicdesk.adapters.tables import AuditEventRow, AuditHeadRow, new_id, utcnow
from topicdesk.domain.audit import GENESIS_HASH, AuditRecord, ChainVerdict, event_hash, verify_chain


def record_event(
    session: Session, *, actor: str, action: str, subject: str, data: dict[str, Any] | None = None,
    team: str | None = None,
) -> AuditEventRow:
    """Append one event in the caller's transaction, so it commits or rolls back with the change."""
    _ensure_head(session)
    # Bumping the head first takes its row lock (PostgreSQL) or the write lock (SQLite): concurrent
    # appends queue here, so the chain stays linear.
    session.execute(update(AuditHeadRow).where(col(AuditHeadRow.id) == 1).values(seq=AuditHeadRow.seq + 1))
    head = session.exec(select(AuditHeadRow).where(AuditHeadRow.id == 1)).one()
    session.refresh(head)
    occurred_at = utcnow()
    payload = data or {}
    event_id = new_id()
    digest = event_hash(head.hash, head.seq, event_id, occurred_at, actor, action, subject, payload)
    row = AuditEventRow(seq=head.seq, event_id=event_id, occurred_at=occurred_at, actor=actor, action=action,
                        subject=subject, team=team, data=payload, prev_hash=head.hash, hash=digest)
    session.add(row)
    head.hash = digest
    session.add(head)
    session.flush()
    return row


def _ensure_head(session: Session) -> None:
    if session.get(AuditHeadRow, 1) is None:
        session.add(AuditHeadRow(id=1, seq=0, hash=GENESIS_HASH))
        session.flush()


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

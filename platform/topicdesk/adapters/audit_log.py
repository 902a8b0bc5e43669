"""Recording audit events with the change they describe, then chaining them.

Two steps, so writers never queue behind each other:

1. `record_events` inserts events into `audit_inbox` in the caller's transaction: an event
   commits or rolls back with its change. Nothing is locked but the new rows.
2. `sequence` moves inbox events into the hash chain (`audit_event`) in inbox order, in batches,
   under the chain head's lock: one sequencer at a time assigns sequence numbers and hashes.

Who sequences: a long-running process (the web server) installs an `AuditSequencer`, a
background thread nudged after every commit that recorded events, which also polls for events
other processes left. Any other process (CLI, reconciler, tests) sequences right after its own
commit, in the committing thread. Readers of the chain (`GET /api/v1/audit`, verify) sequence
first, so what they show is chained. An event is in the inbox for milliseconds under load and
at most a poll interval otherwise; until then it can be edited without trace, like a row in
any database. `verify` reports how many wait and since when.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from topicdesk.adapters.db import AFTER_COMMIT, read_connection, unit_of_work
from topicdesk.adapters.json_rows import insert_many
from topicdesk.adapters.notification_store import enqueue_notifications
from topicdesk.adapters.tables import AuditEventRow, AuditHeadRow, AuditInboxRow, new_id, table_of, utcnow
from topicdesk.domain.audit import GENESIS_HASH, AuditRecord, ChainVerdict, event_hash, verify_chain

log = logging.getLogger("topicdesk.audit")


@dataclass(frozen=True)
class NewEvent:
    """One event to append with record_events."""

    actor: str
    action: str
    subject: str
    data: dict[str, Any] | None = None
    team: str | None = None


_EVENTS, _HEAD, _INBOX = table_of(AuditEventRow), table_of(AuditHeadRow), table_of(AuditInboxRow)
# Statements built once: SQLAlchemy memoizes their cache keys.
# An UPDATE that changes nothing still takes the row lock (PostgreSQL); on SQLite the transaction
# already holds the database's write lock (BEGIN IMMEDIATE).
_LOCK_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq).returning(_HEAD.c.seq, _HEAD.c.hash)
_TRY_LOCK_HEAD = core_select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update(skip_locked=True)
_HEAD_EXISTS = core_select(_HEAD.c.id).where(_HEAD.c.id == 1)
_START_CHAIN = insert(_HEAD).values(id=1, seq=0, hash=GENESIS_HASH)
_SET_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
_ANY_WAITING = core_select(_INBOX.c.id).limit(1)
# The oldest `batch` waiting events, taken out of the inbox in one statement (returned in any order).
_TAKE_FROM_INBOX = (delete(_INBOX)
                    .where(_INBOX.c.id.in_(core_select(_INBOX.c.id).order_by(_INBOX.c.id).limit(bindparam("batch"))))
                    .returning(*_INBOX.c))
_INBOX_STATS = core_select(func.count(), func.min(_INBOX.c.occurred_at))


def inbox_rows(events: Sequence[NewEvent]) -> list[dict[str, Any]]:
    """The audit_inbox rows for events, in order (for callers that insert them in their own statement)."""
    return [{"event_id": new_id(), "occurred_at": utcnow(), "actor": event.actor, "action": event.action,
             "subject": event.subject, "team": event.team, "data": event.data or {}} for event in events]


def record_event(
    session: Session, *, actor: str, action: str, subject: str, data: dict[str, Any] | None = None,
    team: str | None = None,
) -> None:
    """Record one event in the caller's transaction, so it commits or rolls back with the change."""
    record_events(session, [NewEvent(actor, action, subject, data, team)])


def record_events(session: Session, events: Sequence[NewEvent]) -> None:
    """Record events, in order, in the caller's transaction; they are chained after the commit."""
    if events:
        rows = inbox_rows(events)
        insert_many(session.connection(), _INBOX, rows)
        # The notifications these events cause commit with them (the transactional outbox).
        enqueue_notifications(session.connection(), rows, before_lookup=session.flush)
        recorded(session)


def recorded(session: Session) -> None:
    """Note that this unit of work put events in the inbox: chain them once it commits."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    session.info.setdefault(AFTER_COMMIT, {})["audit"] = partial(_after_commit, engine)


# --- sequencing -------------------------------------------------------------------------------------

def sequence(engine: Engine, *, batch: int = 1000, wait: bool = True, peek: bool = True) -> int:
    """Chain every event in the inbox; return how many were chained.

    wait=False gives up (returning what it chained so far) when another sequencer holds the head:
    that one, or the next poll, takes the events. peek=True first looks, without a lock, whether
    anything waits (the usual answer when polling is no).
    """
    chained = 0
    started_chain = False
    while True:
        if peek:
            with read_connection(engine) as connection:
                if connection.execute(_ANY_WAITING).first() is None:
                    return chained
        peek = True
        try:
            with unit_of_work(engine) as session:
                moved = _sequence_batch(session.connection(), batch, wait)
        except IntegrityError:
            # Two sequencers started an empty chain at once; the other one's head row stands.
            if started_chain:
                raise
            started_chain = True
            continue
        if moved is None:
            return chained
        chained += moved
        if moved < batch:
            return chained


def _sequence_batch(connection: Connection, batch: int, wait: bool) -> int | None:
    head = connection.execute(_LOCK_HEAD if wait or connection.dialect.name != "postgresql"
                              else _TRY_LOCK_HEAD).first()
    if head is None:
        if connection.execute(_HEAD_EXISTS).first() is not None:
            return None  # another sequencer holds it
        connection.execute(_START_CHAIN)
        head_seq, prev_hash = 0, GENESIS_HASH
    else:
        head_seq, prev_hash = int(head[0]), str(head[1])
    waiting = sorted(connection.execute(_TAKE_FROM_INBOX, {"batch": batch}).all(), key=lambda row: int(row.id))
    if not waiting:
        return 0
    events = []
    for row in waiting:
        head_seq += 1
        # The hash covers the values as stored and read back, exactly what verify reads later.
        digest = event_hash(prev_hash, head_seq, row.event_id, row.occurred_at, row.actor, row.action, row.subject,
                            row.data)
        events.append({"seq": head_seq, "event_id": row.event_id, "occurred_at": row.occurred_at,
                       "actor": row.actor, "action": row.action, "subject": row.subject, "team": row.team,
                       "data": row.data, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    insert_many(connection, _EVENTS, events)
    connection.execute(_SET_HEAD, {"head_seq": head_seq, "head_hash": prev_hash})
    return len(waiting)


# The sequencer a process installed for an engine; without one, events are chained in the
# committing thread.
_SEQUENCERS: weakref.WeakKeyDictionary[Engine, AuditSequencer] = weakref.WeakKeyDictionary()


def _after_commit(engine: Engine) -> None:
    sequencer = _SEQUENCERS.get(engine)
    if sequencer is not None and sequencer.nudge():
        return
    try:
        sequence(engine)
    except Exception:  # the change is committed; its events wait in the inbox
        log.exception("audit events committed but not chained yet; the next sequencer run chains them")


class AuditSequencer:
    """Chains inbox events on a background thread of a long-running process.

    Under load one pass takes every event committed since the last one (a group commit), so
    recording costs writers one INSERT and no lock. The thread starts on first use in each
    process (it does not survive a fork) and polls every `poll_seconds` for events that other
    processes recorded. At exit it chains what is left.
    """

    def __init__(self, engine: Engine, *, poll_seconds: float = 2.0, gather_seconds: float = 0.05,
                 batch: int = 1000) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        # After a nudge, wait this long for more commits, so one pass chains many events.
        self.gather_seconds = gather_seconds
        self.batch = batch
        self.reset_after_fork()
        self._stopped = False

    def reset_after_fork(self) -> None:
        """A forked child has none of the parent's threads, and locks they held would stay held."""
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def install(self) -> AuditSequencer:
        _SEQUENCERS[self.engine] = self
        return self

    def nudge(self) -> bool:
        """Ask for a pass soon; False when this sequencer is stopped (the caller chains itself)."""
        if not self.ensure_running():
            return False
        self._wake.set()
        return True

    def ensure_running(self) -> bool:
        if self._stopped:
            return False
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return True
        with self._guard:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="audit-sequencer", daemon=True)
                self._thread.start()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and chain what is left."""
        self._stopped = True
        if _SEQUENCERS.get(self.engine) is self:
            del _SEQUENCERS[self.engine]
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and self._pid == os.getpid():
            thread.join(timeout)
        try:
            sequence(self.engine, batch=self.batch)
        except Exception:  # at shutdown; the events stay in the inbox for the next run
            log.exception("could not chain the audit inbox at shutdown")

    def _run(self) -> None:
        failures = 0
        while not self._stopped:
            nudged = self._wake.wait(self.poll_seconds if not failures
                                     else min(30.0, self.poll_seconds * 2 ** failures))
            if nudged and not self._stopped:
                time.sleep(self.gather_seconds)
            self._wake.clear()
            if self._stopped:
                return
            try:
                sequence(self.engine, batch=self.batch, wait=False, peek=not nudged)
                failures = 0
            except Exception:  # keep the thread alive; the events wait in the inbox
                failures += 1
                log.exception("audit sequencing failed; retrying")


def _after_fork_in_child() -> None:
    for sequencer in list(_SEQUENCERS.values()):
        sequencer.reset_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def stop_sequencers() -> None:
    """Stop every installed sequencer of this process, chaining what each left in its inbox."""
    for sequencer in list(_SEQUENCERS.values()):
        sequencer.stop()


# --- reading ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InboxState:
    waiting: int
    oldest: datetime | None


def inbox_state(session: Session) -> InboxState:
    count, oldest = session.connection().execute(_INBOX_STATS).one()
    return InboxState(int(count), oldest)


def _records(session: Session, up_to: int, batch: int = 2000) -> Iterator[AuditRecord]:
    last = 0
    while True:
        # Only what the head covers: events a sequencer chains meanwhile belong to a later head.
        rows = session.exec(select(AuditEventRow).where(AuditEventRow.seq > last, AuditEventRow.seq <= up_to)
                            .order_by(col(AuditEventRow.seq)).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield AuditRecord(row.seq, row.event_id, row.occurred_at, row.actor, row.action, row.subject,
                              row.data, row.prev_hash, row.hash)
        last = rows[-1].seq


def verify(session: Session) -> ChainVerdict:
    """Check the chain; the verdict also says how many events wait in the inbox (not yet chained)."""
    head = session.get(AuditHeadRow, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    verdict = verify_chain(_records(session, head_seq), head_seq, head_hash)
    state = inbox_state(session)
    return replace(verdict, pending=state.waiting, oldest_pending=state.oldest)

"""The audit chain on both backends: intact chains verify; edits, deletions and swaps are caught."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from topicdesk import migrations
from topicdesk.adapters.audit_log import (
    AuditSequencer,
    NewEvent,
    inbox_rows,
    record_event,
    record_events,
    sequence,
    verify,
)
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.json_rows import insert_many
from topicdesk.adapters.tables import AuditEventRow, AuditInboxRow, table_of
from topicdesk.services.audit import verify_log


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        for n in range(1, 6):
            record_event(session, actor="alice", action="request:submit", subject=f"request:{n}",
                         data={"n": n, "spec": {"partitions": n, "name": "payments.ü"}}, team="payments")
    yield engine
    engine.dispose()


def test_intact_chain_verifies(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        verdict = verify(session)
    assert verdict.ok
    assert verdict.events == 5
    assert verdict.first_bad is None


def test_rolled_back_change_leaves_no_event(engine: Engine) -> None:
    def failing_change() -> None:
        with unit_of_work(engine) as session:
            record_event(session, actor="bob", action="request:approve", subject="request:1")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    with unit_of_work(engine) as session:
        assert verify(session).events == 5
        assert verify(session).ok


def test_edited_event_is_detected(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        session.execute(update(AuditEventRow).where(col(AuditEventRow.seq) == 3).values(actor="mallory"))
    with unit_of_work(engine) as session:
        verdict = verify(session)
    assert not verdict.ok
    assert verdict.first_bad == 3


def test_deleted_event_is_detected(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        session.execute(delete(AuditEventRow).where(col(AuditEventRow.seq) == 2))
    with unit_of_work(engine) as session:
        verdict = verify(session)
    assert not verdict.ok
    assert verdict.first_bad == 3


def test_deleted_last_event_is_detected(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        session.execute(delete(AuditEventRow).where(col(AuditEventRow.seq) == 5))
    with unit_of_work(engine) as session:
        verdict = verify(session)
    assert not verdict.ok
    assert verdict.first_bad == 5


def test_swapped_events_are_detected(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        two = session.exec(select(AuditEventRow).where(AuditEventRow.seq == 2)).one()
        four = session.exec(select(AuditEventRow).where(AuditEventRow.seq == 4)).one()
        fields = ["event_id", "occurred_at", "actor", "action", "subject", "data", "prev_hash", "hash"]
        a = {f: getattr(two, f) for f in fields}
        b = {f: getattr(four, f) for f in fields}
        # Park one row's unique event_id first so the swap does not collide.
        session.execute(update(AuditEventRow).where(col(AuditEventRow.seq) == 2).values(event_id="x"))
        session.execute(update(AuditEventRow).where(col(AuditEventRow.seq) == 4).values(**a))
        session.execute(update(AuditEventRow).where(col(AuditEventRow.seq) == 2).values(**b))
    with unit_of_work(engine) as session:
        verdict = verify(session)
    assert not verdict.ok
    assert verdict.first_bad == 2


def test_concurrent_appends_keep_one_linear_chain(engine: Engine) -> None:
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            for n in range(10):
                with unit_of_work(engine) as session:
                    record_event(session, actor=f"w{worker}", action="test:append", subject=f"n:{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with unit_of_work(engine) as session:
        verdict = verify(session)
    assert verdict.ok, verdict
    assert verdict.events == 5 + 80


def _park(engine: Engine, *subjects: str) -> None:
    """Events committed to the inbox with nobody told to chain them (as after a crash right after commit)."""
    with unit_of_work(engine) as session:
        insert_many(session.connection(), table_of(AuditInboxRow), inbox_rows(
            [NewEvent(actor="carol", action="test:park", subject=subject) for subject in subjects]))


def _chained(engine: Engine) -> list[AuditEventRow]:
    with unit_of_work(engine) as session:
        return list(session.exec(select(AuditEventRow).order_by(col(AuditEventRow.seq))).all())


def test_events_left_in_the_inbox_are_reported_then_chained_in_order(engine: Engine) -> None:
    _park(engine, "a", "b", "c")
    with unit_of_work(engine) as session:
        waiting = verify(session)
    assert waiting.ok
    assert waiting.events == 5
    assert waiting.pending == 3
    assert waiting.oldest_pending is not None
    verdict = verify_log(engine)  # what the API and `topicdesk audit verify` run: chain first, then check
    assert verdict.ok
    assert verdict.events == 8
    assert verdict.pending == 0
    assert [e.subject for e in _chained(engine)][5:] == ["a", "b", "c"]
    with unit_of_work(engine) as session:
        assert session.exec(select(AuditInboxRow)).all() == []


def test_events_of_one_transaction_stay_in_their_order(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        record_events(session, [NewEvent("dave", "test:step", f"step:{n}") for n in range(50)])
    assert [e.subject for e in _chained(engine)][5:] == [f"step:{n}" for n in range(50)]


def test_sequencing_in_small_batches_and_concurrently_keeps_one_chain(engine: Engine) -> None:
    _park(engine, *(f"p:{n}" for n in range(40)))
    errors: list[BaseException] = []

    def run(wait: bool) -> None:
        try:
            sequence(engine, batch=3, wait=wait)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n % 2 == 0,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sequence(engine)
    assert errors == []
    verdict = verify_log(engine)
    assert verdict.ok
    assert verdict.events == 45
    assert verdict.pending == 0
    assert sorted(e.subject for e in _chained(engine)[5:]) == sorted(f"p:{n}" for n in range(40))


def test_background_sequencer_chains_after_each_commit_and_polls_for_other_writers(engine: Engine) -> None:
    sequencer = AuditSequencer(engine, poll_seconds=0.2).install()
    try:
        with unit_of_work(engine) as session:  # this process: nudged after the commit
            record_event(session, actor="erin", action="test:nudged", subject="x")
        _park(engine, "y")  # as if another process recorded it and died before chaining
        deadline = time.monotonic() + 10
        while len(_chained(engine)) < 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e.subject for e in _chained(engine)][5:] == ["x", "y"]
    finally:
        sequencer.stop()
    with unit_of_work(engine) as session:  # stopped: the committing thread chains again
        record_event(session, actor="erin", action="test:inline", subject="z")
    assert _chained(engine)[-1].subject == "z"
    assert verify_log(engine).ok

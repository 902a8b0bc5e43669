"""The audit chain on both backends: intact chains verify; edits, deletions and swaps are caught."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from topicdesk import migrations
from topicdesk.adapters.audit_log import record_event, verify
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import AuditEventRow


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

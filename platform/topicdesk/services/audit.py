"""Reading the audit log: what readers see is chained first."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from topicdesk.adapters import audit_log
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.listing_store import AuditFilter
from topicdesk.domain.audit import ChainVerdict
from topicdesk.domain.identity import Identity
from topicdesk.services import queries


def list_events(
    engine: Engine, identity: Identity, *, limit: int, before_seq: int | None, where: AuditFilter,
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of the chain, newest first, after chaining what waits in the inbox."""
    audit_log.sequence(engine)
    with unit_of_work(engine) as session:
        return queries.list_audit(session, identity, limit=limit, before_seq=before_seq, where=where)


def verify_log(engine: Engine) -> ChainVerdict:
    """Chain what waits in the inbox, then check the whole chain against its head."""
    audit_log.sequence(engine)
    with unit_of_work(engine) as session:
        return audit_log.verify(session)


def verdict_view(verdict: ChainVerdict) -> dict[str, Any]:
    return {"ok": verdict.ok, "events": verdict.events, "head": verdict.head,
            "first_bad": str(verdict.first_bad) if verdict.first_bad is not None else None,
            "problem": verdict.problem, "pending": verdict.pending,
            "oldest_pending": verdict.oldest_pending.isoformat() if verdict.oldest_pending else None}

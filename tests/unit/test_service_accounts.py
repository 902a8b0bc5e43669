"""Service accounts through the API over the in-memory cluster port: the list carries each account's
grants and quota, and a delete is refused, changing nothing, while a desired-state file declares them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from tests.fakes import FakeClusterPort
from tests.support import build_desk
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import (
    AccessGrantRow,
    AuditEventRow,
    AuditInboxRow,
    ClientQuotaRow,
    ServiceAccountRow,
)
from topicdesk.domain.identity import Role

PATH = "/api/v1/clusters/c1/service-accounts"


def test_delete_is_refused_while_a_file_declares_the_accounts_grant(tmp_path: Path) -> None:
    desk = build_desk(tmp_path, FakeClusterPort(), tokens={"owner": ("payments", Role.OWNER)})
    created = desk.call("owner", "POST", PATH, {"name": "payments.reader"})
    assert created.status_code == 201, created.json
    with unit_of_work(desk.engine) as session:
        session.add(AccessGrantRow(cluster="c1", topic="payments.orders", principal="User:payments.reader",
                                   access="consume", group_id="payments.reader", granted_team="payments",
                                   managed_by="acme/kafka:topics.yaml"))
        session.add(ClientQuotaRow(cluster="c1", principal="User:payments.reader", owner_team="payments",
                                   consumer_byte_rate=1048576))

    [account] = desk.call("owner", "GET", PATH).json["items"]
    assert [(g["topic"], g["group"], g["status"]) for g in account["grants"]] == [
        ("payments.orders", "payments.reader", "pending")]
    assert (account["quota"]["consumer_byte_rate"], account["quota"]["status"]) == (1048576, "pending")
    assert account["pending_quota_request"] is None
    events_before = _events(desk.engine)
    assert events_before >= 1  # the create was recorded

    refused = desk.call("owner", "DELETE", f"{PATH}/User:payments.reader")
    assert refused.status_code == 409
    assert "acme/kafka:topics.yaml" in refused.json["detail"]
    with unit_of_work(desk.engine) as session:
        assert not session.exec(select(ServiceAccountRow).where(col(ServiceAccountRow.deleted))).all()
        assert not session.exec(select(AccessGrantRow).where(col(AccessGrantRow.deleted))).all()
        assert not session.exec(select(ClientQuotaRow).where(col(ClientQuotaRow.deleted))).all()
    assert _events(desk.engine) == events_before


def _events(engine: Engine) -> int:
    """Audit events recorded so far, chained or still in the inbox."""
    with unit_of_work(engine) as session:
        return len(session.exec(select(AuditEventRow)).all()) + len(session.exec(select(AuditInboxRow)).all())

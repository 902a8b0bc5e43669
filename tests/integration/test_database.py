"""Migrations and a round trip on an empty SQLite and an empty PostgreSQL database."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import select

from topicdesk import migrations
from topicdesk.adapters.db import database_reachable, make_engine, unit_of_work
from topicdesk.adapters.tables import ClusterRow, TeamRow


def test_upgrade_head_on_empty_database_then_round_trip(database_url: str) -> None:
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    assert {"team", "cluster", "topic", "access_grant", "client_quota", "service_account", "cluster_lease",
            "alembic_version"} <= set(inspect(engine).get_table_names())

    with unit_of_work(engine) as session:
        session.add(TeamRow(name="payments", display_name="Payments"))
        session.flush()
        session.add(ClusterRow(name="payments-dev", environment="dev", owner_team="payments",
                               bootstrap_servers="127.0.0.1:19092", admin_secret_ref="env:PAYMENTS_DEV",
                               disk_budget_bytes=5 * 1024**4, tags=["eu", "tier-1"]))

    with unit_of_work(engine) as session:
        cluster = session.exec(select(ClusterRow).where(ClusterRow.name == "payments-dev")).one()
        assert cluster.owner_team == "payments"
        assert cluster.disk_budget_bytes == 5 * 1024**4  # needs a 64-bit column on PostgreSQL
        assert cluster.tags == ["eu", "tier-1"]
        assert "admin_secret_ref" not in cluster.public_view()
    assert database_reachable(engine) == (True, "ok")
    engine.dispose()


def test_upgrade_is_idempotent_and_downgrade_removes_tables(database_url: str) -> None:
    migrations.upgrade(database_url)
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == ScriptDirectory.from_config(migrations.alembic_config(database_url)).get_current_head()
    migrations.downgrade(database_url, "base")
    assert "cluster" not in inspect(engine).get_table_names()
    engine.dispose()


def test_unit_of_work_rolls_back_on_error(database_url: str) -> None:
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with unit_of_work(engine) as session:
            session.add(TeamRow(name="ingest"))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with unit_of_work(engine) as session:
        assert session.exec(select(TeamRow)).all() == []
    engine.dispose()


def test_migrations_match_the_table_models(database_url: str) -> None:
    """A table change without its migration fails here, on both backends."""
    from alembic import command

    migrations.upgrade(database_url)
    command.check(migrations.alembic_config(database_url))

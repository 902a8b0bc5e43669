"""The `topicdesk` CLI: tokens, audit verify, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update
from sqlmodel import col

from tests.support import seed_teams
from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import AuditEventRow
from topicdesk.cli import main
from topicdesk.services.tokens import authenticate_token


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed_teams(engine)
    engine.dispose()
    return {"DATABASE_URL": url, "TOPICDESK_DATA_DIR": str(tmp_path)}


def test_token_create_prints_the_token_last_and_it_authenticates(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["token", "create", "--team", "payments", "--name", "ci", "--role", "owner"],
                                env=env)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    engine = make_engine(env["DATABASE_URL"])
    identity = authenticate_token(engine, token)
    assert identity.team_roles == {"payments": "owner"}

    listed = CliRunner().invoke(main, ["token", "list", "--team", "payments"], env=env)
    assert "ci" in listed.stdout
    assert token not in listed.stdout
    token_id = token.split("_")[1]
    assert CliRunner().invoke(main, ["token", "revoke", token_id], env=env).exit_code == 0
    with pytest.raises(Exception, match="revoked"):
        authenticate_token(engine, token)
    engine.dispose()


def test_errors_are_one_line_with_exit_code_1(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["token", "create", "--team", "nobody", "--name", "ci"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "team 'nobody' does not exist" in result.stderr
    bad_name = CliRunner().invoke(main, ["token", "create", "--team", "payments", "--name", "Bad Name"], env=env)
    assert bad_name.exit_code == 1
    assert "/name" in bad_name.stderr


def test_audit_verify_names_the_first_bad_event(env: dict[str, str]) -> None:
    for name in ("a", "b", "c"):
        CliRunner().invoke(main, ["token", "create", "--team", "payments", "--name", name], env=env)
    ok = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert ok.exit_code == 0
    assert ok.stdout.startswith("ok: 3 events")
    engine = make_engine(env["DATABASE_URL"])
    with unit_of_work(engine) as session:
        session.execute(update(AuditEventRow).where(col(AuditEventRow.seq) == 2).values(actor="mallory"))
    engine.dispose()
    broken = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert broken.exit_code == 1
    assert "broken at event 2" in broken.stderr


def test_policy_test_runs_the_default_case_files() -> None:
    result = CliRunner().invoke(main, ["policy", "test"])
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output


def test_bad_configuration_is_one_line(env: dict[str, str]) -> None:
    for bad in ({"PORT": "abc"}, {"OIDC_ISSUER": "http://127.0.0.1:1"}, {"TOPICDESK_WRITE_BURST": "many"}):
        result = CliRunner().invoke(main, ["serve"], env={**env, **bad})
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("Error: configuration: ")
        assert result.stderr.strip().count("\n") == 0

"""examples/: every file reads as YAML under the strict parser, matches schemas/desired-state.json,
explains itself in comments, and plans on a fresh Topicdesk without a denial or an error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeClusterPort
from tests.support import seed_teams
from topicdesk import migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.desired_file_format import parse_desired_file
from topicdesk.adapters.tables import ClusterRow
from topicdesk.app import create_app
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.services.tokens import create_token

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_there_is_an_example_per_use_case_and_a_readme_naming_each() -> None:
    assert {f.name for f in FILES} == {"first-topic.yaml", "cross-team-consumer.yaml", "quotas.yaml",
                                       "compacted-topic.yaml", "adopt-existing.yaml"}
    readme = (EXAMPLES / "README.md").read_text()
    for file in FILES:
        assert f"({file.name})" in readme, file.name


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_each_example_is_valid_and_commented(path: Path) -> None:
    raw = path.read_bytes()
    document = parse_desired_file(raw, "application/yaml")
    assert document["version"] == 1
    assert any(document.get(section) for section in ("topics", "grants", "quotas"))
    lines = raw.decode().splitlines()
    assert lines[0].startswith("# "), "an example starts by saying what it shows"
    assert sum("#" in line for line in lines) >= 5


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_each_example_plans_without_a_denial(path: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed_teams(engine, ("payments", "billing"))
    with unit_of_work(engine) as session:
        session.add(ClusterRow(name="payments-dev", environment="dev", owner_team="payments",
                               bootstrap_servers="x:1", admin_secret_ref="env:X"))
    document = parse_desired_file(path.read_bytes(), "application/yaml")
    token = create_token(engine, team=document["team"], name="ci", role=Role.MEMBER, actor="t").token
    port = FakeClusterPort()
    app = create_app(Settings.from_env({"DATABASE_URL": url, "TOPICDESK_DATA_DIR": str(tmp_path)}), engine=engine,
                     port_factory=lambda _c, **_o: port)
    response = app.test_client().post("/api/v1/desired-state?dry_run=true", data=path.read_bytes(),
                                      content_type="application/yaml", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    plan: dict[str, Any] = response.get_json()
    assert plan["changes"], plan
    for change in plan["changes"]:
        assert change.get("error") is None, change
        assert (change.get("decision") or {}).get("outcome") != "denied", change
        assert change.get("outcome") not in ("denied", "error"), change
    engine.dispose()

"""`topicdesk policy ...`: run the case files of a policy bundle."""

from __future__ import annotations

from pathlib import Path

import click

from topicdesk.policy.bundle import POLICY_DIR, PolicyBundleError
from topicdesk.policy.cases import run_cases
from topicdesk.schemas import SchemaFileError


@click.group()
def policy() -> None:
    """Policy bundle (policies/): test it against its case files."""


@policy.command("test")
@click.option(
    "--dir",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=POLICY_DIR,
    show_default=True,
    help="The policy bundle: *.policy.json files, each with its *.cases.json.",
)
def test_cases(directory: Path) -> None:
    """Run every case file; print pass/fail per case and exit 1 if any fails."""
    try:
        results = run_cases(directory)
    except (PolicyBundleError, SchemaFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    for result in results:
        click.echo(f"{'PASS' if result.passed else 'FAIL'}  {result.file} :: {result.name}")
        for problem in result.problems:
            click.echo(f"      {problem}")
    failed = sum(not result.passed for result in results)
    click.echo(f"{len(results)} cases, {len(results) - failed} passed, {failed} failed")
    if failed:
        raise click.exceptions.Exit(1)

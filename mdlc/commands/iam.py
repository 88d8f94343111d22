"""``mdlc local iam-report``: what each of a team's roles did in an offline lifecycle run,
and which of its grants it never used (least privilege, read from real evaluated calls)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mdlc.commands.lifecycle import lifecycle_options


def register(main: click.Group, local: click.Group) -> None:
    local.add_command(iam_report)


@click.command("iam-report")
@lifecycle_options
@click.option("--strict", is_flag=True, help="Exit 1 if a call was denied or a grant is unused and unexplained.")
def iam_report(model: str, data: Path | None, entities: int, days: int, requests: int, seed: int, strict: bool,
               models_dir: Path | None, stage: str) -> None:
    """Run the team's lifecycle offline with IAM evaluated, then report per principal."""
    from mdlc.commands.lifecycle import run_lifecycle
    from mdlc.contract import TeamFileError
    from mdlc.local import LocalTeam
    from mdlc.local.iam_report import format_report, principal_reports

    try:
        with LocalTeam(model, models_dir=models_dir, progress=click.echo, quiet=True, stage=stage) as team:
            try:
                run_lifecycle(team, entities, days, requests, seed, data)
            except click.ClickException as failed:
                # What ran so far was evaluated: report it, then fail as the lifecycle did.
                click.echo(format_report(principal_reports(team)))
                raise failed
            reports = principal_reports(team)
    except TeamFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.secho("\nIAM report (calls made in this run; granted actions never used)", bold=True)
    click.echo(format_report(reports))
    if strict and any(r.denied or r.unexplained for r in reports):
        sys.exit(1)

"""``mdlc local iam-report``: what each of a team's roles did in an offline lifecycle run,
and which of its grants it never used (least privilege, read from real evaluated calls)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mdlc.commands import stage_option


def register(main: click.Group, local: click.Group) -> None:
    local.add_command(iam_report)


@click.command("iam-report")
@click.option("--model", required=True, help="Team name (models/NAME.yaml).")
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None,
              help="Folder of the team's labelled raw CSV records (default: generated from its schema).")
@click.option("--entities", "--customers", "entities", default=600, show_default=True,
              help="Generated data: entities (the schema's entity key) of the run.")
@click.option("--days", default=60, show_default=True, help="Days of training history.")
@click.option("--requests", default=500, show_default=True, help="Requests streamed before and after drift.")
@click.option("--seed", default=7, show_default=True, help="Synthetic data seed.")
@click.option("--strict", is_flag=True, help="Exit 1 if a call was denied or a grant is unused and unexplained.")
@click.option("--models-dir", type=click.Path(exists=True, path_type=Path), default=None, hidden=True)
@stage_option
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

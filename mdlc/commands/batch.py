"""``mdlc local batch``: the batch scoring workflow offline, for any team."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from mdlc.commands import stage_option
from mdlc.commands.training import short_cause, training_history


def register(main: click.Group, local: click.Group) -> None:
    local.add_command(batch)


def approved_version(team: Any, train_data: Path | None, *, entities: int, days: int, seed: int,
                     echo: Any = click.echo) -> str:
    """The newest Approved model version; trains and approves one first if there is none."""
    approved = [p for p in team.model_packages() if p.get("ModelApprovalStatus") == "Approved"]
    if approved:
        return approved[-1]["ModelPackageArn"]
    echo("no approved model yet: training one")
    prefix = training_history(team, train_data, entities=entities, days=days, seed=seed, day="2026-03-01",
                              echo=echo)
    result = team.train(prefix)
    if not result.succeeded:
        raise click.ClickException(f"training ended in {result.error}: {short_cause(result.cause)}")
    arn = result.output["registered"]["model_package_arn"]
    team.approve(arn)
    echo(f"approved {arn} (the model owner's review, done here)")
    return arn


@click.command()
@click.option("--model", required=True, help="Team name (models/NAME.yaml).")
@click.option("--data", type=click.Path(exists=True, path_type=Path),
              help="Folder of raw CSV records to score (default: generated from the team's schema).")
@click.option("--train-data", type=click.Path(exists=True, path_type=Path),
              help="Folder of labelled raw CSV records to train the model on (default: generated).")
@click.option("--day", default="2026-03-02", show_default=True, help="Partition date of the batch input.")
@click.option("--entities", "--customers", "entities", default=300, show_default=True,
              help="Generated data: number of entities (values of schema.entity_key).")
@click.option("--days", default=45, show_default=True, help="Generated data: days of training history.")
@click.option("--seed", default=7, show_default=True, help="Generated data: seed.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for the results and manifest (default: the run's work folder).")
@click.option("--models-dir", type=click.Path(exists=True, path_type=Path), default=None, hidden=True)
@stage_option
def batch(model: str, data: Path | None, train_data: Path | None, day: str, entities: int, days: int, seed: int,
          out: Path | None, models_dir: Path | None, stage: str) -> None:
    """Score a batch with the team's batch workflow offline (training a model first if none is approved)."""
    from mdlc import synthetic_team
    from mdlc.contract import TeamFileError
    from mdlc.local import LocalTeam

    try:
        with LocalTeam(model, models_dir=models_dir, progress=click.echo, quiet=True, stage=stage) as team:
            approved_version(team, train_data, entities=entities, days=days, seed=seed)
            if data is not None:
                uri = team.put_batch_dir(data, day)
                click.echo(f"batch input: {data} → {uri}")
            else:
                frame = synthetic_team.later_for_team(team.spec, n_entities=entities, train_days=days, days=1,
                                                      seed=seed, variant=2)
                uri = team.put_batch_input(frame, day)
                click.echo(f"no --data given: generated {len(frame)} records to score from the team's schema → {uri}")
            result = team.run("batch", {"input_prefix": uri})
            if not result.succeeded:
                click.echo(f"\nFAILED in {result.error}: {short_cause(result.cause)}", err=True)
                sys.exit(1)
            published = result.output["published"]
            folder = Path(out or team.workdir / "batch-results")
            files = [f for f in team.download(published["results_uri"], folder) if f.name != "_manifest.json"]
            manifest = team.download(published["manifest_uri"], folder)
            click.echo(f"\n{published['rows']} rows scored ({team.team.batch.content_type} to the model)")
            click.echo(f"results:  {published['results_uri']} → {folder} ({len(files)} file(s))")
            click.echo(f"manifest: {published['manifest_uri']} → {manifest[0] if manifest else '-'}")
    except TeamFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)

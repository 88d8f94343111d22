"""``mdlc local train``: the training workflow offline, state by state."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def register(main: click.Group, local: click.Group) -> None:
    local.add_command(train)


@click.command()
@click.option("--model", required=True, help="Team name (models/NAME.yaml).")
@click.option("--data", type=click.Path(exists=True, path_type=Path),
              help="Folder of labelled raw CSV files (default: generated from the team's schema).")
@click.option("--day", default="2026-03-01", show_default=True, help="Partition date of the data.")
@click.option("--entities", "--customers", "entities", default=600, show_default=True,
              help="Generated data: number of entities (values of schema.entity_key).")
@click.option("--days", default=60, show_default=True, help="Generated data: days of history.")
@click.option("--seed", default=7, show_default=True, help="Generated data: seed.")
@click.option("--models-dir", type=click.Path(exists=True, path_type=Path), default=None, hidden=True)
def train(model: str, data: Path | None, day: str, entities: int, days: int, seed: int,
          models_dir: Path | None) -> None:
    """Run the team's training workflow offline (embedded moto, real jobs and handlers)."""
    from mdlc.commands.batch import training_history
    from mdlc.contract import TeamFileError
    from mdlc.local import LocalTeam

    try:
        with LocalTeam(model, models_dir=models_dir, progress=click.echo, quiet=True) as team:
            prefix = training_history(team, data, entities=entities, days=days, seed=seed, day=day)
            click.echo(f"training on {prefix}")
            result = team.train(prefix)
            sys.exit(report(result))
    except TeamFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def report(result) -> int:
    """Print the metrics and the registered version, or the failure reason; the exit code."""
    if not result.succeeded:
        click.echo(f"\nFAILED in {result.error}: {short_cause(result.cause)}", err=True)
        return 1
    out = result.output
    metrics = out["evaluation"].get("metrics", {})
    baseline = out["evaluation"].get("baseline", {})
    champion = (out["evaluation"].get("champion") or {}).get("metrics") or {}
    click.echo("\nmetric            challenger   baseline   champion")
    for name in ("pr_auc", "roc_auc", "recall_at_fpr", "brier", "ece"):
        if name in metrics:
            click.echo(
                f"{name:<16} {_f(metrics.get(name)):>10} {_f(baseline.get(name)):>10} {_f(champion.get(name)):>10}"
            )
    reg = out["registered"]
    click.echo(f"\nregistered {reg['model_package_arn']} (version {reg['version']}, {reg['approval_status']})")
    return 0


def short_cause(cause: str | None) -> str:
    """The human part of a failure cause (a job's FailureReason, a gate's reasons)."""
    if not cause:
        return "no cause given"
    try:
        data = json.loads(cause)
    except ValueError:
        return cause[:2000]
    if isinstance(data, dict):
        for key in ("FailureReason", "errorMessage", "ExitMessage"):
            if data.get(key):
                return str(data[key])[-2000:]
    return cause[:2000]


def _f(value) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)

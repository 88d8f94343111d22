"""The ``mdlc`` command: check team files and run the lifecycle offline.

Sub-commands that need heavy libraries import them when they run, so ``mdlc validate``
stays fast.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import click

from mdlc.contract import TeamFileError, json_schema, load_team


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """MDLC templates: one YAML per model team → its Model Development Life Cycle on AWS."""


@main.command()
@click.argument("team_files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(team_files: tuple[Path, ...]) -> None:
    """Check team files against the contract (exit 1 and name every problem if wrong)."""
    failed = False
    for path in team_files:
        try:
            team = load_team(path)
        except TeamFileError as exc:
            click.echo(f"error: {exc}", err=True)
            failed = True
            continue
        s = team.schema
        keys = list(dict.fromkeys([s.entity_key, *(f.aggregate.key or s.entity_key for f in s.online_features)]))
        click.echo(
            f"{path}: valid: team {team.name}, {len(s.model_features)} model features "
            f"({len(s.online_features)} online, keyed by {', '.join(keys)}), "
            f"{team.evaluation.metric} ≥ {team.evaluation.threshold}, "
            f"{len(team.environments)} environment(s)"
        )
        for warning in _warnings(path):
            click.echo(f"warning: {path}: {warning}", err=True)
    sys.exit(1 if failed else 0)


def _warnings(path: Path) -> list[str]:
    try:
        from mdlc.lint import warnings_for  # added by the configuration-review work
    except ImportError:
        return []
    return warnings_for(path)


@main.command()
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write to a file.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of the team contract (for editors)."""
    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("team_file", type=click.Path(path_type=Path))
@click.argument("other", required=False, type=click.Path(path_type=Path))
@click.option("--backtest", is_flag=True, help="For a decision policy change: backtest it on labelled history "
              "(mdlc backtest) and show the summary.")
@click.option("--current-model", type=click.Path(exists=True, path_type=Path),
              help="With --backtest: the model (model.tar.gz); default: trained offline.")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="With --backtest: labelled raw CSV files (default: generated).")
def diff(team_file: Path, other: Path | None, backtest: bool, current_model: Path | None,
         data: Path | None) -> None:
    """Changed settings of TEAM_FILE → OTHER (or git HEAD → TEAM_FILE) and the stacks they touch."""
    from mdlc.diff import diff_files

    options = {"stage": "dev", "current_model": current_model, "data": data, "echo": click.echo}
    try:
        click.echo(diff_files(team_file, other, options if backtest else None), nl=False)
    except (TeamFileError, ValueError) as exc:  # BacktestError is a ValueError
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@main.command()
@click.option("--model", required=True, help="Team name (models/NAME.yaml).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Folder (default docs/diagrams/NAME).")
@click.option("--models-dir", type=click.Path(exists=True, path_type=Path), default=None, hidden=True)
def diagram(model: str, out: Path | None, models_dir: Path | None) -> None:
    """Render every workflow of a team as SVG and PNG, Retry and Catch paths included."""
    from mdlc.diagram import render_team

    try:
        for path in render_team(model, out, models_dir):
            click.echo(f"wrote {path}")
    except TeamFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@main.group()
def local() -> None:
    """Run the workflows offline (embedded moto, real handlers and job scripts)."""


# One module per MDLC stage adds its commands (each has ``register(main, local)``).
COMMAND_MODULES = [
    "mdlc.commands.training",
    "mdlc.commands.batch",
    "mdlc.commands.realtime",
    "mdlc.commands.lifecycle",
    "mdlc.commands.iam",
    "mdlc.commands.bootstrap",
    "mdlc.commands.promote",
    "mdlc.commands.shadow",
    "mdlc.commands.backtest",
    "mdlc.commands.latency",
]
for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(main, local)


if __name__ == "__main__":
    main()

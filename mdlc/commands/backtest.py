"""``mdlc backtest``: a candidate policy and/or model against the current ones, on labelled history."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mdlc.backtest_run import DAYS, ENTITIES, SEED
from mdlc.commands import stage_option


def register(main: click.Group, local: click.Group) -> None:
    main.add_command(backtest)


@click.command()
@click.option("--model", required=True, help="Team name (models/NAME.yaml).")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Candidate policy: a team file or a YAML holding decision_rules (default: the current policy).")
@click.option("--baseline-ref", default=None,
              help="Current policy = the team file at this git revision (e.g. HEAD~1); candidate = the working "
                   "tree's team file unless --policy is given.")
@click.option("--current-model", type=click.Path(exists=True, path_type=Path),
              help="The current model: model.tar.gz or a folder holding it (default: trained offline on the "
                   "older part of the history).")
@click.option("--candidate-model", type=click.Path(exists=True, path_type=Path),
              help="Candidate model: model.tar.gz or a folder holding it (default: the current model).")
@click.option("--model-version", default=None,
              help="Candidate model: a version (number or ARN) of the team's model registry in the account "
                   "of --stage (needs AWS credentials for it).")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of labelled raw CSV files (default: generated from the team's schema).")
@click.option("--since", default=None, help="Replay records at or after this time (ISO-8601).")
@click.option("--entities", default=ENTITIES, show_default=True, help="Generated data: number of entities.")
@click.option("--days", default=DAYS, show_default=True, help="Generated data: days of history.")
@click.option("--seed", default=SEED, show_default=True, help="Generated data: seed.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here.")
@click.option("--enforce-guardrails", is_flag=True,
              help="Exit 3 when the candidate breaks a decision_rules.guardrails limit (the pipeline uses it).")
@click.option("--models-dir", type=click.Path(exists=True, path_type=Path), default=None, hidden=True)
@stage_option
def backtest(model: str, policy_file: Path | None, baseline_ref: str | None, current_model: Path | None,
             candidate_model: Path | None, model_version: str | None, data: Path | None, since: str | None,
             entities: int, days: int, seed: int, json_file: Path | None, enforce_guardrails: bool,
             models_dir: Path | None, stage: str) -> None:
    """Replay labelled history through the production feature, model and policy code, point in time,
    and print the current and candidate decisions side by side."""
    from mdlc import backtest_inputs as inputs
    from mdlc.backtest import BacktestError, parse_time_ns
    from mdlc.backtest_run import run_backtest
    from mdlc.contract import MODELS_DIR, TeamFileError

    team_path = (models_dir or MODELS_DIR) / f"{model}.yaml"
    if candidate_model is not None and model_version is not None:
        click.echo("error: give the candidate model once: --candidate-model PATH or --model-version V", err=True)
        sys.exit(1)
    try:
        if not team_path.is_file():
            raise TeamFileError(team_path, ["file not found; expected models/NAME.yaml for --model NAME"])
        try:
            current = inputs.team_at(team_path, baseline_ref)
        except inputs.NoBaseline as exc:  # nothing was deployed before: nothing to compare with
            click.echo(f"no current policy: {exc}; nothing to compare")
            return
        candidate = (inputs.candidate_team(team_path, policy_file) if policy_file
                     else inputs.team_at(team_path, None))
        if since is not None:
            parse_time_ns(since)  # a clear error before any work
        if current.decision_rules is None:
            raise TeamFileError(team_path, ["decision_rules: missing; a backtest replays decisions, and this "
                                            "team has no policy (batch-only)"])
        if (inputs.same_policy(current, candidate) and candidate_model is None and model_version is None):
            click.echo("the candidate policy decides as the current one (same policy hash) and no candidate "
                       "model is given: nothing to compare")
            return
        report = run_backtest(current, candidate, team_path, stage=stage, current_model=current_model,
                              candidate_model=candidate_model, model_version=model_version, data=data, since=since,
                              generated=(entities, days, seed), echo=click.echo)
    except (TeamFileError, BacktestError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    from mdlc.backtest_report import render

    click.echo(render(report), nl=False)
    if json_file:
        json_file.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        click.echo(f"wrote {json_file}")
    if enforce_guardrails and report["broken_guardrails"]:
        click.echo("the candidate policy breaks its guardrails: stopping", err=True)
        sys.exit(3)

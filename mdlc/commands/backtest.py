"""``mdlc backtest``: a candidate policy and/or model against the current ones, on labelled history."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mdlc.backtest_run import DAYS, ENTITIES, SEED
from mdlc.commands import stage_option
from mdlc.names import PIPELINE_TARGET_STAGES


def register(main: click.Group, local: click.Group) -> None:
    main.add_command(backtest)


@click.command()
@click.option("--model", required=True, help="Team name (models/NAME.yaml).")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Candidate policy: a team file or a YAML holding decision_rules (default: the current policy).")
@click.option("--baseline-ref", default=None,
              help="Current policy = the team file at this git revision (e.g. HEAD~1); candidate = the working "
                   "tree's team file unless --policy is given.")
@click.option("--baseline-deployed", "baseline_stage", default=None, type=click.Choice(PIPELINE_TARGET_STAGES),
              help="Current policy = the team file at the commit the pipeline last deployed to STAGE (SSM "
                   "parameter /mdlc/NAME/deployed/STAGE in the pipeline's account; the pipeline's test stage "
                   "uses production). Nothing deployed yet: the candidate alone, held to its absolute guardrails.")
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
def backtest(model: str, policy_file: Path | None, baseline_ref: str | None, baseline_stage: str | None,
             current_model: Path | None,
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
    if baseline_ref is not None and baseline_stage is not None:
        click.echo("error: give the current policy once: --baseline-ref REV or --baseline-deployed STAGE", err=True)
        sys.exit(1)
    try:
        if not team_path.is_file():
            raise TeamFileError(team_path, ["file not found; expected models/NAME.yaml for --model NAME"])
        candidate = (inputs.candidate_team(team_path, policy_file) if policy_file
                     else inputs.team_at(team_path, None))
        if since is not None:
            parse_time_ns(since)  # a clear error before any work
        if candidate.decision_rules is None:
            if enforce_guardrails:  # the pipeline's step, left from before the policy was removed
                click.echo("the team has no decision policy (batch-only): nothing to backtest")
                return
            raise TeamFileError(team_path, ["decision_rules: missing; a backtest replays decisions, and this "
                                            "team has no policy (batch-only)"])
        current, alone = _current(inputs, team_path, candidate, baseline_ref, baseline_stage)
        if current is not None and current.decision_rules is None:  # the policy is new in the candidate
            current, alone = None, "the current team file has no decision_rules (batch-only)"
        absolute, relative = inputs.split_guardrails(inputs.guardrails_of(candidate))
        if current is None:
            click.echo(f"no current policy: {alone}; the candidate is backtested alone: "
                       + (f"its absolute guardrails apply ({', '.join(absolute)})" if absolute
                          else "it has no absolute guardrail")
                       + (f", the relative ones are skipped ({', '.join(relative)})" if relative else ""))
            if enforce_guardrails and not absolute:
                click.echo("no guardrail to check: nothing to do")
                return
        elif (inputs.same_policy(current, candidate) and candidate_model is None and model_version is None):
            click.echo("the candidate policy decides as the current one (same policy hash) and no candidate "
                       "model is given: nothing to compare")
            return
        report = run_backtest(current or candidate, candidate, team_path, stage=stage, current_model=current_model,
                              candidate_model=candidate_model, model_version=model_version, data=data, since=since,
                              generated=(entities, days, seed), echo=click.echo)
        if current is None:  # nothing to measure a change from: only what the candidate does alone
            from mdlc.backtest_report import broken_guardrails

            report.update(alone=alone, guardrails=absolute, skipped_guardrails=relative)
            report["broken_guardrails"] = broken_guardrails(report)
    except (TeamFileError, BacktestError, inputs.BaselineError) as exc:
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


def _current(inputs, team_path: Path, candidate, ref: str | None, stage: str | None):
    """(the current team file, None) or (None, why there is none): at ``ref``, at the commit
    deployed to ``stage``, or the working tree's when neither is given."""
    if stage is not None:
        commit = inputs.deployed_commit(candidate, stage)
        if commit is None:
            from mdlc.names import deployed_commit_parameter

            return None, (f"nothing deployed to {stage} yet (SSM parameter "
                          f"{deployed_commit_parameter(candidate.name, stage)} is not set)")
        inputs.ensure_commit(team_path, commit)
        click.echo(f"current policy: {team_path.name} at commit {commit}, deployed to {stage}")
        ref = commit
    try:
        return inputs.team_at(team_path, ref), None
    except inputs.NoBaseline as exc:  # a new team: nothing was deployed before
        return None, str(exc)

"""``mdlc local train``: the training workflow offline, state by state."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from mdlc.commands import stage_option


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
@stage_option
def train(model: str, data: Path | None, day: str, entities: int, days: int, seed: int,
          models_dir: Path | None, stage: str) -> None:
    """Run the team's training workflow offline (embedded moto, real jobs and handlers)."""
    from mdlc.contract import TeamFileError
    from mdlc.local import LocalTeam

    try:
        with LocalTeam(model, models_dir=models_dir, progress=click.echo, quiet=True, stage=stage) as team:
            prefix = training_history(team, data, entities=entities, days=days, seed=seed, day=day)
            click.echo(f"training on {prefix}")
            result = team.train(prefix)
            for line in tuning_lines(team, result.output or {}):
                click.echo(line)
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
    for line in score_band_lines(out["evaluation"].get("score_bands")):
        click.echo(line)
    for line in cost_band_lines(out["evaluation"].get("cost_bands")):
        click.echo(line)
    importance = out["evaluation"].get("feature_importance") or []
    if importance:
        top = ", ".join(f"{f['feature']} {f['share']:.0%}" for f in importance[:5])
        unused = out["evaluation"].get("unused_features") or []
        click.echo(f"\nfeature importance (share of mean |contribution|): {top}"
                   + (f"; never used: {', '.join(unused)}" if unused else ""))
    reg = out["registered"]
    click.echo(f"\nregistered {reg['model_package_arn']} (version {reg['version']}, {reg['approval_status']})")
    return 0


def score_band_lines(table: dict | None) -> list[str]:
    """The evaluation report's score-band table as text: the team's bands, then the threshold grid."""
    if not table:
        return []
    amounts = table.get("amount_column") is not None
    source = f"amounts from `{table['amount_column']}`" if amounts else (table.get("note") or "counts only")
    lines = [f"\nscore bands on the test split ({table['rows']:,} rows, {table['frauds']:,} fraud; {source})",
             f"{'bands':<16} {'approve':>8} {'review':>8} {'decline':>8} {'fraud caught':>13} "
             f"{'fraud declined':>15} {'legit declined':>15}" + (f" {'amount saved':>22}" if amounts else "")]

    def row(label: str, b: dict) -> str:
        text = (f"{label:<16} {_pct(b['approve_rate']):>8} {_pct(b['review_rate']):>8} {_pct(b['decline_rate']):>8} "
                f"{_pct(b['fraud_caught_share']):>13} {_pct(b['fraud_declined_share']):>15} "
                f"{_pct(b['legit_declined_rate']):>15}")
        if amounts:
            text += f" {b['amount_saved']:>13,.0f} ({_pct(b['amount_saved_share'])})".rjust(23)
        return text

    team = table.get("team")
    if team:  # None for a team without decision rules (batch-only)
        lines.append(row(f"team {team['approve_below']:g}/{team['decline_at_or_above']:g}", team))
    lines.append("single threshold (below: APPROVE, at or above: DECLINE)")
    lines += [row(f"  at {b['decline_at_or_above']:g}", b) for b in table["grid"]]
    return lines


def tuning_lines(team: Any, output: dict) -> list[str]:
    """The tuning job's trials (values, objective, status) and the winner, as SageMaker lists them."""
    tuning = output.get("tuning")
    if not tuning:
        return []
    sm = team.client("sagemaker")
    trials, token = [], None
    while True:
        page = sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=tuning["job_name"], MaxResults=100, SortBy="Name",
            **({"NextToken": token} if token else {}))
        trials += page["TrainingJobSummaries"]
        token = page.get("NextToken")
        if not token:
            break
    metric = (tuning.get("objective") or {}).get("MetricName", "objective")
    names = sorted({name for t in trials for name in t["TunedHyperParameters"]})
    lines = [f"\ntuning job {tuning['job_name']} ({tuning.get('strategy')}, {len(trials)} trials): {metric}",
             f"{'trial':<8} " + " ".join(f"{n:>16}" for n in names) + f" {metric:>22} {'status':>10}"]
    for t in trials:
        value = (t.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value")
        winner = " <- best" if t["TrainingJobName"] == tuning.get("best_training_job") else ""
        lines.append(f"{t['TrainingJobName'].rsplit('-', 2)[-2]:<8} "
                     + " ".join(f"{_short(t['TunedHyperParameters'].get(n)):>16}" for n in names)
                     + f" {_f(value):>22} {t['TrainingJobStatus']:>10}{winner}")
    best_value = (tuning.get("objective") or {}).get("Value")
    lines.append(f"winner: {tuning.get('best_training_job')} ({metric} {_f(best_value)})")
    return lines


def _short(value: str | None) -> str:
    if value is None:
        return "-"
    try:
        return f"{float(value):.6g}"
    except ValueError:
        return value


def cost_band_lines(table: dict | None) -> list[str]:
    """The team's bands against the suggested least-cost bands (a suggestion; never applied)."""
    if not table:
        return []
    if table.get("team") is None and table.get("suggested") is None:
        return [f"\ncost-based bands: {table.get('note')}"]
    costs = table["costs"]
    lines = [f"\nscore bands by expected cost on the test split (fraud loss {costs['fraud_loss_share']:.0%} of the "
             f"amount, review {costs['review_cost']:g}, decline {costs['decline_cost']:g}; capacity "
             f"{costs['review_capacity_per_day']:,} reviews of {costs['transactions_per_day']:,} a day)",
             f"{'bands':<22} {'cost':>12} {'per 1,000':>10} {'fraud loss':>12} {'reviews/day':>12} "
             f"{'legit declined':>15} {'fits':>5}"]
    for label, b in (("team", table.get("team")), ("suggested", table.get("suggested"))):
        if b:
            bands = f"{label} {b['approve_below']:.4g}/{b['decline_at_or_above']:.4g}"
            fits = "yes" if b["within_capacity"] else "NO"
            lines.append(f"{bands:<22} {b['expected_cost']:>12,.0f} {b['cost_per_1000']:>10,.1f} "
                         f"{b['fraud_loss']:>12,.0f} {b['reviews_per_day']:>12,.0f} "
                         f"{b['legit_declined']:>15,} {fits:>5}")
    if table.get("note"):
        lines.append(table["note"])
    lines.append("suggested only: decision_rules.score_bands still decides (change the team file to adopt them)")
    return lines


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def training_history(team: Any, data: Path | None, *, entities: int, days: int, seed: int, day: str,
                     echo: Any = click.echo) -> str:
    """Put the training history in place (``--data`` or generated from the schema); its prefix."""
    if data is not None:
        prefix = team.put_raw_dir(data, day)
        echo(f"training data: {data} → {prefix}")
        return prefix
    from mdlc import synthetic_team

    frame, source = synthetic_team.for_team(team.spec, n_entities=entities, days=days, seed=seed)
    echo(f"no --data given: generated {synthetic_team.describe(frame, team.spec)} from {source}")
    return team.put_raw(frame, day)


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

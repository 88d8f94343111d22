"""``mdlc latency``: the decision API's hops, modelled p50/p99 and worst case, from the templates."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click


def register(main: click.Group, local: click.Group) -> None:
    main.add_command(latency)


@click.command()
@click.option("--model", required=True, help="Team name (models/NAME.yaml).")
@click.option("--stage", default="dev", show_default=True, help="The stage whose templates to model.")
@click.option("--models-dir", type=click.Path(exists=True, path_type=Path), default=None, hidden=True)
def latency(model: str, stage: str, models_dir: Path | None) -> None:
    """Synthesise the team's realtime stack and print its decision path's latency model.

    Exit 1 when the modelled p99 or the worst case misses realtime.latency_budget_ms or
    realtime.client_timeout_ms (the synth refuses such a team), naming the costliest hops."""
    from mdlc.contract import MODELS_DIR, TeamFileError, load_team
    from mdlc.latency import model as latency_model
    from mdlc.local.synth import synth

    try:
        team = load_team((models_dir or MODELS_DIR) / f"{model}.yaml")
    except TeamFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if not team.realtime.enabled:
        click.echo(f"{model}: realtime.enabled is false: the team has no decision API to model")
        return
    with tempfile.TemporaryDirectory(prefix="mdlc-latency-") as out:
        assembly = synth(Path(out), models_dir=models_dir, model=model, stage=stage, pipelines=False,
                         check_latency=False)
        report = latency_model(assembly.template(f"{model}-realtime"))
    rt = team.realtime
    click.echo(f"{model} ({stage}): decision API latency model, budget p99 ≤ {rt.latency_budget_ms} ms, "
               f"client timeout {rt.client_timeout_ms} ms\n")
    click.echo(report.table())
    problems = report.problems(rt.latency_budget_ms, rt.client_timeout_ms)
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    sys.exit(1 if problems else 0)

"""``mdlc local shadow``: a shadow challenger on live traffic, offline, end to end.

The team file gets ``realtime.shadow`` (version 2 and the candidate policy of ``--policy``),
version 1 is trained, approved and deployed, a challenger version 2 is trained on a longer
history and left pending: the deployment serves it as the endpoint's ``Shadow`` variant.
Labelled requests go through the decision API; the shadow Lambda decides each one again from
the decisions stream; the labels arrive; the monitoring workflow compares live and shadow and
publishes the metrics its alarm watches. Printed: the flip matrix, both sides' quality on the
same requests, the advantage and the ``<team>--shadow-better`` alarm.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml

from mdlc.commands import stage_option
from mdlc.contract import MODELS_DIR, REPO_ROOT, TeamFileError

DEFAULT_POLICY = REPO_ROOT / "examples" / "stricter-policy.yaml"
DECISIONS = ("APPROVE", "REVIEW", "DECLINE")


def register(main: click.Group, local: click.Group) -> None:
    local.add_command(shadow)


def shadow_team_dir(model: str, policy: Path | None, min_labelled: int) -> Path:
    """A models folder holding the team file with a shadow: version 2 and the candidate policy."""
    data = yaml.safe_load((MODELS_DIR / f"{model}.yaml").read_text())
    challenger: dict[str, Any] = {"model_version": 2, "compare_metric": "pr_auc", "min_labelled": min_labelled}
    if policy is not None:
        rules = (yaml.safe_load(policy.read_text()) or {}).get("decision_rules")
        if not isinstance(rules, dict):
            raise click.ClickException(f"{policy}: expected a YAML with decision_rules: {{score_bands: ...}}")
        challenger["decision_rules"] = {k: v for k, v in rules.items() if k in ("score_bands", "hard_rules",
                                                                                  "allow_list", "deny_list")}
    data.setdefault("realtime", {})["shadow"] = challenger
    folder = Path(tempfile.mkdtemp(prefix="mdlc-shadow-")) / "models"
    folder.mkdir()
    (folder / f"{model}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


def comparison_lines(section: dict[str, Any]) -> list[str]:
    """The monitoring report's shadow section as the table the demo prints."""
    lines = [f"  {section['decisions']} live decisions decided by the shadow too: flip rate "
             f"{_pct(section['flip_rate'])}, shadow errors {_pct(section['error_rate'])}",
             "  " + "live / shadow".ljust(14) + "".join(f"{d:>9}" for d in DECISIONS)]
    lines += [f"  {live:<14}" + "".join(f"{section['flip_matrix'][live][d]:>9}" for d in DECISIONS)
              for live in DECISIONS]
    if not section.get("live"):
        return [*lines, f"  quality: {section.get('note', 'no labelled requests')}"]
    lines.append(f"  on {section['labelled']} labelled requests ({section['frauds']} fraud):{'live':>12}{'shadow':>10}")
    for key, name in (("precision", "precision"), ("recall", "recall (fraud caught)"), ("pr_auc", "PR-AUC"),
                      ("amount_saved", "fraud amount saved"), ("legit_declined_rate", "legitimate declined")):
        live, shadow = section["live"].get(key), section["shadow"].get(key)
        fmt = (lambda v: "-" if v is None else f"{v:,.0f}") if key == "amount_saved" else _f
        lines.append(f"    {name:<36}{fmt(live):>10}{fmt(shadow):>10}")
    lines.append(f"  advantage on {section['compare_metric']}: {_f(section['advantage'])} (promote_margin "
                 f"{section['promote_margin']}): {'shadow is better' if section['better'] else 'no promotion'}")
    return lines


def _f(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


@click.command()
@click.option("--model", required=True, help="Team name (models/NAME.yaml); realtime.enabled.")
@click.option("--policy", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML with decision_rules: the candidate policy [default: examples/stricter-policy.yaml "
                   "for the example team, else the live policy].")
@click.option("--customers", default=600, show_default=True, help="Generated data: entities.")
@click.option("--days", default=60, show_default=True, help="Generated data: days of training history.")
@click.option("--requests", default=400, show_default=True, help="Labelled requests through the decision API.")
@click.option("--seed", default=7, show_default=True, help="Generated data: seed.")
@stage_option
def shadow(model: str, policy: Path | None, customers: int, days: int, requests: int, seed: int, stage: str) -> None:
    """A shadow challenger (model version 2 and a candidate policy) on live traffic, offline."""
    import pandas as pd

    from mdlc.commands.lifecycle import Lifecycle, Records
    from mdlc.local import LocalTeam

    if policy is None and model == "fraud-detection" and DEFAULT_POLICY.exists():
        policy = DEFAULT_POLICY
    try:
        models = shadow_team_dir(model, policy, min_labelled=min(200, max(20, requests // 4)))
        with LocalTeam(model, models_dir=models, progress=click.echo, quiet=True, stage=stage) as team:
            if not team.team.realtime.enabled:
                raise click.ClickException(f"{model} has realtime.enabled: false; a shadow decides live requests")
            run, records = Lifecycle(team, customers, days, requests, seed), Records(team, None, customers, days, seed)
            run.step("1. train version 1 on the history, approve it")
            v1 = run.train(records.history, "2026-03-01", "manual")
            run.approve(v1)
            run.step("2. train the challenger, version 2, on a longer history (left pending: never live)")
            longer = pd.concat([records.history, records.later(5, days=10)], ignore_index=True)
            run.train(longer, "2026-03-02", "challenger")
            run.step("3. deploy version 1 with version 2 as the endpoint's Shadow variant (weight 0)")
            run.deploy(v1)
            since = datetime.now(UTC).isoformat()
            run.step(f"4. {requests} requests through the decision API; the shadow decides each from the stream")
            served = records.later(1, days=3).head(requests)
            run.stream(served, "live")
            run.step("5. labels arrive; the monitoring workflow compares live and shadow")
            run.ground_truth([served], f"{datetime.now(UTC):%Y-%m-%d}")
            time.sleep(1.1)  # a window ends before the second it ends in
            result = run.check(team.run("monitoring", {"since": since, "skew_delay_hours": 0}), "monitoring")
            report = json.loads(team.client("s3").get_object(
                **dict(zip(("Bucket", "Key"), result.output["run"]["paths"]["report"][5:].split("/", 1),
                           strict=True)))["Body"].read())
            for line in comparison_lines(report["shadow"]):
                click.echo(line)
            alarms = {c["detail"]["alarmName"]: c["detail"]["state"]["value"] for c in run.signals.evaluate_alarms()}
            name = f"{model}--shadow-better"
            click.echo(f"  alarm {name}: {alarms.get(name, 'OK')}"
                       + (f" → mdlc promote --model {model} --stage <stage>" if alarms.get(name) == "ALARM" else ""))
    except TeamFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)

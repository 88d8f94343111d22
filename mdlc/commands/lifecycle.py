"""``mdlc local lifecycle``: the whole MDLC of one team offline, end to end.

train → register → approve → deploy → score a stream of transactions through the decision
workflow → batch score → ground truth arrives → monitor → drift injected → the drift alarm
starts a guarded retraining → the new version is approved and deployed. Every step runs
the deployed workflows in the offline harness; a summary table ends the run.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click


def register(main: click.Group, local: click.Group) -> None:
    local.add_command(lifecycle)


class Lifecycle:
    """One run of the lifecycle; each method is one stage, printing as it goes."""

    def __init__(self, team: Any, customers: int, days: int, requests: int, seed: int) -> None:
        from mdlc.local.signals import OfflineSignals

        self.team, self.customers, self.days, self.requests, self.seed = team, customers, days, requests, seed
        self.signals = OfflineSignals(team)
        self.spec = json.loads((team.assembly.outdir / "build" / team.name / "config" / "team.json").read_text())
        self.started = time.monotonic()
        self.summary: dict[str, Any] = {"versions": [], "decisions": Counter(), "drift": {}, "quality": {}}

    def step(self, text: str) -> None:
        click.secho(f"\n[{time.monotonic() - self.started:6.1f}s] {text}", bold=True)

    def check(self, result: Any, what: str) -> Any:
        if not result.succeeded:
            from mdlc.commands.training import short_cause

            raise click.ClickException(f"{what} ended {result.status} in {result.error}: {short_cause(result.cause)}")
        return result

    # ------------------------------------------------------------------ stages
    def train(self, frame: Any, day: str, reason: str) -> dict[str, Any]:
        prefix = self.team.put_raw(frame, day)
        result = self.check(self.team.train(prefix, reason=reason), "training")
        return self.record_version(result.output, reason)

    def record_version(self, out: dict[str, Any], reason: str) -> dict[str, Any]:
        reg = out["registered"]
        metrics = out["evaluation"].get("metrics", {})
        version = {"version": reg["version"], "arn": reg["model_package_arn"], "reason": reason,
                   "status": reg["approval_status"], "pr_auc": metrics.get("pr_auc"),
                   "roc_auc": metrics.get("roc_auc"), "run_id": out["run"]["run_id"]}
        self.summary["versions"].append(version)
        click.echo(f"  registered version {version['version']} ({version['status']}), PR-AUC {version['pr_auc']:.3f}")
        return version

    def approve(self, version: dict[str, Any]) -> None:
        if version["status"] != "Approved":
            self.team.approve(version["arn"])
            version["status"] = "Approved"
            click.echo(f"  approved version {version['version']} (the model owner's review, done here)")

    def deploy(self, version: dict[str, Any]) -> None:
        result = self.check(self.team.run("deployment", {"model_package_arn": version["arn"], "poll_seconds": 1},
                                          timeout=600), "deployment")
        version["deployed"] = True
        self.summary["deployed"] = version["version"]
        click.echo(f"  endpoint serves version {version['version']} ({result.state_names[-1]})")

    def stream(self, frame: Any, label: str) -> None:
        api = self.team.api("decisions")
        mix: Counter = Counter()
        first_error = None
        captured = self.captured()
        keys = ["transaction_id", "customer_id", "event_time", "amount", "merchant_category", "channel", "country"]
        for i, row in enumerate(frame[keys].to_dict("records")):
            body = {"request_id": f"{label}-{i}", **{k: (None if v != v else v) for k, v in row.items()}}
            # POST /v1/decisions through the API's synthesised resources (mdlc.harness.apigateway).
            response = api.invoke("POST", "/v1/decisions", json.dumps(body), {"Content-Type": "application/json"})
            out = json.loads(response.body)
            decision = out.get("decision") if isinstance(out, dict) else None
            if isinstance(decision, str):
                mix[decision] += 1
            else:
                mix[f"HTTP {response.status}"] += 1
                first_error = first_error or (response.status, response.body[:300])
        self.summary["decisions"].update(mix)
        click.echo(f"  {sum(mix.values())} {label} requests → " + ", ".join(f"{k} {v}" for k, v in sorted(mix.items())))
        if first_error:
            click.echo(f"  first refused request: {first_error}")
        click.echo(f"  data capture: {self.captured() - captured} captured requests "
                   f"({self.team.team.realtime.data_capture_percent}% sampling)")

    def captured(self) -> int:
        """Capture files the endpoint has written so far (SageMaker data capture, harness)."""
        pages = self.team.client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.team.bucket("cap"))
        return sum(page.get("KeyCount", 0) for page in pages)

    def batch(self, frame: Any, day: str) -> dict[str, Any]:
        prefix = f"{self.team.team.batch.input_prefix}dt={day}/"
        body = frame.drop(columns=[self.team.team.schema.label]).to_csv(index=False).encode()
        self.team.client("s3").put_object(Bucket=self.team.bucket("raw"), Key=f"{prefix}part-0.csv", Body=body)
        result = self.check(self.team.run("batch", {"input_prefix": f"s3://{self.team.bucket('raw')}/{prefix}"}),
                            "batch scoring")
        published = result.output["published"]
        self.summary["batch_rows"] = published["rows"]
        click.echo(f"  {published['rows']} rows scored, manifest {published['manifest_uri']}")
        return published

    def ground_truth(self, frames: list[Any], day: str) -> None:
        import pandas as pd

        labels = pd.concat([f[["transaction_id", "is_fraud"]] for f in frames])
        key = f"{self.team.team.data.ground_truth_prefix}dt={day}/part-0.csv"
        self.team.client("s3").put_object(Bucket=self.team.bucket("raw"), Key=key,
                                          Body=labels.to_csv(index=False).encode())
        click.echo(f"  {len(labels)} labels ({int(labels.is_fraud.sum())} chargebacks) in {key}")

    def monitor(self, since: str, label: str) -> list[dict[str, Any]]:
        result = self.check(self.team.run("monitoring", {"since": since}), "monitoring")
        m = result.output["monitoring"]
        e, q = m["endpoint"], m["quality"]
        click.echo(f"  endpoint: {e['records']} records, max feature PSI {_f(e['max_feature_psi'])} "
                   f"({e['max_feature'] or '-'}), score PSI {_f(e['prediction_psi'])}")
        click.echo(f"  quality: {q['labelled']} labelled, precision {_f(q['precision'])}, recall {_f(q['recall'])}, "
                   f"PR-AUC {_f(q['pr_auc'])}")
        self.summary["quality"][label] = q
        self.summary["drift"][label] = e
        changes = [c for c in self.signals.evaluate_alarms() if c["detail"]["state"]["value"] == "ALARM"]
        for c in changes:
            click.echo(f"  ALARM {c['detail']['alarmName']}: {c['detail']['state']['reason']}")
        if not changes:
            click.echo("  no alarm")
        return changes

    def retrain(self, alarms: list[dict[str, Any]]) -> dict[str, Any]:
        answers = [a for event in alarms for a in self.signals.deliver(event)]
        started = [a["result"] for a in answers if a["result"].get("started")]
        click.echo(f"  {len(answers)} alarm deliveries → {len(started)} training run started "
                   f"(others coalesced); reason {started[0]['reason'] if started else '-'}")
        if not started:
            raise click.ClickException("no retraining started; expected the drift alarm to start one")
        self.summary["retraining_reason"] = started[0]["reason"]
        arn = started[0]["execution_arn"]
        sfn = self.team.client("stepfunctions")
        while (d := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            time.sleep(1)
        if d["status"] != "SUCCEEDED":
            raise click.ClickException(f"retraining ended {d['status']}: {d.get('error')}: {d.get('cause', '')[:500]}")
        return self.record_version(json.loads(d["output"]), started[0]["reason"])

    # ------------------------------------------------------------------ summary
    def print_summary(self) -> None:
        s = self.summary
        click.secho("\nSummary", bold=True)
        click.echo(f"{'version':<8} {'reason':<28} {'PR-AUC':>7} {'ROC-AUC':>8} {'status':<10} deployed")
        for v in s["versions"]:
            click.echo(f"{v['version']:<8} {v['reason']:<28} {_f(v['pr_auc']):>7} {_f(v['roc_auc']):>8} "
                       f"{v['status']:<10} {'yes' if v['version'] == s.get('deployed') else '-'}")
        click.echo("\ndecisions: " + ", ".join(f"{k} {n}" for k, n in sorted(s["decisions"].items())))
        click.echo(f"batch rows scored: {s.get('batch_rows', 0)}")
        for label, e in s["drift"].items():
            click.echo(f"drift ({label}): max feature PSI {_f(e['max_feature_psi'])} ({e['max_feature'] or '-'}), "
                       f"score PSI {_f(e['prediction_psi'])}")
        for label, q in s["quality"].items():
            click.echo(f"quality ({label}): precision {_f(q['precision'])}, recall {_f(q['recall'])}, "
                       f"PR-AUC {_f(q['pr_auc'])} on {q['labelled']} labels")
        click.echo(f"retraining reason: {s.get('retraining_reason', '-')}")
        click.echo(f"now deployed: version {s.get('deployed')}  (wall time {time.monotonic() - self.started:.0f}s)")


def _f(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


@click.command()
@click.option("--model", required=True, help="Team name (models/NAME.yaml).")
@click.option("--customers", default=600, show_default=True, help="Synthetic customers.")
@click.option("--days", default=60, show_default=True, help="Days of training history.")
@click.option("--requests", default=500, show_default=True, help="Requests streamed before and after drift.")
@click.option("--seed", default=7, show_default=True, help="Synthetic data seed.")
@click.option("--models-dir", type=click.Path(exists=True, path_type=Path), default=None, hidden=True)
def lifecycle(model: str, customers: int, days: int, requests: int, seed: int, models_dir: Path | None) -> None:
    """Run the whole MDLC of a team offline and print a summary."""
    from mdlc import synthetic
    from mdlc.contract import TeamFileError
    from mdlc.local import LocalTeam
    from mdlc.local.traffic import later_records

    try:
        with LocalTeam(model, models_dir=models_dir, progress=click.echo, quiet=True) as team:
            run = Lifecycle(team, customers, days, requests, seed)
            run.step("1. train on the history and register version 1")
            v1 = run.train(synthetic.generate(n_customers=customers, days=days, seed=seed), "2026-03-01", "manual")
            run.step("2. approve and deploy version 1 (deployment workflow)")
            run.approve(v1)
            run.deploy(v1)
            since = datetime.now(UTC).isoformat()
            run.step(f"3. score {requests} transactions through the decision API")
            served = later_records(customers, days, 3, seed, variant=1).head(requests)
            run.stream(served, "live")
            run.step("4. batch score the next day (batch workflow)")
            scored = later_records(customers, days, 2, seed, variant=2)
            run.batch(scored, "2026-03-02")
            run.step("5. ground truth (chargebacks) arrives")
            run.ground_truth([served, scored], "2026-03-05")
            run.step("6. monitor: drift of served inputs and scores, quality on labels")
            run.monitor(since, "before drift")
            run.step(f"7. drift injected: {requests} transactions from a shifted population")
            since = datetime.now(UTC).isoformat()
            drifted = later_records(customers, days, 3, seed, variant=3, drift=1.0).head(requests)
            run.stream(drifted, "drifted")
            team.put_raw(synthetic.generate(n_customers=customers, days=days + 20, seed=seed, drift=0.6),
                         "2026-03-10")  # new labelled history has landed for the next training
            run.step("8. monitor again")
            alarms = run.monitor(since, "after drift")
            drift_alarms = [a for a in alarms if "drift" in a["detail"]["alarmName"]]
            if not drift_alarms:
                raise click.ClickException("monitoring found no drift after it was injected")
            run.step("9. the drift alarm reaches the retraining guard (delivered twice: at-least-once)")
            v2 = run.retrain(drift_alarms[:1] * 2)
            run.step(f"10. approve and deploy version {v2['version']}")
            run.approve(v2)
            run.deploy(v2)
            run.stream(later_records(customers, days, 3, seed, variant=4, drift=1.0).head(20), "redeployed")
            run.print_summary()
    except TeamFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)

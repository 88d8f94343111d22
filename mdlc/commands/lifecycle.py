"""``mdlc local lifecycle``: the whole MDLC of one team offline, end to end, for any team.

A team with an endpoint: train → register → approve → deploy → score a stream of records
through the decision API (each decision feeding the feature stream) → a burst of one entity seen
by its next decision → reconciliation of the online table → batch score → ground truth arrives → monitor → drift
injected → the drift alarm starts a guarded retraining → the new version is approved and
deployed. A batch-only team (``realtime.enabled: false``): train → approve → batch score →
ground truth → monitor → drift injected into a batch → monitor → the drift alarm retrains →
approve → batch score with the new version. Every step runs the deployed workflows in the
offline harness; a summary table ends the run. Data: the team's ``--data`` folder, else
records generated from its schema (``mdlc/synthetic_team.py``).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from mdlc.commands import stage_option
from mdlc.commands.realtime import request_body


def register(main: click.Group, local: click.Group) -> None:
    local.add_command(lifecycle)


def recorded_features(team: Any, request_id: str) -> dict[str, Any]:
    """The model input a decision saw, as its decisions-table item records it (empty if none)."""
    table = next(r.ref for r in team.resources.of_type("AWS::DynamoDB::Table") if "DecisionsTable" in r.logical_id)
    item = team.client("dynamodb").get_item(TableName=table, Key={"request_id": {"S": request_id}},
                                            ConsistentRead=True).get("Item") or {}
    return json.loads(item["features"]["S"]) if "features" in item else {}


class Lifecycle:
    """One run of the lifecycle; each method is one stage, printing as it goes."""

    def __init__(self, team: Any, customers: int, days: int, requests: int, seed: int) -> None:
        from mdlc.local.signals import OfflineSignals

        self.team, self.customers, self.days, self.requests, self.seed = team, customers, days, requests, seed
        self.signals = OfflineSignals(team)
        self.spec = json.loads((team.assembly.outdir / "build" / team.name / "config" / "team.json").read_text())
        self.started = time.monotonic()
        self.summary: dict[str, Any] = {"versions": [], "decisions": Counter(), "drift": {}, "quality": {},
                                        "skew": {}}
        self.burst_records: list[dict[str, Any]] = []  # the burst's transactions (burst), for the export

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
        metric = self.team.team.evaluation.metric
        click.echo(f"  registered version {version['version']} ({version['status']}), {metric} "
                   f"{_f(metrics.get(metric))}")
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
        fallbacks = 0  # decisions the model did not answer (error, timeout): the team's fallback
        captured = self.captured()
        for i, row in enumerate(frame.to_dict("records")):
            body = request_body(self.team.team, row, f"{label}-{i}")
            # POST /v1/decisions through the API's synthesised resources (mdlc.harness.apigateway).
            response = api.invoke("POST", "/v1/decisions", json.dumps(body), {"Content-Type": "application/json"})
            self.team.aws.deliver_kinesis()  # the feature stream's consumer: fresh features for the next one
            out = json.loads(response.body)
            decision = out.get("decision") if isinstance(out, dict) else None
            if isinstance(decision, str):
                mix[decision] += 1
                fallbacks += bool(out.get("fallback"))
            else:
                mix[f"HTTP {response.status}"] += 1
                first_error = first_error or (response.status, response.body[:300])
        self.summary["decisions"].update(mix)
        click.echo(f"  {sum(mix.values())} {label} requests → " + ", ".join(f"{k} {v}" for k, v in sorted(mix.items()))
                   + f" ({fallbacks} by the fallback)")
        # The decisions table's stream → relay → decision bus (the outbox), as Lambda polls it.
        self.team.aws.deliver_streams()
        click.echo(f"  decision events published by the outbox relay: {self.published_events()}")
        if first_error:
            click.echo(f"  first refused request: {first_error}")
        click.echo(f"  data capture: {self.captured() - captured} captured requests "
                   f"({self.team.team.realtime.data_capture_percent}% sampling)")

    def published_events(self) -> int:
        """Decision events the relay has put on the bus so far (its stream mapping's count)."""
        return sum(m.delivered for m in self.team.aws.streams.mappings)

    def burst(self, frame: Any) -> None:
        """Ten records of one entity within a minute; the eleventh decision must see all ten
        in the team's count features (the record values are those of a served record)."""
        from mdlc import features as F

        sc = self.team.team.schema
        keys = [sc.id_column, sc.entity_key, sc.timestamp_column, *(f.name for f in sc.record_features)]
        template = {k: (None if v != v else v) for k, v in frame[keys].iloc[0].to_dict().items()}
        start = max(F.parse_time(t) for t in frame[sc.timestamp_column].dropna()) + timedelta(hours=1)
        # a count keyed by a column the template lacks (a nullable key) sees none of the burst
        counts = [f.name for f in sc.online_features if f.aggregate.fn == "count"
                  and template.get(f.aggregate.key or sc.entity_key) is not None]
        arn = self.team.state_machine_arn("decision")
        seen = []
        for i in range(11):
            when = (start + timedelta(seconds=5 * i)).isoformat().replace("+00:00", "Z")
            body = {**template, "request_id": f"burst-{i}", sc.id_column: f"BURST-{i}", sc.timestamp_column: when}
            self.burst_records.append({k: v for k, v in body.items() if k != "request_id"})
            self.team.aws.run(arn, {"body": body}, timeout=120)
            features = recorded_features(self.team, body["request_id"])
            seen.append({c: features.get(c) for c in counts})
            self.team.aws.deliver_kinesis()
        entity = template[sc.entity_key]
        self.summary["burst"] = {"entity": entity, "seen": seen, "features": counts}
        for c in counts:
            values = [s[c] for s in seen]
            click.echo(f"  {entity}: {c} seen by decisions 1..11: {values}")
            if values[-1] != values[0] + 10:
                raise click.ClickException(f"the eleventh decision saw {c} {values[-1]}; expected {values[0]} + 10")
        if not counts:
            click.echo("  the team has no count feature to show; the burst still fed the stream")

    def export(self, frames: list[Any], day: str) -> None:
        """The day's raw export: the history and every transaction decided since (the burst's
        too), as the team's data lake delivers it; the reconciliation and the monitor's skew
        check recompute features from it."""
        import pandas as pd

        frame = pd.concat([*frames, pd.DataFrame(self.burst_records)], ignore_index=True)
        uri = self.team.put_raw(frame, day)
        click.echo(f"  {len(frame)} records in {uri}")

    def reconcile(self) -> None:
        """The scheduled backfill/reconciliation workflow: the online table against the raw data."""
        result = self.check(self.team.run("feature-backfill", {"reason": "manual"}, timeout=600), "feature backfill")
        s = result.output["summary"]
        self.summary["reconciliation"] = s
        click.echo(f"  {s['entities']} entities recomputed from {s['data_uri']}: {s['compared']} compared, "
                   f"{s['missing']} missing (written), {s['mismatched']} mismatched "
                   f"(rate {s['mismatch_rate']:.4f})")

    def captured(self) -> int:
        """Capture files the endpoint has written so far (SageMaker data capture, harness)."""
        pages = self.team.client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.team.bucket("cap"))
        return sum(page.get("KeyCount", 0) for page in pages)

    def batch(self, frame: Any, day: str) -> dict[str, Any]:
        uri = self.team.put_batch_input(frame, day)
        result = self.check(self.team.run("batch", {"input_prefix": uri}), "batch scoring")
        published = result.output["published"]
        self.summary["batch_rows"] = self.summary.get("batch_rows", 0) + published["rows"]
        click.echo(f"  {published['rows']} rows scored by version {result.output['run']['model']['version']}, "
                   f"manifest {published['manifest_uri']}")
        return published

    def ground_truth(self, frames: list[Any], day: str) -> None:
        import pandas as pd

        label = self.team.team.schema.label
        labels = pd.concat(frames)
        key = self.team.put_ground_truth(labels, day)
        positives = int(pd.to_numeric(labels[label], errors="coerce").sum())
        click.echo(f"  {len(labels)} labels ({positives} positive {label}) in {key}")

    def monitor(self, since: str, label: str) -> list[dict[str, Any]]:
        time.sleep(1.1)  # a window ends before the second it ends in: include what just happened
        realtime = self.team.team.realtime.enabled
        # The raw export is in at once here, so the skew check takes the run's own window (on
        # AWS it takes the window monitoring.feature_skew_delay_hours back).
        request = {"since": since, **({"skew_delay_hours": 0} if realtime else {})}
        result = self.check(self.team.run("monitoring", request), "monitoring")
        m = result.output["monitoring"]
        source = "endpoint" if realtime else "batch"
        e, q = m[source], m["quality"]
        click.echo(f"  {source}: {e['records']} records, max feature PSI {_f(e['max_feature_psi'])} "
                   f"({e['max_feature'] or '-'}), score PSI {_f(e['prediction_psi'])}")
        click.echo(f"  quality: {q['labelled']} labelled, precision {_f(q['precision'])}, recall {_f(q['recall'])}, "
                   f"PR-AUC {_f(q['pr_auc'])}")
        if realtime:
            s = m["skew"]
            click.echo(f"  skew: {s['checked']} captured decisions recomputed from the raw export, {s['mismatched']} "
                       f"served a feature value other than the recomputation (max FeatureSkew "
                       f"{_f(s['max_feature_skew'])}, {s['max_skew_feature'] or '-'}); {s['unmatched']} not in the "
                       "raw data yet")
            self.summary["skew"][label] = s
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
        if s["decisions"]:
            click.echo("\ndecisions: " + ", ".join(f"{k} {n}" for k, n in sorted(s["decisions"].items())))
        click.echo(f"batch rows scored: {s.get('batch_rows', 0)}")
        for label, e in s["drift"].items():
            click.echo(f"drift ({label}): max feature PSI {_f(e['max_feature_psi'])} ({e['max_feature'] or '-'}), "
                       f"score PSI {_f(e['prediction_psi'])}")
        for label, q in s["quality"].items():
            click.echo(f"quality ({label}): precision {_f(q['precision'])}, recall {_f(q['recall'])}, "
                       f"PR-AUC {_f(q['pr_auc'])} on {q['labelled']} labels")
        for label, k in s["skew"].items():
            click.echo(f"skew ({label}): {k['mismatched']} of {k['checked']} decisions served other features than "
                       f"their point-in-time recomputation; {k['unmatched']} not in the raw data yet")
        if s.get("burst"):
            b = s["burst"]
            for c in b["features"]:
                click.echo(f"online features: burst of {b['entity']}: {c} {b['seen'][0][c]} → "
                           f"{b['seen'][-1][c]} at the eleventh decision")
        if s.get("reconciliation"):
            r = s["reconciliation"]
            click.echo(f"reconciliation: {r['compared']} entities compared, {r['mismatched']} mismatched "
                       f"(rate {r['mismatch_rate']:.4f})")
        click.echo(f"retraining reason: {s.get('retraining_reason', '-')}")
        serving = f"now deployed: version {s.get('deployed')}" if "deployed" in s else \
            f"batch scores with: version {s['versions'][-1]['version'] if s['versions'] else '-'}"
        click.echo(f"{serving}  (wall time {time.monotonic() - self.started:.0f}s)")
        if self.team.aws.iam is not None:
            from mdlc.local.iam_report import format_report, principal_reports, summary_line

            reports = principal_reports(self.team)
            click.echo(summary_line(reports) + "  (full report: mdlc local iam-report)")
            if any(r.denied or r.unexplained for r in reports):
                click.echo(format_report(reports, verbose=False))


def _f(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


class Records:
    """The lifecycle's data: the team's ``--data`` folder, else generated from its schema.

    ``history`` trains version 1; ``later`` gives records after the history (new ids, same
    entities) for scoring; ``drift`` shifts any records; ``retraining_history`` is the
    labelled history that has landed when the drift alarm retrains.
    """

    def __init__(self, team: Any, data: Path | None, entities: int, days: int, seed: int) -> None:
        from mdlc import synthetic_team

        self.spec, self.entities, self.days, self.seed, self.data = team.spec, entities, days, seed, data
        self.gen = synthetic_team
        if data is None:
            self.history, source = synthetic_team.for_team(self.spec, n_entities=entities, days=days, seed=seed)
            click.echo(f"no --data given: generated {synthetic_team.describe(self.history, self.spec)} from {source}")
        else:
            self.history = _read_folder(data)
            click.echo(f"data: {synthetic_team.describe(self.history, self.spec)} from {data}")

    def later(self, variant: int, days: int = 2, drift: float | None = None) -> Any:
        if self.data is None:
            return self.gen.later_for_team(self.spec, n_entities=self.entities, train_days=self.days, days=days,
                                           seed=self.seed, variant=variant, drift=drift)
        frame = _moved_after(self.history, self.spec, variant, self.seed)
        return self.gen.shift(frame, self.spec, drift, self.seed + variant) if drift else frame

    def retraining_history(self) -> Any:
        import pandas as pd

        if self.data is None:
            # A third more days (within data_quality.max_row_count_change of the first run).
            frame, _ = self.gen.for_team(self.spec, n_entities=self.entities, days=self.days + self.days // 3,
                                         seed=self.seed,
                                         drift=0.6)
            return frame
        return pd.concat([self.history, self.later(5, drift=0.6)], ignore_index=True)


def _read_folder(folder: Path) -> Any:
    import pandas as pd

    files = sorted(Path(folder).rglob("*.csv"))
    if not files:
        raise click.ClickException(f"{folder}: no .csv files; expected the team's labelled raw records")
    return pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in files], ignore_index=True)


def _moved_after(history: Any, spec: dict[str, Any], variant: int, seed: int) -> Any:
    """A fifth of the history's records, re-dated just after it, with new ids (later traffic)."""
    import pandas as pd

    from mdlc import features as F

    keys = F.key_columns(spec)
    sample = history.sample(frac=0.2, random_state=seed + variant).reset_index(drop=True)
    times = pd.to_datetime(history[keys["timestamp"]], utc=True, format="ISO8601", errors="coerce")
    mine = pd.to_datetime(sample[keys["timestamp"]], utc=True, format="ISO8601", errors="coerce")
    moved = mine + (times.max() - times.min()) + pd.Timedelta(days=variant)
    sample[keys["timestamp"]] = moved.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    sample[keys["id"]] = f"S{variant}-" + sample[keys["id"]].astype(str)
    return sample.sort_values(keys["timestamp"], kind="stable").reset_index(drop=True)


def lifecycle_options(command: Any) -> Any:
    """The options of a lifecycle run (`mdlc local lifecycle` and `mdlc local iam-report`)."""
    for option in reversed((
        click.option("--model", required=True, help="Team name (models/NAME.yaml)."),
        click.option("--data", type=click.Path(exists=True, path_type=Path),
                     help="Folder of the team's labelled raw CSV records (default: generated from its schema)."),
        click.option("--entities", "--customers", "entities", default=600, show_default=True,
                     help="Generated data: number of entities (values of schema.entity_key)."),
        click.option("--days", default=60, show_default=True, help="Generated data: days of training history."),
        click.option("--requests", default=500, show_default=True, help="Requests streamed before and after drift."),
        click.option("--seed", default=7, show_default=True, help="Generated data: seed."),
        click.option("--models-dir", type=click.Path(exists=True, path_type=Path), default=None, hidden=True),
        stage_option,
    )):
        command = option(command)
    return command


@click.command()
@lifecycle_options
def lifecycle(model: str, data: Path | None, entities: int, days: int, requests: int, seed: int,
              models_dir: Path | None, stage: str) -> None:
    """Run the whole MDLC of a team offline and print a summary."""
    from mdlc.contract import TeamFileError
    from mdlc.local import LocalTeam

    try:
        with LocalTeam(model, models_dir=models_dir, progress=click.echo, quiet=True, stage=stage) as team:
            run = run_lifecycle(team, entities, days, requests, seed, data)
            run.print_summary()
    except TeamFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def run_lifecycle(team: Any, entities: int, days: int, requests: int, seed: int,
                  data: Path | None = None) -> Lifecycle:
    """Every stage the team has, in order, on a deployed LocalTeam."""
    run = Lifecycle(team, entities, days, requests, seed)
    records = Records(team, data, entities, days, seed)
    if team.team.realtime.enabled:
        realtime_lifecycle(run, team, records, requests)
    else:
        batch_lifecycle(run, team, records)
    return run


def realtime_lifecycle(run: Lifecycle, team: Any, records: Records, requests: int) -> None:
    """Train, deploy, serve, batch, monitor, drift, retrain, redeploy: a team with an endpoint."""
    run.step("1. train on the history and register version 1")
    v1 = run.train(records.history, "2026-03-01", "manual")
    run.step("2. approve and deploy version 1 (deployment workflow)")
    run.approve(v1)
    run.deploy(v1)
    since = datetime.now(UTC).isoformat()
    run.step(f"3. score {requests} records through the decision API")
    served = records.later(1, days=3).head(requests)
    run.stream(served, "live")
    run.step("3b. online features: ten records of one entity within a minute, then an eleventh")
    run.burst(served)
    run.step("3c. the day's raw export lands: the history and every transaction decided")
    run.export([records.history, served], "2026-03-05")
    run.step("3d. reconcile the online feature table with the raw data (feature backfill workflow)")
    run.reconcile()
    run.step("4. batch score the next day (batch workflow)")
    scored = records.later(2)
    run.batch(scored, "2026-03-02")
    run.step("5. ground truth arrives")
    run.ground_truth([served, scored], f"{datetime.now(UTC):%Y-%m-%d}")  # arriving today (dt= is the arrival day)
    run.step("6. monitor: drift of served inputs and scores, quality on labels")
    run.monitor(since, "before drift")
    run.step(f"7. drift injected: {requests} records from a shifted population")
    since = datetime.now(UTC).isoformat()
    drifted = records.later(3, days=3, drift=1.0).head(requests)
    run.stream(drifted, "drifted")
    team.put_raw(records.retraining_history(), "2026-03-10")  # new labelled history for the next training
    run.step("8. monitor again")
    v2 = _retrain_on_drift(run, since, 9)
    run.step(f"10. approve and deploy version {v2['version']}")
    run.approve(v2)
    run.deploy(v2)
    run.stream(records.later(4, days=3, drift=1.0).head(20), "redeployed")


def batch_lifecycle(run: Lifecycle, team: Any, records: Records) -> None:
    """Train, batch, labels, monitor, drift, retrain, batch again: a team without an endpoint."""
    run.step("1. train on the history and register version 1")
    v1 = run.train(records.history, "2026-03-01", "manual")
    run.step("2. approve version 1 (batch scoring uses the newest approved version)")
    run.approve(v1)
    since = datetime.now(UTC).isoformat()
    run.step("3. batch score the next day (batch workflow)")
    scored = records.later(2)
    run.batch(scored, "2026-03-02")
    run.step("4. ground truth arrives")
    run.ground_truth([scored], f"{datetime.now(UTC):%Y-%m-%d}")  # arriving today (dt= is the arrival day)
    run.step("5. monitor: drift of batch inputs and scores, quality on labels")
    run.monitor(since, "before drift")
    run.step("6. drift injected: the next batch comes from a shifted population")
    since = datetime.now(UTC).isoformat()
    run.batch(records.later(3, drift=1.0), "2026-03-03")
    team.put_raw(records.retraining_history(), "2026-03-10")  # new labelled history for the next training
    run.step("7. monitor again")
    v2 = _retrain_on_drift(run, since, 8)
    run.step(f"9. approve version {v2['version']} and batch score with it")
    run.approve(v2)
    run.batch(records.later(4), "2026-03-04")


def _retrain_on_drift(run: Lifecycle, since: str, step: int) -> dict[str, Any]:
    alarms = run.monitor(since, "after drift")
    drift_alarms = [a for a in alarms if "drift" in a["detail"]["alarmName"]]
    if not drift_alarms:
        raise click.ClickException("monitoring found no drift after it was injected")
    run.step(f"{step}. the drift alarm reaches the retraining guard (delivered twice: at-least-once)")
    return run.retrain(drift_alarms[:1] * 2)

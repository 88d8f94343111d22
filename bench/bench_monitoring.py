"""Monitoring cost against retention: one hourly run with 1, 30 and 90 days of retained data.

    python bench/bench_monitoring.py               # 1, 30, 90 days
    python bench/bench_monitoring.py --days 1 30

For each retention, moto's S3 holds that many days of the example team's endpoint capture
(SageMaker's JSON Lines, one file an hour), a daily batch run (parts, manifest, input)
and a daily ground-truth file. One scheduled run then goes the real way: the prepare
handler plans the window from the cursor and writes the job's input manifests, the
inputs are downloaded as SageMaker does (the harness's ManifestFile download), and the
real monitoring job measures them. The "whole prefixes" row is what a run read before
windows: every capture object and every label, into the same job. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "sagemaker_jobs"))  # job scripts import from their bundle root
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
for _var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(_var, "testing")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from lambdas.monitoring.prepare_monitoring_run import handler as prepare  # noqa: E402
from lambdas.shared.aws import reset_clients  # noqa: E402
from mdlc import synthetic  # noqa: E402
from mdlc.contract import MODELS_DIR, load_team, runtime_spec  # noqa: E402
from mdlc.harness import s3io  # noqa: E402
from sagemaker_jobs.data_quality import job as dq_job  # noqa: E402
from sagemaker_jobs.monitoring import job as monitoring_job  # noqa: E402

TEAM = load_team(MODELS_DIR / "fraud-detection.yaml")
SPEC = runtime_spec(TEAM)
BUCKETS = {"CAPTURE_BUCKET": "cap", "REPORTS_BUCKET": "rep", "RAW_BUCKET": "raw", "ARTIFACTS_BUCKET": "art"}
NOW = datetime(2026, 6, 10, 12, 5, tzinfo=UTC)
PER_HOUR = 60  # captured requests an hour
PER_DAY = 1_000  # batch rows and labels a day


def capture_file(rows: list[dict], hour: datetime) -> bytes:
    lines = []
    for i, row in enumerate(rows):
        when = hour + timedelta(seconds=i * 3600 // len(rows))
        body = json.dumps({"instances": [row]})
        out = json.dumps({"predictions": [{"score": 0.01 + (i % 7) / 100}]})
        lines.append(json.dumps({
            "captureData": {
                "endpointInput": {"observedContentType": "application/json", "mode": "INPUT", "data": body,
                                  "encoding": "JSON"},
                "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "data": out,
                                   "encoding": "JSON"}},
            "eventMetadata": {"eventId": f"e{i}", "inferenceTime": f"{when:%Y-%m-%dT%H:%M:%S}Z"},
            "eventVersion": "0"}))
    return ("\n".join(lines) + "\n").encode()


def retain(s3, days: int, frame) -> None:
    """``days`` of capture, batch runs and labels ending at NOW."""
    rows = frame.drop(columns=[TEAM.schema.label]).astype(str).to_dict("records")
    ident, label = TEAM.schema.id_column, TEAM.schema.label
    hour = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    n = 0
    while hour < NOW:
        chunk = [rows[(n + i) % len(rows)] for i in range(PER_HOUR)]
        key = f"datacapture/{TEAM.name}-endpoint/AllTraffic/{hour:%Y/%m/%d/%H}/00-00-000-{n}.jsonl"
        s3.put_object(Bucket="cap", Key=key, Body=capture_file(chunk, hour))
        if hour.hour == 6:
            day = frame.sample(PER_DAY, random_state=n, replace=True)
            run = f"{hour:%Y%m%dT%H%M%S}-abcdef"
            folder = f"{TEAM.batch.output_prefix}{run}/"
            scores = day[[ident]].assign(score=0.05).to_csv(index=False).encode()
            s3.put_object(Bucket="rep", Key=f"{folder}part-00000.csv", Body=scores)
            input_key = f"{TEAM.batch.input_prefix}dt={hour:%Y-%m-%d}/part-0.csv"
            s3.put_object(Bucket="raw", Key=input_key, Body=day.drop(columns=[label]).to_csv(index=False).encode())
            s3.put_object(Bucket="rep", Key=f"{folder}_manifest.json", Body=json.dumps({
                "run_id": run, "published_at": (hour + timedelta(minutes=20)).isoformat(),
                "input_uri": f"s3://raw/{TEAM.batch.input_prefix}dt={hour:%Y-%m-%d}/"}).encode())
            s3.put_object(Bucket="raw", Key=f"{TEAM.data.ground_truth_prefix}dt={hour:%Y-%m-%d}/part-0.csv",
                          Body=day[[ident, label]].to_csv(index=False).encode())
        hour += timedelta(hours=1)
        n += 1


def whole_prefixes(s3, run_prefix: str) -> dict[str, str]:
    """Manifests of what a run read before windows: all capture, all labels, the latest batch."""
    def everything(name: str, bucket: str, prefix: str) -> str:
        keys = [k for k, _ in s3io.list_objects(s3, f"s3://{bucket}/{prefix}")]
        key = f"{run_prefix}inputs/{name}.manifest"
        s3.put_object(Bucket="art", Key=key, Body=json.dumps([{"prefix": f"s3://{bucket}/"}, *keys]).encode())
        return f"s3://art/{key}"

    runs = sorted({k.split("/")[-2] for k, _ in s3io.list_objects(s3, f"s3://rep/{TEAM.batch.output_prefix}")})
    latest = f"{TEAM.batch.output_prefix}{runs[-1]}/"
    manifest = json.loads(s3.get_object(Bucket="rep", Key=f"{latest}_manifest.json")["Body"].read())
    return {"capture": everything("capture", "cap", ""), "batch": everything("batch", "rep", latest),
            "batch_input": everything("batch_input", "raw", manifest["input_uri"].split("/", 3)[3]),
            "ground_truth": everything("ground_truth", "raw", TEAM.data.ground_truth_prefix)}


def measure(s3, uris: dict[str, str], window: dict, work: Path, baseline: Path,
            config: Path) -> tuple[float, int, dict]:
    """Download the inputs as SageMaker would and run the monitoring job; (seconds, bytes, report)."""
    started = time.perf_counter()
    inputs = {name: work / name for name in uris}
    for name, uri in uris.items():
        s3io.download_manifest(s3, uri, inputs[name])
    read = sum(p.stat().st_size for folder in inputs.values() for p in folder.rglob("*") if p.is_file())
    report = monitoring_job.run(monitoring_job.parse_args([
        "--config", str(config), "--baseline", str(baseline), "--reference", str(work / "none"),
        "--model", str(work / "none"), "--capture", str(inputs["capture"]), "--batch", str(inputs["batch"]),
        "--batch-input", str(inputs["batch_input"]), "--ground-truth", str(inputs["ground_truth"]),
        "--report-dir", str(work / "report"), "--window-start", window["start"], "--window-end", window["end"],
        "--quality-start", window["quality_start"], "--quality-end", window["quality_end"]]))
    return time.perf_counter() - started, read, report


def bench(days: int, frame, baseline: Path, config: Path, root: Path) -> list[str]:
    for name, bucket in BUCKETS.items():
        os.environ[name] = bucket
    with mock_aws():
        reset_clients()
        s3 = boto3.client("s3", region_name="eu-west-1")
        for bucket in BUCKETS.values():
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        retain(s3, days, frame)
        s3.put_object(Bucket="art", Key=prepare.CURSOR_KEY,
                      Body=json.dumps({"window_end": (NOW - timedelta(hours=1)).isoformat()}).encode())
        retained = sum(o["Size"] for b in ("cap", "rep", "raw") for o in prepare._list(b, ""))
        started = time.perf_counter()
        window = prepare.plan_window({"reason": "schedule"}, prepare.read_cursor("art"), NOW, SPEC)
        uris, _ = prepare.window_inputs(SPEC, window, "monitoring/bench/")
        planned = time.perf_counter() - started
        seconds, read, report = measure(s3, uris, window, root / f"w{days}", baseline, config)
        old_seconds, old_read, old_report = measure(s3, whole_prefixes(s3, "monitoring/old/"), window,
                                                    root / f"o{days}", baseline, config)
    reset_clients()
    mib = 1024 * 1024
    return [
        f"| {days} | {retained / mib:.1f} | window (1 h) | {planned:.2f} | {seconds:.2f} | {read / mib:.2f} | "
        f"{report['endpoint']['records']} |",
        f"| {days} | {retained / mib:.1f} | whole prefixes (before) | - | {old_seconds:.2f} | {old_read / mib:.2f} | "
        f"{old_report['endpoint']['records']} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="*", default=[1, 30, 90])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-monitoring-"))
    try:
        frame = synthetic.generate(n_customers=300, days=30, seed=7)
        (root / "data").mkdir()
        (root / "config").mkdir()
        frame.to_csv(root / "data" / "part-0.csv", index=False)
        (root / "config" / "team.json").write_text(json.dumps(SPEC))
        dq_job.run(dq_job.parse_args(["--data", str(root / "data"), "--config", str(root / "config"),
                                      "--baseline", str(root / "none"), "--report-dir", str(root / "dq"),
                                      "--statistics-dir", str(root / "baseline")]))
        print("| retained days | retained MiB | run reads | plan s | download + job s | read MiB | "
              "records measured |")
        print("| ---: | ---: | --- | ---: | ---: | ---: | ---: |")
        for days in args.days:
            for line in bench(days, frame, root / "baseline", root / "config", root):
                print(line, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

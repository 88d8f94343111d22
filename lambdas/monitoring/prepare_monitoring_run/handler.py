"""Prepare a monitoring run: the champion, its baselines, and what was served since when.

Input (the execution input): ``{"since"?: ISO-8601, "lookback_hours"?: int, "reason"?}``.
The window starts at ``since`` (default: ``lookback_hours``, 24, before now). Inputs the
monitoring job reads: the champion's training statistics, test split and model, the
endpoint's data capture, the latest published batch run (results and input) and the
ground-truth labels. A source with nothing to read gets an empty marker prefix.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from lambdas.shared import s3uri
from lambdas.shared.aws import client
from lambdas.shared.registry import latest_approved
from lambdas.shared.runs import run_id_for
from lambdas.shared.spec import env, team_spec

logger = Logger()
tracer = Tracer()


def latest_batch(reports_bucket: str, prefix: str) -> dict[str, Any] | None:
    """The manifest of the newest published batch run, or None."""
    manifests = [o["Key"] for o in s3uri.list_objects(s3uri.uri(reports_bucket, prefix))
                 if o["Key"].endswith("/_manifest.json")]
    if not manifests:
        return None
    key = sorted(manifests)[-1]
    manifest = s3uri.read_json(s3uri.uri(reports_bucket, key))
    manifest["results_uri"] = s3uri.uri(reports_bucket, key.rsplit("/", 1)[0] + "/")
    return manifest


def prepare(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    spec = team_spec()
    team = spec["name"]
    request = event.get("input") or {}
    since = request.get("since") or (now - timedelta(hours=int(request.get("lookback_hours") or 24))).isoformat()
    run_id = run_id_for(event["execution"], now)
    art = lambda key: s3uri.uri(env("ARTIFACTS_BUCKET"), f"monitoring/{run_id}/{key}")  # noqa: E731
    none = art("none/")
    client("s3").put_object(Bucket=env("ARTIFACTS_BUCKET"), Key=f"monitoring/{run_id}/none/NONE", Body=b"")
    model = latest_approved(env("MODEL_PACKAGE_GROUP"))
    batch = latest_batch(env("REPORTS_BUCKET"), spec["batch"]["output_prefix"])
    if batch and batch.get("published_at", "") < since:
        batch = None  # nothing scored in this window
    capture_prefix = os.environ.get("CAPTURE_PREFIX", "")
    result = {
        "run_id": run_id,
        "team": team,
        "reason": str(request.get("reason") or "manual")[:200],
        "window_start": since,
        "model": model,
        "job_name": f"{team}-mon-{run_id}",
        "inputs": {
            "baseline": model["statistics_uri"].rsplit("/", 1)[0] + "/" if model["statistics_uri"] else none,
            "reference": s3uri.uri(env("FEATURES_BUCKET"), f"runs/{model['run_id']}/splits/test/")
            if model["run_id"] else none,
            "model": model["model_uri"],
            # A batch-only team has no endpoint and no capture bucket.
            "capture": s3uri.uri(os.environ["CAPTURE_BUCKET"], capture_prefix)
            if os.environ.get("CAPTURE_BUCKET") else none,
            "batch": batch["results_uri"] if batch else none,
            "batch_input": batch["input_uri"] if batch else none,
            "ground_truth": s3uri.uri(env("RAW_BUCKET"), spec["data"]["ground_truth_prefix"]),
        },
        "batch_run_id": batch["run_id"] if batch else "",
        "paths": {"report_dir": art("report"), "report": art("report/report.json")},
    }
    logger.info("prepared monitoring run", extra={"run_id": run_id, "since": since, "model": model["arn"]})
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: resolve the inputs of one monitoring run."""
    return prepare(event, datetime.now(UTC))

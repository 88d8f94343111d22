"""Prepare a training run: resolve the data partition, the champion, names and S3 paths.

Input (the execution input, passed through): ``{"data_prefix"?: "s3://…/dt=YYYY-MM-DD/",
"reason"?: "manual|schedule|drift:<metric>|quality:<metric>"}``. Output: the ``run``
object every later state reads (docs/design.md, S3 layout).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from lambdas.shared import registry, s3uri
from lambdas.shared.aws import client
from lambdas.shared.runs import run_id_for
from lambdas.shared.spec import env, team_spec
from mdlc import names

logger = Logger()
tracer = Tracer()

NONE_MARKER = "NONE"


class NoDataError(Exception):
    """The data prefix holds no objects: nothing to train on."""


def latest_partition(raw_bucket: str, raw_prefix: str) -> str:
    """The newest ``dt=YYYY-MM-DD/`` prefix under the team's raw prefix."""
    newest = s3uri.newest_partition(raw_bucket, raw_prefix)
    if newest is None:
        raise NoDataError(f"no dt=YYYY-MM-DD/ partition under s3://{raw_bucket}/{raw_prefix}")
    return newest


def data_manifest(data_uri: str) -> dict[str, Any]:
    """Objects of the partition with their content hashes (ETag), and one hash over all."""
    objects = [o for o in s3uri.list_objects(data_uri) if not o["Key"].endswith("/")]
    if not objects:
        raise NoDataError(f"no objects under {data_uri}; expected the raw records of one day")
    files = sorted((o["Key"], o["ETag"].strip('"'), o["Size"]) for o in objects)
    digest = hashlib.sha256("\n".join(f"{k} {e} {s}" for k, e, s in files).encode()).hexdigest()
    return {"files": len(files), "bytes": sum(s for _, _, s in files), "sha256": digest}


def champion(group: str) -> dict[str, Any] | None:
    """The latest Approved model package of the team (None on a team's first run)."""
    try:
        return registry.latest_approved(group)
    except registry.NoApprovedModelError:
        return None


def prepare(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    spec = team_spec()
    team = spec["name"]
    raw_bucket, features_bucket, artifacts_bucket = env("RAW_BUCKET"), env("FEATURES_BUCKET"), env("ARTIFACTS_BUCKET")
    request = event.get("input") or {}
    data_uri = request.get("data_prefix") or latest_partition(raw_bucket, spec["data"]["raw_prefix"])
    if not data_uri.endswith("/"):
        data_uri += "/"
    manifest = data_manifest(data_uri)
    run_id = run_id_for(event["execution"], now)
    run = f"runs/{run_id}"
    art = lambda key: s3uri.uri(artifacts_bucket, f"{run}/{key}")  # noqa: E731
    feat = lambda key: s3uri.uri(features_bucket, f"{run}/{key}")  # noqa: E731

    # Jobs take the champion's files as inputs; without one they get an empty marker.
    none_uri = art(f"none/{NONE_MARKER}")
    s3uri.client("s3").put_object(Bucket=artifacts_bucket, Key=f"{run}/none/{NONE_MARKER}", Body=b"")
    best = champion(env("MODEL_PACKAGE_GROUP"))
    previous = _previous_run(artifacts_bucket)
    result = {
        "run_id": run_id,
        "team": team,
        "reason": str(request.get("reason") or "manual")[:200],
        "data_uri": data_uri,
        "data": manifest,
        "previous_row_count": str(previous.get("row_count", "")),
        "champion_arn": best["arn"] if best else "",
        "champion_model_uri": best["model_uri"] if best else none_uri,
        "baseline_uri": (best or {}).get("statistics_uri") or none_uri,
        # Retraining because inputs drifted: data quality reports the drift instead of failing on it.
        "drift_accepted": "true" if str(request.get("reason") or "").startswith("drift:") else "",
        "online_bucket": features_bucket,
        "online_prefix": f"{run}/online/",
        # The tuning job's name (used only with training.tuning) fits SageMaker's 32 characters.
        "job_names": {**names.training_job_names(team, run_id), "tuning": names.tuning_job_name(team, run_id)},
        "paths": {
            "data_quality_report": art("data-quality/report"),
            "data_quality_baseline": art("data-quality/baseline"),
            "splits": feat("splits"),
            "train": feat("splits/train"),
            "validation": feat("splits/validation"),
            "test": feat("splits/test"),
            "online": feat("online"),
            "online_features": feat("online/online_features.jsonl"),
            "model": art("model"),
            "checkpoints": art("checkpoints"),
            "evaluation": art("evaluation"),
            "evaluation_report": art("evaluation/evaluation.json"),
            "report": art("data-quality/report/report.json"),
            "statistics": art("data-quality/baseline/statistics.json"),
        },
    }
    logger.info(
        "prepared training run", extra={"run_id": run_id, "data_uri": data_uri, "champion": result["champion_arn"]}
    )
    return result


def _previous_run(artifacts_bucket: str) -> dict[str, Any]:
    try:
        return s3uri.read_json(s3uri.uri(artifacts_bucket, "runs/latest.json"))
    except client("s3").exceptions.NoSuchKey:
        return {}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: resolve the inputs of one training run."""
    return prepare(event, datetime.now(UTC))

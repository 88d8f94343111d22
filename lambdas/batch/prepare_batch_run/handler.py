"""Prepare a batch scoring run: the input partition, the Approved model, names and S3 paths.

Input (the execution input, passed through): ``{"input_prefix"?: "s3://…/", "reason"?}``;
without ``input_prefix`` the newest ``dt=YYYY-MM-DD/`` partition under the team's
``batch.input_prefix`` in the raw bucket is scored. Output: the ``run`` object the batch
workflow's states read. Results are staged under the artifacts bucket and published under
``batch.output_prefix`` in the reports bucket only after validation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from lambdas.shared import s3uri
from lambdas.shared.registry import latest_approved
from lambdas.shared.runs import run_id_for
from lambdas.shared.spec import env, team_spec
from mdlc import names

logger = Logger()
tracer = Tracer()

class NoBatchInputError(Exception):
    """Nothing to score: no partition, or an empty one."""


def latest_partition(bucket: str, prefix: str) -> str:
    """The newest ``dt=YYYY-MM-DD/`` prefix under ``prefix``."""
    newest = s3uri.newest_partition(bucket, prefix)
    if newest is None:
        raise NoBatchInputError(f"no dt=YYYY-MM-DD/ partition under s3://{bucket}/{prefix}; expected batch input")
    return newest


def prepare(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    spec = team_spec()
    team, batch = spec["name"], spec["batch"]
    request = event.get("input") or {}
    input_uri = request.get("input_prefix") or latest_partition(env("RAW_BUCKET"), batch["input_prefix"])
    input_uri = input_uri if input_uri.endswith("/") else input_uri + "/"
    objects = [o for o in s3uri.list_objects(input_uri) if not o["Key"].endswith("/")]
    if not objects:
        raise NoBatchInputError(f"no objects under {input_uri}; expected CSV records to score")
    model = latest_approved(env("MODEL_PACKAGE_GROUP"))
    run_id = run_id_for(event["execution"], now)
    art = lambda key: s3uri.uri(env("ARTIFACTS_BUCKET"), f"batch/{run_id}/{key}")  # noqa: E731
    results_key = f"{batch['output_prefix']}{run_id}/"
    result = {
        "run_id": run_id,
        "team": team,
        "reason": str(request.get("reason") or "manual")[:200],
        "input_uri": input_uri,
        "input_files": len(objects),
        "content_type": batch["content_type"],
        "model": model,
        "model_name": names.batch_model_name(team, run_id),
        "online_features_uri": s3uri.uri(env("FEATURES_BUCKET"), f"runs/{model['run_id']}/online/"),
        "baseline_uri": model["statistics_uri"].rsplit("/", 1)[0] + "/" if model["statistics_uri"] else "",
        "job_names": names.batch_job_names(team, run_id),
        "paths": {
            "data_quality_report": art("data-quality/report"),
            "data_quality_baseline": art("data-quality/baseline"),
            "report": art("data-quality/report/report.json"),
            "features": art("features/records"),
            "features_summary": art("features/summary"),
            "features_summary_file": art("features/summary/summary.json"),
            "staging": art("transform"),
            "results": s3uri.uri(env("REPORTS_BUCKET"), results_key),
            "manifest": s3uri.uri(env("REPORTS_BUCKET"), f"{results_key}_manifest.json"),
        },
    }
    if not result["baseline_uri"]:
        raise NoBatchInputError(f"model {model['arn']} records no statistics_uri; cannot check the input")
    logger.info("prepared batch run", extra={"run_id": run_id, "input": input_uri, "model": model["arn"]})
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: resolve the inputs of one batch scoring run."""
    return prepare(event, datetime.now(UTC))

"""Publish validated batch results: the scored records, then the manifest, last.

Writes ``<results>/part-NNNNN.csv`` (``<id>,score`` with a header) from the staged
transform output and finally ``<results>/_manifest.json``. Consumers wait for the manifest
(and the ``BatchScored`` event the workflow sends next), so a reader never sees a partial
result set: the manifest exists only once every part is written.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from lambdas.shared import s3uri
from lambdas.shared.aws import client
from lambdas.shared.batch_output import records
from lambdas.shared.spec import team_spec

logger = Logger()
tracer = Tracer()

PART_ROWS = 500_000


def publish(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    spec = team_spec()
    run = event["run"]
    id_column = spec["schema"]["id_column"]
    bucket, prefix = s3uri.split(run["paths"]["results"])
    parts: list[dict[str, Any]] = []
    lines: list[str] = []
    rows = 0

    def flush() -> None:
        body = (f"{id_column},score\n" + "".join(lines)).encode()
        key = f"{prefix}part-{len(parts):05d}.csv"
        client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
        parts.append({"key": key, "rows": len(lines), "sha256": hashlib.sha256(body).hexdigest()})
        lines.clear()

    for ident, score in records(run["paths"]["staging"], run["content_type"], id_column):
        lines.append(f"{ident},{score!r}\n")
        rows += 1
        if len(lines) >= PART_ROWS:
            flush()
    if lines or not parts:
        flush()
    if rows != event["validation"]["expected_rows"]:
        raise RuntimeError(f"read {rows} rows while publishing; validation counted "
                           f"{event['validation']['expected_rows']}: the staged output changed")
    model = run["model"]
    manifest = {
        "team": spec["name"],
        "run_id": run["run_id"],
        "reason": run["reason"],
        "rows": rows,
        "mean_score": event["validation"].get("mean_score"),
        "input_uri": run["input_uri"],
        "model_package_arn": model["arn"],
        "model_version": model["version"],
        "data_quality_report": run["paths"]["report"],
        "parts": parts,
        "published_at": now.isoformat(),
    }
    s3uri.write_json(run["paths"]["manifest"], manifest)
    logger.info("published batch results", extra={"rows": rows, "manifest": run["paths"]["manifest"]})
    return {"manifest_uri": run["paths"]["manifest"], "results_uri": run["paths"]["results"], "rows": rows,
            "parts": len(parts)}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: ``{"run", "validation"}`` → where the results are."""
    return publish(event, datetime.now(UTC))

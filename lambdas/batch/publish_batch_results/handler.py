"""Publish validated batch results: the scored records, then the manifest, last.

Writes ``<results>/part-NNNNN.csv`` (``<id>,score`` with a header, then
``reason_<i>_feature,reason_<i>_value,reason_<i>_contribution`` per reason code when
``batch.reason_codes`` is set) from the staged
transform output and finally ``<results>/_manifest.json``. Consumers wait for the manifest
(and the ``BatchScored`` event the workflow sends next), so a reader never sees a partial
result set: the manifest exists only once every part is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from lambdas.shared import s3uri
from lambdas.shared.aws import client
from lambdas.shared.batch_output import rows as output_rows
from lambdas.shared.spec import team_spec
from mdlc import policy

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

    reason_codes = int(spec["batch"].get("reason_codes", 0))
    header = ",".join([id_column, "score", *(f"reason_{i}_{part}" for i in range(1, reason_codes + 1)
                                             for part in ("feature", "value", "contribution"))])

    def flush() -> None:
        body = (f"{header}\n" + "".join(lines)).encode()
        key = f"{prefix}part-{len(parts):05d}.csv"
        client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
        parts.append({"key": key, "rows": len(lines), "sha256": hashlib.sha256(body).hexdigest()})
        lines.clear()

    for ident, score, reasons in output_rows(run["paths"]["staging"], run["content_type"], id_column, reason_codes):
        lines.append(_csv_line([ident, repr(score), *(cell for reason in reasons for cell in reason)]))
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
        # The policy these scores would be decided by (None for a team without decision_rules).
        "policy_version": policy.policy_version(spec, model["version"]) if spec.get("decision_rules") else None,
        "data_quality_report": run["paths"]["report"],
        "parts": parts,
        "published_at": now.isoformat(),
    }
    s3uri.write_json(run["paths"]["manifest"], manifest)
    logger.info("published batch results", extra={"rows": rows, "manifest": run["paths"]["manifest"]})
    return {"manifest_uri": run["paths"]["manifest"], "results_uri": run["paths"]["results"], "rows": rows,
            "parts": len(parts)}


def _csv_line(cells: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: ``{"run", "validation"}`` → where the results are."""
    return publish(event, datetime.now(UTC))

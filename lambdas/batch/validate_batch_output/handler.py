"""Validate a batch transform's output before anything is published.

Checks: every input row has exactly one output row (row count equals the input's, ids
unique), every score is a number in [0, 1] (no NaN or inf). Returns ``passed`` and the
violations, which the workflow turns into a named failure.
"""

from __future__ import annotations

import math
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from lambdas.shared import s3uri
from lambdas.shared.batch_output import MalformedOutputError, output_objects, records
from lambdas.shared.spec import team_spec

logger = Logger()
tracer = Tracer()


def validate(event: dict[str, Any]) -> dict[str, Any]:
    spec = team_spec()
    id_column = spec["schema"]["id_column"]
    expected = int(s3uri.read_json(event["summary_uri"])["rows"])
    rows = bad_scores = nan_scores = duplicates = 0
    seen: set[str] = set()
    total = 0.0
    violations: list[str] = []
    if not output_objects(event["staging_uri"]):
        violations.append(f"no .out objects under {event['staging_uri']}; the transform wrote nothing")
    try:
        for ident, score in records(event["staging_uri"], event["content_type"], id_column,
                                    int(spec["batch"].get("reason_codes", 0))):
            rows += 1
            if ident in seen:
                duplicates += 1
            seen.add(ident)
            if math.isnan(score) or math.isinf(score):
                nan_scores += 1
            elif not 0.0 <= score <= 1.0:
                bad_scores += 1
            else:
                total += score
    except MalformedOutputError as exc:
        violations.append(str(exc))
    if rows != expected:
        violations.append(f"output has {rows} rows; expected {expected} (one per input row)")
    if duplicates:
        violations.append(f"{duplicates} duplicate {id_column} values in the output")
    if nan_scores:
        violations.append(f"{nan_scores} scores are NaN or infinite")
    if bad_scores:
        violations.append(f"{bad_scores} scores lie outside [0, 1]")
    valid = rows - nan_scores - bad_scores
    return {
        "passed": not violations,
        "rows": rows,
        "expected_rows": expected,
        "mean_score": total / valid if valid else None,
        "violations": violations,
        "reasons_text": "; ".join(violations)[:1000],
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: ``{"staging_uri", "summary_uri", "content_type"}`` → verdict."""
    result = validate(event)
    logger.info("validated batch output", extra={k: result[k] for k in ("passed", "rows", "expected_rows")})
    return result

"""Summarise a data-quality report of scoring input for the batch workflow's gate.

Returns ``passed``, the violation messages, one ``reasons_text`` line for the Fail state's
cause, the row count and the PSI per feature: what the gate and the alert need, well below
Step Functions' 256 KB state limit.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from lambdas.shared import s3uri

logger = Logger()
tracer = Tracer()

MAX_VIOLATIONS = 25


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(report, dict) or "passed" not in report:
        raise ValueError(f"expected a data-quality report with 'passed', got keys {sorted(report)[:10]}")
    messages = [v.get("message", str(v)) for v in report.get("violations", [])]
    return {
        "passed": bool(report["passed"]),
        "violations": messages[:MAX_VIOLATIONS],
        "violation_count": len(messages),
        "reasons_text": "; ".join(messages)[:1000],
        "row_count": report.get("row_count"),
        "psi": report.get("psi", {}),
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: ``{"uri": "s3://…/report.json"}`` → the gate's summary."""
    result = summarise(s3uri.read_json(event["uri"]))
    result["uri"] = event["uri"]
    logger.info("data quality of batch input", extra={"passed": result["passed"], "rows": result["row_count"]})
    return result

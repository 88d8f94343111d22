"""Read a job's JSON report from S3 and hand the workflow the fields its Choice states test."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from lambdas.shared import s3uri

logger = Logger()
tracer = Tracer()

# Step Functions passes at most 256 KB between states: keep only what the workflow reads.
MAX_LIST = 50


def summarise(report: dict[str, Any], keys: list[str] | None) -> dict[str, Any]:
    picked = {k: report.get(k) for k in keys} if keys else dict(report)
    for key, value in picked.items():
        if isinstance(value, list) and len(value) > MAX_LIST:
            picked[key] = value[:MAX_LIST] + [f"… {len(value) - MAX_LIST} more in the report"]
    return picked


def reasons_text(report: dict[str, Any]) -> str:
    """One line naming why a gate failed, for the Fail state's cause."""
    for key in ("violations", "reasons"):
        value = report.get(key)
        if value:
            items = value if isinstance(value, list) else [value]
            # Job reports give each violation a human-readable "message".
            return "; ".join(str(v.get("message", v)) if isinstance(v, dict) else str(v) for v in items)[:1000]
    gate = report.get("gate")
    if isinstance(gate, dict) and gate.get("reasons"):
        return "; ".join(str(v) for v in gate["reasons"])[:1000]
    return ""


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: ``{"uri": "s3://…/report.json", "keys"?: [...]}`` → the report."""
    report = s3uri.read_json(event["uri"])
    if not isinstance(report, dict):
        raise ValueError(f"{event['uri']}: expected a JSON object, got {type(report).__name__}")
    result = summarise(report, event.get("keys"))
    result["reasons_text"] = reasons_text(report)
    result["uri"] = event["uri"]
    return result

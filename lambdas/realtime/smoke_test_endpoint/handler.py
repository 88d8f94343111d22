"""Deployment step: invoke the endpoint with a known record and check the response schema.

The record is built the way a decision request is served: a request of mid-range record
features for an unknown entity, merged by the shared feature module
(``mdlc.features.derive_record``). The response must be ``{"model_version": str,
"predictions": [{"score": float in [0, 1]}]}``; anything else fails the deployment.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from lambdas.shared.aws import client
from lambdas.shared.spec import team_spec
from mdlc import features as F

logger = Logger()
tracer = Tracer()

KNOWN_TIME = "2026-01-15T12:00:00+00:00"


class SmokeTestFailed(RuntimeError):
    """The new endpoint answered, but not with a valid prediction."""


def known_request(spec: dict[str, Any]) -> dict[str, Any]:
    """Record features with mid-range values, the first category, and a fixed time."""
    record: dict[str, Any] = {spec["schema"]["timestamp_column"]: KNOWN_TIME}
    for f in spec["schema"]["features"]:
        if f.get("source", "record") != "record":
            continue
        if f["type"] == "category":
            record[f["name"]] = f["categories"][0]
        elif f["type"] in ("float", "int"):
            lo, hi = f.get("min"), f.get("max")
            value = (lo + hi) / 2 if lo is not None and hi is not None else lo if lo is not None else 1
            record[f["name"]] = int(value) if f["type"] == "int" else float(value)
        elif f["type"] == "bool":
            record[f["name"]] = False
        elif f["type"] == "timestamp":
            record[f["name"]] = KNOWN_TIME
        else:
            record[f["name"]] = "smoke-test"
    return record


def check_response(body: Any) -> dict[str, Any]:
    """The one prediction of a valid response; SmokeTestFailed naming what is wrong."""
    if not isinstance(body, dict):
        raise SmokeTestFailed(f"response: expected a JSON object, got {type(body).__name__}")
    version = body.get("model_version")
    if not isinstance(version, str) or not version:
        raise SmokeTestFailed(f"response.model_version: expected a non-empty string, got {version!r}")
    predictions = body.get("predictions")
    if not isinstance(predictions, list) or len(predictions) != 1 or not isinstance(predictions[0], dict):
        raise SmokeTestFailed(f"response.predictions: expected a list of one object, got {predictions!r}")
    score = predictions[0].get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
        raise SmokeTestFailed(f"response.predictions[0].score: expected a number in [0, 1], got {score!r}")
    return {"model_version": version, "score": float(score)}


def smoke_test(endpoint: str, spec: dict[str, Any]) -> dict[str, Any]:
    record = F.derive_record(known_request(spec), None, spec)
    answer = client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, ContentType="application/json", Accept="application/json",
        Body=json.dumps(record).encode())
    text = answer["Body"].read()
    try:
        body = json.loads(text)
    except ValueError:
        raise SmokeTestFailed(f"response: not JSON: {text[:200]!r}") from None
    return {**check_response(body), "variant": answer.get("InvokedProductionVariant", "")}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Standard workflow task: ``{"endpoint_name"}`` → ``{model_version, score, variant}``."""
    result = smoke_test(event["endpoint_name"], team_spec())
    logger.info("smoke test passed", extra=result)
    return result

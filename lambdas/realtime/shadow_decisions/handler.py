"""Shadow challenger: decide every live request again, off the synchronous path, never act on it.

A second reader of the decisions table's stream (the outbox; ``publish_decisions`` is the
first). For each new live decision it takes the request and the model input the live model
saw (both recorded by the decision function), scores that input with the challenger model
(``realtime.shadow.model_version``: the endpoint's ``Shadow`` variant, weight 0, invoked here
by ``TargetVariant``; without one, the live score) and decides with the candidate policy
(``realtime.shadow.decision_rules``; without one, the live policy) through the one policy
module (``mdlc.policy.decide``). The live and shadow decisions of a stream batch are written
side by side, one JSON line per request, to ``shadow/dt=<day>/<first sequence number>.jsonl``
in the capture bucket, where the monitoring job compares them. Nothing here is returned to a
caller, published on the decision bus or acted on; the live decision is final before this runs.

A shadow model that errors, times out or answers nonsense gives a shadow decision by the
candidate's fallback with ``error`` set: the comparison counts it, the live path never sees it.
Only a failure to write the records fails the batch (the stream retries it, then its
dead-letter queue).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.shared.aws import client
from lambdas.shared.decision_request import endpoint_body
from lambdas.shared.spec import env, team_spec
from mdlc import policy

logger = Logger()
tracer = Tracer()
metrics = Metrics()

PREFIX = "shadow/"


def shadow_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The team spec deciding as the challenger: the candidate policy, or the live one."""
    shadow = (spec.get("realtime") or {}).get("shadow") or {}
    if shadow.get("decision_rules") is None:
        return spec if shadow.get("fallback_decision") is None else policy.with_rules(
            spec, spec["decision_rules"], shadow["fallback_decision"])
    return policy.with_rules(spec, shadow["decision_rules"], shadow.get("fallback_decision"))


def live_decision(record: dict[str, Any]) -> dict[str, Any] | None:
    """``{request, response, features}`` of a stream record's new decision (None for anything else)."""
    if record.get("eventName") != "INSERT":
        return None
    image = record["dynamodb"]["NewImage"]
    if "response" not in image or "request" not in image:
        return None
    return {"request": json.loads(image["request"]["S"]), "response": json.loads(image["response"]["S"]),
            "features": json.loads(image["features"]["S"]) if "features" in image else None}


class ShadowModel:
    """The endpoint's shadow variant (an adapter tests replace): features → (score, model version)."""

    def __init__(self, endpoint: str, variant: str, policy_hash: str = "") -> None:
        self.endpoint, self.variant, self.policy_hash = endpoint, variant, policy_hash

    def __call__(self, features: dict[str, Any], inference_id: str) -> tuple[float, str]:
        # The challenger's policy hash in the body: the shadow variant's capture groups by it.
        answer = client("sagemaker-runtime").invoke_endpoint(
            EndpointName=self.endpoint, TargetVariant=self.variant, ContentType="application/json",
            Accept="application/json", Body=endpoint_body(features, self.policy_hash), InferenceId=inference_id)
        body = json.loads(answer["Body"].read())
        score = body["predictions"][0]["score"]
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
            raise ValueError(f"shadow score: expected a number in [0, 1], got {score!r}")
        return float(score), str(body["model_version"])


def decide_shadow(live: dict[str, Any], spec: dict[str, Any], model: ShadowModel | None) -> dict[str, Any]:
    """The shadow's decision of one live request (never raises for a broken challenger)."""
    request, response, features = live["request"], live["response"], live["features"]
    score, version, error = response.get("score"), response.get("model_version", ""), None
    if model is not None:
        if features is None:
            score, error = None, "no model input recorded with the live decision"
        else:
            try:
                score, version = model(features, str(request.get(spec["schema"]["id_column"], "")))
            except Exception as exc:  # noqa: BLE001 - a broken challenger is a result, not a failure
                score, error = None, f"{type(exc).__name__}: {str(exc)[:200]}"
    decided = policy.decide(request, features or {}, shadow_spec(spec), score=score,
                            model_version=version or "unknown", error=error)
    return {"decision": decided["decision"], "score": score, "model_version": decided["model_version"],
            "policy_version": decided["policy_version"], "decided_by": decided["decided_by"],
            "reasons": decided["reasons"], "error": error}


def pair(live: dict[str, Any], shadow: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """One comparison line: the live decision and the shadow's, side by side."""
    request, response, keys = live["request"], live["response"], spec["schema"]
    amount_column = keys.get("amount_column")
    return {
        "request_id": response["request_id"], "transaction_id": request.get(keys["id_column"]),
        "decided_at": response.get("decided_at"),
        "amount": request.get(amount_column) if amount_column else None,
        "live": {name: response.get(name) for name in
                 ("decision", "score", "model_version", "policy_version", "decided_by", "fallback")},
        "shadow": shadow,
    }


def day_of(line: dict[str, Any]) -> str:
    when = line.get("decided_at")
    try:
        return datetime.fromisoformat(when).astimezone(UTC).date().isoformat() if when else _today()
    except ValueError:
        return _today()


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def shadow_batch(records: list[dict[str, Any]], spec: dict[str, Any], model: ShadowModel | None,
                 write: Any) -> int:
    """Decide every new live decision of a stream batch as the shadow; write the pairs per day."""
    by_day: dict[str, list[str]] = {}
    first = next((r["dynamodb"]["SequenceNumber"] for r in records if "dynamodb" in r), None)
    done = 0
    for record in records:
        live = live_decision(record)
        if live is None:
            continue
        shadow = decide_shadow(live, spec, model)
        line = pair(live, shadow, spec)
        by_day.setdefault(day_of(line), []).append(json.dumps(line, sort_keys=True, default=str))
        metrics.add_metric(name="ShadowDecisions", unit=MetricUnit.Count, value=1)
        if shadow["error"]:
            metrics.add_metric(name="ShadowErrors", unit=MetricUnit.Count, value=1)
        if shadow["decision"] != line["live"]["decision"]:
            metrics.add_metric(name="ShadowFlips", unit=MetricUnit.Count, value=1)
        done += 1
    for day, lines in sorted(by_day.items()):
        # One object per day and batch, named by the batch's first record: a retried batch
        # overwrites its own object instead of adding a second copy.
        write(f"{PREFIX}dt={day}/{first}.jsonl", "\n".join(lines) + "\n")
    return done


class ShadowLog:
    """The shadow decision log in S3 (an adapter tests replace)."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def __call__(self, key: str, text: str) -> None:
        client("s3").put_object(Bucket=self.bucket, Key=key, Body=text.encode(), ContentType="application/jsonlines")


_model: ShadowModel | None = None
_log: ShadowLog | None = None


def _adapters(spec: dict[str, Any]) -> tuple[ShadowModel | None, ShadowLog]:
    global _model, _log
    if _log is None:
        _log = ShadowLog(env("SHADOW_BUCKET"))
        shadow = (spec.get("realtime") or {}).get("shadow") or {}
        if shadow.get("model_version") is not None:
            _model = ShadowModel(env("ENDPOINT_NAME"), env("SHADOW_VARIANT"), policy.policy_hash(shadow_spec(spec)))
    return _model, _log


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """DynamoDB stream batch → the shadow's decision of each new live decision, in S3."""
    spec = team_spec()
    model, log = _adapters(spec)
    count = shadow_batch(event.get("Records", []), spec, model, log)
    logger.info("shadow decisions recorded", extra={"count": count})
    return {"shadow_decisions": count}

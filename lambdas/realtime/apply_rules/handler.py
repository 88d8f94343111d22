"""Decision step 3: the team's rules turn the score and the request into a decision.

Order (``decision_rules`` in the team file): a deny-list match → DECLINE; an allow-list
match → APPROVE; otherwise the score band (or the team's ``realtime.fallback_decision``
when the model could not answer), raised by any hard rule that fires: the strictest
decision wins. Every decision carries its reasons.
"""

# No `from __future__ import annotations`: the Parser models resolve their field types at
# import, also when the module is loaded outside sys.modules (offline harness).
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import BaseModel, Field, event_parser

from lambdas.shared.spec import team_spec

logger = Logger()
tracer = Tracer()
metrics = Metrics()

SEVERITY = {"APPROVE": 0, "REVIEW": 1, "DECLINE": 2}


class Prediction(BaseModel):
    """One prediction of the inference response."""

    score: float = Field(ge=0, le=1)


class Inference(BaseModel):
    """What the inference step produced: a prediction, or the error that replaced it."""

    prediction: Prediction | None = None
    model_version: str = "unavailable"
    error: str | None = None

    @property
    def score(self) -> float | None:
        return None if self.prediction is None else self.prediction.score


class RulesInput(BaseModel):
    """The workflow state handed to this step."""

    request: dict[str, Any]
    features: dict[str, Any]
    inference: Inference


def _value(field: str, request: dict[str, Any], features: dict[str, Any], spec: dict[str, Any],
           score: float | None) -> Any:
    if field == "score":
        return score
    if field in request:
        return request[field]
    value = features.get(field)
    feature = next((f for f in spec["schema"]["features"] if f["name"] == field), None)
    if feature and feature["type"] == "category" and isinstance(value, int):
        return feature["categories"][value]
    return value


def _fires(op: str, actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    try:
        return {
            "gt": lambda: actual > expected, "ge": lambda: actual >= expected,
            "lt": lambda: actual < expected, "le": lambda: actual <= expected,
            "eq": lambda: actual == expected, "ne": lambda: actual != expected,
            "in": lambda: actual in expected, "not_in": lambda: actual not in expected,
        }[op]()
    except TypeError:  # e.g. a number compared with a string: the rule does not apply
        return False


def decide(request: dict[str, Any], features: dict[str, Any], inference: Inference,
           spec: dict[str, Any]) -> dict[str, Any]:
    """``{decision, reasons, score, model_version, fallback}`` for one request."""
    rules = spec["decision_rules"]
    lookup = lambda field: _value(field, request, features, spec, inference.score)  # noqa: E731
    for field, values in sorted(rules.get("deny_list", {}).items()):
        if str(lookup(field)) in values:
            return _result("DECLINE", [f"deny_list: {field} {lookup(field)!r} is denied"], inference)
    for field, values in sorted(rules.get("allow_list", {}).items()):
        if str(lookup(field)) in values:
            return _result("APPROVE", [f"allow_list: {field} {lookup(field)!r} is trusted"], inference)
    if inference.score is None:
        decision = spec["realtime"]["fallback_decision"]
        reasons = [f"model_unavailable: {inference.error or 'no score'}; fallback decision {decision}"]
    else:
        bands = rules["score_bands"]
        if inference.score < bands["approve_below"]:
            decision, band = "APPROVE", f"score {inference.score:.4f} < {bands['approve_below']}"
        elif inference.score >= bands["decline_at_or_above"]:
            decision, band = "DECLINE", f"score {inference.score:.4f} >= {bands['decline_at_or_above']}"
        else:
            decision = "REVIEW"
            band = f"score {inference.score:.4f} in [{bands['approve_below']}, {bands['decline_at_or_above']})"
        reasons = [f"score_band: {band}"]
    for rule in rules.get("hard_rules", []):
        actual = lookup(rule["field"])
        if _fires(rule["op"], actual, rule["value"]):
            reasons.append(f"{rule['name']}: {rule['field']} {actual!r} {rule['op']} {rule['value']!r} "
                           f"→ {rule['decision']}")
            if SEVERITY[rule["decision"]] > SEVERITY[decision]:
                decision = rule["decision"]
    return _result(decision, reasons, inference)


def _result(decision: str, reasons: list[str], inference: Inference) -> dict[str, Any]:
    return {"decision": decision, "reasons": reasons, "score": inference.score,
            "model_version": inference.model_version, "fallback": inference.score is None}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=RulesInput)
def handler(event: RulesInput, context: Any) -> dict[str, Any]:
    """Express workflow task: ``{request, features, inference}`` → decision with reasons."""
    result = decide(event.request, event.features, event.inference, team_spec())
    metrics.add_metric(name=f"Decision{result['decision'].title()}", unit=MetricUnit.Count, value=1)
    if result["fallback"]:
        metrics.add_metric(name="InferenceErrors", unit=MetricUnit.Count, value=1)
        logger.warning("model unavailable: fallback decision", extra={"error": event.inference.error})
    return result

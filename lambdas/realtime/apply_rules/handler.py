"""Decision step 3: the team's rules turn the score and the request into a decision.

Order (``decision_rules`` in the team file): a deny-list match → DECLINE; an allow-list
match → APPROVE; otherwise the score band (or the team's ``realtime.fallback_decision``
when the model could not answer), raised by any hard rule that fires: the strictest
decision wins. Every decision carries its reasons, the model's reason codes (feature,
value, signed contribution) and what decided it (``decided_by``).

The model's answer arrives as the endpoint's raw body: it is parsed here, so a body that
is not JSON, lacks ``predictions`` or has a score outside [0, 1] takes the fallback
decision like an endpoint error does (a Step Functions Pass state parsing it would fail
the execution with an uncatchable ``States.Runtime`` error).
"""

# No `from __future__ import annotations`: the Parser models resolve their field types at
# import, also when the module is loaded outside sys.modules (offline harness).
import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import BaseModel, Field, ValidationError, event_parser

from lambdas.shared.spec import team_spec

logger = Logger()
tracer = Tracer()

SEVERITY = {"APPROVE": 0, "REVIEW": 1, "DECLINE": 2}


class ReasonCode(BaseModel):
    """One feature's signed contribution to the score's log-odds, with the value it had."""

    feature: str = Field(min_length=1, max_length=128)
    value: Any = None
    contribution: float


class Prediction(BaseModel):
    """One prediction of the inference response."""

    score: float = Field(ge=0, le=1)
    reasons: list[ReasonCode] = Field(default_factory=list, max_length=20)


class ModelResponse(BaseModel):
    """The endpoint's JSON body (``sagemaker_jobs/inference``'s ``output_fn``)."""

    model_version: str = Field(min_length=1, max_length=256)
    predictions: list[Prediction] = Field(min_length=1)


class Inference(BaseModel):
    """What the inference step produced: a prediction, or the error that replaced it."""

    prediction: Prediction | None = None
    model_version: str = "unavailable"
    error: str | None = None

    @property
    def score(self) -> float | None:
        return None if self.prediction is None else self.prediction.score


class ModelAnswer(BaseModel):
    """The inference step's result: the endpoint's raw body, or the error that replaced it."""

    body: str | None = None
    error: str | None = None


class RulesInput(BaseModel):
    """The workflow state handed to this step."""

    request: dict[str, Any]
    features: dict[str, Any]
    model: ModelAnswer


EXPECTED_BODY = 'a JSON object {"model_version", "predictions": [{"score" in [0, 1]}]}'


def read_inference(answer: ModelAnswer) -> Inference:
    """The prediction in the endpoint's body, or the reason there is none (never raises)."""
    if answer.error is not None or answer.body is None:
        return Inference(error=answer.error or "no model response")
    try:
        body = ModelResponse.model_validate(json.loads(answer.body))
    except ValueError as exc:  # JSONDecodeError and pydantic's ValidationError
        where = "not JSON" if isinstance(exc, json.JSONDecodeError) else _first_error(exc)
        return Inference(error=f"MalformedModelResponse: {where}; expected {EXPECTED_BODY}")
    return Inference(prediction=body.predictions[0], model_version=body.model_version)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc']) or '(body)'}: {error['msg']}"
    return "invalid body"


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
            return _result("DECLINE", [f"deny_list: {field} {lookup(field)!r} is denied"], inference,
                           f"deny_list:{field}")
    for field, values in sorted(rules.get("allow_list", {}).items()):
        if str(lookup(field)) in values:
            return _result("APPROVE", [f"allow_list: {field} {lookup(field)!r} is trusted"], inference,
                           f"allow_list:{field}")
    if inference.score is None:
        decision, decided_by = spec["realtime"]["fallback_decision"], "fallback"
        reasons = [f"model_unavailable: {inference.error or 'no score'}; fallback decision {decision}"]
    else:
        decided_by = "score_band"
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
                decision, decided_by = rule["decision"], f"hard_rule:{rule['name']}"
    return _result(decision, reasons, inference, decided_by)


def _result(decision: str, reasons: list[str], inference: Inference, decided_by: str) -> dict[str, Any]:
    codes = [] if inference.prediction is None else [r.model_dump() for r in inference.prediction.reasons]
    return {"decision": decision, "reasons": reasons, "reason_codes": codes, "decided_by": decided_by,
            "score": inference.score, "model_version": inference.model_version,
            "fallback": inference.score is None}


#: The one metric of the decision mix: ``Decisions`` by ``Decision`` (what the dashboard reads).
#: Each metric is its own EMF line (``single_metric``): the dimension belongs to that metric only.
DECISIONS_METRIC, DECISION_DIMENSION = "Decisions", "Decision"


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=RulesInput)
def handler(event: RulesInput, context: Any) -> dict[str, Any]:
    """Express workflow task: ``{request, features, model}`` → decision with reasons."""
    inference = read_inference(event.model)
    result = decide(event.request, event.features, inference, team_spec())
    with single_metric(name=DECISIONS_METRIC, unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name=DECISION_DIMENSION, value=result["decision"])
    if result["fallback"]:
        with single_metric(name="InferenceErrors", unit=MetricUnit.Count, value=1):
            pass
        # The error names the failure (ModelError, timeout, malformed body), never the request.
        logger.warning("model unavailable: fallback decision", extra={"error": inference.error})
    return result

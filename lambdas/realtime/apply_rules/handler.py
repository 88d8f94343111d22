"""Decision step 3: the team's rules turn the score and the request into a decision.

The policy itself (deny list, allow list, score band or fallback, hard rules) is
``mdlc.policy``, the one implementation the evaluation job and the backtest use too. Every
decision carries its reasons, the model's reason codes (feature, value, signed
contribution), what decided it (``decided_by``) and ``policy_version`` (the deployed
policy's content hash and the model version).

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
from mdlc import policy

logger = Logger()
tracer = Tracer()


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


def decide(request: dict[str, Any], features: dict[str, Any], inference: Inference,
           spec: dict[str, Any]) -> dict[str, Any]:
    """``{decision, reasons, score, model_version, policy_version, fallback}`` for one request
    (the one policy: ``mdlc.policy.decide``)."""
    codes = [] if inference.prediction is None else [r.model_dump() for r in inference.prediction.reasons]
    return policy.decide(request, features, spec, score=inference.score, model_version=inference.model_version,
                         error=inference.error, reason_codes=codes, version_of=_policy_hash(spec))


_hashes: dict[int, tuple[dict[str, Any], str]] = {}


def _policy_hash(spec: dict[str, Any]) -> str:
    """The policy's hash, once per spec object (the bundled team.json is loaded once)."""
    known = _hashes.get(id(spec))
    if known is None or known[0] is not spec:
        known = _hashes[id(spec)] = (spec, policy.policy_hash(spec))
    return known[1]


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

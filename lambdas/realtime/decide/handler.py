"""The decision, in one function: request → online features → model → rules → recorded decision.

One Lambda task of the Express decision workflow does what four hops did (collect features,
InvokeEndpoint, rules, action), so the decision API's modelled p99 fits the team's
``realtime.latency_budget_ms`` (``mdlc latency``). Steps, each timed into the decision's
log line and an X-Ray subsegment:

1. **request**: the JSON Schema of the API's model plus the card-number guard
   (``lambdas.shared.decision_request``); a bad request is a 400 naming each field.
2. **features**: one batched read of every key's online item (``entity_store.read_online``,
   the shared serving read), merged by the one feature module (``mdlc.features``). A read
   that times out or fails gives the team's fallback decision (``fallback: true``, the
   reason named), never an error.
3. **inference**: InvokeEndpoint, no retry: an endpoint that hangs, errs or answers a
   malformed body gives the fallback decision within the budget.
4. **rules**: the one policy (``mdlc.policy``); a rules error gives the fallback decision.
5. **record**, last: the decisions table's conditional write (the outbox: its stream
   publishes the event and feeds the feature stream, off this path). A replay gets the first
   answer, other content under a used request id a 409. A write that fails in time answers
   the decision with ``recorded: false`` and queues the item (``queued_for_recording``) for
   ``record_decisions``, which writes it off this path with the queue's retries.

Every AWS call has a timeout of its own and at most one retry, so the function answers well
within its Lambda timeout; the workflow's catch answers the fallback decision if it does not.

**The deadline**: the feature read and InvokeEndpoint get min(their configured timeout
(``FEATURE_TIMEOUT_MS``, ``INFERENCE_TIMEOUT_MS``), the time left until request time +
``DEADLINE_BUDGET_MS`` − ``DEADLINE_RESERVE_MS``), rounded down to a rung of the timeout ladder
(``mdlc/latency_deadline.py``, one cached client per rung); a call with less than a rung left is
not made (reason ``Deadline.Exceeded``). The request time is API Gateway's
(``request_time_epoch_ms`` in the workflow input); a direct caller without one gets the function's
own start, and a request time that cannot be right (far ahead, older than the client timeout) is
not believed. The budget and reserve come from the team file and the latency figures, so the
latency model samples the same deadline (``mdlc latency``).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.shared.aws import clock_ms, fast_client
from lambdas.shared.decision_log import Conflict, DecisionLog, attributes, record_once, response_and_item
from lambdas.shared.decision_request import RequestError, endpoint_body, parse_request, request_schema
from lambdas.shared.entity_store import read_online
from lambdas.shared.spec import env, team_spec
from mdlc import features as F
from mdlc import policy
from mdlc.latency_deadline import call_timeout, ladder, request_start_ms

logger = Logger()
tracer = Tracer()
metrics = Metrics()

#: The one metric of the decision mix: ``Decisions`` by ``Decision`` (what the dashboard reads).
DECISIONS_METRIC, DECISION_DIMENSION = "Decisions", "Decision"
EXPECTED_BODY = 'a JSON object {"model_version", "predictions": [{"score" in [0, 1]}]}'


def timeout_ms(name: str, default: int) -> int:
    """A per-call timeout from the function's environment (the stack derives them from the team file)."""
    return int(os.environ.get(name) or default)


class Deadline:
    """When the endpoint's answer must be in (epoch ms): the request time + the team's budget −
    the reserve for what follows (``mdlc/latency_deadline.py``), and the calls' configured timeouts."""

    def __init__(self, at_ms: float, feature_ms: int, inference_ms: int, note: str | None = None) -> None:
        self.at_ms, self.feature_ms, self.inference_ms, self.note = at_ms, feature_ms, inference_ms, note

    @classmethod
    def of(cls, event: dict[str, Any], started_ms: float) -> Deadline:
        """The deadline of one workflow input: its API request time (``request_time_epoch_ms``, from
        API Gateway's ``$context.requestTimeEpoch``) or, for a direct caller without one, this
        function's own start; a request time that cannot be right is not believed (see
        ``request_start_ms``)."""
        start, note = request_start_ms(event.get("request_time_epoch_ms"), started_ms,
                                       timeout_ms("CLIENT_TIMEOUT_MS", 1500))
        at = start + timeout_ms("DEADLINE_BUDGET_MS", 100) - timeout_ms("DEADLINE_RESERVE_MS", 45)
        return cls(at, timeout_ms("FEATURE_TIMEOUT_MS", 100), timeout_ms("INFERENCE_TIMEOUT_MS", 60), note)

    def left_ms(self) -> float:
        return self.at_ms - clock_ms()


class TimeoutClients:
    """One client per timeout the deadline can give a call (botocore's timeouts are per client),
    each tried once: built at init when the environment is initialised ahead of requests
    (provisioned concurrency, SnapStart), else on first use of each rung in this environment."""

    def __init__(self, service: str, configured_ms: int, ceiling_ms: float) -> None:
        self.service, self.configured_ms = service, configured_ms
        self._clients = {configured_ms: fast_client(service, configured_ms, attempts=1)}
        if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") in ("provisioned-concurrency", "snap-start"):
            for rung in ladder(configured_ms, ceiling_ms):
                self.get(rung)

    def get(self, timeout: int) -> Any:
        client = self._clients.get(timeout)
        if client is None:
            client = self._clients[timeout] = fast_client(self.service, timeout, attempts=1)
        return client


class DecisionIO:
    """The decision's three AWS calls, each with its own timeout and no retry (tests replace it)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.feature_table = env("FEATURE_TABLE")
        self.endpoint = env("ENDPOINT_NAME")
        self.log = DecisionLog(env("DECISIONS_TABLE"),
                               fast_client("dynamodb", timeout_ms("RECORD_TIMEOUT_MS", 200), attempts=2))
        self.spec = spec
        # No call is given more than the deadline leaves: budget − reserve at most.
        ceiling = timeout_ms("DEADLINE_BUDGET_MS", 100) - timeout_ms("DEADLINE_RESERVE_MS", 45)
        self._ddb = TimeoutClients("dynamodb", timeout_ms("FEATURE_TIMEOUT_MS", 100), ceiling)
        self._runtime = TimeoutClients("sagemaker-runtime", timeout_ms("INFERENCE_TIMEOUT_MS", 60), ceiling)
        self._sqs = fast_client("sqs", timeout_ms("RECORD_TIMEOUT_MS", 200), attempts=1)

    def read_items(self, record: dict[str, Any], timeout_ms: int | None = None) -> dict[str, dict[str, Any] | None]:
        """Every key's online item in one BatchGetItem (the shared serving read), with this
        function's short-timeout client (``timeout_ms``: the deadline's cut)."""
        ddb = self._ddb.get(timeout_ms or self._ddb.configured_ms)
        return read_online(self.feature_table, record, self.spec, ddb=ddb)

    def defer(self, item: dict[str, Any]) -> bool:
        """Queue a decision the table did not take in time, for ``record_decisions`` to write off
        this path; False when the queue did not take it either (or there is none)."""
        import json

        queue = os.environ.get("RECORDS_QUEUE_URL")
        if not queue:
            return False
        try:
            self._sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(attributes(item)))
        except Exception as exc:  # noqa: BLE001 - the decision still answers; the log names the loss
            logger.error("decision neither recorded nor queued", extra={"request_id": item["request_id"],
                                                                        "error": _failure("SQS", exc)})
            return False
        return True

    def invoke(self, features: dict[str, Any], inference_id: str, timeout_ms: int | None = None) -> bytes:
        """The endpoint's raw answer to one record (raises on an error or a timeout); the body
        carries the policy's hash for data capture (``endpoint_body``)."""
        runtime = self._runtime.get(timeout_ms or self._runtime.configured_ms)
        answer = runtime.invoke_endpoint(
            EndpointName=self.endpoint, ContentType="application/json", Accept="application/json",
            Body=endpoint_body(features, _policy_hash(self.spec)), InferenceId=inference_id)
        return answer["Body"].read()


def read_model_answer(body: bytes) -> tuple[dict[str, Any] | None, str]:
    """(prediction, model version) of the endpoint's body, or (None, the reason it is unusable)."""
    import json

    try:
        answer = json.loads(body)
    except ValueError:
        return None, f"MalformedModelResponse: not JSON; expected {EXPECTED_BODY}"
    problem = _model_answer_problem(answer)
    if problem:
        return None, f"MalformedModelResponse: {problem}; expected {EXPECTED_BODY}"
    prediction = answer["predictions"][0]
    return {"score": float(prediction["score"]), "reasons": list(prediction.get("reasons") or [])}, \
        answer["model_version"]


def _model_answer_problem(answer: Any) -> str | None:
    if not isinstance(answer, dict):
        return "(body): not an object"
    version = answer.get("model_version")
    if not isinstance(version, str) or not 1 <= len(version) <= 256:
        return "model_version: a string of 1 to 256 characters is required"
    predictions = answer.get("predictions")
    if not isinstance(predictions, list) or not predictions:
        return "predictions: a non-empty list is required"
    first = predictions[0]
    score = first.get("score") if isinstance(first, dict) else None
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        return "predictions.0.score: a number in [0, 1] is required"
    reasons = first.get("reasons", [])
    if not isinstance(reasons, list) or len(reasons) > 20 or not all(
            isinstance(r, dict) and isinstance(r.get("feature"), str) and 1 <= len(r["feature"]) <= 128
            and isinstance(r.get("contribution"), int | float) for r in reasons):
        return "predictions.0.reasons: at most 20 {feature, value, contribution} objects are allowed"
    return None


class Steps:
    """Milliseconds per step of one decision (logged; an X-Ray subsegment each)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def step(self, name: str):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        with tracer.provider.in_subsegment(f"## {name}"):
            try:
                yield
            finally:
                self.ms[name] = round((time.perf_counter() - started) * 1000, 3)


def _failure(service: str, exc: BaseException) -> str:
    """A failure's name, as Step Functions names a service's errors (``SageMakerRuntime.ModelError``,
    ``DynamoDB.Timeout``), without its message (a message may quote request values)."""
    from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | TimeoutError):
        return f"{service}.Timeout"
    if isinstance(exc, ClientError):
        return f"{service}.{exc.response.get('Error', {}).get('Code', 'Error')}"
    return f"{service}.{type(exc).__name__}"


def _cut(deadline: Deadline | None, configured: int, call: str) -> tuple[dict[str, int], str | None]:
    """(the call's timeout keyword, or the fallback's reason when the deadline leaves it no time)."""
    if deadline is None:
        return {}, None
    left = deadline.left_ms()
    timeout = call_timeout(left, configured)
    if timeout == 0:
        return {}, f"Deadline.Exceeded ({max(left, 0):.0f} ms left of the request's latency budget for {call})"
    return {"timeout_ms": timeout}, None


def decide_request(body: Any, spec: dict[str, Any], io: DecisionIO, now: datetime,
                   steps: Steps | None = None, deadline: Deadline | None = None) -> dict[str, Any]:
    """The API answer to one request body: a 200 decision, a 400 or a 409 (never raises for I/O).

    With a ``deadline``, the feature read and InvokeEndpoint get no more than the time it leaves
    (on the timeout ladder); a call with no time left is not made: the fallback decides."""
    steps = steps or Steps()
    with steps.step("request"):
        try:
            request = parse_request(body, request_schema(spec))
            record = {name: request[name] for name in request if name != "request_id"}
            F.check_record(record, spec)
        except RequestError as exc:
            return exc.response()
        except F.FeatureError as exc:
            message = str(exc).split(": ", 1)[-1]
            return RequestError([{"field": exc.field, "message": message}], request.get("request_id")).response()
    error: str | None = None
    with steps.step("features"):
        configured = deadline.feature_ms if deadline else 0
        cut, error = _cut(deadline, configured, "the online features")
        try:
            model_input = _features(record, {} if error else io.read_items(record, **cut), spec)
        except Exception as exc:  # noqa: BLE001 - any failure of the read is the fallback's reason
            error = _failure("DynamoDB", exc) + " (online features" + _cut_note(cut, configured, exc) + ")"
            model_input = _features(record, {}, spec)
    prediction, model_version = None, "unavailable"
    if error is None:
        with steps.step("inference"):
            configured = deadline.inference_ms if deadline else 0
            cut, error = _cut(deadline, configured, "InvokeEndpoint")
            try:
                if error is None:
                    raw = io.invoke(model_input, str(request[spec["schema"]["id_column"]]), **cut)
                    prediction, answer = read_model_answer(raw)
                    model_version, error = (answer, None) if prediction else ("unavailable", answer)
            except Exception as exc:  # noqa: BLE001 - error, timeout: the fallback decides
                note = _cut_note(cut, configured, exc)
                error = _failure("SageMakerRuntime", exc) + (f" ({note[2:]})" if note else "")
    with steps.step("rules"):
        decision = _rules(request, model_input, spec, prediction, model_version, error)
    with steps.step("record"):
        response, item = response_and_item(request, decision, spec, now, unknown_entity=model_input["unknown_entity"],
                                           features=model_input)
        try:
            return record_once(io.log, request, response, item)
        except Conflict as conflict:
            return conflict.response()
        except Exception as exc:  # noqa: BLE001 - the decision still answers; its write is retried off the path
            queued = io.defer(item)
            logger.warning("decision not recorded in time", extra={"request_id": request["request_id"],
                                                                   "error": _failure("DynamoDB", exc),
                                                                   "queued": queued})
            return {**response, "recorded": False, "queued_for_recording": queued}


def _cut_note(cut: dict[str, int], configured: int, exc: BaseException) -> str:
    """What a timeout was, when the deadline cut it below the call's configured timeout."""
    from botocore.exceptions import ReadTimeoutError

    if not cut or cut["timeout_ms"] >= configured or not isinstance(exc, ReadTimeoutError | TimeoutError):
        return ""
    return f"; read timeout {cut['timeout_ms']} ms, cut to the request's deadline"


def _features(record: dict[str, Any], items: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    try:
        return F.derive_record_items(record, items, spec)
    except F.StaleState as exc:
        # The table still holds older feature definitions (the backfill has not run since the
        # team file changed): serve the defaults, flagged, rather than fail the decision.
        logger.warning("online features of other definitions; serving defaults", extra={"error": str(exc)})
        metrics.add_metric(name="StaleFeatureStates", unit=MetricUnit.Count, value=1)
        return F.derive_record_items(record, {}, spec)


def _rules(request: dict[str, Any], model_input: dict[str, Any], spec: dict[str, Any],
           prediction: dict[str, Any] | None, model_version: str, error: str | None) -> dict[str, Any]:
    score = None if prediction is None else prediction["score"]
    codes = [] if prediction is None else prediction["reasons"]
    try:
        return policy.decide(request, model_input, spec, score=score, model_version=model_version, error=error,
                             reason_codes=codes, version_of=_policy_hash(spec))
    except Exception as exc:  # noqa: BLE001 - a rule that cannot be applied: the fallback decides
        fallback = (spec.get("realtime") or {}).get("fallback_decision", policy.DEFAULT_FALLBACK)
        reason = f"rules_error: {_failure('Rules', exc)}; fallback decision {fallback}"
        return {"decision": fallback, "reasons": [reason],
                "reason_codes": [], "decided_by": "fallback", "score": score, "model_version": model_version,
                "policy_version": None, "fallback": True}


_hashes: dict[int, tuple[dict[str, Any], str]] = {}


def _policy_hash(spec: dict[str, Any]) -> str:
    """The policy's hash, once per spec object (the bundled team.json is loaded once)."""
    known = _hashes.get(id(spec))
    if known is None or known[0] is not spec:
        known = _hashes[id(spec)] = (spec, policy.policy_hash(spec))
    return known[1]


_io: DecisionIO | None = None
if all(os.environ.get(name) for name in ("FEATURE_TABLE", "DECISIONS_TABLE", "ENDPOINT_NAME")):
    # At init, as Lambda best practice has it: the clients' set-up is not any request's time
    # (nor counted against the function's timeout).
    _io = DecisionIO(team_spec())


def _decision_io(spec: dict[str, Any]) -> DecisionIO:
    global _io
    if _io is None:
        _io = DecisionIO(spec)
    return _io


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Express workflow task: ``{"body": <request>, "request_time_epoch_ms"?}`` → the API answer
    (200, 400 or 409, with its status)."""
    spec = team_spec()
    io = _decision_io(spec)  # built at init in Lambda; here only when the environment came later
    steps = Steps()
    deadline = Deadline.of(event, clock_ms())
    if deadline.note:
        logger.warning("request time not used for the deadline", extra={"why": deadline.note})
    answer = decide_request(event.get("body"), spec, io, datetime.now(UTC), steps, deadline)
    status = answer.get("status")
    if status == 400:
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
        # Field names only: the messages quote the values sent, which may be card data.
        logger.info("rejected request", extra={"request_id": answer.get("request_id"),
                                               "fields": [e["field"] for e in answer.get("errors", [])]})
        return answer
    if status == 409:
        metrics.add_metric(name="ReplayConflicts", unit=MetricUnit.Count, value=1)
        logger.warning("request id reused with other content: 409, nothing performed",
                       extra={"request_id": answer["request_id"], "fields": answer["fields"]})
        return answer
    with single_metric(name=DECISIONS_METRIC, unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name=DECISION_DIMENSION, value=answer["decision"])
    if answer.get("fallback"):
        with single_metric(name="InferenceErrors", unit=MetricUnit.Count, value=1):
            pass
    if answer.get("unknown_entity"):
        metrics.add_metric(name="UnknownEntities", unit=MetricUnit.Count, value=1)
    logger.info("decision", extra={"request_id": answer["request_id"], "decision": answer["decision"],
                                   "score": answer["score"], "decided_by": answer.get("decided_by"),
                                   "reasons": [r["feature"] for r in answer.get("reason_codes", [])],
                                   "recorded": answer.get("recorded", True), "steps_ms": steps.ms})
    return answer

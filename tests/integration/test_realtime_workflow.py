"""The decision API offline: outcomes and reason codes, bad input, size limits, replays and
409s, the decision outbox, endpoint failures, what reaches the logs, local serve.

Product tests. Every request goes through the realtime stack's synthesised API Gateway
resources (``mdlc.harness.apigateway``: validator and model, VTL templates, integration
and gateway responses) into the Express workflow, which runs with the real handlers, the
real inference script behind the endpoint (a model the training workflow produced) and
the team's rules from models/fraud-detection.yaml. Decision events reach the bus through
the decisions table's stream and the relay Lambda, delivered by the harness as an event
source mapping would.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import urllib.request
from contextlib import contextmanager

import pytest

from mdlc.commands.realtime import make_server
from mdlc.names import team_resource
from stacks.realtime.names import decision_bus, endpoint_name

from .realtime_support import (
    TEAM,
    RealtimeTeam,
    _feature_table,
    decide,
    decision_items,
    deploy,
    install_model,
    post,
    request,
    run_workflow,
    trained_model,
)


@pytest.fixture(scope="module")
def team():
    model = trained_model()
    with RealtimeTeam(TEAM) as local:
        arn = install_model(local, model)[0]
        assert deploy(local, arn).succeeded
        local.customer = model.known_customer
        local.events_queue = _subscribe_to_decisions(local)
        yield local


def _subscribe_to_decisions(team) -> str:
    """An SQS queue receiving every event on the team's decision bus (what a consumer sees)."""
    sqs, events = team.client("sqs"), team.client("events")
    url = sqs.create_queue(QueueName="decision-consumer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all-decisions", EventBusName=decision_bus(TEAM),
                    EventPattern=json.dumps({"source": [f"mdlc.{TEAM}"]}))
    events.put_targets(Rule="all-decisions", EventBusName=decision_bus(TEAM), Targets=[{"Id": "q", "Arn": arn}])
    return url


def published(team, request_id: str) -> list[dict]:
    sqs = team.client("sqs")
    while True:
        batch = sqs.receive_message(QueueUrl=team.events_queue, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            break
        for message in batch:
            event = json.loads(message["Body"])
            team.seen_events = getattr(team, "seen_events", []) + [event]
            sqs.delete_message(QueueUrl=team.events_queue, ReceiptHandle=message["ReceiptHandle"])
    return [e for e in getattr(team, "seen_events", []) if e["detail"]["request_id"] == request_id]


def recorded(team, request_id: str) -> list[dict]:
    return [i for i in decision_items(team) if i["request_id"]["S"] == request_id]


# ---------------------------------------------------------------------------- outcomes
def test_an_ordinary_purchase_of_a_known_customer_is_approved_by_the_score(team):
    answer = decide(team, request("ok-1", team.customer))

    assert answer["status"] == 200 and answer["decision"] == "APPROVE"
    assert 0 <= answer["score"] < 0.30 and answer["reasons"][0].startswith("score_band:")
    assert answer["model_version"].startswith(team_resource(TEAM, "train-")) and answer["unknown_entity"] is False
    assert answer["request_id"] == "ok-1" and answer["transaction_id"] == "T-ok-1"
    assert answer["decided_by"] == "score_band"
    assert len(recorded(team, "ok-1")) == 1 and len(published(team, "ok-1")) == 1


def test_every_decision_returns_and_records_the_models_reason_codes(team):
    answer = decide(team, request("why-1", team.customer, channel="online", country="NG", amount=900.0))

    codes = answer["reason_codes"]
    assert len(codes) == 3  # realtime.reason_codes of the team file
    assert all(set(c) == {"feature", "value", "contribution"} for c in codes)
    assert [abs(c["contribution"]) for c in codes] == sorted((abs(c["contribution"]) for c in codes), reverse=True)
    sent = {"channel": "online", "country": "NG", "amount": 900.0}
    assert all(c["value"] == sent[c["feature"]] for c in codes if c["feature"] in sent)  # values as sent
    item = recorded(team, "why-1")[0]
    assert json.loads(item["reason_codes"]["S"]) == codes and item["decided_by"]["S"] == answer["decided_by"]
    assert published(team, "why-1")[0]["detail"]["reason_codes"] == codes


def test_an_amount_over_the_limit_goes_to_review_with_the_rule_as_reason(team):
    answer = decide(team, request("big-1", team.customer, amount=12_000.0))

    assert answer["decision"] == "REVIEW"
    assert any(r.startswith("amount_limit:") for r in answer["reasons"])
    if answer["score"] < 0.30:  # the rule, not the band, made it a review
        assert answer["decided_by"] == "hard_rule:amount_limit"
    assert answer["reason_codes"]  # the model's reasons come with a rule's decision too


def test_a_denied_customer_is_declined_and_a_trusted_one_approved(team):
    denied = decide(team, request("deny-1", "C-BLOCKED-0001"))
    trusted = decide(team, request("allow-1", "C-TRUSTED-0001", amount=12_000.0))

    assert denied["decision"] == "DECLINE" and denied["reasons"][0].startswith("deny_list:")
    assert trusted["decision"] == "APPROVE" and trusted["reasons"][0].startswith("allow_list:")
    assert (denied["decided_by"], trusted["decided_by"]) == ("deny_list:customer_id", "allow_list:customer_id")
    assert denied["unknown_entity"] is True  # not in the feature table: defaults, no failure


def test_a_high_score_is_declined_by_the_score_band(team):
    # Account-takeover pattern of the synthetic data: online, far above the usual amount, at night, abroad.
    answers = [decide(team, request(f"risky-{i}", team.customer, channel="online", merchant_category="electronics",
                                    country=country, amount=amount, event_time="2026-03-01T03:10:00Z"))
               for i, (country, amount) in enumerate([("NG", 4000.0), ("BR", 6000.0), ("NG", 9000.0)])]

    declined = [a for a in answers if a["decision"] == "DECLINE"]
    assert declined, [(a["score"], a["decision"]) for a in answers]
    assert all(a["score"] >= 0.85 and a["reasons"][0].startswith("score_band:") for a in declined)


# --------------------------------------------------------------------------- bad input
BAD_REQUESTS = [
    ("malformed JSON", '{"request_id": "bad-1", "amount": ', "(body)", "not valid JSON"),
    ("missing ids", {"amount": 5.0}, "request_id", "missing"),
    ("wrong type", "AMOUNT_AS_TEXT", "amount", "expected number"),
    ("out of range", "NEGATIVE_AMOUNT", "amount", "at least 0"),
    ("unknown category", "CRYPTO", "merchant_category", "expected one of"),
    ("unknown field", "EXTRA_FIELD", "coupon", "unknown field"),
    ("nested object", "NESTED", "amount", "got an object"),
    ("deeply nested body", "[" * 5000 + "]" * 5000, "(body)", "expected at most 8192"),
    ("oversized body", "OVERSIZED", "(body)", "expected at most 8192"),
    ("not an object", "[1, 2, 3]", "(body)", "expected a JSON object"),
    ("bad timestamp", "BAD_TIME", "event_time", "expected a value matching"),
]


def _bad_body(kind, team, request_id):
    base = request(request_id, team.customer)
    variants = {
        "AMOUNT_AS_TEXT": {**base, "amount": "12.50"},
        "NEGATIVE_AMOUNT": {**base, "amount": -3.0},
        "CRYPTO": {**base, "merchant_category": "crypto"},
        "EXTRA_FIELD": {**base, "coupon": "SAVE10"},
        "NESTED": {**base, "amount": {"value": {"value": {"value": 5}}}},
        "OVERSIZED": {**base, "transaction_id": "T" * 9000},
        "BAD_TIME": {**base, "event_time": "yesterday"},
    }
    if isinstance(kind, dict):
        return json.dumps(kind)
    return json.dumps(variants[kind]) if kind in variants else kind


def _executions(team) -> int:
    sfn = team.client("stepfunctions")
    return len(sfn.list_executions(stateMachineArn=team.state_machine_arn("decision"))["executions"])


@pytest.mark.parametrize(("case", "body", "field", "message"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_a_request_the_model_rejects_is_a_json_400_from_the_api_and_no_workflow_runs(team, case, body, field,
                                                                                       message):
    before, runs = len(decision_items(team)), _executions(team)
    request_id = f"bad-{case.replace(' ', '-')}"

    response = post(team, _bad_body(body, team, request_id))

    assert response.status == 400 and response.source == "BAD_REQUEST_BODY", response.body
    answer = response.json()
    assert answer["error"] == "invalid request" and answer["message"] == "Invalid request body"
    first = answer["errors"][0]
    assert first["field"] == "(body)" and "FraudDetectionDecisionRequest" in first["message"]
    assert answer["api_request_id"] == response.headers["x-amzn-RequestId"]
    assert _executions(team) == runs and len(decision_items(team)) == before
    assert published(team, request_id) == []


@pytest.mark.parametrize(("case", "body", "field", "message"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_the_workflows_own_check_names_the_field_for_direct_callers(team, case, body, field, message):
    # StartSyncExecution without the API (another AWS workload may call the workflow directly).
    before = len(decision_items(team))
    request_id = f"direct-{case.replace(' ', '-')}"

    answer = run_workflow(team, _bad_body(body, team, request_id))

    assert answer["status"] == 400, answer
    fields = {e["field"]: e["message"] for e in answer["errors"]}
    assert field in fields and message in fields[field], answer["errors"]
    assert len(decision_items(team)) == before


def test_a_body_over_the_size_limit_is_a_413_before_any_workflow_starts(team):
    padded = json.dumps(request("big-body-1", team.customer)) + " " * 9000  # valid for the model, too long
    runs = _executions(team)

    response = post(team, padded)

    assert response.status == 413, response.body
    answer = response.json()
    assert answer["error"] == "request too large" and "8192" in answer["message"]
    assert _executions(team) == runs and recorded(team, "big-body-1") == []


def test_a_body_over_api_gateways_payload_limit_is_its_413(team):
    response = post(team, b"{" + b" " * (10 * 1024 * 1024) + b"}")

    assert response.status == 413 and response.source == "REQUEST_TOO_LARGE"
    assert response.json()["error"] == "request too large"


HOSTILE = ['it\'s "quoted"', "back\\slash \\\" end", "</script><script>alert(1)</script>", "tab\tnew\nline\u0000",
           "ünïcödé 💳 \u2028", "${jndi:ldap://x}", "#set($x = 1)$context.requestId", "\\'", "'\"'\"'"]


@pytest.mark.parametrize("value", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_text_in_a_valid_request_survives_the_mapping_templates_unchanged(team, value):
    response = post(team, request(f"hostile-{HOSTILE.index(value)}", team.customer, transaction_id=value))

    if re.fullmatch(r"[!-~][ -~]*", value):  # an id SageMaker takes as InferenceId
        assert response.status == 200, response.body
        assert response.json()["transaction_id"] == value  # the body reached the workflow intact, as JSON
    else:  # control characters or non-ASCII: the API's own 400, naming the field, as JSON
        assert response.status == 400, response.body
        assert [e["field"] for e in response.json()["errors"]] in (["transaction_id"], ["(body)"])


@pytest.mark.parametrize("value", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_text_in_a_rejected_request_still_gets_a_json_400(team, value):
    response = post(team, json.dumps({"request_id": "h", value: value}))

    assert response.status == 400 and response.json()["status"] == 400


def test_a_decision_function_that_fails_is_answered_with_the_fallback_decision_not_a_500(team):
    """Product: Lambda cannot run the decision function (its service fails the invoke); the
    workflow's catch answers the team's fallback decision, unrecorded, within the client's
    timeout, never an error."""
    team.aws.inject_fault("lambda", "Invoke", "ServiceException", message="injected", status_code=500)

    response = post(team, request("fails-1", team.customer))

    assert response.status == 200, response.body
    answer = response.json()
    assert answer["fallback"] is True and answer["decision"] == "REVIEW" and answer["recorded"] is False
    assert answer["request_id"] == "fails-1" and answer["transaction_id"] == "T-fails-1"
    assert answer["reasons"][0].startswith("decision_unavailable: ") and answer["decided_by"] == "fallback"
    assert recorded(team, "fails-1") == []
    assert not team.aws.faults.pending


@pytest.mark.parametrize("case", ["body as JSON text", "body without request_id", "body without the event id",
                                  "body text not an object"])
def test_a_direct_caller_whose_decision_function_fails_gets_an_answer_never_a_runtime_failure(team, case):
    """Product: StartSyncExecution without the API (the body as JSON text, or an object missing an
    id) while Lambda fails the decision function: the workflow's fallback path still answers, a 200
    fallback decision naming the request, or a 400 naming the missing field; never States.Runtime."""
    base = request(f"direct-fails-{case.split()[-1]}", team.customer)
    body = {"body as JSON text": json.dumps(base), "body text not an object": "[1, 2]",
            "body without request_id": {k: v for k, v in base.items() if k != "request_id"},
            "body without the event id": {k: v for k, v in base.items() if k != "transaction_id"}}[case]
    team.aws.inject_fault("lambda", "Invoke", "ServiceException", message="injected", status_code=500)

    response = team.aws.run_sync(team.state_machine_arn("decision"), {"body": body}, timeout=120)

    assert response["status"] == "SUCCEEDED", response
    answer = json.loads(response["output"])
    if case == "body as JSON text":
        assert answer["status"] == 200 and answer["fallback"] is True and answer["decision"] == "REVIEW"
        assert answer["request_id"] == base["request_id"] and answer["transaction_id"] == base["transaction_id"]
        assert answer["reasons"][0].startswith("decision_unavailable: ")
    else:
        field = {"body without request_id": "request_id", "body without the event id": "transaction_id",
                 "body text not an object": "(body)"}[case]
        assert answer["status"] == 400 and answer["error"] == "invalid request"
        assert [e["field"] for e in answer["errors"]] == [field]
    assert not team.aws.faults.pending


def test_an_unknown_route_is_a_json_403_like_aws(team):
    response = team.gateway.invoke("POST", "/v1/nope", "{}")

    assert response.status == 403 and response.json()["error"] == "not found or not signed"


# ------------------------------------------------------------------------------ replay
def test_a_replayed_request_returns_the_first_decision_and_acts_once(team):
    first = decide(team, request("replay-1", team.customer, amount=20.0))
    again = decide(team, request("replay-1", team.customer, amount=20.0))

    assert again == first
    assert len(recorded(team, "replay-1")) == 1
    assert len(published(team, "replay-1")) == 1


def test_the_same_request_id_with_other_content_is_a_409_naming_the_fields_and_does_nothing(team):
    first = decide(team, request("replay-2", team.customer, amount=20.0))
    conflict = decide(team, request("replay-2", team.customer, amount=15_000.0, country="FR"))
    again = decide(team, request("replay-2", team.customer, amount=20.0))

    assert conflict["status"] == 409 and conflict["error"] == "conflict"
    assert conflict["fields"] == ["amount", "country"] and "amount, country" in conflict["message"]
    assert again == first  # the first decision stands
    assert len(recorded(team, "replay-2")) == 1 and len(published(team, "replay-2")) == 1
    item = recorded(team, "replay-2")[0]
    assert json.loads(item["request"]["S"])["amount"] == 20.0


def test_the_decisions_table_alone_answers_replays_and_409s(team):
    """The decisions table is the one idempotency record (no second table on the path): same 409,
    same first decision."""
    first = decide(team, request("replay-3", team.customer, amount=20.0))
    assert not [r for r in team.resources.of_type("AWS::DynamoDB::Table") if "Idempotency" in r.logical_id]

    conflict = decide(team, request("replay-3", team.customer, amount=99.0))
    again = decide(team, request("replay-3", team.customer, amount=20.0))

    assert conflict["status"] == 409 and conflict["fields"] == ["amount"]
    assert again == first and len(published(team, "replay-3")) == 1


# ------------------------------------------------------------------------------ outbox
def test_a_failed_publish_is_retried_from_the_stream_and_the_event_arrives_once(team):
    team.aws.inject_fault("events", "PutEvents", "InternalException", times=2)

    answer = decide(team, request("outbox-1", team.customer))

    assert answer["status"] == 200  # the caller never sees the bus
    assert len(recorded(team, "outbox-1")) == 1
    events = published(team, "outbox-1")
    assert len(events) == 1 and events[0]["detail"]["decision"] == answer["decision"]
    assert events[0]["detail"]["request"]["transaction_id"] == "T-outbox-1"


def test_a_publish_that_keeps_failing_lands_in_the_dead_letter_queue_not_lost(team):
    from stacks.realtime.decisions import RELAY_RETRY_ATTEMPTS

    team.aws.inject_fault("events", "PutEvents", "InternalException", times=RELAY_RETRY_ATTEMPTS + 1)
    decide(team, request("outbox-2", team.customer))

    sqs = team.client("sqs")
    url = sqs.get_queue_url(QueueName=team_resource(TEAM, "decision-events-dlq"))["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert published(team, "outbox-2") == []
    info = json.loads(messages[0]["Body"])["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and ":table/" in info["streamArn"]
    assert recorded(team, "outbox-2")[0]["response"]  # the decision itself is kept in the table
    decide(team, request("outbox-3", team.customer))  # the stream moves on
    assert len(published(team, "outbox-3")) == 1


def test_a_decision_the_table_did_not_take_in_time_is_recorded_off_the_path_and_published(team):
    """The decision function's write fails (both of its tries): the client gets the decision
    with ``recorded: false``, the item goes to the KMS-encrypted decision-records queue, and
    its event source mapping (polling as record_decisions' role) writes it, so the outbox
    stream publishes it once, as for any decision."""
    team.aws.inject_fault("dynamodb", "PutItem", "ProvisionedThroughputExceededException", times=2)

    answer = decide(team, request("deferred-1", team.customer))

    assert answer["status"] == 200 and answer["recorded"] is False and answer["queued_for_recording"] is True
    assert not team.aws.faults.pending
    item = recorded(team, "deferred-1")
    assert len(item) == 1 and json.loads(item[0]["response"]["S"])["decision"] == answer["decision"]
    assert len(published(team, "deferred-1")) == 1
    sqs = team.client("sqs")
    for name in ("decision-records", "decision-records-dlq"):
        url = sqs.get_queue_url(QueueName=team_resource(TEAM, name))["QueueUrl"]
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"]["ApproximateNumberOfMessages"] == "0", name


# ------------------------------------------------------------------- endpoint failures
def test_an_endpoint_that_hangs_gets_the_fallback_decision_within_the_budget(team):
    """Product (and the harness honouring the client's read timeout, on its emulated AWS clock):
    an endpoint that would answer in 30 s is given up at the request's deadline (API Gateway's
    request time + realtime.latency_budget_ms − the reserve for the rules, the write and the return
    legs), below realtime.inference_timeout_ms; the answer is the team's fallback decision, recorded
    and published, and the deadline plus the reserve is within the budget."""
    import time

    from mdlc.harness import clock

    realtime = team.team.realtime
    reserve = _deadline_reserve(team)
    waits, given_up = len(team.aws.endpoints.waits), len(team.aws.endpoints.given_up)
    team.aws.break_endpoint(endpoint_name(TEAM), None, hang_seconds=30)
    started, emulated = time.monotonic(), clock.now_ms()
    try:
        answer = decide(team, request("hang-1", team.customer))
    finally:
        team.aws.repair_endpoint(endpoint_name(TEAM))
    elapsed, emulated = time.monotonic() - started, clock.now_ms() - emulated

    assert answer["status"] == 200 and answer["fallback"] is True and answer["decision"] == "REVIEW"
    assert answer["reasons"][0].startswith("model_unavailable: SageMakerRuntime.Timeout (read timeout ")
    assert "cut to the request's deadline" in answer["reasons"][0]
    assert team.aws.endpoints.waits[waits:] == []  # the call was given up, not waited out
    [timeout] = team.aws.endpoints.given_up[given_up:]
    assert timeout * 1000 < realtime.inference_timeout_ms  # the deadline, not the fixed timeout
    assert emulated + reserve <= realtime.latency_budget_ms, (emulated, reserve)  # answered within the budget
    assert elapsed < realtime.client_timeout_ms / 1000, elapsed  # never the API's timeout
    assert len(recorded(team, "hang-1")) == 1 and len(published(team, "hang-1")) == 1


def _deadline_reserve(team) -> int:
    """The decision function's DEADLINE_RESERVE_MS, as the synthesised template sets it."""
    function = next(r for r in team.resources.of_type("AWS::Lambda::Function") if "DecideFunction" in r.logical_id)
    config = team.client("lambda").get_function_configuration(FunctionName=function.ref)
    return int(config["Environment"]["Variables"]["DEADLINE_RESERVE_MS"])


def test_a_retry_storm_cannot_push_the_answer_past_the_client_timeout(team):
    """Product: the endpoint throttles every call and DynamoDB every feature read; the decision
    function retries nothing it has no time for, and the answer (the fallback) comes back long
    before the client's timeout."""
    import time

    team.aws.inject_fault("dynamodb", "BatchGetItem", "ProvisionedThroughputExceededException", times=5)
    fault = team.aws.faults.pending[-1]
    started = time.monotonic()
    try:
        answer = decide(team, request("storm-1", team.customer))
    finally:
        left, fault.times = fault.times, 1
        team.aws.client("dynamodb").batch_get_item(RequestItems={_feature_table(team): {"Keys": [
            {team.team.schema.entity_key: {"S": "nobody"}}]}}) if left else None  # use up the rest
    elapsed = time.monotonic() - started

    assert left == 4  # one attempt: no retry inside the synchronous path
    assert answer["status"] == 200 and answer["fallback"] is True
    assert "DynamoDB.ProvisionedThroughputExceededException" in answer["reasons"][0]
    assert elapsed < team.team.realtime.client_timeout_ms / 1000, elapsed


@pytest.mark.parametrize("timeout", [False, True], ids=["model error", "timeout"])
def test_an_endpoint_failure_gives_the_fallback_decision_and_still_one_action(team, timeout):
    request_id = f"down-{timeout}"
    team.aws.break_endpoint(endpoint_name(TEAM), "container crashed", timeout=timeout)
    try:
        answer = decide(team, request(request_id, team.customer))
    finally:
        team.aws.repair_endpoint(endpoint_name(TEAM))

    assert answer["status"] == 200 and answer["decision"] == "REVIEW"  # realtime.fallback_decision
    assert answer["fallback"] is True and answer["score"] is None and answer["model_version"] == "unavailable"
    assert answer["reasons"][0].startswith("model_unavailable: SageMakerRuntime.ModelError")
    assert answer["decided_by"] == "fallback" and answer["reason_codes"] == []
    assert len(recorded(team, request_id)) == 1 and len(published(team, request_id)) == 1


def test_the_endpoint_answers_a_malformed_payload_with_400_through_the_images_serving_stack(team):
    """The deployed model behind the image's serving stack (its runtime, its toolkit): a bad
    payload is the container's 400 (serve.transform_fn), relayed as ModelError, not a 500."""
    from botocore.exceptions import ClientError

    runtime = team.client("sagemaker-runtime")
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName=endpoint_name(TEAM), ContentType="application/json",
                                Body=json.dumps({"amount": "a lot"}))
    error = caught.value.response
    assert error["Error"]["Code"] == "ModelError" and error["OriginalStatusCode"] == 400
    assert "Received client error (400)" in error["Error"]["Message"]
    assert "invalid request" in error["OriginalMessage"]
    served = [r for r in team.aws.jobs._models._models.values()]
    assert served and all(m.runtime.name.startswith("xgboost-") for m in served)


MALFORMED = [
    ("no predictions", b'{"model_version": "v1"}', "predictions: a non-empty list is required"),
    ("empty predictions", b'{"model_version": "v1", "predictions": []}', "predictions"),
    ("not JSON", b"<html>502 Bad Gateway</html>", "not JSON"),
    ("score out of range", b'{"model_version": "v1", "predictions": [{"score": 7}]}', "predictions.0.score"),
    ("empty body", b"", "not JSON"),
]


@pytest.mark.parametrize(("case", "body", "why"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_model_answer_gives_the_fallback_decision_not_a_500(team, case, body, why):
    request_id = f"malformed-{case.replace(' ', '-')}"
    team.aws.break_endpoint(endpoint_name(TEAM), body=body)
    try:
        answer = decide(team, request(request_id, team.customer))
    finally:
        team.aws.repair_endpoint(endpoint_name(TEAM))

    assert answer["status"] == 200 and answer["fallback"] is True and answer["decision"] == "REVIEW"
    assert answer["reasons"][0].startswith("model_unavailable: MalformedModelResponse") and why in answer["reasons"][0]
    assert len(recorded(team, request_id)) == 1 and len(published(team, request_id)) == 1


# -------------------------------------------------------------------------------- logs
@contextmanager
def handler_logs(team_name):
    """What the team's Lambda handlers write through their Powertools loggers (Lambda's stdout)."""
    buffer = io.StringIO()
    swapped = []
    for name, found in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(found, logging.Logger) and name.startswith(f"{team_name}-"):
            # The handlers hold the stdout of whichever test first loaded them (pytest may have
            # closed it since): swap the stream without setStream's flush of the old one.
            for handler in found.handlers:
                if isinstance(handler, logging.StreamHandler):
                    swapped.append((handler, handler.stream))
                    handler.stream = buffer
    try:
        yield buffer
    finally:
        for handler, stream in swapped:
            handler.stream = stream


def test_no_request_field_value_reaches_the_handler_logs(team, capsys):
    """Product: what the decision Lambdas log (JSON logs) and print (EMF metrics) for a decision,
    a 400, a 409 and a fallback."""
    decide(team, request("logcheck-0", team.customer))  # every decision handler is loaded
    values = {"transaction_id": "T-LOGCHECK-5521", "amount": 4321.87, "event_time": "2026-03-01T14:31:07Z",
              "merchant_category": "electronics", "channel": "online", "country": "BR"}
    capsys.readouterr()
    with handler_logs(TEAM) as logged:
        decide(team, request("logcheck-1", team.customer, **values))
        decide(team, request("logcheck-2", team.customer, **{**values, "amount": "4321.87"}))  # a 400
        decide(team, request("logcheck-1", team.customer, **{**values, "amount": 1234.56}))  # a 409
        team.aws.break_endpoint(endpoint_name(TEAM), body=b'{"model_version": "v1"}')
        try:
            decide(team, request("logcheck-3", team.customer, **values))  # the fallback
        finally:
            team.aws.repair_endpoint(endpoint_name(TEAM))
    log = logged.getvalue() + capsys.readouterr().out

    compact = log.replace(" ", "")
    for seen in ('"request_id":"logcheck-1"', '"decision":', '"fields":["amount"]', '"request_id":"logcheck-3"',
                 '"Decisions":[1.0]'):
        assert seen in compact, f"{seen} not logged: the check would be vacuous"
    for text in ("T-LOGCHECK-5521", "4321.87", "1234.56", "14:31:07", "electronics", '"BR"', team.customer):
        assert text not in log, f"{text!r} reached the handler logs"


# ------------------------------------------------------------------------ data capture
def test_scored_requests_are_captured_in_sagemaker_format(team):
    for i in range(10):
        decide(team, request(f"capture-{i}", team.customer))

    s3 = team.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=team.bucket("cap"), Prefix="datacapture/")["Contents"]]
    assert keys and all(k.startswith(f"datacapture/{endpoint_name(TEAM)}/AllTraffic/") for k in keys)
    line = json.loads(s3.get_object(Bucket=team.bucket("cap"), Key=keys[-1])["Body"].read().splitlines()[0])
    assert set(line["captureData"]) == {"endpointInput", "endpointOutput"}
    assert line["captureData"]["endpointInput"]["encoding"] == "JSON"
    assert "predictions" in json.loads(line["captureData"]["endpointOutput"]["data"])
    assert {"eventId", "inferenceTime"} <= set(line["eventMetadata"])


def test_a_served_decisions_capture_record_carries_its_policy_version(team):
    """Product: data capture records the endpoint's request and response only; the request
    carries the deciding policy's hash (the ``instances`` envelope), the response the model
    version, and together they are the policy version the API answered and the decisions
    table recorded, so captured traffic groups by policy version."""
    s3 = team.client("s3")
    prefix = f"datacapture/{endpoint_name(TEAM)}/"
    before = {o["Key"] for o in s3.list_objects_v2(Bucket=team.bucket("cap"), Prefix=prefix).get("Contents", [])}

    # data_capture_percent is 20: five requests give the capture at least one of them.
    answers = {f"T-capture-policy-{i}": decide(team, request(f"capture-policy-{i}", team.customer))
               for i in range(5)}

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=team.bucket("cap"), Prefix=prefix)["Contents"]
            if o["Key"] not in before]
    lines = [json.loads(line) for key in keys
             for line in s3.get_object(Bucket=team.bucket("cap"), Key=key)["Body"].read().splitlines()]
    events = [e for e in lines if e["eventMetadata"].get("inferenceId") in answers]
    assert events
    for event in events:
        answer = answers[event["eventMetadata"]["inferenceId"]]
        sent = json.loads(event["captureData"]["endpointInput"]["data"])
        answered = json.loads(event["captureData"]["endpointOutput"]["data"])
        table = recorded(team, answer["request_id"])[0]["policy_version"]["S"]

        assert answer["fallback"] is False and answer["policy_version"] == table
        assert f"{sent['policy_hash']}/{answered['model_version']}" == answer["policy_version"]
        assert answered["policy_version"] == answer["policy_version"]  # this model's code echoes it
        assert sent["instances"][0]["amount"] == 42.5  # the model input, as the record it always was


# -------------------------------------------------------------------------- local serve
def test_local_serve_answers_the_example_request_and_rejects_malformed_ones(team):
    from examples.fraud_client import LocalClient

    server = make_server(team, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = LocalClient(f"http://127.0.0.1:{server.server_port}")
        example = json.loads(open("examples/decision-request.json").read())
        status, body = client.decide(example)
        bad_status, bad = client.decide('{"request_id": ')
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/nope", data=b"{}")
    finally:
        server.shutdown()
        server.server_close()

    assert status == 200 and body["decision"] in ("APPROVE", "REVIEW", "DECLINE")
    assert body["request_id"] == example["request_id"]
    # local serve delivers the feature stream after each request: the next decision of this
    # customer sees the transaction
    item = team.client("dynamodb").get_item(TableName=_feature_table(team),
                                            Key={"customer_id": {"S": example["customer_id"]}})["Item"]
    assert example["transaction_id"] in [e[0] for e in json.loads(item["state"]["S"])["events"]]
    assert bad_status == 400 and bad["errors"][0]["field"] == "(body)"
    assert missing.value.code == 403 and json.loads(missing.value.read())["error"] == "not found or not signed"

"""The decision API offline: outcomes, bad input, size limits, replay, failures, local serve.

Product tests. Every request goes through the realtime stack's synthesised API Gateway
resources (``mdlc.harness.apigateway``: validator and model, VTL templates, integration
and gateway responses) into the Express workflow, which runs with the real handlers, the
real inference script behind the endpoint (a model the training workflow produced) and
the team's rules from models/fraud-detection.yaml.
"""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from mdlc.commands.realtime import make_server
from stacks.realtime.names import decision_bus, endpoint_name

from .realtime_support import (
    TEAM,
    RealtimeTeam,
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
    assert answer["model_version"].startswith(f"{TEAM}-train-") and answer["unknown_entity"] is False
    assert answer["request_id"] == "ok-1" and answer["transaction_id"] == "T-ok-1"
    assert len(recorded(team, "ok-1")) == 1 and len(published(team, "ok-1")) == 1


def test_an_amount_over_the_limit_goes_to_review_with_the_rule_as_reason(team):
    answer = decide(team, request("big-1", team.customer, amount=12_000.0))

    assert answer["decision"] == "REVIEW"
    assert any(r.startswith("amount_limit:") for r in answer["reasons"])


def test_a_denied_customer_is_declined_and_a_trusted_one_approved(team):
    denied = decide(team, request("deny-1", "C-BLOCKED-0001"))
    trusted = decide(team, request("allow-1", "C-TRUSTED-0001", amount=12_000.0))

    assert denied["decision"] == "DECLINE" and denied["reasons"][0].startswith("deny_list:")
    assert trusted["decision"] == "APPROVE" and trusted["reasons"][0].startswith("allow_list:")
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

    assert response.status == 200, response.body
    assert response.json()["transaction_id"] == value  # the body reached the workflow intact, as JSON


@pytest.mark.parametrize("value", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_text_in_a_rejected_request_still_gets_a_json_400(team, value):
    response = post(team, json.dumps({"request_id": "h", value: value}))

    assert response.status == 400 and response.json()["status"] == 400


def test_a_failed_workflow_is_a_json_500_with_the_api_request_id(team):
    team.aws.inject_fault("dynamodb", "GetItem", "AccessDeniedException", message="injected")

    response = post(team, request("fails-1", team.customer))

    assert response.status == 500, response.body
    answer = response.json()
    assert answer["error"] == "decision failed" and answer["api_request_id"] == response.headers["x-amzn-RequestId"]


def test_an_unknown_route_is_a_json_403_like_aws(team):
    response = team.gateway.invoke("POST", "/v1/nope", "{}")

    assert response.status == 403 and response.json()["error"] == "not found or not signed"


# ------------------------------------------------------------------------------ replay
def test_a_replayed_request_returns_the_first_decision_and_acts_once(team):
    first = decide(team, request("replay-1", team.customer, amount=20.0))
    again = decide(team, request("replay-1", team.customer, amount=15_000.0))  # same id, other content

    assert again == first
    assert len(recorded(team, "replay-1")) == 1
    assert len(published(team, "replay-1")) == 1


# ------------------------------------------------------------------- endpoint failures
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
    assert len(recorded(team, request_id)) == 1 and len(published(team, request_id)) == 1


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
    assert bad_status == 400 and bad["errors"][0]["field"] == "(body)"
    assert missing.value.code == 403 and json.loads(missing.value.read())["error"] == "not found or not signed"

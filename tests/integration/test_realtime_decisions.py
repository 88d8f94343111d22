"""The decision workflow offline: outcomes, bad input, idempotent replay, endpoint failure, local serve.

The Express workflow runs with the real handlers, the real inference script behind the
endpoint (a model the training workflow produced) and the team's rules from
models/fraud-detection.yaml.
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
    request,
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


@pytest.mark.parametrize(("case", "body", "field", "message"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_recorded(team, case, body, field, message):
    before = len(decision_items(team))
    request_id = f"bad-{case.replace(' ', '-')}"

    answer = decide(team, _bad_body(body, team, request_id))

    assert answer["status"] == 400, answer
    fields = {e["field"]: e["message"] for e in answer["errors"]}
    assert field in fields and message in fields[field], answer["errors"]
    assert len(decision_items(team)) == before
    assert published(team, request_id) == []


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
    assert missing.value.code == 404

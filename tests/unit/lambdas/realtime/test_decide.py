"""decide: one decision in one function (features, model, rules, the decision written last).

Product tests against moto: the calls the function makes are the ones the stack declares to
the latency model, every failure of features, endpoint or rules is the team's fallback
decision (never an error), a failed write still answers, replays and 409s.
"""

from __future__ import annotations

import json

import botocore.client
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from lambdas.shared.aws import client

FEATURES, DECISIONS = "fraud-detection-online-features", "fraud-detection-decisions"
ENDPOINT = "fraud-detection--endpoint"
MODEL_ANSWER = json.dumps({"model_version": "v7", "predictions": [{"score": 0.05, "reasons": [
    {"feature": "amount", "value": 950.0, "contribution": 0.4}]}]}).encode()


@pytest.fixture
def tables(aws, monkeypatch, handler):
    ddb = client("dynamodb")
    for table, key in ((FEATURES, "customer_id"), (DECISIONS, "request_id")):
        ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}])
    ddb.put_item(TableName=FEATURES, Item={
        "customer_id": {"S": "C-42"}, "txn_count_30d": {"N": "4"}, "amount_sum_30d": {"N": "160"},
        "amount_mean_90d": {"N": "40"}, "account_tenure_days": {"N": "50"}, "home_country": {"S": "GB"}})
    for key, value in {"FEATURE_TABLE": FEATURES, "DECISIONS_TABLE": DECISIONS, "ENDPOINT_NAME": ENDPOINT}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(handler, "_io", None)


@pytest.fixture
def endpoint(handler, monkeypatch, tables):
    """InvokeEndpoint answers MODEL_ANSWER (moto has no model); set ``endpoint.answer`` to change it."""
    calls = []

    class Endpoint:
        answer: bytes | Exception = MODEL_ANSWER
        timeouts: list[int | None] = []

    def invoke(self, features, inference_id, timeout_ms=None):
        calls.append((features, inference_id))
        Endpoint.timeouts.append(timeout_ms)
        if isinstance(Endpoint.answer, Exception):
            raise Endpoint.answer
        return Endpoint.answer

    monkeypatch.setattr(handler.DecisionIO, "invoke", invoke)
    Endpoint.calls = calls
    return Endpoint


def test_one_decision_makes_exactly_the_calls_the_stack_declares(handler, event, context, tables, monkeypatch):
    """The latency model reads DECIDE_CALLS from the template: they must be what the handler does.
    (The stack needs aws_cdk, which the Lambda runtime's virtualenv does not have: skipped there.)"""
    pytest.importorskip("aws_cdk")
    from stacks.realtime.decisions import DECIDE_CALLS

    made = []
    original = botocore.client.BaseClient._make_api_call

    def record(self, operation, params):
        made.append(f"{self.meta.service_model.signing_name}:{operation}")
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    handler.handler(event, context)

    assert made == list(DECIDE_CALLS)


def test_a_known_customer_is_decided_by_the_score_and_recorded_with_its_features(handler, event, context, endpoint):
    answer = handler.handler(event, context)

    assert answer["status"] == 200 and answer["fallback"] is False and answer["model_version"] == "v7"
    assert answer["reason_codes"][0]["feature"] == "amount" and answer["unknown_entity"] is False
    features, inference_id = endpoint.calls[0]
    assert features["txn_count_30d"] == 4 and inference_id == "T-0001"
    item = client("dynamodb").get_item(TableName=DECISIONS, Key={"request_id": {"S": "req-0001"}})["Item"]
    assert json.loads(item["features"]["S"])["txn_count_30d"] == 4
    assert "features" not in answer  # the model input is recorded, never returned


@pytest.mark.parametrize("failure, reason", [
    (ReadTimeoutError(endpoint_url="https://runtime.sagemaker"), "SageMakerRuntime.Timeout"),
    (ClientError({"Error": {"Code": "ModelError", "Message": "boom"}}, "InvokeEndpoint"),
     "SageMakerRuntime.ModelError"),
    (b'{"model_version": "v7"}', "MalformedModelResponse: predictions"),
], ids=["timeout", "model error", "malformed"])
def test_an_endpoint_failure_is_the_fallback_decision_recorded_once(handler, event, context, endpoint, failure,
                                                                    reason):
    endpoint.answer = failure
    answer = handler.handler(event, context)

    assert answer["status"] == 200 and answer["fallback"] is True and answer["decision"] == "REVIEW"
    assert reason in answer["reasons"][0] and answer["decided_by"] in ("fallback", "hard_rule:high_risk_online_gaming")
    assert len(client("dynamodb").scan(TableName=DECISIONS)["Items"]) == 1


def test_a_feature_read_that_fails_is_the_fallback_without_calling_the_endpoint(handler, event, context, endpoint,
                                                                                monkeypatch):
    def hang(self, keys, timeout_ms=None):
        raise ReadTimeoutError(endpoint_url="https://dynamodb")

    monkeypatch.setattr(handler.DecisionIO, "read_items", hang)
    answer = handler.handler(event, context)

    assert answer["fallback"] is True and "DynamoDB.Timeout (online features" in answer["reasons"][0]
    assert endpoint.calls == []


def test_a_rules_error_is_the_fallback_decision(handler, event, context, endpoint, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("score_bands")

    monkeypatch.setattr(handler.policy, "decide", broken)
    answer = handler.handler(event, context)

    assert answer["status"] == 200 and answer["fallback"] is True and answer["decision"] == "REVIEW"
    assert answer["reasons"][0].startswith("rules_error: Rules.KeyError")


def test_a_write_that_fails_still_answers_and_queues_the_record_off_the_path(handler, event, context, endpoint,
                                                                            monkeypatch):
    """The table throttles: the client gets its decision now, the item waits on the records queue
    (record_decisions writes it from there, with the queue's retries)."""
    url = client("sqs").create_queue(QueueName="fraud-detection--decision-records")["QueueUrl"]
    monkeypatch.setenv("RECORDS_QUEUE_URL", url)

    def throttled(self, item):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "PutItem")

    monkeypatch.setattr(handler.DecisionLog, "record", throttled)
    answer = handler.handler(event, context)

    assert answer["status"] == 200 and answer["recorded"] is False and answer["queued_for_recording"] is True
    [message] = client("sqs").receive_message(QueueUrl=url)["Messages"]
    item = json.loads(message["Body"])
    assert item["request_id"] == {"S": "req-0001"} and json.loads(item["response"]["S"])["decision"] == \
        answer["decision"]


def test_a_replay_returns_the_first_answer_and_other_content_is_a_409(handler, event, context, endpoint):
    first = handler.handler(event, context)
    again = handler.handler(event, context)
    other = handler.handler({"body": {**event["body"], "amount": 12.0}}, context)

    assert again == first
    assert other["status"] == 409 and other["fields"] == ["amount"]
    assert len(client("dynamodb").scan(TableName=DECISIONS)["Items"]) == 1


def test_a_bad_request_is_a_400_naming_the_field_and_nothing_is_called(handler, event, context, endpoint):
    answer = handler.handler({"body": {**event["body"], "amount": "a lot"}}, context)

    assert answer["status"] == 400 and [e["field"] for e in answer["errors"]] == ["amount"]
    assert endpoint.calls == [] and client("dynamodb").scan(TableName=DECISIONS)["Items"] == []


# ------------------------------------------------------------------------------ deadline
@pytest.fixture
def frozen_clock(monkeypatch):
    """The host's clock, held still (a test sets ``.now``): moto's calls take no deadline time."""
    from lambdas.shared import aws

    class Clock:
        now = 1_800_000_000_000.0

    monkeypatch.setattr(aws, "_clock", lambda: Clock.now)
    return Clock


def test_the_request_time_shrinks_the_endpoints_read_timeout_to_the_deadline(handler, event, context, endpoint,
                                                                              frozen_clock, monkeypatch):
    """Product: 30 ms after API Gateway's request time, with a 100 ms budget and a 45 ms reserve,
    InvokeEndpoint gets 25 ms (not its configured 60); a direct caller gets the whole 55 ms cut."""
    for key, value in {"DEADLINE_BUDGET_MS": "100", "DEADLINE_RESERVE_MS": "45", "INFERENCE_TIMEOUT_MS": "60"}.items():
        monkeypatch.setenv(key, value)

    answer = handler.handler({**event, "request_time_epoch_ms": frozen_clock.now - 30}, context)
    direct = handler.handler({"body": {**event["body"], "request_id": "req-0002"}}, context)

    assert answer["fallback"] is False and direct["fallback"] is False
    assert endpoint.timeouts == [25, 55]


def test_the_real_client_of_the_cut_timeout_is_used(handler, event, context, tables, frozen_clock, monkeypatch):
    """Product: the InvokeEndpoint call goes out through a client whose read timeout is the cut one
    (botocore's timeouts are per client); no new client is built per request."""
    monkeypatch.setenv("DEADLINE_RESERVE_MS", "45")
    seen = []
    original = botocore.client.BaseClient._make_api_call

    def record(self, operation, params):
        if operation == "InvokeEndpoint":
            seen.append((self.meta.config.read_timeout, id(self)))
            return {"Body": __import__("io").BytesIO(MODEL_ANSWER)}
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    for i, behind in enumerate((20, 20, 52)):
        handler.handler({"body": {**event["body"], "request_id": f"r-{i}"},
                         "request_time_epoch_ms": frozen_clock.now - behind}, context)

    assert [timeout for timeout, _ in seen] == [0.035, 0.035]  # the third had 3 ms left: no call
    assert seen[0][1] == seen[1][1]  # the same cached client for the same rung


def test_no_time_left_is_the_fallback_naming_the_deadline_without_calling_the_endpoint(
        handler, event, context, endpoint, frozen_clock):
    answer = handler.handler({**event, "request_time_epoch_ms": frozen_clock.now - 52}, context)

    assert answer["status"] == 200 and answer["fallback"] is True and answer["decision"] == "REVIEW"
    assert "Deadline.Exceeded" in answer["reasons"][0] and "latency budget" in answer["reasons"][0]
    assert endpoint.calls == []


@pytest.mark.parametrize("request_time, why", [(+5_000, "ahead"), (-60_000, "old"), ("soon", "not a number")])
def test_a_request_time_that_cannot_be_right_is_not_believed(handler, event, context, endpoint, frozen_clock,
                                                              request_time, why):
    """A clock far off, a stale or forged value from a direct caller: the function's own start
    counts instead (the whole budget − reserve), never a deadline in the past or far ahead."""
    given = frozen_clock.now + request_time if isinstance(request_time, int) else request_time

    answer = handler.handler({**event, "request_time_epoch_ms": given}, context)

    assert answer["fallback"] is False and endpoint.timeouts == [55]


def test_a_request_time_a_little_ahead_counts_as_now(handler, event, context, endpoint, frozen_clock):
    """Clock skew between API Gateway's and Lambda's hosts: a few ms ahead is clamped to now."""
    handler.handler({**event, "request_time_epoch_ms": frozen_clock.now + 3}, context)

    assert endpoint.timeouts == [55]


def test_the_endpoint_body_carries_the_policy_hash_beside_the_model_input(handler, event, context, tables,
                                                                          monkeypatch):
    """Product: data capture records the endpoint's body; it carries the deciding policy's hash in
    the instances envelope (never inside the record, which an older model's code would refuse),
    and the hash is the policy part of the answer's policy_version."""
    sent = []
    original = botocore.client.BaseClient._make_api_call

    def record(self, operation, params):
        if operation == "InvokeEndpoint":
            sent.append(json.loads(params["Body"]))
            return {"Body": __import__("io").BytesIO(MODEL_ANSWER)}
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    answer = handler.handler(event, context)

    [body] = sent
    assert set(body) == {"instances", "policy_hash"} and body["instances"][0]["txn_count_30d"] == 4
    assert answer["policy_version"] == f"{body['policy_hash']}/v7"

"""Decision logic as pure functions: request contract, the decision function (feature merge, rules,
record), the relay, smoke check."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime

import pytest

from lambdas.shared.decision_request import (
    MAX_BODY_BYTES,
    RequestError,
    parse_request,
    request_schema,
)
from mdlc import features as F
from mdlc.contract import MODELS_DIR, load_team, runtime_spec

SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))
SCHEMA = request_schema(SPEC)
VALID = {"request_id": "r-1", "transaction_id": "T-1", "customer_id": "C-1", "event_time": "2026-03-01T14:30:00Z",
         "amount": 42.5, "merchant_category": "grocery", "channel": "online", "country": "GB"}


def errors_of(body) -> dict[str, str]:
    with pytest.raises(RequestError) as caught:
        parse_request(body, SCHEMA)
    return {e["field"]: e["message"] for e in caught.value.errors}


# ------------------------------------------------------------------- request contract
def test_the_schema_lists_exactly_the_request_fields_with_their_ranges():
    assert set(SCHEMA["properties"]) == {"request_id", "transaction_id", "customer_id", "event_time", "amount",
                                         "merchant_category", "channel", "country", "card_id", "device_id",
                                         "merchant_id"}
    assert "card_id" not in SCHEMA["required"]  # nullable: without one, the card velocities' defaults
    assert SCHEMA["additionalProperties"] is False
    assert SCHEMA["properties"]["amount"] == {"type": "number", "minimum": 0, "maximum": 50000,
                                              "description": "Transaction amount in EUR."}
    assert "online" in SCHEMA["properties"]["channel"]["enum"]


def test_a_valid_request_parses_from_text_or_object():
    assert parse_request(json.dumps(VALID), SCHEMA) == VALID == parse_request(VALID, SCHEMA)


def test_every_problem_is_named_by_field():
    found = errors_of({**VALID, "amount": "12", "country": "XX", "coupon": 1, "request_id": ""})
    assert set(found) == {"amount", "country", "coupon", "request_id"}
    assert "expected number" in found["amount"] and "unknown field" in found["coupon"]


def test_size_and_nesting_are_refused_before_parsing():
    assert "expected at most" in errors_of("[" * 100_000)["(body)"]
    assert "expected at most" in errors_of({**VALID, "transaction_id": "x" * MAX_BODY_BYTES})["(body)"]
    assert "not valid JSON" in errors_of('{"a": ')["(body)"]


def test_a_400_for_the_worst_body_under_the_limit_stays_far_below_step_functions_256_kb():
    # The 400 is the workflow's output: one error per unknown field would make an 8 KB body
    # of tiny unknown fields a ~200 KB output (more for teams with more fields).
    fields, i = {}, 0
    while len(json.dumps(fields, separators=(",", ":"))) < MAX_BODY_BYTES - 16:
        fields[format(i, "x")], i = 0, i + 1
    with pytest.raises(RequestError) as caught:
        parse_request(json.dumps(fields, separators=(",", ":")), SCHEMA)

    errors = caught.value.errors
    assert len(errors) == 20 and "more problem(s) not listed" in errors[-1]["message"]
    assert len(json.dumps(caught.value.response())) < 16_384


def test_a_400_keeps_a_well_formed_request_id_only():
    with pytest.raises(RequestError) as caught:
        parse_request({**VALID, "amount": -1}, SCHEMA)
    assert caught.value.response()["request_id"] == "r-1" and caught.value.response()["status"] == 400


# ----------------------------------------------------------------- the decision function
class InMemory:
    """The decision function's calls in memory: online items by key value (reads recorded), a
    model answer, a decisions log."""

    def __init__(self, items, answer=b'{"model_version": "v1", "predictions": [{"score": 0.1}]}'):
        self.items, self.answer, self.calls, self.features, self.log = items, answer, [], [], Log()

    def read_items(self, record):
        wanted = F.request_item_keys(record, SPEC)
        self.calls.append(sorted(wanted.values()))
        return {key: self.items.get(item) for key, item in wanted.items()}

    def invoke(self, features, inference_id):
        self.features.append(features)
        return self.answer


@pytest.fixture
def decide_module(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    return importlib.import_module("lambdas.realtime.decide.handler")


NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_the_decision_merges_online_features_with_the_request(decide_module):
    from decimal import Decimal

    io = InMemory({"C-1": {"customer_id": "C-1", "txn_count_30d": Decimal(4), "amount_sum_30d": Decimal("100"),
                           "amount_mean_90d": Decimal("25"), "account_tenure_days": Decimal("90"),
                           "home_country": "FR"}})
    out = decide_module.decide_request(json.dumps(VALID), SPEC, io, NOW)
    assert out["status"] == 200 and out["unknown_entity"] is False
    [features] = io.features
    assert features["amount_to_avg_ratio"] == pytest.approx(1.7)
    assert features["is_foreign"] == 1 and features["hour_of_day"] == 14
    assert features["channel"] == 2  # encoded as the category index the model was trained on


def test_an_unknown_customer_gets_the_defaults_and_a_bad_request_looks_nothing_up(decide_module):
    io = InMemory({})
    assert decide_module.decide_request(VALID, SPEC, io, NOW)["unknown_entity"] is True
    rejected = decide_module.decide_request({"amount": 1}, SPEC, io, NOW)
    assert rejected["status"] == 400
    assert len(io.calls) == 1  # one read per request; none for the bad one


# -------------------------------------------------------------------------- rules step
def decide(module, score, **request):
    prediction = None if score is None else {"score": score, "reasons": []}
    return module._rules({**VALID, **request}, {}, SPEC, prediction, "v1",
                         None if score is not None else "SageMakerRuntime.ModelErrorException")


@pytest.mark.parametrize(("score", "request_fields", "decision", "reason"), [
    (0.10, {}, "APPROVE", "score_band"),
    (0.30, {}, "REVIEW", "score_band"),
    (0.85, {}, "DECLINE", "score_band"),
    (0.10, {"amount": 10_000.01}, "REVIEW", "amount_limit"),
    (0.10, {"merchant_category": "gaming"}, "REVIEW", "high_risk_online_gaming"),
    (0.95, {"amount": 20_000.0}, "DECLINE", "score_band"),  # the strictest decision wins
    (0.99, {"customer_id": "C-TRUSTED-0001"}, "APPROVE", "allow_list"),
    (0.01, {"customer_id": "C-BLOCKED-0001"}, "DECLINE", "deny_list"),
    (None, {}, "REVIEW", "model_unavailable"),
    (None, {"customer_id": "C-BLOCKED-0001"}, "DECLINE", "deny_list"),
])
def test_rules_follow_the_team_file(decide_module, score, request_fields, decision, reason):
    out = decide(decide_module, score, **request_fields)
    assert out["decision"] == decision
    assert any(r.startswith(reason) for r in out["reasons"]), out["reasons"]
    assert out["fallback"] is (score is None)
    decided_by = {"score_band": "score_band", "model_unavailable": "fallback",
                  "allow_list": "allow_list:customer_id", "deny_list": "deny_list:customer_id"}
    assert out["decided_by"] == decided_by.get(reason, f"hard_rule:{reason}")


def test_the_model_body_is_read_with_its_reason_codes(decide_module):
    body = {"model_version": "v1", "predictions": [{"score": 0.9, "reasons": [
        {"feature": "amount", "value": 4000.0, "contribution": 1.7},
        {"feature": "country", "value": "NG", "contribution": -0.2}]}]}
    out = decide_module.decide_request(VALID, SPEC, InMemory({}, json.dumps(body).encode()), NOW)
    assert out["score"] == 0.9 and out["decision"] == "DECLINE" and out["model_version"] == "v1"
    assert out["reason_codes"] == body["predictions"][0]["reasons"]


@pytest.mark.parametrize(("body", "why"), [
    ('{"model_version": "v1", "predictions": [{"score": 7}]}', "predictions.0.score: a number in [0, 1]"),
    ('{"model_version": "v1"}', "predictions: a non-empty list is required"),
    ('{"model_version": "v1", "predictions": []}', "predictions: a non-empty list is required"),
    ("not json", "not JSON"),
    ('[1, 2]', "(body): not an object"),
    ('{"predictions": [{"score": 0.5}]}', "model_version: a string"),
])
def test_any_malformed_model_body_takes_the_fallback_and_names_the_problem(decide_module, body, why):
    out = decide_module.decide_request(VALID, SPEC, InMemory({}, body.encode()), NOW)
    assert out["fallback"] is True and out["decision"] == "REVIEW" and out["decided_by"] == "fallback"
    assert out["reasons"][0].startswith("model_unavailable: MalformedModelResponse: ") and why in out["reasons"][0]


def test_an_endpoint_error_takes_the_fallback(decide_module):
    out = decide(decide_module, None)
    assert out["fallback"] is True and "SageMakerRuntime.ModelErrorException" in out["reasons"][0]


# -------------------------------------------------------------------------- record step
class Log:
    def __init__(self):
        self.items = {}

    def record(self, item):
        if item["request_id"] in self.items:
            return False
        self.items[item["request_id"]] = item
        return True

    def first(self, request_id):
        item = self.items.get(request_id)
        return item and {"response": json.loads(item["response"]), "request": json.loads(item["request"])}


DECISION = {"decision": "REVIEW", "score": 0.5, "model_version": "v1", "reasons": ["x"], "fallback": False,
            "reason_codes": [{"feature": "amount", "value": 12.5, "contribution": 0.4}], "decided_by": "score_band"}


def perform(log, request, decision, now):
    from lambdas.shared.decision_log import record_once, response_and_item

    response, item = response_and_item(request, decision, SPEC, now, unknown_entity=False, features={"amount": 1})
    return record_once(log, request, response, item)


def test_a_decision_is_recorded_once_per_request_id_with_its_reason_codes():
    log = Log()
    first = perform(log, VALID, DECISION, NOW)
    again = perform(log, VALID, {**DECISION, "decision": "DECLINE"}, datetime(2026, 3, 2, tzinfo=UTC))
    assert first == again and first["decision"] == "REVIEW" and first["status"] == 200
    assert first["reason_codes"] == DECISION["reason_codes"] and first["decided_by"] == "score_band"
    assert len(log.items) == 1 and log.items["r-1"]["expires_at"] > NOW.timestamp()
    assert json.loads(log.items["r-1"]["reason_codes"]) == DECISION["reason_codes"]
    assert json.loads(log.items["r-1"]["features"]) == {"amount": 1} and "features" not in first


def test_other_content_under_a_recorded_request_id_is_a_conflict_naming_the_fields():
    from lambdas.shared.decision_log import Conflict

    log = Log()
    perform(log, VALID, DECISION, NOW)
    with pytest.raises(Conflict) as caught:
        perform(log, {**VALID, "amount": 99.0, "channel": "contactless"}, DECISION, NOW)
    body = caught.value.response()
    assert body["status"] == 409 and body["fields"] == ["amount", "channel"] and "amount, channel" in body["message"]
    assert len(log.items) == 1


def test_the_relay_publishes_new_decisions_in_order_and_retries_from_the_first_failure():
    relay = importlib.import_module("lambdas.realtime.publish_decisions.handler")

    def record(seq, name="INSERT"):
        image = {"response": {"S": json.dumps({"request_id": f"r-{seq}"})}, "request": {"S": json.dumps(VALID)}}
        return {"eventName": name, "dynamodb": {"SequenceNumber": str(seq), "NewImage": image}}

    sent = []

    def publish(detail):
        if detail["request_id"] == "r-3" and not any(d["request_id"] == "r-3" for d in failed):
            failed.append(detail)
            raise RuntimeError("bus down")
        sent.append(detail)

    failed: list = []
    records = [record(1), record(2, "MODIFY"), record(3), record(4)]
    first = relay.relay(records, publish)
    assert [d["request_id"] for d in sent] == ["r-1"]
    assert first == {"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "4"}]}
    second = relay.relay(records[2:], publish)  # the mapping retries from the failed record
    assert second == {"batchItemFailures": []}
    assert [d["request_id"] for d in sent] == ["r-1", "r-3", "r-4"] and sent[0]["request"] == VALID


# ------------------------------------------------------------------------- smoke check
def test_the_smoke_check_names_what_is_wrong_with_a_response():
    smoke = importlib.import_module("lambdas.realtime.smoke_test_endpoint.handler")
    assert smoke.check_response({"model_version": "m", "predictions": [{"score": 0.2}]})["score"] == 0.2
    with pytest.raises(smoke.SmokeTestFailed, match=r"predictions\[0\].score"):
        smoke.check_response({"model_version": "m", "predictions": [{"score": 1.5}]})
    with pytest.raises(smoke.SmokeTestFailed, match="model_version"):
        smoke.check_response({"predictions": [{"score": 0.2}]})
    request = smoke.known_request(SPEC)
    assert parse_request({**request, "request_id": "s", "transaction_id": "t", "customer_id": "c"}, SCHEMA)


# ------------------------------------------------------------------ mdlc local score

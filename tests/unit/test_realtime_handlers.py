"""Decision handlers as pure logic: request contract, feature merge, rules, action, smoke check."""

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
                                         "merchant_category", "channel", "country"}
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


# ----------------------------------------------------------------------- collect step
class Store:
    def __init__(self, items):
        self.items, self.calls = items, []

    def get(self, entity):
        self.calls.append(entity)
        return self.items.get(entity)


@pytest.fixture
def collect_module(monkeypatch):
    return importlib.import_module("lambdas.realtime.collect_features.handler")


def test_collect_merges_online_features_with_the_request(collect_module):
    from decimal import Decimal

    store = Store({"C-1": {"customer_id": "C-1", "txn_count_30d": Decimal(4), "amount_sum_30d": Decimal("100"),
                           "amount_mean_90d": Decimal("25"), "account_tenure_days": Decimal("90"),
                           "home_country": "FR"}})
    out = collect_module.collect({"body": json.dumps(VALID)}, SPEC, store)
    assert out["valid"] and out["unknown_entity"] is False
    assert out["features"]["amount_to_avg_ratio"] == pytest.approx(1.7)
    assert out["features"]["is_foreign"] == 1 and out["features"]["hour_of_day"] == 14
    assert out["features"]["channel"] == 2  # encoded as the category index the model was trained on


def test_collect_serves_defaults_to_an_unknown_customer_and_looks_nothing_up_for_bad_input(collect_module):
    store = Store({})
    assert collect_module.collect({"body": VALID}, SPEC, store)["unknown_entity"] is True
    rejected = collect_module.collect({"body": {"amount": 1}}, SPEC, store)
    assert rejected["valid"] is False and rejected["response"]["status"] == 400
    assert store.calls == ["C-1"]


# -------------------------------------------------------------------------- rules step
@pytest.fixture
def rules():
    return importlib.import_module("lambdas.realtime.apply_rules.handler")


def decide(rules, score, **request):
    inference = rules.Inference(prediction=None if score is None else {"score": score}, model_version="v1",
                                error=None if score is not None else "SageMakerRuntime.ModelErrorException")
    return rules.decide({**VALID, **request}, {}, inference, SPEC)


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
def test_rules_follow_the_team_file(rules, score, request_fields, decision, reason):
    out = decide(rules, score, **request_fields)
    assert out["decision"] == decision
    assert any(r.startswith(reason) for r in out["reasons"]), out["reasons"]
    assert out["fallback"] is (score is None)


def test_the_rules_parser_refuses_an_impossible_score(rules):
    with pytest.raises(Exception, match="less than or equal to 1"):
        rules.RulesInput.model_validate({"request": VALID, "features": {}, "inference": {"prediction": {"score": 7}}})


# -------------------------------------------------------------------------- action step
class Log:
    def __init__(self):
        self.items, self.events = {}, []

    def record(self, item):
        if item["request_id"] in self.items:
            return False
        self.items[item["request_id"]] = item
        return True

    def first(self, request_id):
        return json.loads(self.items[request_id]["response"])

    def publish(self, detail):
        self.events.append(detail)


@pytest.fixture
def action(monkeypatch):
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "unit-test-idempotency")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    return importlib.import_module("lambdas.realtime.perform_action.handler")


def test_an_action_records_and_publishes_once_per_request_id(action):
    log = Log()
    decision = {"decision": "REVIEW", "score": 0.5, "model_version": "v1", "reasons": ["x"], "fallback": False}
    now = datetime(2026, 3, 1, tzinfo=UTC)
    first = action.perform({"request": VALID, "decision": decision}, SPEC, log, now)
    again = action.perform({"request": VALID, "decision": {**decision, "decision": "DECLINE"}}, SPEC, log,
                           datetime(2026, 3, 2, tzinfo=UTC))
    assert first == again and first["decision"] == "REVIEW" and first["status"] == 200
    assert len(log.items) == 1 and len(log.events) == 1
    assert log.items["r-1"]["expires_at"] > now.timestamp()


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

"""collect_features: a request checked, its entity's online features merged, or a 400."""

from __future__ import annotations

import pytest

from lambdas.shared.aws import client

TABLE = "fraud-detection-online-features"


@pytest.fixture
def features(aws, monkeypatch):
    client("dynamodb").create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}])
    client("dynamodb").put_item(TableName=TABLE, Item={
        "customer_id": {"S": "C-42"}, "txn_count_30d": {"N": "4"}, "amount_sum_30d": {"N": "160"},
        "amount_mean_90d": {"N": "40"}, "account_tenure_days": {"N": "50"}, "home_country": {"S": "GB"}})
    monkeypatch.setenv("FEATURE_TABLE", TABLE)


def test_the_request_is_merged_with_its_online_features(handler, event, context, features):
    result = handler.handler(event, context)

    assert result["valid"] and result["request"] == event["body"] and result["unknown_entity"] is False
    assert result["features"]["txn_count_30d"] == 4 and result["features"]["amount_to_avg_ratio"] == 23.75
    assert result["features"]["is_foreign"] == 1  # NG request, GB home country


def test_an_unknown_customer_gets_the_defaults_and_a_flag(handler, event, context, features):
    result = handler.handler({"body": {**event["body"], "customer_id": "C-NEW"}}, context)
    assert result["valid"] and result["unknown_entity"] is True


def test_a_bad_request_is_a_400_naming_the_field(handler, event, context, features):
    result = handler.handler({"body": {**event["body"], "amount": "a lot"}}, context)
    assert result["valid"] is False and result["response"]["status"] == 400
    assert [e["field"] for e in result["response"]["errors"]] == ["amount"]


def test_an_event_id_that_cannot_be_the_endpoints_inference_id_is_a_400(handler, event, context, features):
    # SageMaker's InferenceId takes 1-64 printable characters; the event id is sent as it.
    for bad in ("T" * 65, " T-1", "T-\u00e9"):
        result = handler.handler({"body": {**event["body"], "transaction_id": bad}}, context)
        assert result["valid"] is False and [e["field"] for e in result["response"]["errors"]] == ["transaction_id"]
    assert handler.handler({"body": {**event["body"], "transaction_id": "T" * 64}}, context)["valid"]

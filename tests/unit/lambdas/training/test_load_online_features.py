"""load_online_features: one shard of the feature job's online table into DynamoDB."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from lambdas.shared.aws import client
from tests.unit.lambdas.support import SPEC


@pytest.fixture
def table(aws, monkeypatch) -> str:
    key = SPEC["schema"]["entity_key"]
    client("dynamodb").create_table(
        TableName="fraud-detection-online-features", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}])
    monkeypatch.setenv("FEATURE_TABLE", "fraud-detection-online-features")
    return "fraud-detection-online-features"


def test_every_entity_becomes_one_item(handler, event, context, table):
    lines = [{"customer_id": "C-1", "txn_count_30d": 4, "amount_mean_90d": 40.5, "home_country": "GB",
              "is_new": False, "account_tenure_days": None},
             {"customer_id": 7, "txn_count_30d": 0, "amount_mean_90d": float("nan"), "home_country": "NG"}]
    bucket_name, key = event["uri"][5:].split("/", 1)
    body = "\n".join(json.dumps(line) for line in lines) + "\n\n"
    client("s3").put_object(Bucket=bucket_name, Key=key, Body=body.encode())

    assert handler.handler(event, context) == {"items": 2}

    items = {i["customer_id"]["S"]: i for i in client("dynamodb").scan(TableName=table)["Items"]}
    assert set(items) == {"C-1", "7"}
    assert items["C-1"]["amount_mean_90d"] == {"N": "40.5"} and items["C-1"]["is_new"] == {"BOOL": False}
    assert "account_tenure_days" not in items["C-1"] and "amount_mean_90d" not in items["7"]
    assert items["7"]["feature_run_id"] == {"S": event["run_id"]}
    assert handler.to_item({"customer_id": "C", "n": 2}, "customer_id", "r")["n"] == Decimal("2")


def test_a_record_without_the_entity_key_is_refused(handler, event, context, table):
    with pytest.raises(ValueError, match="without 'customer_id'"):
        handler.to_item({"txn_count_30d": 1}, "customer_id", event["run_id"])

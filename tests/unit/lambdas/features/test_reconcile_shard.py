"""reconcile_shard: one shard recomputed against the online table (moto DynamoDB)."""

from __future__ import annotations

import json

import pytest

from lambdas.shared.aws import client
from mdlc import features as F
from tests.unit.lambdas.features.raw import raw_records
from tests.unit.lambdas.support import SPEC


@pytest.fixture
def table(aws, monkeypatch):
    client("dynamodb").create_table(TableName="features", BillingMode="PAY_PER_REQUEST",
                                    KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
                                    AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}])
    monkeypatch.setenv("FEATURE_TABLE", "features")
    return "features"


def test_missing_entities_are_written_then_match_and_a_tampered_one_is_named(handler, event, context, table):
    rows = raw_records(n_entities=12, days=30, seed=4)
    bucket, key = event["uri"][5:].split("/", 1)
    client("s3").put_object(Bucket=bucket, Key=key, Body="\n".join(json.dumps(r) for r in rows).encode())

    first = handler.handler(event, context)
    second = handler.handler(event, context)
    ddb = client("dynamodb")
    victim = ddb.get_item(TableName=table, Key={"customer_id": {"S": rows[0]["customer_id"]}})["Item"]
    state = json.loads(victim["state"]["S"])
    state["events"][0][2][0] += 1.0  # one amount changed behind the pipeline's back
    victim["state"]["S"] = json.dumps(state)
    ddb.put_item(TableName=table, Item=victim)
    third = handler.handler(event, context)

    items = len(F.states_from_records(rows, SPEC))  # 12 customers, their cards and devices
    assert items > 12 and first["missing"] == first["written"] == first["entities"] == items
    assert (second["compared"], second["mismatched"], second["written"]) == (items, 0, 0)
    assert third["mismatched_entities"] == [rows[0]["customer_id"]] and third["written"] == 0

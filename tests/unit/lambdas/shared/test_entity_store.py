"""The online table with several keys (entity, card, device) over moto's DynamoDB: the stream
consumer writes every key's item, serving reads them all in one BatchGetItem and computes what
training computes, and an item that nears or passes DynamoDB's 400 KB limit is reported or
refused. Product tests (moto stands in for DynamoDB)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from lambdas.features.consume_events import handler as consumer
from lambdas.shared.aws import client
from lambdas.shared.entity_store import EntityStore, ItemTooLarge, read_online
from mdlc import features as F
from mdlc import synthetic
from mdlc.contract import MODELS_DIR, load_team, runtime_spec

SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))


@pytest.fixture
def table(aws):
    client("dynamodb").create_table(TableName="features", BillingMode="PAY_PER_REQUEST",
                                    KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
                                    AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}])
    return "features"


def kinesis(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"kinesis": {"sequenceNumber": str(i), "approximateArrivalTimestamp": 1772375401.0,
                         "data": base64.b64encode(json.dumps(r).encode()).decode()}} for i, r in enumerate(records)]


@pytest.fixture
def history() -> list[dict[str, Any]]:
    """Two weeks of the example generator, card-testing bursts included, as JSON records."""
    frame = synthetic.generate(n_customers=60, days=14, seed=3)
    return json.loads(frame.to_json(orient="records"))


def count_calls(operation: str) -> list[dict]:
    calls: list[dict] = []
    client("dynamodb").meta.events.register(f"provide-client-params.dynamodb.{operation}",
                                            lambda params, **_: calls.append(params))
    return calls


def test_the_stream_writes_every_keys_item_and_serving_reads_them_in_one_batch_equal_to_training(table, history):
    store = EntityStore(table, SPEC)
    cut = len(history) - 40
    for start in range(0, cut, 100):
        outcome = consumer.consume(kinesis(history[start:min(start + 100, cut)]), SPEC, store)
        assert outcome.failed == [] and outcome.invalid == 0
    assert outcome.largest_item > 0
    import pandas as pd

    training = F.encode_frame(F.point_in_time_features(pd.DataFrame(history), SPEC), SPEC)
    reads = count_calls("BatchGetItem")
    gets = count_calls("GetItem")
    checked = 0
    seen: set[str] = set()
    for i in range(cut, len(history)):
        record = {k: v for k, v in history[i].items() if k != "is_fraud"}
        keys = set(F.request_item_keys(record, SPEC).values())
        if keys & seen:
            seen |= keys
            continue  # an earlier held-back record of that card/device/customer is not in its item
        seen |= keys
        items = read_online(table, record, SPEC)
        assert set(items) == {"customer_id", "card_id", "device_id"}
        served = F.derive_record_items(record, items, SPEC)
        assert F.to_model_row(served, SPEC) == pytest.approx(training.iloc[i].tolist(), nan_ok=True, abs=0, rel=0)
        checked += 1
    assert checked >= 5
    assert len(reads) == checked and gets == []  # ONE batched read per request, every key in it
    assert all(len(r["RequestItems"][table]["Keys"]) == 3 for r in reads)


def test_a_card_testing_burst_is_seen_on_the_card_and_the_device_as_it_happens(table):
    store = EntityStore(table, SPEC)
    burst = [{"transaction_id": f"T-{i}", "customer_id": "C-9", "card_id": "K-9", "device_id": "D-X1",
              "merchant_id": f"M-{i}", "event_time": f"2026-03-01T03:0{i}:00Z", "amount": 2.0,
              "merchant_category": "digital_goods", "channel": "online", "country": "GB"} for i in range(6)]
    burst[5]["card_id"] = "K-10"  # the same device tests another card
    consumer.consume(kinesis(burst), SPEC, store)
    query = {**burst[0], "transaction_id": "T-next", "event_time": "2026-03-01T03:07:00Z"}
    served = F.derive_record_items(query, read_online(table, query, SPEC), SPEC)
    assert served["txn_count_10m"] == 5 and served["distinct_merchants_1h"] == 5
    assert served["distinct_cards_1d"] == 2
    later = {**query, "event_time": "2026-03-01T03:30:00Z"}  # 10 minutes on: the card's window is empty
    served = F.derive_record_items(later, read_online(table, later, SPEC), SPEC)
    assert served["txn_count_10m"] == 0 and served["distinct_merchants_1h"] == 5


def test_an_item_over_dynamodbs_limit_is_refused_by_name_and_its_records_retried(table, monkeypatch):
    store = EntityStore(table, SPEC)
    monkeypatch.setattr(F, "MAX_ITEM_BYTES", 1200)  # a small limit stands in for 400 KB
    records = [{"transaction_id": f"T-{i}", "customer_id": f"C-{i}", "card_id": f"K-{i}", "device_id": "D-HOT",
                "merchant_id": f"M-{i}", "event_time": f"2026-03-01T03:{i:02d}:00Z", "amount": 2.0,
                "merchant_category": "grocery", "channel": "online", "country": "GB"} for i in range(40)]
    outcome = consumer.consume(kinesis(records), SPEC, store)
    assert outcome.oversized == 1  # the device every record shares; each customer and card fit
    assert outcome.failed == [str(i) for i in range(40)]
    with pytest.raises(ItemTooLarge, match="device_id#D-HOT.*40 events of device_id"):
        state = F.EntityState(SPEC, F.lateness_us(SPEC), "device_id")
        for r in records:
            state.add(*state.event_from_record(r))
        store.save("device_id#D-HOT", state, 0, writer="test")
    assert "Item" not in client("dynamodb").get_item(TableName=table, Key={"customer_id": {"S": "device_id#D-HOT"}})

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
from mdlc.contract import MODELS_DIR, load_team, runtime_spec
from tests.unit.lambdas.features.raw import raw_records

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
    """Two weeks of records of the example's columns, each customer with one card and one device
    (standard library only: these tests also run in the Lambda runtime, which has no pandas)."""
    rows = raw_records(n_entities=60, days=14, seed=3)
    for row in rows:
        number = row["customer_id"][2:]
        row.update(card_id=f"K-{number}", device_id=f"D-{int(number) % 25}", amount=float(row["amount"]))
    return rows


def count_calls(operation: str) -> list[dict]:
    calls: list[dict] = []
    client("dynamodb").meta.events.register(f"provide-client-params.dynamodb.{operation}",
                                            lambda params, **_: calls.append(params))
    return calls


def test_the_stream_writes_every_keys_item_and_serving_reads_them_in_one_batch_exactly(table, history):
    """Every key's item the stream wrote, read in one BatchGetItem per request, gives exactly the
    features of the recomputation from every earlier record (the backfill's and training's
    definition, tests/unit/mdlc/test_online_state.py)."""
    store = EntityStore(table, SPEC)
    cut = len(history) - 40
    for start in range(0, cut, 100):
        outcome = consumer.consume(kinesis(history[start:min(start + 100, cut)]), SPEC, store)
        assert outcome.failed == [] and outcome.invalid == 0
    assert outcome.largest_item > 0
    reads = count_calls("BatchGetItem")
    gets = count_calls("GetItem")
    checked, cards = 0, []
    earlier = F.states_from_records(history[:cut], SPEC)
    for i in range(cut, len(history)):
        record = {k: v for k, v in history[i].items() if k != "is_fraud"}
        items = read_online(table, record, SPEC)
        assert set(items) == {"customer_id", "card_id", "device_id"}
        served = F.derive_record_items(record, items, SPEC)
        expected = F.derive_record_items(record, {key: None if item not in earlier else
                                                  {"customer_id": item, "state": earlier[item].to_json()}
                                                  for key, item in F.request_item_keys(record, SPEC).items()}, SPEC)
        assert served == expected, i
        checked += 1
        cards.append(served["distinct_cards_1d"])
    assert checked == 40 and max(cards) >= 1  # the device items were read and counted cards
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

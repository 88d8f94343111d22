"""record_decisions: decisions queued by the decision function are written once, off the path (product)."""

from __future__ import annotations

import pytest

from lambdas.shared.aws import client

DECISIONS = "fraud-detection-decisions"


@pytest.fixture
def table(aws, monkeypatch):
    client("dynamodb").create_table(TableName=DECISIONS, BillingMode="PAY_PER_REQUEST",
                                    KeySchema=[{"AttributeName": "request_id", "KeyType": "HASH"}],
                                    AttributeDefinitions=[{"AttributeName": "request_id", "AttributeType": "S"}])
    monkeypatch.setenv("DECISIONS_TABLE", DECISIONS)


def test_a_queued_decision_is_written_once(handler, event, context, table):
    assert handler.handler(event, context) == {"batchItemFailures": []}
    assert handler.handler(event, context) == {"batchItemFailures": []}  # recorded already: left as it is

    [item] = client("dynamodb").scan(TableName=DECISIONS)["Items"]
    assert item["request_id"] == {"S": "req-0001"} and item["decision"] == {"S": "REVIEW"}


def test_a_write_that_fails_is_reported_for_the_queue_to_retry(handler, event, context, aws, monkeypatch):
    monkeypatch.setenv("DECISIONS_TABLE", "no-such-table")
    answer = handler.handler(event, context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}

"""publish_decisions: the decisions table's stream → one event per new decision, retried from a failure."""

from __future__ import annotations

import json

import pytest

from lambdas.shared.aws import client

BUS = "fraud-detection-decisions"


@pytest.fixture
def bus(aws, monkeypatch, handler):
    client("events").create_event_bus(Name=BUS)
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="consumer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = json.dumps({"source": ["mdlc.fraud-detection"]})
    client("events").put_rule(Name="all", EventBusName=BUS, EventPattern=pattern)
    client("events").put_targets(Rule="all", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])
    monkeypatch.setenv("DECISION_BUS", BUS)
    monkeypatch.setattr(handler, "_bus", None)
    return url


def events(url) -> list[dict]:
    messages = client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_a_new_decision_becomes_one_event_with_response_and_request(handler, event, context, bus):
    result = handler.handler(event, context)

    assert result == {"batchItemFailures": []}
    [published] = events(bus)
    assert published["detail-type"] == "Decision made" and published["source"] == "mdlc.fraud-detection"
    assert published["detail"]["request_id"] == "req-2026-03-01-000042"
    assert published["detail"]["reason_codes"][0]["feature"] == "account_tenure_days"
    assert published["detail"]["request"]["amount"] == 42.5


def test_a_modified_item_publishes_nothing(handler, event, context, bus):
    modified = {"Records": [{**event["Records"][0], "eventName": "MODIFY"}]}

    assert handler.handler(modified, context) == {"batchItemFailures": []}
    assert events(bus) == []


def test_a_failed_publish_reports_that_record_and_the_ones_after_it(handler, event, context, bus):
    record = event["Records"][0]
    second = {**record, "dynamodb": {**record["dynamodb"], "SequenceNumber": "1100000000017454423010"}}
    client("events").delete_event_bus(Name=BUS)  # the bus is gone: PutEvents fails

    result = handler.handler({"Records": [record, second]}, context)

    assert result == {"batchItemFailures": [{"itemIdentifier": "1100000000017454423009"},
                                            {"itemIdentifier": "1100000000017454423010"}]}

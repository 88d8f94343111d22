"""Harness: DynamoDB stream records reach Lambda as an event source mapping delivers them."""

from __future__ import annotations

import json

import pytest

from mdlc.harness import OfflineAws
from mdlc.harness.ddb_streams import StreamMapping


@pytest.fixture
def aws():
    with OfflineAws(region="eu-west-1") as offline:
        yield offline


def table_with_stream(aws) -> str:
    return aws.client("dynamodb").create_table(
        TableName="outbox", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]


def put(aws, *ids: str) -> None:
    for i in ids:
        aws.client("dynamodb").put_item(TableName="outbox", Item={"id": {"S": i}})


def mapping(aws, stream: str, handler, **props) -> StreamMapping:
    aws.register_lambda("relay", handler=handler)
    found = StreamMapping.from_properties("m-1", {
        "EventSourceArn": stream, "FunctionName": "relay", "StartingPosition": "TRIM_HORIZON",
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"eventName": ["INSERT"]})}]}, **props})
    aws.streams.add(found)
    return found


def ids(event) -> list[str]:
    return [r["dynamodb"]["NewImage"]["id"]["S"] for r in event["Records"]]


def test_new_items_arrive_in_order_in_batches_and_only_once(aws):
    seen: list[list[str]] = []
    stream = table_with_stream(aws)
    mapping(aws, stream, lambda event, ctx: seen.append(ids(event)) or {"batchItemFailures": []}, BatchSize=2)
    put(aws, "a", "b", "c")
    aws.client("dynamodb").put_item(TableName="outbox", Item={"id": {"S": "a"}, "x": {"S": "modified"}})

    assert aws.deliver_streams() == 2
    assert aws.deliver_streams() == 0
    put(aws, "d")
    aws.deliver_streams()

    assert seen == [["a", "b"], ["c"], ["d"]]  # the MODIFY of "a" is filtered out


def test_a_reported_failure_is_retried_from_that_record_and_earlier_ones_are_not_resent(aws):
    calls: list[list[str]] = []

    def handler(event, ctx):
        calls.append(ids(event))
        if len(calls) == 1:
            second = event["Records"][1]["dynamodb"]["SequenceNumber"]
            return {"batchItemFailures": [{"itemIdentifier": second}]}
        return {"batchItemFailures": []}

    mapping(aws, table_with_stream(aws), handler)
    put(aws, "a", "b", "c")
    aws.deliver_streams()

    assert calls == [["a", "b", "c"], ["b", "c"]]


def test_a_batch_that_keeps_failing_goes_to_the_on_failure_queue_and_the_stream_moves_on(aws):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    calls: list[list[str]] = []

    def handler(event, ctx):
        calls.append(ids(event))
        if "bad" in ids(event):
            raise RuntimeError("cannot publish")
        return {"batchItemFailures": []}

    found = mapping(aws, table_with_stream(aws), handler, MaximumRetryAttempts=2, BatchSize=1,
                    DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:eu-west-1:123456789012:dlq"}})
    put(aws, "bad", "good")
    aws.deliver_streams()

    assert calls == [["bad"], ["bad"], ["bad"], ["good"]]  # first try + 2 retries, then the next record
    body = json.loads(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["DDBStreamBatchInfo"]["batchSize"] == 1 and found.failed_batches == 1


def _filtered(aws, pattern: dict, items: list[dict]) -> list[str]:
    """The ids the function receives with ``pattern`` as the mapping's only filter."""
    seen: list[list[str]] = []
    mapping(aws, table_with_stream(aws), lambda event, ctx: seen.append(ids(event)) or {"batchItemFailures": []},
            FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]})
    for item in items:
        aws.client("dynamodb").put_item(TableName="outbox", Item=item)
    aws.deliver_streams()
    return [i for batch in seen for i in batch]


ITEMS = [{"id": {"S": "order-1"}, "status": {"S": "new"}}, {"id": {"S": "refund-2"}, "status": {"S": "test"}},
         {"id": {"S": "order-3"}, "status": {"S": "test"}, "late": {"BOOL": True}}]


@pytest.mark.parametrize(("rule", "expected"), [
    ({"id": {"S": [{"prefix": "order-"}]}}, ["order-1", "order-3"]),
    ({"status": {"S": [{"anything-but": ["test"]}]}}, ["order-1"]),
    ({"late": {"BOOL": [{"exists": True}]}}, ["order-3"]),
    ({"late": {"BOOL": [{"exists": False}]}}, ["order-1", "refund-2"]),  # exists works on leaves (the type)
], ids=["prefix", "anything-but", "exists", "does not exist"])
def test_filter_criteria_use_eventbridge_pattern_matching_on_the_dynamodb_record(aws, rule, expected):
    """Harness emulation: the rules Lambda documents for DynamoDB filters (the hand-written
    subset this replaces matched equality only, so each of these dropped every record)."""
    assert _filtered(aws, {"dynamodb": {"NewImage": rule}}, ITEMS) == expected


def test_records_filtered_out_do_not_stall_the_stream(aws):
    """Harness emulation: with BatchSize 1, a MODIFY the filter drops is checkpointed past
    and the INSERT after it still arrives (the poller stopped at the dropped record)."""
    seen: list[list[str]] = []
    mapping(aws, table_with_stream(aws), lambda event, ctx: seen.append(ids(event)) or {"batchItemFailures": []},
            BatchSize=1)
    put(aws, "a")
    aws.client("dynamodb").put_item(TableName="outbox", Item={"id": {"S": "a"}, "x": {"S": "modified"}})
    put(aws, "b")

    aws.deliver_streams()

    assert seen == [["a"], ["b"]]


def test_an_invalid_filter_pattern_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"Filters\[0\].Pattern .* Empty arrays are not allowed"):
        StreamMapping.from_properties("m-1", {
            "EventSourceArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/x", "FunctionName": "f",
            "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"eventName": []})}]}})

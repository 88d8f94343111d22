"""The harness' event source mapping emulation (checks the harness, not the product):
batches per shard in order, partial batch responses, bisect on error, the DLQ record,
FilterCriteria on the decoded data, the function's own account in what Lambda sends."""

from __future__ import annotations

import json

import pytest

from mdlc.harness import OfflineAws
from mdlc.harness.event_filters import FilterCriteria
from mdlc.harness.streams import Mapping

from .support import FIXTURES

STREAM = FIXTURES / "lambdas" / "stream"


@pytest.fixture
def harness():
    with OfflineAws() as aws:
        aws.client("kinesis").create_stream(StreamName="events", ShardCount=1)
        aws.client("sqs").create_queue(QueueName="dlq")
        yield aws


def _setup(aws, *, batch_size=4, retries=3, bisect=True, report=True, patterns=()):
    aws.register_lambda("consumer", source_dir=STREAM)
    module = aws.lambdas.routes["consumer"].resolve_handler().__globals__
    module["SEEN"].clear()
    module["REPORTED"].clear()
    arn = aws.client("kinesis").describe_stream_summary(StreamName="events")["StreamDescriptionSummary"]["StreamARN"]
    aws.kinesis.add(Mapping(function_name="consumer", stream_arn=arn, batch_size=batch_size, bisect=bisect,
                            report_failures=report, retry_attempts=retries,
                            on_failure_arn=f"arn:aws:sqs:{aws.region}:{aws.account_id}:dlq",
                            filters=FilterCriteria.from_properties(
                                {"FilterCriteria": {"Filters": [{"Pattern": json.dumps(p)} for p in patterns]}})))
    return module["SEEN"]


def _put(aws, *bodies):
    for body in bodies:
        aws.client("kinesis").put_record(StreamName="events", PartitionKey="k", Data=json.dumps(body).encode())


def _dlq(aws):
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName="dlq")["QueueUrl"]
    return [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            .get("Messages", [])]


def test_records_arrive_in_batches_in_order_and_only_once(harness):
    seen = _setup(harness)
    _put(harness, *({"n": i} for i in range(10)))
    report = harness.deliver_kinesis()
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and report.invocations == 3
    _put(harness, {"n": 10})
    harness.deliver_kinesis()
    assert seen[-1] == [10]  # the checkpoint holds: nothing is delivered twice


def test_a_reported_failure_retries_from_that_record_not_before(harness):
    seen = _setup(harness)
    _put(harness, {"n": 0}, {"n": 1}, {"n": 2, "fail": "report_once"}, {"n": 3})
    report = harness.deliver_kinesis()
    assert seen == [[0, 1, 2, 3], [2, 3]]
    assert report.retried_records == 2 and _dlq(harness) == []


def test_a_poison_record_is_bisected_out_and_sent_to_the_dlq_alone(harness):
    seen = _setup(harness, batch_size=8, retries=3)
    _put(harness, *({"n": i, "fail": "raise" if i == 3 else None} for i in range(8)))
    report = harness.deliver_kinesis()
    assert [3] in seen and [4, 5, 6, 7] in seen
    (failed,) = report.failed_batches
    dlq = _dlq(harness)
    assert len(dlq) == 1 and dlq[0]["KinesisBatchInfo"]["batchSize"] == 1
    assert dlq[0]["KinesisBatchInfo"]["startSequenceNumber"] == failed["records"][0]
    assert dlq[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"


def test_without_bisect_the_whole_batch_is_retried_then_dropped_to_the_dlq(harness):
    seen = _setup(harness, batch_size=4, retries=2, bisect=False)
    _put(harness, *({"n": i, "fail": "raise" if i == 1 else None} for i in range(4)))
    harness.deliver_kinesis()
    assert seen == [[0, 1, 2, 3]] * 3
    assert _dlq(harness)[0]["KinesisBatchInfo"]["batchSize"] == 4


@pytest.mark.parametrize(("pattern", "expected"), [
    ({"data": {"n": [{"numeric": [">=", 3, "<", 5]}]}}, [3, 4]),
    ({"data": {"kind": [{"prefix": "buy"}]}}, [0, 2, 4]),
    ({"data": {"kind": [{"anything-but": ["sell"]}]}}, [0, 2, 4, 5]),
    ({"data": {"note": [{"exists": True}]}}, [5]),
], ids=["numeric", "prefix", "anything-but", "exists"])
def test_filter_criteria_match_the_decoded_data_with_eventbridge_patterns(harness, pattern, expected):
    seen = _setup(harness, batch_size=10, patterns=[pattern])
    _put(harness, *({"n": i, "kind": "buy-now" if i % 2 == 0 else "sell"} for i in range(5)),
         {"n": 5, "kind": "hold", "note": "x"})

    report = harness.deliver_kinesis()

    assert [n for batch in seen for n in batch] == expected
    assert report.filtered_records == 6 - len(expected)


def test_filtered_records_are_checkpointed_past_and_batches_count_matching_records(harness):
    seen = _setup(harness, batch_size=2, patterns=[{"data": {"n": [{"numeric": [">", 1]}]}}])
    _put(harness, *({"n": i} for i in range(6)))
    harness.client("kinesis").put_record(StreamName="events", PartitionKey="k", Data=b"not json")

    first = harness.deliver_kinesis()
    again = harness.deliver_kinesis()

    assert seen == [[2, 3], [4, 5]] and first.filtered_records == 3  # 0, 1 and the record that is not JSON
    assert again.records == again.filtered_records == 0  # nothing is read twice


def test_what_lambda_sends_names_the_function_in_the_stages_own_account():
    with OfflineAws(account_id="210987654321") as aws:
        aws.client("kinesis").create_stream(StreamName="events", ShardCount=1)
        aws.client("sqs").create_queue(QueueName="dlq")
        seen = _setup(aws, batch_size=1, retries=0, bisect=False)
        _put(aws, {"n": 0, "fail": "raise"})

        aws.deliver_kinesis()
        (failure,) = _dlq(aws)

    assert seen == [[0]]
    function = failure["requestContext"]["functionArn"]
    assert function.split(":")[4] == "210987654321" and function.endswith(":function:consumer")

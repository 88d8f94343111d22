"""DynamoDB stream → Lambda, delivered the way an event source mapping does it, offline.

moto records a table's stream (readable through the ``dynamodbstreams`` API), but its own
delivery to Lambda runs inside the writer's ``PutItem``, clears the stream once a function
answers and knows no filters, batch item failures, retries or on-failure destinations. So
the harness does not create stream mappings in moto: ``cfn_resources`` hands each
``AWS::Lambda::EventSourceMapping`` on a DynamoDB stream to :class:`StreamDelivery`, and
:meth:`StreamDelivery.deliver` (called after every execution the harness runs, or by a
test) polls each stream from its checkpoint and invokes the function through moto's
Lambda API (so the real handler runs) with Lambda's event shape:

* records are read in order from the checkpoint, ``FilterCriteria`` applied by moto's
  EventBridge pattern matcher (``event_filters``: records that match no pattern are skipped
  and checkpointed past, as Lambda drops them), ``BatchSize`` matching records at a time;
* a function error retries the whole batch; ``{"batchItemFailures": [...]}`` (with
  ``ReportBatchItemFailures``) checkpoints before the lowest failed sequence number and
  retries from there;
* after ``MaximumRetryAttempts`` retries the batch is skipped and, with an SQS
  ``DestinationConfig.OnFailure``, Lambda's failure record is sent there as the function's
  execution role (which needs ``sqs:SendMessage`` and the queue key).

Not emulated: parallelisation factor, tumbling windows, bisecting on error, record age,
shard splits. Retries happen at once (no backoff).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mdlc.harness.event_filters import FilterCriteria


@dataclass
class StreamMapping:
    """One event source mapping from a DynamoDB stream to a function."""

    uuid: str
    stream_arn: str
    function_name: str
    batch_size: int = 100
    maximum_retry_attempts: int = -1  # -1: until the record expires (capped offline)
    report_batch_item_failures: bool = False
    on_failure_arn: str | None = None
    filters: FilterCriteria = field(default_factory=FilterCriteria)
    starting_position: str = "TRIM_HORIZON"
    checkpoint: str | None = None  # sequence number of the last record done with
    delivered: int = 0
    failed_batches: int = 0

    @classmethod
    def from_properties(cls, uuid: str, props: dict[str, Any]) -> StreamMapping:
        """From the resolved properties of ``AWS::Lambda::EventSourceMapping``."""
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        return cls(
            uuid=uuid, stream_arn=props["EventSourceArn"], function_name=_function_name(props["FunctionName"]),
            batch_size=int(props.get("BatchSize", 100)),
            maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
            report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            on_failure_arn=on_failure, filters=FilterCriteria.from_properties(props),
            starting_position=props.get("StartingPosition", "TRIM_HORIZON"),
        )


def is_stream_source(arn: str) -> bool:
    """True for a DynamoDB stream ARN (``arn:aws:dynamodb:…:table/T/stream/…``)."""
    return arn.startswith("arn:") and ":dynamodb:" in arn and "/stream/" in arn


def _function_name(value: str) -> str:
    return value.split(":")[6] if value.startswith("arn:") else value


#: MaximumRetryAttempts -1 retries until the record expires; offline that is capped here.
UNBOUNDED_RETRIES = 100


class StreamDelivery:
    """Every DynamoDB stream mapping of the deployed templates, polled on demand."""

    def __init__(self, client: Callable[[str], Any],
                 client_as: Callable[[str, str | None], Any] | None = None) -> None:
        self._client = client
        # Lambda sends a failed batch's record to the on-failure destination as the function's
        # role (SendMessage and the queue key's use are evaluated for it).
        self._client_as = client_as or (lambda service, role: client(service))
        self.mappings: list[StreamMapping] = []
        # One streams client per stream for this harness session (creating one costs ~7 ms,
        # and the streams are read after every execution).
        self._streams: dict[str, Any] = {}
        self._lock = threading.RLock()

    def add(self, mapping: StreamMapping) -> None:
        self.mappings.append(mapping)

    def deliver(self) -> int:
        """Deliver every new stream record to its functions; returns the batches delivered."""
        batches = 0
        with self._lock:
            for mapping in self.mappings:
                while self._deliver_batch(mapping):
                    batches += 1
        return batches

    # ------------------------------------------------------------------ one batch
    def _deliver_batch(self, mapping: StreamMapping) -> bool:
        read = self._read(mapping)
        records = [r for r in read if mapping.filters.matches(r)][: mapping.batch_size]
        if not records:
            if read:  # all filtered out: Lambda's iterator moves past them
                mapping.checkpoint = read[-1]["dynamodb"]["SequenceNumber"]
            return False
        attempts, limit = 0, (UNBOUNDED_RETRIES if mapping.maximum_retry_attempts < 0
                              else mapping.maximum_retry_attempts)
        while records:
            failed_from = self._invoke(mapping, records)
            if failed_from is None:
                mapping.delivered += len(records)
                mapping.checkpoint = records[-1]["dynamodb"]["SequenceNumber"]
                return True
            done, records = records[:failed_from], records[failed_from:]
            if done:
                mapping.delivered += len(done)
                mapping.checkpoint = done[-1]["dynamodb"]["SequenceNumber"]
            attempts += 1
            if attempts > limit:
                self._send_failure(mapping, records, attempts)
                mapping.failed_batches += 1
                mapping.checkpoint = records[-1]["dynamodb"]["SequenceNumber"]
                return True
        return True

    def _read(self, mapping: StreamMapping) -> list[dict[str, Any]]:
        """The records after the checkpoint (all shards, in sequence order), as Lambda sees them."""
        if not _may_have_records(mapping):
            return []
        streams = self._streams.get(mapping.stream_arn)
        if streams is None:
            streams = self._streams[mapping.stream_arn] = _streams_client(mapping.stream_arn)
        out: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=mapping.stream_arn)["StreamDescription"]["Shards"]:
            args: dict[str, Any] = {"StreamArn": mapping.stream_arn, "ShardId": shard["ShardId"]}
            if mapping.checkpoint is None:
                args["ShardIteratorType"] = mapping.starting_position
            else:
                args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=mapping.checkpoint)
            iterator = streams.get_shard_iterator(**args)["ShardIterator"]
            got = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
            out += [_lambda_record(r, mapping.stream_arn) for r in got]
        out.sort(key=lambda r: int(r["dynamodb"]["SequenceNumber"]))
        return out

    def _invoke(self, mapping: StreamMapping, records: list[dict[str, Any]]) -> int | None:
        """Run the function on ``records``; None if all succeeded, else the index to retry from."""
        answer = self._client("lambda").invoke(FunctionName=mapping.function_name,
                                               Payload=json.dumps({"Records": records}).encode())
        payload = answer["Payload"].read()
        if answer.get("FunctionError"):
            return 0
        if not mapping.report_batch_item_failures:
            return None
        result = json.loads(payload or b"null")
        failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
        if not failures:
            return None
        ids = [r["dynamodb"]["SequenceNumber"] for r in records]
        failed = [ids.index(f.get("itemIdentifier")) for f in failures if f.get("itemIdentifier") in ids]
        # An identifier Lambda cannot match fails the whole batch, as on AWS.
        return min(failed) if len(failed) == len(failures) else 0

    def _send_failure(self, mapping: StreamMapping, records: list[dict[str, Any]], attempts: int) -> None:
        """Lambda's on-failure record for a stream batch, sent to the SQS destination."""
        if not mapping.on_failure_arn or ":sqs:" not in mapping.on_failure_arn:
            return
        shard = records[0]["eventID"].split(":")[0] if ":" in records[0]["eventID"] else "shard"
        message = {
            "requestContext": {"requestId": mapping.uuid, "functionArn": mapping.function_name,
                               "condition": "RetryAttemptsExhausted", "approximateInvokeCount": attempts},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0", "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard, "streamArn": mapping.stream_arn, "batchSize": len(records),
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            },
        }
        url = self._client("sqs").get_queue_url(QueueName=mapping.on_failure_arn.rsplit(":", 1)[-1])["QueueUrl"]
        role = self._client("lambda").get_function_configuration(FunctionName=mapping.function_name).get("Role")
        self._client_as("sqs", role).send_message(QueueUrl=url, MessageBody=json.dumps(message))


def _may_have_records(mapping: StreamMapping) -> bool:
    """False when moto's stream holds no record after the mapping's checkpoint, so a read would
    return none. Asked of moto's table directly: the streams are polled after every execution
    (three requests per mapping and poll), and most polls find nothing new."""
    from moto.dynamodb.models import dynamodb_backends

    parts = mapping.stream_arn.split(":")
    try:
        table = dynamodb_backends[parts[4]][parts[3]].tables[parts[5].split("/")[1]]
        shard = table.stream_shard
        last = shard.starting_sequence_number + len(shard.items) - 1
    except Exception:  # noqa: BLE001 - not a stream moto holds as expected: read it through the API
        return True
    if not shard.items:
        return False
    return mapping.checkpoint is None or last > int(mapping.checkpoint)


def _streams_client(stream_arn: str) -> Any:
    """A DynamoDB Streams client on the regional endpoint moto serves: with a StreamArn,
    botocore otherwise picks the account-ID endpoint (``<account>.streams-ddb.…``)."""
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodbstreams", region_name=stream_arn.split(":")[3],
                        config=Config(account_id_endpoint_mode="disabled"))


def _lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda's event has (epoch seconds, eventSourceARN)."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    return {"eventID": record["eventID"], "eventName": record["eventName"],
            "eventVersion": record.get("eventVersion", "1.1"), "eventSource": "aws:dynamodb",
            "awsRegion": stream_arn.split(":")[3], "dynamodb": dynamodb, "eventSourceARN": stream_arn}


"""Kinesis → Lambda delivery the way an event source mapping does it, over moto's Kinesis.

moto stores stream records but has no event source mapping poller. `KinesisDelivery`
reads each mapped stream's shards from the last checkpoint, invokes the function (through
moto's Lambda, so the harness runs the real handler) with Lambda's Kinesis event, and
applies the mapping's settings:

* ``FilterCriteria`` applied by moto's EventBridge pattern matcher to each record with its
  ``data`` decoded (``event_filters``): records that match no pattern are skipped and
  checkpointed past, as Lambda drops them;
* ``BatchSize`` (matching) records per invocation, per shard, in sequence order;
* a function error retries the batch; with ``BisectBatchOnFunctionError`` it is split in
  two and each half retried (each split counts as a retry);
* with ``ReportBatchItemFailures`` a ``batchItemFailures`` response checkpoints before the
  lowest failed sequence number and retries from there: that record and every later one
  of the batch are delivered again (as on AWS); an identifier not in the batch fails the
  whole batch;
* after ``MaximumRetryAttempts`` the records are skipped and an invocation record with
  ``KinesisBatchInfo`` goes to the ``OnFailure`` destination (SQS), as Lambda sends it.

The function's ARN and execution role in the event and in that record are the function's
own, read from moto's Lambda (so they carry the stage's account and role).

Delivery is synchronous and explicit (`deliver()`), so a test decides when "a second
later" is. Not emulated: batching windows, parallelization factor, record age limits,
tumbling windows.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mdlc.harness.event_filters import FilterCriteria


@dataclass
class Mapping:
    """One AWS::Lambda::EventSourceMapping on a Kinesis stream."""

    function_name: str
    stream_arn: str
    batch_size: int = 100
    bisect: bool = False
    report_failures: bool = False
    retry_attempts: int = -1  # -1: until the record expires (bounded here by max_retries_when_infinite)
    on_failure_arn: str | None = None
    starting_position: str = "TRIM_HORIZON"
    filters: FilterCriteria = field(default_factory=FilterCriteria)
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def stream_name(self) -> str:
        return self.stream_arn.rsplit("/", 1)[-1]


@dataclass
class DeliveryReport:
    """What one `deliver()` call did."""

    invocations: int = 0
    records: int = 0
    retried_records: int = 0
    filtered_records: int = 0  # read and dropped by FilterCriteria
    failed_batches: list[dict[str, Any]] = field(default_factory=list)  # sent to the destination
    delivered_sequence_numbers: list[str] = field(default_factory=list)  # every record per invoke


class KinesisDelivery:
    """Event source mappings of the harness and their shard checkpoints."""

    max_retries_when_infinite = 10

    def __init__(self, client: Callable[[str], Any], region: str,
                 client_as: Callable[[str, str | None], Any] | None = None) -> None:
        self.client = client
        # Lambda sends a failed batch's record to the on-failure destination as the function's
        # role (SendMessage and the queue key's use are evaluated for it).
        self.client_as = client_as or (lambda service, role: client(service))
        self.region = region
        self.mappings: list[Mapping] = []
        self.checkpoints: dict[tuple[str, str], str | None] = {}
        self._functions: dict[str, tuple[str, str]] = {}  # name -> (function ARN, execution role ARN)

    def add(self, mapping: Mapping) -> Mapping:
        self.mappings.append(mapping)
        return mapping

    # -- delivery ---------------------------------------------------------------------
    def deliver(self, function_name: str | None = None) -> DeliveryReport:
        """Deliver every record not yet delivered, shard by shard, until the shards are drained."""
        report = DeliveryReport()
        for mapping in self.mappings:
            if function_name is None or mapping.function_name == function_name:
                pending = self._pending_shards(mapping)
                for shard in self._shards(mapping) if pending else ():
                    if pending is True or shard in pending:
                        self._drain(mapping, shard, report)
        return report

    def _pending_shards(self, mapping: Mapping) -> set[str] | bool:
        """The shards of moto's stream holding a record after the mapping's checkpoint (a read of
        any other returns none), or True when that cannot be told. Asked of moto's stream
        directly: delivery runs after every decision (a ListShards, then an iterator and a read
        per shard), and most shards have nothing new."""
        from moto.kinesis.models import kinesis_backends

        parts = mapping.stream_arn.split(":")
        try:
            stream = kinesis_backends[parts[4]][parts[3]].streams[mapping.stream_name]
            last = {shard_id: next(reversed(shard.records), None) for shard_id, shard in stream.shards.items()}
        except Exception:  # noqa: BLE001 - not a stream moto holds as expected: read every shard
            return True
        pending = set()
        for shard_id, sequence in last.items():
            after = self.checkpoints.get((mapping.uuid, shard_id))
            if sequence is not None and (after is None or sequence > int(after)):
                pending.add(shard_id)
        return pending

    def _shards(self, mapping: Mapping) -> list[str]:
        kinesis = self.client("kinesis")
        shards = kinesis.list_shards(StreamName=mapping.stream_name)["Shards"]
        return [s["ShardId"] for s in shards]

    def _drain(self, mapping: Mapping, shard: str, report: DeliveryReport) -> None:
        read = self._read(mapping, shard)
        records = [r for r in read if not mapping.filters.patterns
                   or mapping.filters.matches_kinesis(self._record(mapping, shard, r))]
        report.filtered_records += len(read) - len(records)
        while records:
            batch, records = records[: mapping.batch_size], records[mapping.batch_size:]
            attempts = mapping.retry_attempts if mapping.retry_attempts >= 0 else self.max_retries_when_infinite
            self._run(mapping, shard, batch, attempts, report, invoke_count=1)
            self.checkpoints[(mapping.uuid, shard)] = batch[-1]["SequenceNumber"]
        if read:  # records filtered out after the last batch are done with too
            self.checkpoints[(mapping.uuid, shard)] = read[-1]["SequenceNumber"]

    def _read(self, mapping: Mapping, shard: str) -> list[dict[str, Any]]:
        kinesis = self.client("kinesis")
        after = self.checkpoints.get((mapping.uuid, shard))
        kwargs: dict[str, Any] = {"StreamName": mapping.stream_name, "ShardId": shard}
        if after:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        else:
            kwargs["ShardIteratorType"] = "LATEST" if mapping.starting_position == "LATEST" else "TRIM_HORIZON"
        iterator = kinesis.get_shard_iterator(**kwargs)["ShardIterator"]
        out: list[dict[str, Any]] = []
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000, StreamARN=mapping.stream_arn)
            out += page["Records"]
            if not page["Records"] or page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page.get("NextShardIterator")
        return out

    def _run(self, mapping: Mapping, shard: str, batch: list[dict[str, Any]], attempts_left: int,
             report: DeliveryReport, invoke_count: int) -> None:
        report.invocations += 1
        report.records += len(batch)
        report.retried_records += len(batch) if invoke_count > 1 else 0
        report.delivered_sequence_numbers += [r["SequenceNumber"] for r in batch]
        error, failed_from = self._invoke(mapping, shard, batch)
        if error is None and failed_from is None:
            return
        remaining = batch if error is not None else batch[failed_from:]
        if attempts_left <= 0:
            self._to_destination(mapping, shard, remaining, invoke_count, error)
            report.failed_batches.append({"shard": shard, "records": [r["SequenceNumber"] for r in remaining],
                                          "error": error})
            return
        if error is not None and mapping.bisect and len(batch) > 1:
            half = len(batch) // 2
            for part in (batch[:half], batch[half:]):
                self._run(mapping, shard, part, attempts_left - 1, report, invoke_count + 1)
            return
        self._run(mapping, shard, remaining, attempts_left - 1, report, invoke_count + 1)

    def _invoke(self, mapping: Mapping, shard: str, batch: list[dict[str, Any]]) -> tuple[str | None, int | None]:
        """(function error, index of the lowest failed record) of one invocation."""
        response = self.client("lambda").invoke(FunctionName=mapping.function_name,
                                                Payload=json.dumps(self.event(mapping, shard, batch)).encode())
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            return payload.decode("utf-8", "replace")[:500], None
        if not mapping.report_failures:
            return None, None
        body = json.loads(payload or b"null")
        failures = (body or {}).get("batchItemFailures") if isinstance(body, dict) else None
        if not failures:
            return None, None
        sequence = [r["SequenceNumber"] for r in batch]
        ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
        if any(i not in sequence for i in ids):
            return f"batchItemFailures names {ids!r}, not all in the batch: the whole batch fails", None
        return None, min(sequence.index(i) for i in ids)

    def event(self, mapping: Mapping, shard: str, batch: list[dict[str, Any]]) -> dict[str, Any]:
        """Lambda's Kinesis event for a batch of GetRecords records."""
        return {"Records": [self._record(mapping, shard, r) for r in batch]}

    def _record(self, mapping: Mapping, shard: str, r: dict[str, Any]) -> dict[str, Any]:
        """One GetRecords record as the function receives it (``invokeIdentityArn``: its role)."""
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0", "partitionKey": r["PartitionKey"],
                "sequenceNumber": r["SequenceNumber"], "data": base64.b64encode(r["Data"]).decode(),
                "approximateArrivalTimestamp": _epoch(r.get("ApproximateArrivalTimestamp")),
            },
            "eventSource": "aws:kinesis", "eventVersion": "1.0",
            "eventID": f"{shard}:{r['SequenceNumber']}", "eventName": "aws:kinesis:record",
            "invokeIdentityArn": self._function(mapping)[1], "awsRegion": self.region,
            "eventSourceARN": mapping.stream_arn,
        }

    def _function(self, mapping: Mapping) -> tuple[str, str]:
        """(function ARN, execution role ARN) of the mapping's function, as moto's Lambda holds it."""
        found = self._functions.get(mapping.function_name)
        if found is None:
            config = self.client("lambda").get_function_configuration(FunctionName=mapping.function_name)
            found = self._functions[mapping.function_name] = (config["FunctionArn"], config["Role"])
        return found

    def _to_destination(self, mapping: Mapping, shard: str, batch: list[dict[str, Any]], invoke_count: int,
                        error: str | None) -> None:
        if not mapping.on_failure_arn:
            return
        record = {
            "requestContext": {"requestId": str(uuid.uuid4()), "condition": "RetryAttemptsExhausted",
                               "approximateInvokeCount": invoke_count,
                               "functionArn": self._function(mapping)[0]},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                                "functionError": "Unhandled" if error else ""},
            "version": "1.0", "timestamp": datetime.now(UTC).isoformat(),
            "KinesisBatchInfo": {
                "shardId": shard, "startSequenceNumber": batch[0]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["SequenceNumber"], "batchSize": len(batch),
                "approximateArrivalOfFirstRecord": _iso(batch[0].get("ApproximateArrivalTimestamp")),
                "approximateArrivalOfLastRecord": _iso(batch[-1].get("ApproximateArrivalTimestamp")),
                "streamArn": mapping.stream_arn,
            },
        }
        queue = mapping.on_failure_arn.rsplit(":", 1)[-1]
        url = self.client("sqs").get_queue_url(QueueName=queue)["QueueUrl"]
        self.client_as("sqs", self._function(mapping)[1]).send_message(QueueUrl=url, MessageBody=json.dumps(record))


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value or 0)


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else ""

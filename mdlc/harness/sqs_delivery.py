"""SQS queue → Lambda, delivered the way an event source mapping does it, offline.

moto's own SQS mapping invokes the function inside the sender's ``SendMessage`` and deletes
the message whatever the function answered. The harness does not create queue mappings in
moto: ``cfn_resources`` hands each ``AWS::Lambda::EventSourceMapping`` on a queue to
:class:`QueueDelivery`, and :meth:`QueueDelivery.deliver` (called after every execution the
harness runs, with the stream deliveries) polls each queue and invokes the function through
moto's Lambda API (so the real handler runs) with Lambda's SQS event shape. What Lambda
checks and does, and moto does not:

* **At creation** (``CreateEventSourceMapping``): the function's timeout must not exceed the
  queue's visibility timeout, and the function's execution role must allow
  ``sqs:ReceiveMessage``, ``sqs:DeleteMessage`` and ``sqs:GetQueueAttributes`` on the queue;
  otherwise the deployment fails with Lambda's ``InvalidParameterValueException`` text.
* **Polling as the function's role**: ``ReceiveMessage`` and ``DeleteMessageBatch`` are made
  with the execution role's credentials, so the IAM evaluator checks them, and, for a queue
  encrypted with a customer managed key, ``kms:Decrypt`` on that key (``iam.py``).
* **Results**: a function error leaves the whole batch on the queue; with
  ``ReportBatchItemFailures`` the ``batchItemFailures`` stay and the rest is deleted (an
  identifier Lambda cannot match fails the batch). A message left on the queue comes back
  when its visibility timeout ends (offline: at once) and, after the queue's
  ``maxReceiveCount`` receives, moto's redrive moves it to the dead-letter queue.

Not emulated: batching windows, maximum concurrency, FIFO group ordering, filter criteria,
the backoff between polls.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: A message that fails with no redrive policy is retried this often offline, then left.
UNBOUNDED_RECEIVES = 20
#: The actions Lambda's CreateEventSourceMapping requires the execution role to have on the queue.
REQUIRED_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


class MappingRefused(ValueError):
    """What Lambda's CreateEventSourceMapping answers (InvalidParameterValueException)."""


@dataclass
class QueueMapping:
    """One event source mapping from an SQS queue to a function."""

    uuid: str
    queue_arn: str
    function_name: str
    role_arn: str | None
    batch_size: int = 10
    report_batch_item_failures: bool = False
    delivered: int = 0
    failed: int = 0

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]

    @classmethod
    def from_properties(cls, uuid: str, props: dict[str, Any]) -> QueueMapping:
        """From the resolved properties of ``AWS::Lambda::EventSourceMapping`` (the role is the
        function's, read when the mapping is added)."""
        return cls(uuid=uuid, queue_arn=str(props["EventSourceArn"]), function_name=str(props["FunctionName"]),
                   role_arn=None, batch_size=int(props.get("BatchSize", 10)),
                   report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []))


def is_queue_source(arn: str) -> bool:
    """True for an SQS queue ARN (``arn:aws:sqs:…:name``)."""
    return arn.startswith("arn:") and ":sqs:" in arn


class QueueDelivery:
    """Every SQS mapping of the deployed templates, polled on demand.

    ``client(service, role_arn)`` gives a boto3 client acting as the role (the admin's when
    None); ``allows(role_arn, action, resource)`` evaluates one action of a role (None: no
    IAM under test)."""

    def __init__(self, client: Callable[[str, str | None], Any],
                 allows: Callable[[str, str, str], tuple[bool, str]] | None = None) -> None:
        self._client = client
        self._allows = allows
        self.mappings: list[QueueMapping] = []
        self._lock = threading.RLock()

    def add(self, mapping: QueueMapping) -> QueueMapping:
        """Lambda's checks of CreateEventSourceMapping, then the mapping is live."""
        self._check(mapping)
        self.mappings.append(mapping)
        return mapping

    def _check(self, mapping: QueueMapping) -> None:
        sqs = self._client("sqs", None)
        url = sqs.get_queue_url(QueueName=mapping.queue_name)["QueueUrl"]
        visibility = int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
                         ["Attributes"]["VisibilityTimeout"])
        config = self._client("lambda", None).get_function_configuration(FunctionName=mapping.function_name)
        timeout, mapping.role_arn = int(config.get("Timeout", 3)), config.get("Role")
        if timeout > visibility:
            raise MappingRefused(f"Invalid request provided: Queue visibility timeout: {visibility} seconds is less "
                                 f"than Function timeout: {timeout} seconds (mapping {mapping.queue_name} → "
                                 f"{mapping.function_name})")
        if self._allows is None or mapping.role_arn is None:
            return
        for action in REQUIRED_ACTIONS:
            allowed, reason = self._allows(mapping.role_arn, action, mapping.queue_arn)
            if not allowed:
                verb = action.split(":", 1)[1]
                raise MappingRefused(f"The provided execution role does not have permissions to call {verb} on "
                                     f"SQS ({mapping.queue_arn}, role {mapping.role_arn}): {reason}")

    def pending(self) -> bool:
        """Whether any mapped queue holds a message (read from moto's backend: no API call, so
        an empty poll after every execution costs nothing)."""
        from moto.sqs.models import sqs_backends

        for mapping in self.mappings:
            _, _, _, region, account, name = mapping.queue_arn.split(":", 5)
            queue = sqs_backends[account][region].queues.get(name)
            if queue is not None and queue.messages:
                return True
        return False

    def deliver(self) -> int:
        """Deliver the messages waiting on every mapped queue; returns the batches delivered."""
        if not self.mappings or not self.pending():
            return 0
        batches = 0
        with self._lock:
            for mapping in self.mappings:
                for _ in range(UNBOUNDED_RECEIVES * 10):  # bounded: a poison message without a DLQ
                    if not self._deliver_batch(mapping):
                        break
                    batches += 1
        return batches

    def _deliver_batch(self, mapping: QueueMapping) -> bool:
        # Lambda polls with the execution role: ReceiveMessage and DeleteMessage(Batch) only.
        admin, sqs = self._client("sqs", None), self._client("sqs", mapping.role_arn)
        url = admin.get_queue_url(QueueName=mapping.queue_name)["QueueUrl"]
        messages: list[dict[str, Any]] = []
        while len(messages) < mapping.batch_size:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, mapping.batch_size - len(messages)),
                                      AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
            if not got:
                break
            messages += got
        # A message received too often without a dead-letter queue is left invisible (as the
        # retention period would end it), so delivery terminates.
        messages = [m for m in messages if int(m["Attributes"]["ApproximateReceiveCount"]) <= UNBOUNDED_RECEIVES]
        if not messages:
            return False
        failed = self._invoke(mapping, [_lambda_record(m, mapping.queue_arn) for m in messages])
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])
        for message in messages:  # the visibility timeout ends at once offline (not a call Lambda makes)
            if message["MessageId"] in failed:
                admin.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=0)
        mapping.delivered += len(done)
        mapping.failed += len(messages) - len(done)
        return True

    def _invoke(self, mapping: QueueMapping, records: list[dict[str, Any]]) -> set[str]:
        """Run the function on ``records``; the message ids to leave on the queue."""
        answer = self._client("lambda", None).invoke(FunctionName=mapping.function_name,
                                                      Payload=json.dumps({"Records": records}).encode())
        payload = answer["Payload"].read()
        every = {r["messageId"] for r in records}
        if answer.get("FunctionError"):
            return every
        if not mapping.report_batch_item_failures:
            return set()
        result = json.loads(payload or b"null")
        failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
        if not failures:
            return set()
        ids = {f.get("itemIdentifier") for f in failures}
        # An identifier Lambda cannot match (or an empty one) fails the whole batch, as on AWS.
        return ids if ids <= every else every


def _lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A received message in the shape Lambda's SQS event has."""
    attributes = {k: v for k, v in (message.get("Attributes") or {}).items()
                  if k in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
                           "MessageGroupId", "SequenceNumber", "MessageDeduplicationId", "AWSTraceHeader")}
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": attributes, "messageAttributes": {
                name: {**{k[0].lower() + k[1:]: v for k, v in value.items()}}
                for name, value in (message.get("MessageAttributes") or {}).items()},
            "md5OfBody": message.get("MD5OfBody"), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
            "awsRegion": queue_arn.split(":")[3]}

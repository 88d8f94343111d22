"""Decision outbox relay: the decisions table's stream → the team's decision event bus and feature stream.

Each new decision item (an INSERT on the stream; the event source mapping filters the
rest) becomes one ``Decision made`` event, in stream order. Records are published one by
one; on the first failure the batch reports that record and every later one as failed
(``ReportBatchItemFailures``), so the event source mapping retries from there and
nothing already published is sent again. Records that keep failing go to the mapping's
dead-letter queue after its retries.

The event detail is the API response plus the request, as recorded by the decision function
(``lambdas/realtime/decide``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.shared.aws import client
from lambdas.shared.spec import env, team_spec

logger = Logger()
tracer = Tracer()
metrics = Metrics()

DETAIL_TYPE = "Decision made"


class PublishFailed(RuntimeError):
    """EventBridge refused or could not take the event."""


def decision_event(record: dict[str, Any]) -> dict[str, Any] | None:
    """The event detail of one stream record (None for anything but a new decision)."""
    if record.get("eventName") != "INSERT":
        return None
    image = record["dynamodb"]["NewImage"]
    detail = json.loads(image["response"]["S"])
    if "request" in image:
        detail["request"] = json.loads(image["request"]["S"])
    return detail


def relay(records: list[dict[str, Any]], publish: Any, feed: Any = None) -> dict[str, Any]:
    """Publish each record's event (and feed its request to the feature stream) in order;
    report the first failure and everything after it."""
    for i, record in enumerate(records):
        detail = decision_event(record)
        if detail is None:
            continue
        try:
            if feed is not None and detail.get("request") is not None:
                feed(detail["request"])
            publish(detail)
        except Exception as exc:  # noqa: BLE001 - every failure is retried by the mapping
            logger.warning("publishing a decision failed; the stream retries from it",
                           extra={"request_id": detail.get("request_id"), "error": type(exc).__name__})
            return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
                                          for r in records[i:]]}
        metrics.add_metric(name="DecisionEventsPublished", unit=MetricUnit.Count, value=1)
    return {"batchItemFailures": []}


class DecisionBus:
    """The team's decision event bus (an adapter tests replace)."""

    def __init__(self, bus: str, source: str) -> None:
        self.bus, self.source = bus, source

    def __call__(self, detail: dict[str, Any]) -> None:
        sent = client("events").put_events(Entries=[{
            "Source": self.source, "DetailType": DETAIL_TYPE, "EventBusName": self.bus,
            "Resources": [], "Detail": json.dumps(detail),
        }])
        if sent.get("FailedEntryCount"):
            codes = [e.get("ErrorCode") for e in sent["Entries"] if e.get("ErrorCode")]
            raise PublishFailed(f"EventBridge rejected the decision event: {codes}")


class FeatureStream:
    """The team's feature stream: every decided transaction is an event for the entity's next
    decision (the consumer counts a repeated transaction once). Fed here, off the decision's
    synchronous path; a failed put is retried from the decisions stream like a failed publish."""

    def __init__(self, stream: str, entity_key: str) -> None:
        self.stream, self.entity_key = stream, entity_key

    def __call__(self, request: dict[str, Any]) -> None:
        client("kinesis").put_record(StreamName=self.stream, PartitionKey=str(request[self.entity_key]),
                                     Data=json.dumps(request).encode())


_bus: DecisionBus | None = None
_feed: FeatureStream | None = None


def _feature_stream() -> FeatureStream | None:
    global _feed
    if _feed is None and os.environ.get("FEATURE_STREAM"):
        _feed = FeatureStream(os.environ["FEATURE_STREAM"], team_spec()["schema"]["entity_key"])
    return _feed


def _decision_bus() -> DecisionBus:
    global _bus
    if _bus is None:
        _bus = DecisionBus(env("DECISION_BUS"), f"mdlc.{team_spec()['name']}")
    return _bus


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """DynamoDB stream batch → one event per new decision; ``batchItemFailures`` to retry."""
    return relay(event.get("Records", []), _decision_bus(), _feature_stream())

"""Decisions the decision function could not write in its time, written here, off the synchronous path.

When the decisions table does not take a decision's write within the decision function's
budget (throttled, slow), the function answers the client anyway and queues the item on
``<team>--decision-records``; this function writes it with the same condition (a new
request id only), so the outbox stream then publishes and feeds it as usual. A request id
that is recorded by now (the client repeated the request, or the first write landed late)
is left as it is. A write that fails is retried by the queue (visibility timeout), then the
message goes to the dead-letter queue, whose alarm pages the team.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.shared.aws import client
from lambdas.shared.spec import env

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def record_all(records: list[dict[str, Any]], table: str, ddb: Any) -> dict[str, Any]:
    """Write each queued item once; report the ones whose write failed (the queue retries them)."""
    failures = []
    for record in records:
        item = json.loads(record["body"])
        try:
            ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(request_id)")
            metrics.add_metric(name="DeferredDecisionsRecorded", unit=MetricUnit.Count, value=1)
        except ddb.exceptions.ConditionalCheckFailedException:
            logger.info("decision recorded already", extra={"request_id": item["request_id"]["S"]})
        except Exception as exc:  # noqa: BLE001 - every failure is retried by the queue
            logger.warning("recording a deferred decision failed; the queue retries it",
                           extra={"request_id": item.get("request_id", {}).get("S"), "error": type(exc).__name__})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batch of DynamoDB items → conditional writes; ``batchItemFailures`` to retry."""
    return record_all(event.get("Records", []), env("DECISIONS_TABLE"), client("dynamodb"))

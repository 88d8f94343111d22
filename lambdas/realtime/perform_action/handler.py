"""Decision step 4: record the decision and publish it, exactly once per request id.

Powertools Idempotency (DynamoDB persistence, keyed on ``request_id``) makes a replay
return the first response without running the action again. The decisions table write is
conditional on the request id being new, so even after the idempotency record expires a
request is never recorded or published twice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)

from lambdas.shared.aws import client
from lambdas.shared.spec import env, team_spec

logger = Logger()
tracer = Tracer()
metrics = Metrics()

DETAIL_TYPE = "Decision made"
RETENTION_DAYS = 400


class DecisionLog:
    """The decisions table and the decisions event bus (an adapter tests replace)."""

    def __init__(self, table: str, bus: str, source: str) -> None:
        self.table, self.bus, self.source = table, bus, source

    def record(self, item: dict[str, Any]) -> bool:
        """Write the decision unless its request id is recorded already; False if it was."""
        ddb = client("dynamodb")
        try:
            ddb.put_item(TableName=self.table, Item=_attributes(item),
                         ConditionExpression="attribute_not_exists(request_id)")
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def first(self, request_id: str) -> dict[str, Any]:
        """The recorded decision of ``request_id``."""
        item = client("dynamodb").get_item(TableName=self.table, Key={"request_id": {"S": request_id}},
                                           ConsistentRead=True)["Item"]
        return json.loads(item["response"]["S"])

    def publish(self, detail: dict[str, Any]) -> None:
        sent = client("events").put_events(Entries=[{
            "Source": self.source, "DetailType": DETAIL_TYPE, "EventBusName": self.bus,
            "Detail": json.dumps(detail),
        }])
        if sent.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge rejected the decision event: {sent['Entries']}")


def _attributes(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in item.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = {"BOOL": value}
        elif isinstance(value, int | float | Decimal):
            out[name] = {"N": str(value)}
        else:
            out[name] = {"S": value if isinstance(value, str) else json.dumps(value)}
    return out


def perform(event: dict[str, Any], spec: dict[str, Any], log: DecisionLog, now: datetime) -> dict[str, Any]:
    """Record and publish one decision; returns the API response body (status 200)."""
    request, decision = event["request"], event["decision"]
    keys = spec["schema"]
    response = {
        "status": 200,
        "request_id": request["request_id"],
        keys["id_column"]: request[keys["id_column"]],
        "decision": decision["decision"],
        "score": decision["score"],
        "model_version": decision["model_version"],
        "reasons": decision["reasons"],
        "fallback": decision["fallback"],
        "unknown_entity": bool(event.get("unknown_entity", False)),
        "decided_at": now.isoformat(),
    }
    item = {
        "request_id": request["request_id"],
        "transaction_id": request[keys["id_column"]],
        "entity_id": request[keys["entity_key"]],
        "decision": decision["decision"],
        "score": None if decision["score"] is None else Decimal(str(decision["score"])),
        "model_version": decision["model_version"],
        "fallback": decision["fallback"],
        "decided_at": response["decided_at"],
        "response": json.dumps(response),
        "expires_at": int(now.timestamp()) + RETENTION_DAYS * 86_400,
    }
    if not log.record(item):
        logger.warning("request id already recorded: returning the first decision",
                       extra={"request_id": request["request_id"]})
        return log.first(request["request_id"])
    log.publish({**response, "request": request})
    return response


_log: DecisionLog | None = None


def _decision_log() -> DecisionLog:
    global _log
    if _log is None:
        _log = DecisionLog(env("DECISIONS_TABLE"), env("DECISION_BUS"), f"mdlc.{team_spec()['name']}")
    return _log


_persistence = DynamoDBPersistenceLayer(table_name=env("IDEMPOTENCY_TABLE"))
_config = IdempotencyConfig(event_key_jmespath="request.request_id", raise_on_no_idempotency_key=True,
                            expires_after_seconds=24 * 3600)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@idempotent(config=_config, persistence_store=_persistence)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Express workflow task: ``{request, decision, unknown_entity}`` → the API response."""
    response = perform(event, team_spec(), _decision_log(), datetime.now(UTC))
    metrics.add_metric(name="ActionsPerformed", unit=MetricUnit.Count, value=1)
    return response

"""Decision step 4: record the decision, exactly once per request id (the outbox).

The decisions table is the outbox: this step only writes the decision (conditional on
the request id being new); the table's stream carries the new item to the relay
(``lambdas/realtime/publish_decisions``), which publishes it to the team's event bus. A failed
publish is retried from the stream, so a recorded decision is never lost, and a replay
never publishes again because it never writes again.

Powertools Idempotency (DynamoDB persistence, keyed on ``request_id``, payload validation
on the whole request) makes a replay return the first response without running the
action again; the same ``request_id`` with other content is a 409 naming the differing
fields, and performs nothing. After the idempotency record expires the decisions table
gives the same answers.
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
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError

from lambdas.shared.aws import client
from lambdas.shared.spec import env, team_spec

logger = Logger()
tracer = Tracer()
metrics = Metrics()

RETENTION_DAYS = 400


class DecisionLog:
    """The decisions table (an adapter tests replace)."""

    def __init__(self, table: str) -> None:
        self.table = table

    def record(self, item: dict[str, Any]) -> bool:
        """Write the decision unless its request id is recorded already; False if it was."""
        ddb = client("dynamodb")
        try:
            ddb.put_item(TableName=self.table, Item=_attributes(item),
                         ConditionExpression="attribute_not_exists(request_id)")
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def first(self, request_id: str) -> dict[str, Any] | None:
        """The recorded decision of ``request_id``: ``{"response", "request"}``, or None."""
        item = client("dynamodb").get_item(TableName=self.table, Key={"request_id": {"S": request_id}},
                                           ConsistentRead=True).get("Item")
        if item is None:
            return None
        return {"response": json.loads(item["response"]["S"]),
                "request": json.loads(item["request"]["S"]) if "request" in item else None}


class Conflict(Exception):
    """The request id was decided before for a request with other content."""

    def __init__(self, request_id: str, fields: list[str]) -> None:
        self.request_id, self.fields = request_id, fields
        super().__init__(f"request_id {request_id!r} reused with other content in {fields}")

    def response(self) -> dict[str, Any]:
        """The 409 body the API returns."""
        named = ", ".join(self.fields) if self.fields else "its content"
        return {"status": 409, "error": "conflict", "request_id": self.request_id, "fields": self.fields,
                "message": f"request_id {self.request_id!r} was already decided for a request with a "
                           f"different {named}; repeat the first request exactly to get its decision, "
                           "or send a new request_id"}


def differing_fields(first: dict[str, Any] | None, again: dict[str, Any]) -> list[str]:
    """Names of the fields whose values differ (present in one request only counts)."""
    if first is None:
        return []
    return sorted(name for name in set(first) | set(again) if first.get(name, _ABSENT) != again.get(name, _ABSENT))


_ABSENT = object()


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
    """Record one decision; returns the API response body (200), or raises Conflict."""
    request, decision = event["request"], event["decision"]
    keys = spec["schema"]
    response = {
        "status": 200,
        "request_id": request["request_id"],
        keys["id_column"]: request[keys["id_column"]],
        "decision": decision["decision"],
        "score": decision["score"],
        "model_version": decision["model_version"],
        "policy_version": decision.get("policy_version"),
        "reasons": decision["reasons"],
        "reason_codes": decision.get("reason_codes", []),
        "decided_by": decision.get("decided_by"),
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
        "policy_version": decision.get("policy_version"),
        "decided_by": decision.get("decided_by"),
        "reason_codes": json.dumps(response["reason_codes"]),
        "fallback": decision["fallback"],
        "decided_at": response["decided_at"],
        "response": json.dumps(response),
        "request": json.dumps(request),
        # The model input the live model saw: a shadow challenger scores exactly this, later
        # and off this path (lambdas/realtime/shadow_decisions). Never in the response or event.
        "features": None if event.get("features") is None else json.dumps(event["features"]),
        "expires_at": int(now.timestamp()) + RETENTION_DAYS * 86_400,
    }
    if log.record(item):
        return response
    first = log.first(request["request_id"]) or {}
    fields = differing_fields(first.get("request"), request)
    if fields or "response" not in first:
        raise Conflict(request["request_id"], fields)
    logger.info("request id already recorded: returning the first decision",
                extra={"request_id": request["request_id"]})
    return first["response"]


_log: DecisionLog | None = None


def _decision_log() -> DecisionLog:
    global _log
    if _log is None:
        _log = DecisionLog(env("DECISIONS_TABLE"))
    return _log


_persistence = DynamoDBPersistenceLayer(table_name=env("IDEMPOTENCY_TABLE"))
# The whole request is validated: the same request_id with other content never replays.
_config = IdempotencyConfig(event_key_jmespath="request.request_id", payload_validation_jmespath="request",
                            raise_on_no_idempotency_key=True, expires_after_seconds=24 * 3600)


@idempotent_function(data_keyword_argument="event", config=_config, persistence_store=_persistence)
def _perform_once(event: dict[str, Any]) -> dict[str, Any]:
    return perform(event, team_spec(), _decision_log(), datetime.now(UTC))


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Express workflow task: ``{request, decision, unknown_entity}`` → the API response (200 or 409)."""
    _config.register_lambda_context(context)
    request = event["request"]
    try:
        response = _perform_once(event=event)
    except IdempotencyValidationError:
        first = _decision_log().first(request["request_id"]) or {}
        conflict = Conflict(request["request_id"], differing_fields(first.get("request"), request))
        return _conflict(conflict)
    except Conflict as conflict:
        return _conflict(conflict)
    metrics.add_metric(name="ActionsPerformed", unit=MetricUnit.Count, value=1)
    logger.info("decision", extra={"request_id": response["request_id"], "decision": response["decision"],
                                   "score": response["score"], "decided_by": response.get("decided_by"),
                                   "reasons": [r["feature"] for r in response.get("reason_codes", [])]})
    return response


def _conflict(conflict: Conflict) -> dict[str, Any]:
    metrics.add_metric(name="ReplayConflicts", unit=MetricUnit.Count, value=1)
    logger.warning("request id reused with other content: 409, nothing performed",
                   extra={"request_id": conflict.request_id, "fields": conflict.fields})
    return conflict.response()

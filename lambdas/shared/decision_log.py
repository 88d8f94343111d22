"""The decisions table (the outbox): one conditional write per request id, replays and 409s.

The decision function's last step writes the decision, conditional on the request id
being new; the table's stream carries the new item to the relay (events, feature stream)
and to the shadow challenger. A replay of the same request gets the first response back
(read from the table), the same request id with other content a 409 naming the differing
fields; neither writes again, so neither is published again. The table is the one
idempotency record: it keeps decisions for ``RETENTION_DAYS``.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from lambdas.shared.aws import client

RETENTION_DAYS = 400


class DecisionLog:
    """The decisions table (an adapter tests replace); ``ddb`` is a DynamoDB client."""

    def __init__(self, table: str, ddb: Any = None) -> None:
        self.table, self._ddb = table, ddb

    @property
    def ddb(self) -> Any:
        return self._ddb or client("dynamodb")

    def record(self, item: dict[str, Any]) -> bool:
        """Write the decision unless its request id is recorded already; False if it was."""
        ddb = self.ddb
        try:
            ddb.put_item(TableName=self.table, Item=attributes(item),
                         ConditionExpression="attribute_not_exists(request_id)")
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def first(self, request_id: str) -> dict[str, Any] | None:
        """The recorded decision of ``request_id``: ``{"response", "request"}``, or None."""
        item = self.ddb.get_item(TableName=self.table, Key={"request_id": {"S": request_id}},
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


_ABSENT = object()


def differing_fields(first: dict[str, Any] | None, again: dict[str, Any]) -> list[str]:
    """Names of the fields whose values differ (present in one request only counts)."""
    if first is None:
        return []
    return sorted(name for name in set(first) | set(again) if first.get(name, _ABSENT) != again.get(name, _ABSENT))


def attributes(item: dict[str, Any]) -> dict[str, Any]:
    """A plain item as DynamoDB attribute values (None left out, lists/dicts as JSON text)."""
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


def response_and_item(request: dict[str, Any], decision: dict[str, Any], spec: dict[str, Any], now: datetime, *,
                      unknown_entity: bool, features: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The 200 body and the decisions-table item of one decision."""
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
        "unknown_entity": bool(unknown_entity),
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
        "features": None if features is None else json.dumps(features),
        "expires_at": int(now.timestamp()) + RETENTION_DAYS * 86_400,
    }
    return response, item


def record_once(log: DecisionLog, request: dict[str, Any], response: dict[str, Any],
                item: dict[str, Any]) -> dict[str, Any]:
    """Write the decision once: the response, the first response of a replay, or raise Conflict."""
    if log.record(item):
        return response
    first = log.first(request["request_id"]) or {}
    fields = differing_fields(first.get("request"), request)
    if fields or "response" not in first:
        raise Conflict(request["request_id"], fields)
    return first["response"]

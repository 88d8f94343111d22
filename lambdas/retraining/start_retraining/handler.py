"""Start the team's training workflow for a retraining trigger, at most one run at a time.

Triggers: the retraining schedule (EventBridge ``Scheduled Event``), a drift, quality or
staleness alarm entering ALARM (``CloudWatch Alarm State Change``), or a person
(``{"reason": "manual"}``). Each run's execution input carries ``reason`` (``schedule``,
``drift:<metric>``, ``quality:<metric>``, ``staleness:model_age_days``, ``manual``), which
the training workflow records in the model's lineage.

Concurrent triggers coalesce: a DynamoDB item per team is the lock, taken with a
conditional write. It is free when absent or when the execution it names is no longer
running; a taker that loses the race, or finds a training run already in progress, records
its reason on the lock and starts nothing.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from botocore.exceptions import ClientError

from lambdas.shared.aws import client
from lambdas.shared.spec import env, team_spec

logger = Logger()
tracer = Tracer()

PENDING_GRACE = timedelta(minutes=5)  # a lock taken but not yet naming its execution


def reason_of(event: dict[str, Any]) -> str | None:
    """Why to retrain, from the triggering event; None when the event asks for nothing."""
    kind = event.get("detail-type")
    if kind == "Scheduled Event":
        return "schedule"
    if kind == "CloudWatch Alarm State Change":
        detail = event.get("detail", {})
        if detail.get("state", {}).get("value") != "ALARM":
            return None
        reasons = json.loads(os.environ.get("ALARM_REASONS", "{}"))
        name = detail.get("alarmName", "")
        return reasons.get(name, f"alarm:{name}")
    reason = event.get("reason")
    return str(reason)[:200] if reason else "manual"


def running_execution(machine: str) -> str | None:
    listed = client("stepfunctions").list_executions(stateMachineArn=machine, statusFilter="RUNNING",
                                                     maxResults=1)["executions"]
    return listed[0]["executionArn"] if listed else None


def lock_is_free(item: dict[str, Any] | None, now: datetime) -> bool:
    if item is None:
        return True
    arn = item.get("execution_arn", {}).get("S", "")
    if not arn:
        taken = datetime.fromisoformat(item["taken_at"]["S"])
        return now - taken > PENDING_GRACE
    status = client("stepfunctions").describe_execution(executionArn=arn)["status"]
    return status != "RUNNING"


def coalesce(table: str, team: str, reason: str, running: str | None) -> dict[str, Any]:
    try:
        client("dynamodb").update_item(
            TableName=table, Key={"team": {"S": team}},
            UpdateExpression="ADD coalesced :one SET last_coalesced_reason = :r",
            ExpressionAttributeValues={":one": {"N": "1"}, ":r": {"S": reason}},
            ConditionExpression="attribute_exists(team)",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    logger.info("retraining already running; trigger coalesced", extra={"reason": reason, "running": running})
    return {"started": False, "reason": reason, "running_execution": running}


def trigger(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    team = team_spec()["name"]
    reason = reason_of(event)
    if reason is None:
        return {"started": False, "reason": None, "ignored": "alarm not in ALARM"}
    table, machine = env("LOCK_TABLE"), env("TRAINING_STATE_MACHINE_ARN")
    ddb = client("dynamodb")
    running = running_execution(machine)
    if running:
        return coalesce(table, team, reason, running)
    item = ddb.get_item(TableName=table, Key={"team": {"S": team}}, ConsistentRead=True).get("Item")
    if not lock_is_free(item, now):
        return coalesce(table, team, reason, item.get("execution_arn", {}).get("S"))
    token = uuid.uuid4().hex
    condition, values = "attribute_not_exists(team)", {}
    if item is not None:
        condition, values = "lock_token = :seen", {":seen": item["lock_token"]}
    try:
        ddb.put_item(
            TableName=table,
            Item={"team": {"S": team}, "lock_token": {"S": token}, "reason": {"S": reason},
                  "taken_at": {"S": now.isoformat()},
                  "expires_at": {"N": str(int((now + timedelta(days=3)).timestamp()))}},
            ConditionExpression=condition, **({"ExpressionAttributeValues": values} if values else {}),
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return coalesce(table, team, reason, None)
        raise
    name = f"retrain-{re.sub(r'[^A-Za-z0-9-]', '-', reason)[:40]}-{now:%Y%m%dT%H%M%S}-{token[:6]}"
    try:
        started = client("stepfunctions").start_execution(
            stateMachineArn=machine, name=name,
            input=json.dumps({"reason": reason, "trigger": {"source": event.get("source", "manual"),
                                                            "time": event.get("time", now.isoformat())}}),
        )
    except Exception:
        ddb.delete_item(TableName=table, Key={"team": {"S": team}}, ConditionExpression="lock_token = :t",
                        ExpressionAttributeValues={":t": {"S": token}})
        raise
    ddb.update_item(TableName=table, Key={"team": {"S": team}}, UpdateExpression="SET execution_arn = :a",
                    ConditionExpression="lock_token = :t",
                    ExpressionAttributeValues={":a": {"S": started["executionArn"]}, ":t": {"S": token}})
    logger.info("retraining started", extra={"reason": reason, "execution": started["executionArn"]})
    return {"started": True, "reason": reason, "execution_arn": started["executionArn"]}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge target (schedule, alarm) or manual invoke: start one guarded training run."""
    return trigger(event, datetime.now(UTC))

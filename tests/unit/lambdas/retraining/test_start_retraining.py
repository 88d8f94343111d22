"""start_retraining: one guarded training run per trigger, concurrent triggers coalesce."""

from __future__ import annotations

import json

import pytest

from lambdas.shared.aws import client

LOCK_TABLE = "fraud-detection-retraining-lock"


@pytest.fixture
def training(aws, monkeypatch) -> str:
    client("dynamodb").create_table(
        TableName=LOCK_TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "team", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "team", "AttributeType": "S"}])
    arn = client("stepfunctions").create_state_machine(
        name="fraud-detection-training", roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))["stateMachineArn"]
    monkeypatch.setenv("LOCK_TABLE", LOCK_TABLE)
    monkeypatch.setenv("TRAINING_STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("ALARM_REASONS", json.dumps({"fraud-detection--endpoint-feature-drift":
                                                    "drift:endpoint_feature_psi"}))
    return arn


def test_an_alarm_starts_one_run_and_a_second_trigger_coalesces(handler, event, context, training):
    first = handler.handler(event, context)
    second = handler.handler({"reason": "manual"}, context)

    assert first["started"] and first["reason"] == "drift:endpoint_feature_psi"
    execution = client("stepfunctions").describe_execution(executionArn=first["execution_arn"])
    assert json.loads(execution["input"])["reason"] == "drift:endpoint_feature_psi"
    assert second == {"started": False, "reason": "manual", "running_execution": first["execution_arn"]}
    lock = client("dynamodb").get_item(TableName=LOCK_TABLE, Key={"team": {"S": "fraud-detection"}})["Item"]
    assert lock["execution_arn"]["S"] == first["execution_arn"] and lock["coalesced"]["N"] == "1"


def test_an_alarm_returning_to_ok_starts_nothing(handler, event, context, training):
    ok = {**event, "detail": {**event["detail"], "state": {"value": "OK"}}}
    assert handler.handler(ok, context) == {"started": False, "reason": None, "ignored": "alarm not in ALARM"}
    assert client("stepfunctions").list_executions(stateMachineArn=training)["executions"] == []


@pytest.mark.parametrize(("trigger", "reason"), [
    ({"detail-type": "Scheduled Event", "source": "aws.events"}, "schedule"),
    ({"detail-type": "CloudWatch Alarm State Change",
      "detail": {"alarmName": "fraud-detection--pr-auc-low", "state": {"value": "ALARM"}}}, "quality:pr_auc"),
    ({"detail-type": "CloudWatch Alarm State Change",
      "detail": {"alarmName": "fraud-detection--pr-auc-low", "state": {"value": "OK"}}}, None),
    ({"reason": "manual"}, "manual"),
    ({}, "manual"),
])
def test_retraining_reason_comes_from_the_trigger(handler, trigger, reason, monkeypatch):
    monkeypatch.setenv("ALARM_REASONS", json.dumps({"fraud-detection--pr-auc-low": "quality:pr_auc"}))
    assert handler.reason_of(trigger) == reason

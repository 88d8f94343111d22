"""Fault injection: planned errors on any moto service dispatched through call_action."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from mdlc.harness.faults import FaultInjector

from .support import aws, machine  # noqa: F401 - pytest fixture


def _table(aws):  # noqa: F811
    aws.client("dynamodb").create_table(
        TableName="runs", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])


def test_fault_fires_the_planned_number_of_times(aws):  # noqa: F811
    _table(aws)
    # a code boto3 does not retry by itself (it does retry throttling)
    aws.inject_fault("dynamodb", "PutItem", "ConditionalCheckFailedException", times=2)
    dynamodb = aws.client("dynamodb")
    item = {"id": {"S": "r1"}}
    errors = []
    for _ in range(2):
        with pytest.raises(ClientError) as caught:
            dynamodb.put_item(TableName="runs", Item=item)
        errors.append(caught.value.response["Error"]["Code"])

    dynamodb.put_item(TableName="runs", Item=item)  # the third call goes through

    assert errors == ["ConditionalCheckFailedException"] * 2
    assert dynamodb.get_item(TableName="runs", Key=item)["Item"] == item


def test_state_machine_retry_recovers_an_injected_dynamodb_fault(aws):  # noqa: F811
    _table(aws)
    aws.inject_fault("dynamodb", "put_item", "ThrottlingException")
    states = {"Save": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                       "Parameters": {"TableName": "runs", "Item": {"id": {"S.$": "$.id"}}},
                       "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                       "End": True}}

    result = aws.run(machine(aws, states, "Save"), {"id": "r9"})

    assert result.succeeded, result.cause
    assert [event["type"] for event in result.history].count("TaskFailed") == 1


def test_injector_matches_service_and_operation_spellings():
    injector = FaultInjector()
    injector.add("SageMaker", "create_training_job", "ThrottlingException")

    assert injector.take("sagemaker", "CreateProcessingJob") is None
    assert injector.take("sagemaker", "CreateTrainingJob").error_code == "ThrottlingException"
    assert injector.take("sagemaker", "CreateTrainingJob") is None
    with pytest.raises(ValueError, match="times"):
        injector.add("s3", "PutObject", "SlowDown", times=0)

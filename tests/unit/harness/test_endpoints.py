"""Endpoints: InvokeEndpoint runs the model's script; UpdateEndpoint with alarm rollback."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from .support import aws, endpoint, machine, serving_model  # noqa: F401

CANARY = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 300,
                                        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}},
        "TerminationWaitInSeconds": 120},
    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "fraud-5xx"}]},
}


def _invoke(aws, name, body=b'{"x": 3}', content_type="application/json"):  # noqa: F811
    return aws.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=name, Body=body, ContentType=content_type)


def test_invoke_endpoint_runs_the_inference_script(aws):  # noqa: F811
    endpoint(aws, "fraud", serving_model(aws, "v1", mean=2.0))

    response = _invoke(aws, "fraud")

    assert json.loads(response["Body"].read()) == [6.0]
    assert (response["ContentType"], response["InvokedProductionVariant"]) == (
        "application/json", "AllTraffic")


def test_script_error_is_a_model_error(aws):  # noqa: F811
    endpoint(aws, "fraud", serving_model(aws))

    with pytest.raises(ClientError) as caught:
        _invoke(aws, "fraud", body=b"x", content_type="text/plain")

    assert caught.value.response["Error"]["Code"] == "ModelError"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    # The image's script-mode serving stack (sagemaker_containers' Flask worker) turns an
    # exception of input_fn into Flask's own HTTP 500 page: that is what SageMaker relays.
    assert caught.value.response["OriginalStatusCode"] == 500
    assert "Received server error (500)" in caught.value.response["Error"]["Message"]
    assert "500 Internal Server Error" in caught.value.response["Error"]["Message"]


def test_broken_and_timed_out_endpoints(aws):  # noqa: F811
    endpoint(aws, "fraud", serving_model(aws))
    aws.break_endpoint("fraud", error="container crashed")
    with pytest.raises(ClientError, match="container crashed"):
        _invoke(aws, "fraud")
    aws.break_endpoint("fraud", timeout=True)
    with pytest.raises(ClientError, match="timed out"):
        _invoke(aws, "fraud")
    aws.repair_endpoint("fraud")
    assert json.loads(_invoke(aws, "fraud")["Body"].read()) == [6.0]


def test_unknown_endpoint_is_a_validation_error(aws):  # noqa: F811
    with pytest.raises(ClientError, match="Endpoint nope of account"):
        _invoke(aws, "nope")


def test_step_functions_invoke_endpoint_task(aws):  # noqa: F811
    endpoint(aws, "fraud", serving_model(aws))
    states = {"Score": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sagemakerruntime:invokeEndpoint",
        "Parameters": {"EndpointName": "fraud", "ContentType": "application/json", "Body.$": "$"},
        "Catch": [{"ErrorEquals": ["SageMakerRuntime.ModelErrorException"], "Next": "Down"}],
        "End": True},
        "Down": {"Type": "Pass", "Result": "down", "End": True}}
    arn = machine(aws, states, "Score")

    scored = aws.run(arn, {"x": 5})
    aws.break_endpoint("fraud")
    down = aws.run(arn, {"x": 5})

    assert json.loads(scored.output["Body"]) == [10.0]
    assert down.output == "down"


def test_update_endpoint_switches_to_the_new_model(aws):  # noqa: F811
    endpoint(aws, "fraud", serving_model(aws, "v1", mean=2.0))
    endpoint_config = endpoint(aws, "staging", serving_model(aws, "v2", mean=10.0), config="cfg-v2")
    sagemaker = aws.client("sagemaker")

    sagemaker.update_endpoint(EndpointName="fraud", EndpointConfigName=endpoint_config,
                              DeploymentConfig=CANARY)

    described = sagemaker.describe_endpoint(EndpointName="fraud")
    assert (described["EndpointConfigName"], described["EndpointStatus"]) == ("cfg-v2", "InService")
    assert described["LastDeploymentConfig"]["AutoRollbackConfiguration"] == CANARY[
        "AutoRollbackConfiguration"]
    assert json.loads(_invoke(aws, "fraud")["Body"].read()) == [30.0]


def test_update_endpoint_rolls_back_when_an_alarm_is_firing(aws):  # noqa: F811
    endpoint(aws, "fraud", serving_model(aws, "v1", mean=2.0))
    endpoint(aws, "staging", serving_model(aws, "v2", mean=10.0), config="cfg-v2")
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName="fraud-5xx", MetricName="Invocation5XXErrors",
                                Namespace="AWS/SageMaker", Statistic="Sum", Period=60,
                                EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="fraud-5xx", StateValue="ALARM", StateReason="5xx")
    states = {"Deploy": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:updateEndpoint",
                         "Parameters": {"EndpointName": "fraud", "EndpointConfigName": "cfg-v2",
                                        "DeploymentConfig": CANARY}, "End": True}}

    result = aws.run(machine(aws, states, "Deploy"), {})

    assert result.succeeded  # UpdateEndpoint is accepted; the rollback shows in Describe
    described = aws.client("sagemaker").describe_endpoint(EndpointName="fraud")
    assert described["EndpointConfigName"] == "fraud-v1"
    assert "rolled back" in described["FailureReason"] and "fraud-5xx" in described["FailureReason"]
    assert aws.endpoint_updates[-1].rolled_back
    assert json.loads(_invoke(aws, "fraud")["Body"].read()) == [6.0]


def test_update_endpoint_with_unknown_config_is_rejected(aws):  # noqa: F811
    endpoint(aws, "fraud", serving_model(aws))

    with pytest.raises(ClientError, match="Could not find endpoint configuration"):
        aws.client("sagemaker").update_endpoint(EndpointName="fraud", EndpointConfigName="missing")

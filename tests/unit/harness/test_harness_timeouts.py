"""The harness honours timeouts as AWS does (harness emulation tests).

A Lambda handler that runs past its function's Timeout (its thread's CPU time plus the
harness' emulated waits) is answered with Lambda's timeout error (``Sandbox.Timedout``) at
the timeout, not when the handler ends; a handler that
invokes another function does not wait for itself; a hanging endpoint keeps its caller
waiting only until the caller's own read timeout, which then fails the call as the socket
would (botocore's ``ReadTimeoutError``), without retrying when the client allows one try.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from .support import IMAGE, aws  # noqa: F401


def test_a_handler_past_its_timeout_gets_lambdas_timeout_error_at_the_timeout(aws):  # noqa: F811
    """A handler's duration is its own: its thread's CPU time plus the harness' emulated waits
    (the machine's other processes are not the function's time)."""
    finished = []

    def slow(event, context):
        ends = time.thread_time() + 3
        while time.thread_time() < ends:  # three seconds of the function's own work
            pass
        finished.append(True)
        return {"late": True}

    aws.register_lambda("slow", handler=slow, timeout=1)
    response = aws.client("lambda").invoke(FunctionName="slow", Payload=b"{}")

    assert not finished  # answered at the timeout, while the handler still worked
    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "Sandbox.Timedout" and "Task timed out after 1.00 seconds" in payload["errorMessage"]


def test_a_handler_within_its_timeout_answers_and_may_invoke_another_function(aws):  # noqa: F811
    aws.register_lambda("inner", handler=lambda event, context: {"inner": event["n"] + 1}, timeout=1)

    def outer(event, context):
        answer = boto3.client("lambda", region_name=aws.region).invoke(FunctionName="inner",
                                                                       Payload=json.dumps(event))
        return json.loads(answer["Payload"].read())

    aws.register_lambda("outer", handler=outer, timeout=30)  # a new boto3 client may take a second here
    response = aws.client("lambda").invoke(FunctionName="outer", Payload=b'{"n": 1}')

    assert "FunctionError" not in response and json.loads(response["Payload"].read()) == {"inner": 2}


def _endpoint(aws) -> str:  # noqa: F811
    sm = aws.client("sagemaker")
    sm.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://bucket/model.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName="hung", EndpointConfigName="c")
    return "hung"


@pytest.mark.parametrize("attempts", [1, 3])
def test_a_hanging_endpoint_fails_the_call_at_the_clients_read_timeout(aws, attempts):  # noqa: F811
    name = _endpoint(aws)
    aws.break_endpoint(name, None, hang_seconds=30)
    runtime = boto3.client("sagemaker-runtime", region_name=aws.region, config=Config(
        read_timeout=0.05, connect_timeout=0.05, retries={"mode": "standard", "total_max_attempts": attempts}))

    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        runtime.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json")
    elapsed = time.monotonic() - started

    # Each attempt waited its 50 ms; standard retries back off (≤ 1 s each) between them.
    assert 0.05 * attempts <= elapsed < 0.05 * attempts + (attempts - 1) * 1.0 + 1.0, elapsed
    assert aws.endpoints.waits == []  # no wait ran to its end


def _lambda_task_machine(aws, function: str) -> str:  # noqa: F811
    from .support import machine

    arn = aws.client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    return machine(aws, {"Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                  "Parameters": {"FunctionName": arn, "Payload.$": "$"},
                                  "TimeoutSeconds": 1, "End": True}}, "Call")


def test_a_lambda_task_is_timed_by_its_function_not_by_the_machines_other_work(aws):  # noqa: F811
    """A Lambda task whose TimeoutSeconds is its function's timeout: 1.5 s of wall clock spent
    waiting (here a sleep, standing in for the other test workers and model servers sharing the
    machine, which moto's wall-clock wait would count) is not the function's time, so the task
    succeeds; 2 s of the function's own work fails it with Lambda's own timeout error, as on AWS.
    (Harness emulation: without the headroom the first run fails with States.Timeout.)"""
    def waits(event, context):
        time.sleep(1.5)
        return {"ok": True}

    def works(event, context):
        ends = time.thread_time() + 2
        while time.thread_time() < ends:
            pass
        return {"ok": True}

    aws.register_lambda("waits", handler=waits, timeout=1)
    aws.register_lambda("works", handler=works, timeout=1)

    waited = aws.run(_lambda_task_machine(aws, "waits"), {})
    worked = aws.run(_lambda_task_machine(aws, "works"), {})

    assert waited.succeeded, waited.cause
    assert not worked.succeeded and "Sandbox.Timedout" in str(worked.cause) + str(worked.error), worked

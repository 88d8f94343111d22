"""Lambda invokes (boto3 and Step Functions) run the real handler in-process."""

from __future__ import annotations

import json
import os

from .support import BUCKET, FIXTURES, aws, machine, read  # noqa: F401

GREET = FIXTURES / "lambdas" / "greet"
FLAKY = FIXTURES / "lambdas" / "flaky"


def test_boto3_invoke_runs_the_handler_with_its_environment(aws):  # noqa: F811
    aws.register_lambda("greet", source_dir=GREET,
                        environment={"GREETING": "hi", "OUTPUT_BUCKET": BUCKET})

    response = aws.client("lambda").invoke(FunctionName="greet", Payload=json.dumps({"name": "ann"}))

    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"greeting": "HI ANN", "function": "greet"}
    assert read(aws, "greeting.txt") == b"HI ANN"  # the handler's own boto3 call hit moto
    assert "GREETING" not in os.environ  # variables are set for the call only


def test_handler_exception_is_a_function_error(aws):  # noqa: F811
    aws.register_lambda("flaky", source_dir=FLAKY)

    response = aws.client("lambda").invoke(FunctionName="flaky", Payload=b'{"run_id": "r1"}')

    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "QualityGateFailed"
    assert payload["errorMessage"] == "gate failed for r1"


def test_state_machine_catches_the_handler_error_by_name(aws):  # noqa: F811
    flaky = aws.register_lambda("flaky", source_dir=FLAKY)
    states = {
        "Gate": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": flaky, "Payload.$": "$"},
                 "Catch": [{"ErrorEquals": ["QualityGateFailed"], "ResultPath": "$.error",
                            "Next": "Rejected"}],
                 "End": True},
        "Rejected": {"Type": "Fail", "Error": "Rejected", "CausePath": "$.error.Cause"},
    }

    result = aws.run(machine(aws, states, "Gate"), {"run_id": "r7"})

    assert result.state_names == ["Gate", "Rejected"]
    assert result.error == "Rejected"
    assert json.loads(result.cause)["errorMessage"] == "gate failed for r7"


def test_state_machine_retries_a_failing_callable_until_it_succeeds(aws):  # noqa: F811
    calls = []

    def sometimes(event, context):
        calls.append(event)
        if len(calls) < 2:
            raise TimeoutError("transient")
        return {"attempts": len(calls), "fn": context.function_name}

    arn = aws.register_lambda("sometimes", handler=sometimes)
    states = {"Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                       "Parameters": {"FunctionName": arn, "Payload.$": "$"},
                       "Retry": [{"ErrorEquals": ["TimeoutError"], "IntervalSeconds": 1,
                                  "MaxAttempts": 2}],
                       "OutputPath": "$.Payload", "End": True}}

    result = aws.run(machine(aws, states, "Call"), {"x": 1})

    assert result.output == {"attempts": 2, "fn": "sometimes"}


def test_functions_without_a_route_keep_moto_behaviour(aws):  # noqa: F811
    aws.client("lambda").create_function(
        FunctionName="plain", Runtime="python3.12", Role=aws.execution_role_arn(),
        Handler="handler.handler", Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})

    response = aws.client("lambda").invoke(FunctionName="plain", Payload=b'{"a": 1}')

    assert json.loads(response["Payload"].read()) == {"a": 1}  # moto echoes the payload

"""OfflineAws.run / run_sync: status, output, states in order, progress, timeouts."""

from __future__ import annotations

import importlib
import json
from unittest import mock

import pytest

import mdlc.harness
from mdlc.harness.execution import follow_execution

from .support import aws, machine  # noqa: F401 - pytest fixture

CHOICE = {
    "Check": {"Type": "Choice", "Choices": [
        {"Variable": "$.ok", "BooleanEquals": True, "Next": "Done"}], "Default": "Broken"},
    "Done": {"Type": "Pass", "Result": {"answer": 42}, "End": True},
    "Broken": {"Type": "Fail", "Error": "Mdlc.Broken", "Cause": "ok was false"},
}


def test_moto_version_is_pinned():
    """Importing the harness against another moto version fails with a clear message."""
    with mock.patch("importlib.metadata.version", return_value="5.0.0"):
        with pytest.raises(ImportError, match="pinned to moto==5.2.5"):
            importlib.reload(mdlc.harness)
    importlib.reload(mdlc.harness)


def test_run_reports_output_and_states_in_order(aws):  # noqa: F811
    seen = []
    arn = machine(aws, CHOICE, "Check")

    result = aws.run(arn, {"ok": True}, progress=seen.append)

    assert result.succeeded and result.output == {"answer": 42}
    assert result.state_names == ["Check", "Done"]
    assert [(visit.name, visit.duration is None) for visit in seen] == [
        ("Check", True), ("Check", False), ("Done", True), ("Done", False)]
    assert all(visit.entered_at >= 0 for visit in result.states)


def test_run_reports_error_and_cause_of_a_failed_execution(aws):  # noqa: F811
    result = aws.run(machine(aws, CHOICE, "Check"), '{"ok": false}', name="named-run")

    assert result.status == "FAILED"
    assert (result.error, result.cause) == ("Mdlc.Broken", "ok was false")
    assert result.execution_arn.endswith(":named-run")


def test_run_times_out_with_the_states_seen_so_far(aws):  # noqa: F811
    arn = machine(aws, {"Sleep": {"Type": "Wait", "Seconds": 30, "End": True}}, "Sleep")

    with pytest.raises(TimeoutError, match="Sleep"):
        aws.run(arn, {}, timeout=0.3)


def test_run_sync_returns_a_start_sync_execution_response(aws):  # noqa: F811
    arn = machine(aws, CHOICE, "Check", kind="EXPRESS")

    response = aws.run_sync(arn, {"ok": True})

    assert response["status"] == "SUCCEEDED"
    assert response["output"] == '{"answer": 42}' or response["output"].replace(" ", "") == '{"answer":42}'
    assert response["stateMachineArn"] == arn and "stopDate" in response


def test_run_sync_rejects_a_standard_machine(aws):  # noqa: F811
    with pytest.raises(ValueError, match="EXPRESS"):
        aws.run_sync(machine(aws, CHOICE, "Check"), {"ok": True})


# The tests below check the harness' own emulation (what it reuses between calls), not the product.
FAN_OUT = {
    "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 4,
             "ItemSelector": {"n.$": "$$.Map.Item.Value", "tag.$": "$.tag"},
             "ItemProcessor": {"StartAt": "Keep", "States": {
                 "Keep": {"Type": "Pass", "Parameters": {"n.$": "$.n", "tag.$": "$.tag"}, "End": True}}},
             "ResultPath": "$.out", "Next": "Pick"},
    "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.tag", "StringEquals": "a", "Next": "A"}],
             "Default": "B"},
    "A": {"Type": "Pass", "Parameters": {"branch": "A", "out.$": "$.out"}, "End": True},
    "B": {"Type": "Pass", "Parameters": {"branch": "B", "out.$": "$.out"}, "End": True},
}


def test_executions_of_one_definition_at_once_keep_their_own_data(aws):  # noqa: F811
    """The parsed definition is shared by every execution of it: none sees another's data."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    arn = machine(aws, FAN_OUT, "Each")
    sfn = aws.client("stepfunctions")
    inputs = {f"run-{i}": {"tag": "ab"[i % 2], "items": list(range(i, i + 5))} for i in range(6)}
    started = {name: sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(value))["executionArn"]
               for name, value in inputs.items()}

    for name, execution_arn in started.items():
        result = follow_execution(sfn, execution_arn, timeout=60)
        tag, items = inputs[name]["tag"], inputs[name]["items"]
        assert result.output == {"branch": tag.upper(), "out": [{"n": n, "tag": tag} for n in items]}, name
    assert AmazonStateLanguageParser.parse.cache_info().hits >= len(inputs) - 1


def test_a_run_reads_its_history_back_unless_told_not_to(aws):  # noqa: F811
    arn = machine(aws, CHOICE, "Check")

    assert aws.run(arn, {"ok": True}).state_names == ["Check", "Done"]
    quiet = aws.run(arn, {"ok": True}, history=False)  # as run_sync does: its response has no states
    assert quiet.output == {"answer": 42} and quiet.history == [] and quiet.states == []


def test_clients_are_made_once_per_service_and_principal(aws):  # noqa: F811
    from mdlc.harness.iam import acting_as

    s3 = aws.client("s3")
    assert aws.client("s3") is s3 and aws.client("sqs") is not s3
    with acting_as(aws.execution_role_arn()):
        assert aws.client("s3") is not s3

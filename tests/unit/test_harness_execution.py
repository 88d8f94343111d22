"""OfflineAws.run / run_sync: status, output, states in order, progress, timeouts."""

from __future__ import annotations

import importlib
from unittest import mock

import pytest

import mdlc.harness

from .test_harness_support import aws, machine  # noqa: F401 - pytest fixture

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

"""Deployment gate handler (lambdas/realtime/ensure_online_features) against moto SSM and
Step Functions: it starts the backfill once, waits, and stops a deployment whose backfill failed."""

from __future__ import annotations

import importlib
import json

import boto3
import pytest
from moto import mock_aws

from lambdas.shared.aws import reset_clients
from mdlc import features as F
from mdlc.contract import MODELS_DIR, load_team, runtime_spec

SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))
gate = importlib.import_module("lambdas.realtime.ensure_online_features.handler")
PARAMETER = "/mdlc/fraud-detection/features/state-signature"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        reset_clients()
        sfn = boto3.client("stepfunctions", region_name="eu-west-1")
        role = "arn:aws:iam::123456789012:role/backfill"
        definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
        arn = sfn.create_state_machine(name="fraud-detection-feature-backfill", definition=definition,
                                       roleArn=role)["stateMachineArn"]
        yield sfn, boto3.client("ssm", region_name="eu-west-1"), arn
    reset_clients()


def test_a_table_without_the_definitions_starts_one_backfill_and_waits(aws):
    sfn, _, arn = aws
    first = gate.check(SPEC, arn)
    second = gate.check(SPEC, arn, first["backfill"])
    assert first["ready"] is False and first["found"] is None and first["backfill"]
    assert second["backfill"] == first["backfill"]  # the running one, not a second
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1


def test_the_recorded_signature_of_this_team_file_lets_the_deployment_go_on(aws):
    _, ssm, arn = aws
    ssm.put_parameter(Name=PARAMETER, Type="String", Value=F.state_signature(SPEC, F.lateness_us(SPEC)))
    assert gate.check(SPEC, arn)["ready"] is True


def test_a_failed_backfill_stops_the_deployment_by_name(aws):
    sfn, ssm, arn = aws
    ssm.put_parameter(Name=PARAMETER, Type="String", Value="0123456789abcdef")  # older definitions
    started = gate.check(SPEC, arn)["backfill"]
    sfn.stop_execution(executionArn=started)
    with pytest.raises(gate.FeatureBackfillFailed, match="ended ABORTED.*0123456789abcdef"):
        gate.check(SPEC, arn, started)


def test_handler_on_its_sample_event_starts_the_backfill(aws, event, context, monkeypatch):
    _, _, arn = aws
    monkeypatch.setenv("BACKFILL_STATE_MACHINE", arn)
    monkeypatch.setattr(gate, "team_spec", lambda: SPEC)
    assert gate.handler(event, context)["ready"] is False

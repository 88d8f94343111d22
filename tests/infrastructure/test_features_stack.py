"""The feature pipeline stack of every team: stream, consumer mapping, DLQ, backfill, alarms."""

from __future__ import annotations

import json

import pytest

from mdlc.contract import load_team, team_files
from mdlc.names import alarm_name, state_machine_name, team_resource

TEAMS = [load_team(p) for p in team_files()]


def resources(assembly, team, kind: str) -> list[dict]:
    template = assembly.template(f"{team.name}-features")
    return [r for r in template["Resources"].values() if r["Type"] == kind]


@pytest.mark.parametrize("team", TEAMS, ids=[t.name for t in TEAMS])
def test_the_stream_is_on_demand_and_encrypted_with_the_team_key(assembly, team):
    (stream,) = resources(assembly, team, "AWS::Kinesis::Stream")
    props = stream["Properties"]
    assert props["Name"] == team_resource(team.name, "events")
    assert props["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert props["StreamEncryption"]["EncryptionType"] == "KMS" and "aws/kinesis" not in json.dumps(props)


@pytest.mark.parametrize("team", TEAMS, ids=[t.name for t in TEAMS])
def test_the_consumer_mapping_batches_bisects_reports_partial_failures_and_has_a_dlq(assembly, team):
    (mapping,) = resources(assembly, team, "AWS::Lambda::EventSourceMapping")
    p, s = mapping["Properties"], team.streaming
    assert p["BatchSize"] == s.batch_size and p["MaximumBatchingWindowInSeconds"] == s.max_batching_window_seconds
    assert p["BisectBatchOnFunctionError"] is True and p["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert p["MaximumRetryAttempts"] == s.retry_attempts
    dlq = p["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    template = assembly.template(f"{team.name}-features")
    assert template["Resources"][dlq]["Type"] == "AWS::SQS::Queue"
    assert "KmsMasterKeyId" in template["Resources"][dlq]["Properties"]
    function = template["Resources"][p["FunctionName"]["Ref"]]["Properties"]
    assert function["Handler"] == "lambdas.features.consume_events.handler.handler"


@pytest.mark.parametrize("team", TEAMS, ids=[t.name for t in TEAMS])
def test_dlq_lag_and_mismatch_are_alarmed_to_the_team(assembly, team):
    found = resources(assembly, team, "AWS::CloudWatch::Alarm")
    alarms = {a["Properties"]["AlarmName"]: a["Properties"] for a in found}
    assert set(alarms) == {alarm_name(team.name, f"features-{s}")
                           for s in ("dlq", "iterator-age", "lag", "mismatch", "item-size")}
    size = alarms[alarm_name(team.name, "features-item-size")]  # a hot key nearing DynamoDB's 400 KB item limit
    assert (size["MetricName"], size["Statistic"], size["Threshold"]) == ("LargestOnlineItemBytes", "Maximum",
                                                                         int(400 * 1024 * 0.75))
    assert alarms[alarm_name(team.name, "features-lag")]["Threshold"] == team.streaming.max_lag_seconds * 1000
    assert alarms[alarm_name(team.name, "features-mismatch")]["Threshold"] == team.streaming.max_mismatch_rate
    assert all(a["AlarmActions"] for a in alarms.values())
    (dashboard,) = resources(assembly, team, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "IteratorAge" in body and "StreamToFeatureLag" in body and "ReconciliationMismatchRate" in body


@pytest.mark.parametrize("team", TEAMS, ids=[t.name for t in TEAMS])
def test_the_backfill_is_a_scheduled_standard_workflow_over_entity_shards(assembly, team):
    (machine,) = resources(assembly, team, "AWS::StepFunctions::StateMachine")
    assert machine["Properties"]["StateMachineName"] == state_machine_name(team.name, "feature-backfill")
    assert machine["Properties"].get("StateMachineType", "STANDARD") == "STANDARD"
    text = json.dumps(machine["Properties"]["DefinitionString"])
    assert "DISTRIBUTED" in text and "s3:listObjectsV2" in text
    (rule,) = resources(assembly, team, "AWS::Events::Rule")
    assert rule["Properties"]["ScheduleExpression"] == team.streaming.reconciliation_schedule


@pytest.mark.parametrize("team", [t for t in TEAMS if t.realtime.enabled], ids=lambda t: t.name)
def test_the_deployment_waits_for_the_online_features(assembly, team):
    template = assembly.template(f"{team.name}-realtime")
    machine = next(r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"
                   and r["Properties"]["StateMachineName"] == state_machine_name(team.name, "deployment"))
    text = json.dumps(machine["Properties"]["DefinitionString"])
    assert "Check online features" in text and "Wait for feature backfill" in text

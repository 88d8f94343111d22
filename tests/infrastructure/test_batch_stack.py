"""CDK assertions on the example team's batch stack (product: the synthesised templates)."""

from __future__ import annotations

import json

from tests.infrastructure.stack_support import TEAM, happy_path, machine, resources


def test_batch_workflow_checks_input_scores_validates_then_publishes(assembly):
    d = machine(assembly, "batch")
    order = happy_path(d)
    assert order[:4] == ["Prepare batch run", "Input data quality check", "Read data quality report",
                         "Input data quality passed?"]
    assert order.index("Create model") < order.index("Batch transform") < order.index("Validate output") \
        < order.index("Output valid?") < order.index("Publish results") < order.index("Publish BatchScored event")
    s = d["States"]
    assert s["Input data quality passed?"]["Default"] == "Notify DataQualityFailed"
    assert s["Output valid?"]["Default"] == "Notify BatchOutputInvalid"
    assert s["Input data quality check"]["Parameters"]["Environment"]["REQUIRE_LABEL"] == "false"
    event = s["Publish BatchScored event"]["Parameters"]["Entries"][0]
    assert event["DetailType"] == "BatchScored" and event["Source"] == "mdlc.fraud-detection"


def test_transform_job_takes_format_strategy_and_instances_from_the_team_file(assembly):
    t = machine(assembly, "batch")["States"]["Batch transform"]
    assert t["Resource"] == "arn:aws:states:::sagemaker:createTransformJob.sync"
    p = t["Parameters"]
    assert p["BatchStrategy"] == "MultiRecord" and p["MaxPayloadInMB"] == TEAM.batch.max_payload_mb
    assert p["TransformInput"]["SplitType"] == "Line" and p["TransformInput"]["ContentType"] == TEAM.batch.content_type
    assert p["TransformResources"]["InstanceCount"] == TEAM.batch.instance_count
    assert p["TransformResources"]["InstanceType"] == TEAM.batch.instance_type
    assert p["DataProcessing"] == {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
    assert "KmsKeyId" in p["TransformOutput"] and "VolumeKmsKeyId" in p["TransformResources"]


def test_batch_and_monitoring_run_on_the_team_schedules(assembly):
    [batch_rule] = resources(assembly, "batch", "AWS::Events::Rule")
    assert batch_rule["Properties"]["ScheduleExpression"] == TEAM.batch.schedule
    assert json.loads(batch_rule["Properties"]["Targets"][0]["Input"]) == {"reason": "schedule"}
    [monitoring_rule] = resources(assembly, "monitoring", "AWS::Events::Rule")
    assert monitoring_rule["Properties"]["ScheduleExpression"] == TEAM.monitoring.schedule


def test_batch_role_may_put_only_its_teams_events_on_the_default_bus(assembly):
    resources = assembly.template("fraud-detection-batch")["Resources"]
    statements = [s for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
                  and any("BatchStateMachineRole" in ref["Ref"] for ref in r["Properties"]["Roles"])
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    [put] = [s for s in statements if s["Action"] == "events:PutEvents"]
    assert put["Condition"] == {"StringEquals": {"events:source": "mdlc.fraud-detection"}}
    assert "event-bus/default" in json.dumps(put["Resource"])

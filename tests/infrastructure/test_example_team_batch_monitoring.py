"""CDK assertions on the batch, monitoring and retraining stacks of the example team."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mdlc.contract import MODELS_DIR, load_team, parse_team
from stacks.common.alarms import alarm_specs
from stacks.common.props import TeamContext
from stacks.retraining.construct import triggering_alarms
from tests.infrastructure.test_state_machines import render

TEAM = load_team(MODELS_DIR / "fraud-detection.yaml")


def resources(assembly, stack: str, kind: str) -> list[dict]:
    return [r for r in assembly.template(f"fraud-detection-{stack}")["Resources"].values() if r["Type"] == kind]


def machine(assembly, stack: str) -> dict:
    [res] = resources(assembly, stack, "AWS::StepFunctions::StateMachine")
    return render(res["Properties"]["DefinitionString"])


def happy_path(definition: dict) -> list[str]:
    states, order, name = definition["States"], [], definition["StartAt"]
    while name and name not in order:
        order.append(name)
        state = states[name]
        name = state["Choices"][0]["Next"] if state["Type"] == "Choice" else state.get("Next")
    return order


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


def test_alarms_use_the_team_thresholds_and_page_the_alerts_topic(assembly):
    alarms = {a["Properties"]["AlarmName"]: a["Properties"]
              for a in resources(assembly, "monitoring", "AWS::CloudWatch::Alarm")}
    m = TEAM.monitoring
    expected = {
        "fraud-detection--endpoint-feature-drift": ("MaxFeaturePSI", m.max_feature_psi, "GreaterThanThreshold"),
        "fraud-detection--batch-feature-drift": ("MaxFeaturePSI", m.max_feature_psi, "GreaterThanThreshold"),
        "fraud-detection--endpoint-prediction-drift": ("PredictionPSI", m.max_prediction_psi, "GreaterThanThreshold"),
        "fraud-detection--precision-low": ("Precision", m.min_precision, "LessThanThreshold"),
        "fraud-detection--recall-low": ("Recall", m.min_recall, "LessThanThreshold"),
        "fraud-detection--pr-auc-low": ("PRAUC", m.min_pr_auc, "LessThanThreshold"),
        "fraud-detection--model-stale": ("ModelAgeDays", m.max_model_age_days, "GreaterThanThreshold"),
        "fraud-detection--feature-skew": ("MaxFeatureSkew", m.max_feature_skew, "GreaterThanThreshold"),
    }
    for name, (metric, threshold, op) in expected.items():
        a = alarms[name]
        assert (a["MetricName"], a["Threshold"], a["ComparisonOperator"]) == (metric, threshold, op), name
        assert a["Namespace"] == "MDLC/fraud-detection" and a["TreatMissingData"] == "notBreaching"
        assert "AlertsTopic" in json.dumps(a["AlarmActions"])


def test_dashboard_shows_serving_decisions_drift_quality_workflows_and_age(assembly):
    [dashboard] = resources(assembly, "monitoring", "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for shown in ("ModelLatency", "Invocation5XXErrors", "Decisions", "MaxFeaturePSI", "PredictionPSI",
                  "Precision", "PRAUC", "ExecutionsFailed", "fraud-detection--training", "ModelAgeDays",
                  "MaxFeatureSkew", "FeatureSkew"):
        assert shown in body, shown
    assert dashboard["Properties"]["DashboardName"] == "fraud-detection--mdlc"


def test_retraining_rules_reach_the_guard_and_the_guard_only_the_training_workflow(assembly):
    rules = {r["Properties"]["Name"]: r["Properties"] for r in resources(assembly, "retraining", "AWS::Events::Rule")}
    assert rules["fraud-detection--retraining-schedule"]["ScheduleExpression"] == TEAM.retraining.schedule
    pattern = rules["fraud-detection--retraining-on-alarm"]["EventPattern"]
    assert pattern["detail"]["state"] == {"value": ["ALARM"]}
    assert "fraud-detection--endpoint-feature-drift" in pattern["detail"]["alarmName"]
    assert "fraud-detection--pr-auc-low" in pattern["detail"]["alarmName"]
    [fn] = [f for f in resources(assembly, "retraining", "AWS::Lambda::Function")
            if "start_retraining" in f["Properties"]["Handler"]]
    variables = fn["Properties"]["Environment"]["Variables"]
    assert "fraud-detection--training" in json.dumps(variables["TRAINING_STATE_MACHINE_ARN"])
    reasons = json.loads(variables["ALARM_REASONS"])
    assert reasons["fraud-detection--endpoint-feature-drift"] == "drift:endpoint_feature_psi"
    [table] = resources(assembly, "retraining", "AWS::DynamoDB::Table")
    assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True
    starts = [st for p in resources(assembly, "retraining", "AWS::IAM::Policy")
              for st in p["Properties"]["PolicyDocument"]["Statement"] if "states:StartExecution" in st["Action"]]
    assert starts and all("fraud-detection--training" in json.dumps(st["Resource"]) for st in starts)


@pytest.mark.parametrize(("on_drift", "on_quality", "on_staleness", "kinds"), [
    (True, True, True, {"drift", "quality", "staleness"}),
    (False, True, True, {"quality", "staleness"}),
    (True, False, True, {"drift", "staleness"}),
    (True, True, False, {"drift", "quality"}),
    (False, False, True, {"staleness"}),
])
def test_team_file_switches_choose_which_alarms_retrain(on_drift, on_quality, on_staleness, kinds, tmp_path):
    # Each switch turns exactly its own kind of alarm on or off (one meaning per switch).
    text = (MODELS_DIR / "fraud-detection.yaml").read_text()
    text = text.replace("  on_drift: true", f"  on_drift: {str(on_drift).lower()}")
    text = text.replace("  on_quality_drop: true", f"  on_quality_drop: {str(on_quality).lower()}")
    text = text.replace("  on_staleness: true", f"  on_staleness: {str(on_staleness).lower()}")
    ctx = TeamContext(team=parse_team(text), team_file=Path("x.yaml"), stage="dev", build_dir=tmp_path)
    assert {a.kind for a in triggering_alarms(ctx)} == kinds
    assert {a.kind for a in alarm_specs(ctx)} == {"drift", "quality", "staleness", "skew"}  # skew never retrains


def test_batch_role_may_put_only_its_teams_events_on_the_default_bus(assembly):
    resources = assembly.template("fraud-detection-batch")["Resources"]
    statements = [s for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
                  and any("BatchStateMachineRole" in ref["Ref"] for ref in r["Properties"]["Roles"])
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    [put] = [s for s in statements if s["Action"] == "events:PutEvents"]
    assert put["Condition"] == {"StringEquals": {"events:source": "mdlc.fraud-detection"}}
    assert "event-bus/default" in json.dumps(put["Resource"])

"""CDK assertions on the example team's retraining stack: which alarms retrain, what the guard starts (product)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mdlc.contract import MODELS_DIR, parse_team
from stacks.common.alarms import alarm_specs
from stacks.common.props import TeamContext
from stacks.retraining.construct import triggering_alarms
from tests.infrastructure.stack_support import TEAM, resources


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

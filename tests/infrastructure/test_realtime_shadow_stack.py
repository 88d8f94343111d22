"""A team with a shadow challenger as synthesised (product): the shadow reads the decisions
stream and nothing else of the decision path, may invoke the endpoint and write its pairs but
never publish, the deployment serves it as a weight-0 variant, monitoring alarms when it is
better. The example team (no shadow) gets none of it."""

from __future__ import annotations

import json

import pytest
import yaml

from mdlc.contract import MODELS_DIR
from tests.conftest import CLI_ACCOUNT, CLI_REGION
from tests.synth import synth

SHADOW = {"model_version": 2, "decision_rules": {"score_bands": {"approve_below": 0.1, "decline_at_or_above": 0.5}},
          "compare_metric": "recall", "promote_margin": 0.03}


@pytest.fixture(scope="module")
def shadow_assembly(tmp_path_factory):
    data = yaml.safe_load((MODELS_DIR / "fraud-detection.yaml").read_text())
    data["realtime"]["shadow"] = SHADOW
    models = tmp_path_factory.mktemp("models")
    (models / "fraud-detection.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    # cdk-nag and CloudFormation validation run on this synth: a finding fails it
    return synth(tmp_path_factory.mktemp("cdk.out"), models_dir=models, model="fraud-detection", pipelines=False,
                 default_account=CLI_ACCOUNT, default_region=CLI_REGION, validate=True)


def _of_type(template: dict, kind: str) -> dict:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _shadow_function(template: dict) -> tuple[str, dict]:
    return next((k, r) for k, r in _of_type(template, "AWS::Lambda::Function").items()
                if r["Properties"].get("Environment", {}).get("Variables", {}).get("SHADOW_VARIANT") == "Shadow")


def _statements(template: dict, role_id: str) -> list[dict]:
    return [s for policy in _of_type(template, "AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
            for s in policy["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statements: list[dict]) -> set[str]:
    return {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


def test_the_shadow_reads_only_new_decisions_from_the_decisions_stream_with_a_dead_letter_queue(shadow_assembly):
    template = shadow_assembly.template("fraud-detection-realtime")
    function_id, _ = _shadow_function(template)
    [mapping] = [m["Properties"] for m in _of_type(template, "AWS::Lambda::EventSourceMapping").values()
                 if m["Properties"]["FunctionName"] == {"Ref": function_id}]

    table = next(k for k in _of_type(template, "AWS::DynamoDB::Table") if "DecisionsTable" in k)
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [table, "StreamArn"]}
    assert json.loads(mapping["FilterCriteria"]["Filters"][0]["Pattern"]) == {"eventName": ["INSERT"]}
    assert "OnFailure" in mapping["DestinationConfig"]


def test_the_shadow_may_invoke_the_endpoint_and_write_its_pairs_but_never_publish_or_decide(shadow_assembly):
    template = shadow_assembly.template("fraud-detection-realtime")
    _, function = _shadow_function(template)
    statements = _statements(template, function["Properties"]["Role"]["Fn::GetAtt"][0])
    actions = _actions(statements)

    assert "sagemaker:InvokeEndpoint" in actions and "s3:PutObject" in actions
    assert not {a for a in actions if a.startswith(("events:", "kinesis:Put", "states:", "dynamodb:Put",
                                                      "dynamodb:Update", "dynamodb:Delete"))}
    [put] = [s for s in statements if "s3:PutObject" in _actions([s])]
    assert "/shadow/*" in json.dumps(put["Resource"])


def test_the_deployment_serves_the_challenger_as_a_weight_0_variant_of_its_own_model(shadow_assembly):
    template = shadow_assembly.template("fraud-detection-realtime")
    machine = next(r for r in _of_type(template, "AWS::StepFunctions::StateMachine").values()
                   if r["Properties"]["StateMachineName"] == "fraud-detection--deployment")
    text = json.dumps(machine["Properties"]["DefinitionString"])

    assert '\\"VariantName\\":\\"Shadow\\"' in text and '\\"InitialVariantWeight\\":0' in text
    assert "Create shadow model" in text and "Same variants?" in text and "Update endpoint at once" in text


def test_monitoring_alarms_when_the_shadow_beats_live_by_the_margin_and_shows_the_comparison(shadow_assembly):
    template = shadow_assembly.template("fraud-detection-monitoring")
    [alarm] = [a["Properties"] for a in _of_type(template, "AWS::CloudWatch::Alarm").values()
               if a["Properties"].get("AlarmName") == "fraud-detection--shadow-better"]
    dashboard = json.dumps(next(iter(_of_type(template, "AWS::CloudWatch::Dashboard").values())))

    assert (alarm["MetricName"], alarm["Threshold"]) == ("ShadowAdvantage", 0.03)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["AlarmActions"]
    for name in ("ShadowFlipRate", "ShadowDecisionPairs", "ChallengerPRAUC", "ChallengerRecall", "ShadowAdvantage"):
        assert name in dashboard


def test_a_team_without_a_shadow_has_no_shadow_function_variant_or_alarm(assembly):
    realtime = assembly.template("fraud-detection-realtime")
    monitoring = assembly.template("fraud-detection-monitoring")

    with pytest.raises(StopIteration):
        _shadow_function(realtime)
    assert "shadow-better" not in json.dumps(monitoring)
    assert '\\"VariantName\\":\\"Shadow\\"' not in json.dumps(realtime)


def test_the_monitoring_job_still_fits_sagemakers_ten_processing_inputs(shadow_assembly):
    """The shadow pairs ride in the capture input: a processing job takes at most 10 inputs."""
    template = shadow_assembly.template("fraud-detection-monitoring")
    machine = next(r for r in _of_type(template, "AWS::StepFunctions::StateMachine").values()
                   if r["Properties"]["StateMachineName"] == "fraud-detection--monitoring")

    assert 0 < json.dumps(machine["Properties"]["DefinitionString"]).count('\\"InputName\\"') <= 10

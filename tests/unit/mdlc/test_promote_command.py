"""mdlc promote (product): what it refuses, and that a pending challenger is approved and its
deployment started (against moto; the whole path offline: tests/integration/test_shadow_challenger.py)."""

from __future__ import annotations

import json

import boto3
import pytest
import yaml
from moto import mock_aws

from mdlc.commands.promote import PromoteError, policy_block, promote_shadow, shadow_package_arn
from mdlc.contract import MODELS_DIR, TeamConfig

REGION, ACCOUNT = "eu-west-1", "123456789012"
GROUP = "fraud-detection--models"
PARAMETER = "/mdlc/fraud-detection/realtime/deployed-model"


def team_with(shadow: dict | None) -> TeamConfig:
    data = yaml.safe_load((MODELS_DIR / "fraud-detection.yaml").read_text())
    data["realtime"]["shadow"] = shadow
    return TeamConfig.model_validate(data)


@pytest.fixture
def aws(monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        sm = boto3.client("sagemaker", region_name=REGION)
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
        spec = {"Containers": [{"Image": "img", "ModelDataUrl": "s3://b/m.tar.gz"}],
                "SupportedContentTypes": ["application/json"], "SupportedResponseMIMETypes": ["application/json"]}
        arns = [sm.create_model_package(ModelPackageGroupName=GROUP, InferenceSpecification=spec,
                                        ModelApprovalStatus=status)["ModelPackageArn"]
                for status in ("Approved", "PendingManualApproval", "Rejected")]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="fraud-detection--deployment", roleArn=f"arn:aws:iam::{ACCOUNT}:role/x",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))["stateMachineArn"]
        yield {"sm": sm, "ssm": boto3.client("ssm", region_name=REGION), "sfn": sfn, "machine": machine,
               "arns": arns}


def deployed(aws, live: str, shadow: str | None) -> None:
    aws["ssm"].put_parameter(Name=PARAMETER, Type="String", Overwrite=True, Value=json.dumps(
        {"model_package_arn": live, "shadow": {"model_package_arn": shadow} if shadow else {}}))


def promote(aws, arn: str, **kw):
    return promote_shadow(team=team_with({"model_version": 2}), sagemaker=aws["sm"], ssm=aws["ssm"],
                          stepfunctions=aws["sfn"], machine=aws["machine"], package_arn=arn, rule_wait=0, **kw)


def test_a_pending_shadow_is_approved_and_its_deployment_started(aws):
    live, challenger, _ = aws["arns"]
    deployed(aws, live, challenger)

    started = promote(aws, challenger)

    assert aws["sm"].describe_model_package(ModelPackageName=challenger)["ModelApprovalStatus"] == "Approved"
    execution = aws["sfn"].describe_execution(executionArn=started["execution_arn"])
    assert json.loads(execution["input"])["model_package_arn"] == challenger and started["approved"] is True


def test_a_rejected_a_live_or_a_never_shadowed_version_is_refused_and_nothing_starts(aws):
    live, challenger, rejected = aws["arns"]
    deployed(aws, live, None)

    with pytest.raises(PromoteError, match="Rejected"):
        promote(aws, rejected)
    with pytest.raises(PromoteError, match="already live"):
        promote(aws, live)
    with pytest.raises(PromoteError, match="has not been served as the shadow"):
        promote(aws, challenger)
    assert aws["sfn"].list_executions(stateMachineArn=aws["machine"])["executions"] == []
    assert aws["sm"].describe_model_package(ModelPackageName=challenger)["ModelApprovalStatus"] != "Approved"


def test_a_team_without_a_shadow_model_is_told_how_to_promote_its_candidate_policy():
    rules = {"score_bands": {"approve_below": 0.2, "decline_at_or_above": 0.6}}

    with pytest.raises(PromoteError, match="no realtime.shadow"):
        shadow_package_arn(team_with(None), REGION, ACCOUNT)
    with pytest.raises(PromoteError, match="candidate policy is promoted through the team file"):
        shadow_package_arn(team_with({"decision_rules": rules}), REGION, ACCOUNT)
    assert yaml.safe_load(policy_block(team_with({"decision_rules": rules}))) == {"decision_rules": rules}
    assert shadow_package_arn(team_with({"model_version": 7}), REGION, ACCOUNT).endswith(f"/{GROUP}/7")

"""The harness' IAM evaluation (mdlc/harness/iam.py): principals act with their own role,
a missing grant fails the call where AWS would, with AWS's error name. Harness tests."""

from __future__ import annotations

import copy
import json

import pytest

from mdlc.harness.iam import Call, Denied, condition_holds

from .test_harness_cfn import DATA_STACK, WORKFLOW_STACK
from .test_harness_support import aws  # noqa: F401 - pytest fixture

POLICY = "GreetRoleDefaultPolicy0A1B2C3D"


def _without(action: str) -> dict:
    stack = copy.deepcopy(WORKFLOW_STACK)
    document = stack["Resources"][POLICY]["Properties"]["PolicyDocument"]
    document["Statement"] = [s for s in document["Statement"] if s["Action"] != action]
    return stack


def _deploy(aws, tmp_path, workflow):  # noqa: F811
    asset = tmp_path / "asset.feedbeef"
    asset.mkdir(exist_ok=True)
    (asset / "team.json").write_text('{"name": "fraud"}')
    return aws.deploy(workflow, DATA_STACK, stack_names=["Workflow", "Data"], assets_dir=tmp_path)


def test_state_machine_without_invoke_grant_fails_at_the_lambda_task_with_access_denied(aws, tmp_path):  # noqa: F811
    deployed = _deploy(aws, tmp_path, _without("lambda:InvokeFunction"))

    result = aws.run(deployed.find("AWS::StepFunctions::StateMachine", "Training").ref, {"name": "ann"})

    assert result.status == "FAILED" and result.error == "Lambda.AccessDeniedException", result.error
    assert "lambda:InvokeFunction" in result.cause and "GreetRole" in result.cause
    assert "Notify" not in result.state_names
    assert aws.lambdas.invocations == []  # the handler never ran


def test_state_machine_without_publish_grant_fails_at_the_sns_task(aws, tmp_path):  # noqa: F811
    deployed = _deploy(aws, tmp_path, _without("sns:Publish"))

    result = aws.run(deployed.find("AWS::StepFunctions::StateMachine", "Training").ref, {"name": "ann"})

    assert result.status == "FAILED" and "AuthorizationError" in result.error, (result.error, result.cause)
    assert result.state_names[-1] == "Notify" and "sns:Publish" in result.cause


def test_handler_runs_with_its_role_and_a_missing_object_grant_is_access_denied(aws, tmp_path):  # noqa: F811
    deployed = _deploy(aws, tmp_path, _without("s3:PutObject"))

    result = aws.run(deployed.find("AWS::StepFunctions::StateMachine", "Training").ref, {"name": "ann"})

    assert result.status == "FAILED" and result.error == "AccessDenied"  # the handler's ClientError
    denied = aws.iam.denied()
    assert [(d.action, d.principal.rsplit("/", 1)[-1].startswith("Workflow-GreetRole")) for d in denied] == [
        ("s3:PutObject", True)]


def test_bucket_policy_deny_refuses_even_what_the_role_allows(aws, tmp_path):  # noqa: F811
    deployed = _deploy(aws, tmp_path, WORKFLOW_STACK)
    bucket = deployed["ArtifactsBucket5E3E1F2A"]
    aws.iam.add_resource_policy(f"arn:aws:s3:::{bucket}", {"Statement": [
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/greeting.txt"}]})

    result = aws.run(deployed.find("AWS::StepFunctions::StateMachine", "Training").ref, {"name": "ann"})

    assert result.status == "FAILED" and result.error == "AccessDenied"
    assert "explicit deny in the resource policy" in aws.iam.denied()[0].reason


def test_ssl_only_bucket_policy_allows_https_requests(aws, tmp_path):  # noqa: F811
    deployed = _deploy(aws, tmp_path, WORKFLOW_STACK)
    bucket = deployed["ArtifactsBucket5E3E1F2A"]
    aws.iam.add_resource_policy(f"arn:aws:s3:::{bucket}", {"Statement": [
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}},
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]})

    result = aws.run(deployed.find("AWS::StepFunctions::StateMachine", "Training").ref, {"name": "ann"})

    assert result.succeeded, result.cause


def test_pass_role_is_checked_against_the_role_passed(aws):  # noqa: F811
    iam = aws.admin_client("iam")
    trust = json.dumps({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                       "Principal": {"Service": "states.amazonaws.com"}}]})
    caller = iam.create_role(RoleName="caller", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    passed = iam.create_role(RoleName="sagemaker-exec", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName="caller", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:CreateModel", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": passed,
         "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}]}))
    call = Call("sagemaker:CreateModel", ["*"], {"ExecutionRoleArn": passed}, aws.region, aws.account_id)

    aws.iam.check(caller, call, caller)  # allowed: PassRole on that role, to SageMaker

    call.params["ExecutionRoleArn"] = caller
    with pytest.raises(Denied) as refused:
        aws.iam.check(caller, call, caller)
    assert refused.value.action == "iam:PassRole" and refused.value.resource == caller


def test_autoscaling_registration_needs_what_application_auto_scaling_checks_on_the_caller(aws):  # noqa: F811
    iam = aws.admin_client("iam")
    trust = json.dumps({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                       "Principal": {"Service": "states.amazonaws.com"}}]})
    role = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName="deployer", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "application-autoscaling:RegisterScalableTarget", "Resource": "*"},
        {"Effect": "Allow", "Action": "sagemaker:DescribeEndpoint", "Resource": "*"}]}))
    call = Call("application-autoscaling:RegisterScalableTarget", ["*"],
                {"ServiceNamespace": "sagemaker", "ResourceId": "endpoint/e/variant/AllTraffic"},
                aws.region, aws.account_id)

    with pytest.raises(Denied) as refused:
        aws.iam.check(role, call, role)

    assert refused.value.action == "sagemaker:DescribeEndpointConfig"


@pytest.mark.parametrize(("conditions", "context", "holds"), [
    ({"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
     {"iam:passedtoservice": "sagemaker.amazonaws.com"}, True),
    ({"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}, {}, False),  # absent key
    ({"StringLike": {"s3:prefix": ["runs/*"]}}, {"s3:prefix": "runs/r1/part"}, True),
    ({"StringLike": {"s3:prefix": ["runs/*"]}}, {"s3:prefix": "raw/"}, False),
    ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:securetransport": "true"}, False),
    ({"StringEqualsIfExists": {"s3:prefix": "x"}}, {}, True),
    ({"StringNotEquals": {"events:source": "mdlc.a"}}, {"events:source": "mdlc.b"}, True),
])
def test_conditions_follow_iam_semantics(conditions, context, holds):
    assert condition_holds(conditions, context) is holds

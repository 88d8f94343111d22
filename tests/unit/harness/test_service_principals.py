"""What services do with the team's keys, evaluated offline (mdlc/harness/service_principals.py):
CloudWatch Logs' use of a log group's key at deploy, SageMaker's grant on a volume key for the
caller of Create*Job / CreateEndpoint. Tests of the harness' own emulation."""

from __future__ import annotations

import copy

import pytest
from botocore.exceptions import ClientError

from mdlc.harness import OfflineAws
from mdlc.harness.iam import Call, Denied
from mdlc.harness.intrinsics import TemplateError
from mdlc.harness.service_principals import service_allowed

ACCOUNT, REGION = "123456789012", "eu-west-1"
ROOT_KEY = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
LOGS_KEY = {"Effect": "Allow", "Principal": {"Service": f"logs.{REGION}.amazonaws.com"},
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            "Resource": "*", "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": (
                f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/vendedlogs/team/*")}}}
GRANT = {"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": {"Fn::GetAtt": ["Key", "Arn"]},
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
CREATE_JOBS = {"Effect": "Allow", "Action": ["sagemaker:CreateProcessingJob", "sagemaker:CreateTrainingJob",
                                             "sagemaker:CreateTransformJob"],
               "Resource": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:*"}
PASS_ROLE = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/*"}

TEMPLATE = {"Resources": {
    "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17",
                                                                  "Statement": [ROOT_KEY, LOGS_KEY]}}},
    "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": "/aws/vendedlogs/team/lambda/f", "KmsKeyId": {"Fn::GetAtt": ["Key", "Arn"]}}},
    "Caller": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "states.amazonaws.com"}}]}}},
    "CallerPolicy": {"Type": "AWS::IAM::Policy", "Properties": {
        "PolicyName": "caller", "Roles": [{"Ref": "Caller"}],
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [CREATE_JOBS, PASS_ROLE, GRANT]}}},
}}


def _variant(change) -> dict:
    template = copy.deepcopy(TEMPLATE)
    change(template["Resources"])
    return template


@pytest.fixture
def aws():
    with OfflineAws(REGION, ACCOUNT) as harness:
        yield harness


# -- CloudWatch Logs -------------------------------------------------------------------------
def test_a_log_group_whose_key_allows_cloudwatch_logs_deploys(aws):
    deployed = aws.deploy(TEMPLATE)

    groups = aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/vendedlogs/team/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [deployed["Logs"]]


@pytest.mark.parametrize("change, why", [
    (lambda r: r["Key"]["Properties"]["KeyPolicy"].update(Statement=[ROOT_KEY]), "no statement"),
    (lambda r: r["Logs"]["Properties"].update(LogGroupName="/aws/lambda/f"), "no statement"),  # outside the pattern
])
def test_a_log_group_whose_key_cloudwatch_logs_may_not_use_fails_the_deploy(aws, change, why):
    """AWS fails CreateLogGroup (and the stack); the account root's allow does not extend to the service."""
    with pytest.raises(TemplateError) as refused:
        aws.deploy(_variant(change))

    message = str(refused.value)
    assert "AWS::Logs::LogGroup" in message and "is not allowed to be used with LogGroup" in message
    assert f"logs.{REGION}.amazonaws.com" in message and "kms:Encrypt" in message and why in message


# -- SageMaker's volume key grant ----------------------------------------------------------------
def _job_call(aws, deployed, action: str, params: dict) -> Call:
    kind = {"CreateProcessingJob": "processing-job", "CreateTrainingJob": "training-job",
            "CreateTransformJob": "transform-job"}[action]
    return Call(action=f"sagemaker:{action}", resources=[f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/team-1"],
                params=params, region=REGION, account=ACCOUNT)


def _volume(deployed, action: str) -> dict:
    key = deployed.resource("Key").arn
    return {"CreateProcessingJob": {"ProcessingResources": {"ClusterConfig": {"VolumeKmsKeyId": key}}},
            "CreateTrainingJob": {"ResourceConfig": {"VolumeKmsKeyId": key}},
            "CreateTransformJob": {"TransformResources": {"VolumeKmsKeyId": key}}}[action]


@pytest.mark.parametrize("action", ["CreateProcessingJob", "CreateTrainingJob", "CreateTransformJob"])
def test_a_job_with_a_volume_key_needs_the_callers_grant_for_an_aws_resource(aws, action):
    allowed = aws.deploy(TEMPLATE)
    role = allowed.resource("Caller").arn

    aws.iam.check(role, _job_call(aws, allowed, action, _volume(allowed, action)), role)  # no Denied
    aws.iam.check(role, _job_call(aws, allowed, action, {}), role)  # no volume key: no grant needed

    granted = [(d.action, d.resource) for d in aws.iam.decisions if d.action == "kms:CreateGrant"]
    assert granted == [("kms:CreateGrant", allowed.resource("Key").arn)]


def test_a_caller_without_create_grant_is_refused_naming_the_key(aws):
    def no_grant(resources):
        resources["CallerPolicy"]["Properties"]["PolicyDocument"]["Statement"] = [CREATE_JOBS, PASS_ROLE]
    deployed = aws.deploy(_variant(no_grant))
    role = deployed.resource("Caller").arn

    with pytest.raises(Denied) as refused:
        aws.iam.check(role, _job_call(aws, deployed, "CreateTrainingJob", _volume(deployed, "CreateTrainingJob")), role)

    assert refused.value.action == "kms:CreateGrant" and refused.value.resource == deployed.resource("Key").arn


def test_a_grant_allowed_only_for_other_uses_does_not_cover_sagemakers(aws):
    def not_for_aws(resources):
        resources["CallerPolicy"]["Properties"]["PolicyDocument"]["Statement"][2]["Condition"] = {
            "Bool": {"kms:GrantIsForAWSResource": "false"}}
    deployed = aws.deploy(_variant(not_for_aws))
    role = deployed.resource("Caller").arn

    with pytest.raises(Denied):
        aws.iam.check(role, _job_call(aws, deployed, "CreateProcessingJob", _volume(deployed, "CreateProcessingJob")),
                      role)


def test_the_refusal_reaches_the_caller_as_sagemakers_access_denied(aws):
    """Through the API: the state machine's `sagemaker:` task would see this error."""
    def no_grant(resources):
        resources["CallerPolicy"]["Properties"]["PolicyDocument"]["Statement"] = [CREATE_JOBS, PASS_ROLE]
    deployed = aws.deploy(_variant(no_grant))
    sagemaker = aws.iam.client("sagemaker", deployed.resource("Caller").arn)

    with pytest.raises(ClientError) as refused:
        sagemaker.create_training_job(
            TrainingJobName="team-1", RoleArn=aws.execution_role_arn(),
            AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": "s3://b/o"}, StoppingCondition={"MaxRuntimeInSeconds": 60},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5,
                            "VolumeKmsKeyId": deployed.resource("Key").arn})

    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "kms:CreateGrant" in refused.value.response["Error"]["Message"]


# -- the decision itself --------------------------------------------------------------------------
def test_only_statements_naming_the_service_or_everyone_apply_to_it():
    doc = ('{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sns:*",'
           ' "Resource": "*"}, {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},'
           ' "Action": "sns:Publish", "Resource": "*"}]}')
    assert not service_allowed([doc], "cloudwatch.amazonaws.com", "sns:Publish", "arn:aws:sns:r:1:t", {})[0]
    assert service_allowed([doc], "events.amazonaws.com", "sns:Publish", "arn:aws:sns:r:1:t", {})[0]
    deny = '{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": "*"}]}'
    assert service_allowed([doc, deny], "events.amazonaws.com", "sns:Publish", "arn:aws:sns:r:1:t", {}) == (
        False, "explicit deny in the resource policy")

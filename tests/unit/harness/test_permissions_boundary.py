"""Permissions boundaries, evaluated offline (mdlc/harness/iam.py `_allowed`, roles created with
their boundary in cfn_resources.py, resource tags for ``aws:ResourceTag`` conditions in
stack_context.py). Tests of the harness' own emulation: IAM allows a role's call only when its
policies AND its boundary allow it, and refuses a role whose boundary does not exist.
"""

from __future__ import annotations

import copy

import pytest
from botocore.exceptions import ClientError

from mdlc.harness import OfflineAws

ACCOUNT, REGION = "123456789012", "eu-west-1"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


TEMPLATE = {"Resources": {
    "Boundary": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
        "ManagedPolicyName": "team--boundary",
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sqs:*", "Resource": queue_arn("team--named")},
            {"Effect": "Allow", "Action": "sqs:*", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/mdlc:team": "team"}}}]}}},
    "Named": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "team--named"}},
    "Tagged": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "generated-name",
                                                         "Tags": [{"Key": "mdlc:team", "Value": "team"}]}},
    "Other": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "other--queue"}},
    "Worker": {"Type": "AWS::IAM::Role", "Properties": {
        "PermissionsBoundary": {"Ref": "Boundary"},
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}]}}},
    "WorkerPolicy": {"Type": "AWS::IAM::Policy", "Properties": {
        "PolicyName": "worker", "Roles": [{"Ref": "Worker"}],
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            # More than the boundary lets through: every queue of the account.
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:*"}]}}},
}}


@pytest.fixture
def aws():
    with OfflineAws(REGION, ACCOUNT) as harness:
        yield harness


def send(aws, deployed, queue: str) -> None:
    sqs = aws.iam.client("sqs", deployed.resource("Worker").arn)
    url = aws.admin_client("sqs").get_queue_url(QueueName=queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")


def test_the_boundary_caps_what_the_roles_policy_allows(aws):
    deployed = aws.deploy(TEMPLATE)

    send(aws, deployed, "team--named")  # policy and boundary (by name)
    send(aws, deployed, "generated-name")  # policy and boundary (by the resource's tag)
    with pytest.raises(ClientError) as refused:
        send(aws, deployed, "other--queue")  # the policy alone
    assert "not by its permissions boundary arn:aws:iam::123456789012:policy/team--boundary" in str(refused.value)


def test_without_a_boundary_the_roles_policy_alone_decides(aws):
    template = copy.deepcopy(TEMPLATE)
    del template["Resources"]["Worker"]["Properties"]["PermissionsBoundary"]
    send(aws, aws.deploy(template), "other--queue")

    url = aws.admin_client("sqs").get_queue_url(QueueName="other--queue")["QueueUrl"]
    assert aws.admin_client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "1"
    assert [d.allowed for d in aws.iam.decisions if d.action == "sqs:SendMessage"] == [True]


def test_a_role_whose_boundary_does_not_exist_is_not_created(aws):
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["Worker"]["Properties"]["PermissionsBoundary"] = \
        f"arn:aws:iam::{ACCOUNT}:policy/never-created"
    with pytest.raises(Exception, match=r"Worker \(AWS::IAM::Role\) CREATE_FAILED: Policy .*never-created does not"):
        aws.deploy(template)

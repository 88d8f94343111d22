"""Scalable targets keep the tags they were registered with, and IAM conditions on them are
evaluated (a test of the harness' emulation: moto ignores RegisterScalableTarget's Tags)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from .support import aws  # noqa: F401 - pytest fixture

DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def _register(client, endpoint: str, team: str) -> str:
    return client.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=f"endpoint/{endpoint}/variant/AllTraffic",
        ScalableDimension=DIMENSION, MinCapacity=1, MaxCapacity=2, Tags={"mdlc:team": team})["ScalableTargetARN"]


def _role(aws, *statements: dict) -> str:  # noqa: F811
    iam = aws.admin_client("iam")
    trust = json.dumps({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                       "Principal": {"Service": "states.amazonaws.com"}}]})
    arn = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName="deployer", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))
    return arn


def test_a_target_keeps_the_tags_it_was_registered_with(aws):  # noqa: F811
    admin = aws.admin_client("application-autoscaling")
    arn = _register(admin, "fraud--endpoint", "fraud")
    assert admin.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"mdlc:team": "fraud"}


def test_a_grant_conditioned_on_the_team_tag_reaches_only_that_teams_targets(aws):  # noqa: F811
    """What the deployment workflow's role relies on in an account shared by teams: another
    team's target (a generated id like every target's) is refused by its tag."""
    admin = aws.admin_client("application-autoscaling")
    _register(admin, "fraud--endpoint", "fraud")
    _register(admin, "fraud-detection--endpoint", "fraud-detection")
    targets = f"arn:aws:application-autoscaling:{aws.region}:{aws.account_id}:scalable-target/*"
    role = _role(aws, {"Effect": "Allow", "Action": "application-autoscaling:DeregisterScalableTarget",
                       "Resource": targets, "Condition": {"StringEquals": {"aws:ResourceTag/mdlc:team": "fraud"}}})
    client = aws.iam.client("application-autoscaling", role)

    with pytest.raises(ClientError) as refused:
        client.deregister_scalable_target(ServiceNamespace="sagemaker", ScalableDimension=DIMENSION,
                                          ResourceId="endpoint/fraud-detection--endpoint/variant/AllTraffic")
    assert refused.value.response["Error"]["Code"] in ("AccessDeniedException", "AccessDenied")
    client.deregister_scalable_target(ServiceNamespace="sagemaker", ScalableDimension=DIMENSION,
                                      ResourceId="endpoint/fraud--endpoint/variant/AllTraffic")

"""Environment and grants for the stages' Lambda functions (every stage creates its
functions as :class:`~stacks.common.lambda_function.ProjectFunction`).

Stages give a function the team's data through :func:`grant_team_data`, so every
acknowledgment of an L2 grant's wildcard sits next to the grant and says why it is needed.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam

from stacks.common.lambda_function import ProjectFunction
from stacks.common.nag import acknowledge, acknowledge_resource
from stacks.data_plane import DataPlane

#: Functions whose responses or errors carry customer values (request fields, entity ids): their
#: Powertools Tracer records neither in X-Ray, whose traces are not encrypted with the team key.
NO_PAYLOADS_IN_TRACES = {"POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false", "POWERTOOLS_TRACER_CAPTURE_ERROR": "false"}

GRANT_ACTIONS = ("s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*",
                 "kms:ReEncrypt*", "kms:GenerateDataKey*")


def data_environment(data: DataPlane) -> dict[str, str]:
    """What every stage function needs to find the team's data."""
    env = {
        "RAW_BUCKET": data.raw_bucket.bucket_name,
        "FEATURES_BUCKET": data.features_bucket.bucket_name,
        "ARTIFACTS_BUCKET": data.artifacts_bucket.bucket_name,
        "REPORTS_BUCKET": data.reports_bucket.bucket_name,
        "MODEL_PACKAGE_GROUP": data.model_package_group_name,
    }
    if data.capture_bucket is not None:  # a team with an endpoint
        env["CAPTURE_BUCKET"] = data.capture_bucket.bucket_name
    return env


def grant_team_data(fn: ProjectFunction, data: DataPlane, *, read: list, write: list) -> None:
    """Read (and write) some of the team's buckets; acknowledge the object wildcards."""
    for bucket in read:
        bucket.grant_read(fn.role)
    for bucket in write:
        bucket.grant_read_write(fn.role)
    if write:
        data.key.grant_encrypt_decrypt(fn.role)
    for bucket in [*read, *write]:
        acknowledge_resource(
            fn.role, bucket.bucket_arn,
            "Run ids are only known at run time; access is limited to this team's own bucket.",
            suffix="/*",
        )
    for action in GRANT_ACTIONS:
        acknowledge(fn.role, f"AwsSolutions-IAM5[Action::{action}]",
                    f"{action} comes from the L2 grants on this team's own buckets and key.")


def grant_registry_read(fn: ProjectFunction, data: DataPlane) -> None:
    """List and describe the team's model package versions (to find the Approved one)."""
    stack = cdk.Stack.of(fn)
    package_arn = stack.format_arn(service="sagemaker", resource="model-package",
                                   resource_name=f"{data.model_package_group_name}/*")
    fn.role.add_to_principal_policy(iam.PolicyStatement(
        actions=["sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"],
        resources=[data.model_package_group_arn, package_arn],
    ))
    acknowledge_resource(
        fn.role, package_arn,
        "Model package versions are numbered by SageMaker at registration; access is limited "
        "to this team's model package group.",
    )


def acknowledge_invoke(role: iam.IRole, functions: list[ProjectFunction]) -> None:
    for fn in functions:
        acknowledge_resource(
            role, fn.function.function_arn,
            "LambdaInvoke grants the function and its versions (ARN:*); this is one of the "
            "workflow's own functions.",
            suffix=":*",
        )

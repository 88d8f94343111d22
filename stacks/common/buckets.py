"""The access-log bucket every logged bucket of the templates delivers to."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.common.nag import acknowledge, skip_checkov


def access_log_bucket(scope: Construct, construct_id: str, *, serves: str) -> s3.Bucket:
    """A private, SSL-only, versioned, retained bucket for S3 server access logs of ``serves``."""
    bucket = s3.Bucket(
        scope,
        construct_id,
        # Server access logs can only be delivered to an SSE-S3 bucket.
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        versioned=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=cdk.RemovalPolicy.RETAIN,
        lifecycle_rules=[
            s3.LifecycleRule(
                id="expire-access-logs",
                expiration=cdk.Duration.days(400),
                noncurrent_version_expiration=cdk.Duration.days(30),
            )
        ],
    )
    acknowledge(
        bucket,
        "AwsSolutions-S1",
        f"This is the access-log bucket of {serves}; logging it into itself would recurse.",
    )
    skip_checkov(bucket, "CKV_AWS_18",
                 f"This is the access-log bucket of {serves}; logging it into itself would recurse "
                 "and another log bucket would only move the question one bucket further.")
    return bucket

"""The job-code bundle and the team spec as CDK assets, shared by every stage that runs jobs."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from mdlc.bundle import build_bundle
from stacks.common.props import TeamContext, write_team_spec
from stacks.common.sagemaker_jobs import JobInput

IN = "/opt/ml/processing/input"


class JobAssets(Construct):
    """The job-code bundle and the team spec, uploaded as CDK assets."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext) -> None:
        super().__init__(scope, construct_id)
        bundle = ctx.build_dir / "job-code" / "job-code.tar.gz"
        build_bundle(bundle)
        self.code = s3_assets.Asset(self, "JobCode", path=str(bundle))
        self.spec = s3_assets.Asset(self, "TeamSpec", path=str(write_team_spec(ctx)))

    def grant_read(self, role: iam.IRole) -> None:
        """Read these two objects only: the bootstrap asset bucket holds every team's code."""
        bucket = self.code.bucket
        keys = [self.code.s3_object_key, self.spec.s3_object_key]
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[bucket.arn_for_objects(key) for key in keys]))
        # A job input of S3DataType S3Prefix lists its prefix: the object key itself.
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
            conditions={"StringEquals": {"s3:prefix": keys}}))

    def job_inputs(self) -> list[JobInput]:
        """Every processing job's code bundle and team spec inputs."""
        return [
            JobInput("code", f"{IN}/code", uri=self.code.s3_object_url),
            JobInput("config", f"{IN}/config", uri=self.spec.s3_object_url),
        ]

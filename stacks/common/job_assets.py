"""The job-code bundle and the team spec as CDK assets, shared by every stage that runs jobs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from mdlc.bundle import build_bundle
from stacks.common.props import TeamContext, write_team_spec
from stacks.common.sagemaker_jobs import JobInput

IN = "/opt/ml/processing/input"
#: The training job's input channel that carries the code bundle (SageMaker puts a channel's
#: objects under /opt/ml/input/data/<channel>/): an isolated container cannot download it itself.
CODE_CHANNEL = "code"
#: Where the training job copies the bundle into the model (model.tar.gz), so the model's container
#: imports its serving program without a download: SAGEMAKER_SUBMIT_DIRECTORY of every model.
SERVING_CODE = "/opt/ml/model/code/sourcedir.tar.gz"


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

    def training_code(self) -> tuple[str, str]:
        """(S3 URI of the code bundle, its path in a training container that receives it as the
        :data:`CODE_CHANNEL` channel): the channel's URI and the job's ``sagemaker_submit_directory``."""
        key = self.code.s3_object_key
        if cdk.Token.is_unresolved(key):
            raise ValueError(f"the job-code asset's object key is known only at deploy ({key}); the training "
                             "job needs its file name at synth for sagemaker_submit_directory")
        return self.code.s3_object_url, f"/opt/ml/input/data/{CODE_CHANNEL}/{key.rsplit('/', 1)[-1]}"

    def job_inputs(self) -> list[JobInput]:
        """Every processing job's code bundle and team spec inputs."""
        return [
            JobInput("code", f"{IN}/code", uri=self.code.s3_object_url),
            JobInput("config", f"{IN}/config", uri=self.spec.s3_object_url),
        ]

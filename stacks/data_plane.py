"""Data plane of one model team: key, buckets, online feature table, alerts, registry, role.

Everything that holds data is retained when the stack is deleted; everything is encrypted
with the team's customer-managed key, except the access-log bucket, which S3 server access
logging requires to use S3-managed keys.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from mdlc import names
from mdlc.contract import TeamConfig
from stacks.common.buckets import access_log_bucket
from stacks.common.images import repository_arn, serving_image, training_image
from stacks.common.nag import acknowledge, acknowledge_resource
from stacks.common.network import TeamNetwork, eni_statements
from stacks.common.props import TeamContext
from stacks.common.sagemaker_jobs import volume_key_grant

RETAIN = cdk.RemovalPolicy.RETAIN
#: The kinds of SageMaker jobs the team runs, as SageMaker names their log groups.
SAGEMAKER_JOB_KINDS = ("Training", "Processing", "Transform")


class DataPlane(Construct):
    """The team's storage, online feature store, alerting, model registry and job role."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext) -> None:
        super().__init__(scope, construct_id)
        team = ctx.team
        stack = cdk.Stack.of(self)
        self._team = team.name

        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{names.team_resource(team.name, 'mdlc')}",
            description=f"MDLC data of model team {team.name}",
            enable_key_rotation=True,
            removal_policy=RETAIN,
        )
        # Services that encrypt on the team's behalf: log groups, alarms publishing to SNS.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name=f"/aws/vendedlogs/{team.name}/*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        # CloudWatch publishes the team's alarms to the encrypted alerts topic: only for alarms
        # named with the team's prefix (the topic policy allows the same alarms).
        team_alarms = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=names.alarm_name(team.name, "*"),
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsUseKey",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account},
                            "ArnLike": {"aws:SourceArn": team_alarms}},
            )
        )
        # No statement for EventBridge here: its only use of the key is the team's encrypted
        # decision bus, which CDK allows in the key policy for that bus alone (aws:SourceArn and
        # the bus' encryption context); no EventBridge target (SNS, SQS) is encrypted with it.

        self.access_logs_bucket = access_log_bucket(
            self, "AccessLogsBucket", serves="the team's data buckets"
        )

        data = team.data
        owned = {
            "raw": self._bucket("RawBucket", "raw", expire_days=data.raw_retention_days,
                                noncurrent_days=data.noncurrent_version_days),
            "feat": self._bucket("FeaturesBucket", "feat", expire_days=None,
                                 noncurrent_days=data.noncurrent_version_days),
            "art": self._bucket("ArtifactsBucket", "art", expire_days=None,
                                noncurrent_days=data.noncurrent_version_days),
            "rep": self._bucket("ReportsBucket", "rep", expire_days=400,
                                noncurrent_days=data.noncurrent_version_days),
        }
        if team.realtime.enabled:  # only an endpoint captures requests
            owned["cap"] = self._bucket("CaptureBucket", "cap", expire_days=data.capture_retention_days,
                                        noncurrent_days=data.noncurrent_version_days)
        # Other stacks get references by (deterministic) name, not CloudFormation exports:
        # exports would pin the buckets and make every grant's ARN an import.
        refs = {
            abbr: s3.Bucket.from_bucket_attributes(
                self, f"{bucket.node.id}Ref", bucket_name=self.bucket_name(abbr), encryption_key=self.key
            )
            for abbr, bucket in owned.items()
        }
        self.owned_buckets = list(owned.values())
        self.raw_bucket = refs["raw"]
        self.features_bucket = refs["feat"]
        self.artifacts_bucket = refs["art"]
        self.capture_bucket: s3.IBucket | None = refs.get("cap")
        self.reports_bucket = refs["rep"]

        self.feature_table = dynamodb.Table(
            self,
            "OnlineFeatureTable",
            partition_key=dynamodb.Attribute(
                name=team.schema.entity_key, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RETAIN,
        )

        self.alerts_topic = sns.Topic(
            self,
            "AlertsTopic",
            display_name=f"{team.name} MDLC alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.alerts_topic.add_subscription(
            subscriptions.EmailSubscription(team.owner.alert_email or team.owner.email)
        )
        # enforce_ssl gives the topic a policy of its own, which replaces SNS's default policy (the
        # one that let the account's alarms publish): CloudWatch is allowed explicitly, for this
        # team's alarms only.
        self.alerts_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.alerts_topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account},
                            "ArnLike": {"aws:SourceArn": team_alarms}},
            )
        )

        self.model_package_group_name = names.model_package_group(team.name)
        self.model_package_group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=self.model_package_group_name,
            model_package_group_description=f"Registered versions of the {team.name} model",
        )
        self.model_package_group.apply_removal_policy(RETAIN)
        self.model_package_group_arn = stack.format_arn(
            service="sagemaker",
            resource="model-package-group",
            resource_name=self.model_package_group_name,
        )

        self.buckets = [
            b for b in (self.raw_bucket, self.features_bucket, self.artifacts_bucket, self.capture_bucket,
                        self.reports_bucket) if b is not None
        ]
        # The team's VPC footing (workload security group, endpoints), when the team file places it.
        self.network = TeamNetwork(self, "Network", team=team) if team.network.vpc is not None else None
        self.sagemaker_role = self._sagemaker_role(team)

    # ------------------------------------------------------------------ helpers
    def bucket_name(self, abbr: str) -> str:
        """``<team>--<purpose>-<account>-<region>``: unique per team, account and region."""
        stack = cdk.Stack.of(self)
        name = names.bucket_name(self._team, abbr, stack.account, stack.region)
        # The contract checks the stages the team file lists; a region given on the command
        # line (-c region=...) is known only here.
        return name if cdk.Token.is_unresolved(name) else names.check_bucket_name(name, self._team)

    def _bucket(
        self, construct_id: str, purpose: str, *, expire_days: int | None, noncurrent_days: int
    ) -> s3.Bucket:
        rules = [
            s3.LifecycleRule(
                id=f"{purpose}-noncurrent",
                noncurrent_version_expiration=cdk.Duration.days(noncurrent_days),
                abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
            )
        ]
        if expire_days is not None:
            rules.append(
                s3.LifecycleRule(id=f"{purpose}-expiry", expiration=cdk.Duration.days(expire_days))
            )
        return s3.Bucket(
            self,
            construct_id,
            bucket_name=self.bucket_name(purpose),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix=f"{purpose}/",
            lifecycle_rules=rules,
            removal_policy=RETAIN,
        )

    def _sagemaker_role(self, team: TeamConfig) -> iam.Role:
        """Role of the team's SageMaker jobs and endpoints: this team's buckets and key only."""
        team_name = team.name
        stack = cdk.Stack.of(self)
        role = iam.Role(
            self,
            "SageMakerExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker jobs and endpoints of model team {team_name}",
        )
        self.raw_bucket.grant_read(role)
        self.features_bucket.grant_read_write(role)
        self.artifacts_bucket.grant_read_write(role)
        if self.capture_bucket is not None:
            self.capture_bucket.grant_read_write(role)
        self.reports_bucket.grant_read_write(role)
        self.key.grant_encrypt_decrypt(role)
        role.add_to_policy(volume_key_grant(self.key))
        if self.network is not None:  # jobs and endpoint instances get interfaces in the team's subnets
            for statement in eni_statements(self.network.vpc, self.network.workload_group_ids, permissions=True,
                                            scope=self):
                role.add_to_policy(statement)
            acknowledge_resource(
                role, stack.format_arn(service="ec2", resource="network-interface", resource_name="*"),
                "SageMaker creates the network interfaces of the team's jobs and endpoint instances at run "
                "time (ids unknown before); deleting and sharing them is limited to the team's VPC (ec2:Vpc).")
        # SageMaker logs every job of the account into one group per kind (/aws/sagemaker/
        # TrainingJobs, ...) in a stream "<job name>/<host>", and an endpoint into a group of
        # its own (/aws/sagemaker/Endpoints/<endpoint>): streams of the team's jobs and groups
        # of the team's endpoints only, by the <team>-- prefix of their names (mdlc/names.py).
        def log_arn(name: str) -> str:
            return stack.format_arn(service="logs", resource="log-group", resource_name=name,
                                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)

        job_groups = [log_arn(f"/aws/sagemaker/{kind}Jobs") for kind in SAGEMAKER_JOB_KINDS]
        endpoint_groups = log_arn(f"/aws/sagemaker/Endpoints/{names.team_prefix(team_name)}*")
        job_streams = log_arn(f"/aws/sagemaker/*Jobs:log-stream:{names.team_prefix(team_name)}*")
        role.add_to_policy(iam.PolicyStatement(
            sid="JobLogGroups", actions=["logs:CreateLogGroup", "logs:DescribeLogStreams"],
            resources=[*job_groups, endpoint_groups]))
        role.add_to_policy(iam.PolicyStatement(
            sid="JobLogStreams", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[job_streams, f"{endpoint_groups}:log-stream:*"]))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="JobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
            )
        )
        # The images the team's jobs and endpoints run (stacks/common/images.py): their
        # repositories only; the registry's token has no resource scope.
        role.add_to_policy(iam.PolicyStatement(
            sid="PullImageToken", actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        role.add_to_policy(iam.PolicyStatement(
            sid="PullSageMakerImages",
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=sorted({repository_arn(training_image(team, stack.region), stack.partition),
                              repository_arn(serving_image(team, stack.region), stack.partition)})))
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource scope (the image pulls themselves are "
            "limited to the team's image repositories), and PutMetricData is limited by the "
            "cloudwatch:namespace condition to SageMaker's namespaces."
            + (" ec2:Describe* (placing interfaces in the team's subnets) takes no resource scope."
               if self.network is not None else ""),
        )
        acknowledge_resource(
            role, job_streams,
            "SageMaker logs all jobs of a kind into one group (/aws/sagemaker/<Kind>Jobs) in "
            "streams named after the job; the role writes only streams of jobs named with this "
            "team's prefix <team>-- (no team name contains --, so no other team's jobs).",
        )
        acknowledge_resource(
            role, endpoint_groups,
            "SageMaker names an endpoint's log group after the endpoint; the role reaches only "
            "the groups (and their streams, one per variant and instance) of endpoints named "
            "with this team's prefix <team>-- (no team name contains --).",
        )
        acknowledge_resource(
            role, endpoint_groups,
            "SageMaker names an endpoint's log streams per variant and instance; the role writes "
            "only into groups of endpoints named with this team's prefix <team>--.",
            suffix=":log-stream:*",
        )
        for bucket in self.buckets:
            acknowledge_resource(
                role,
                bucket.bucket_arn,
                "Jobs read and write objects anywhere in this team's own bucket (run ids are "
                "only known at run time); the grant is limited to this one bucket.",
                suffix="/*",
            )
        for action in (
            "s3:GetObject*",
            "s3:GetBucket*",
            "s3:List*",
            "s3:DeleteObject*",
            "s3:Abort*",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
        ):
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Action::{action}]",
                f"{action} comes from the L2 grant_read/grant_read_write of this team's own "
                "buckets and key; the role reaches no other bucket or key.",
            )
        return role


class DataPlaneStack(cdk.Stack):
    """Deployment unit of the team's data plane."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.data = DataPlane(self, "DataPlane", ctx=ctx)

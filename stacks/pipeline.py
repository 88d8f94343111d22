"""CI/CD of one model team: a self-mutating CDK pipeline, staging → smoke tests → approval → production.

On every commit to the team's branch the pipeline runs the offline suite (`make test`),
synthesises the app, updates itself, deploys the team's stacks to the staging account,
retrains on a small sample and calls the decision API there (``scripts/smoke_test.py``),
waits for a person's approval, and deploys the same cloud assembly to production. After each
stage's deployment (and its smoke test) passes, the pipeline records the source commit it
deployed there (SSM parameter ``/mdlc/<team>/deployed/<stage>`` in its own account); the test
stage's guardrail backtest compares a changed policy with the policy of production's commit.

Accounts: the pipeline lives in ``environments.tooling`` of the team file (else
``environments.dev``); the targets are ``environments.staging`` and
``environments.production``. Each target account trusts the pipeline's account through
``cdk bootstrap --trust`` (README: "Continuous delivery"); the artifact bucket is encrypted
with a customer-managed key that those accounts may use (``cross_account_keys``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import pipelines
from constructs import Construct

from mdlc.contract import Environment, TeamConfig, TeamFileError
from mdlc.names import (
    PIPELINE_HOME_STAGES,
    PIPELINE_TARGET_STAGES,
    deployed_commit_parameter,
    smoke_test_role_name,
    team_prefix,
    team_resource,
)
from stacks.common.buckets import access_log_bucket
from stacks.common.nag import acknowledge, acknowledge_resource, batched
from stacks.common.props import TeamContext
from stacks.common.workflow import grant_execution_data
from stacks.team import TeamStacks, bound, synthesizer

# Where the pipeline itself runs: the first of PIPELINE_HOME_STAGES the team file names.
# Deployment targets, in pipeline order.
TARGET_STAGES = PIPELINE_TARGET_STAGES
# The stage whose decisions are live for real: the guardrail backtest's baseline is the policy
# last deployed there (staging decides only the smoke test's sample; a commit that reached
# staging but was never approved, or failed there, never decided for a customer).
GUARDRAIL_BASELINE_STAGE = TARGET_STAGES[-1]
# CloudFormation outputs the smoke test reads (absent outputs are skipped, not failed).
TRAINING_OUTPUT = "TrainingStateMachineArn"
API_OUTPUT = "DecisionApiUrl"
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0  # python 3.11, node 20
# The tag every resource of a team carries (stacks/team.py); the pipeline's projects too.
TEAM_TAG = "mdlc:team"


@dataclass(frozen=True)
class PipelinePlan:
    """Where a team's pipeline runs and deploys to, checked before any construct exists."""

    home_stage: str
    home: Environment
    targets: dict[str, Environment]


def pipeline_requested(team: TeamConfig) -> bool:
    """A team gets a pipeline when its file names a source: a connection or a CodeCommit repo."""
    return bool(team.pipeline.connection_arn or team.pipeline.codecommit_repository)


def plan_pipeline(team: TeamConfig, team_file: Path) -> PipelinePlan | None:
    """The pipeline's accounts and regions from the team file; None when no source is named."""
    if not pipeline_requested(team):
        return None
    envs = team.environments
    problems = []
    home_stage = next((s for s in PIPELINE_HOME_STAGES if s in envs), None)
    if home_stage is None:
        problems.append(
            "field `environments.tooling`: missing (and no `environments.dev`); expected the "
            "account and region the CI/CD pipeline runs in, because `pipeline` names a source"
        )
    for stage in TARGET_STAGES:
        if stage not in envs:
            problems.append(
                f"field `environments.{stage}`: missing; expected the account and region the "
                f"pipeline deploys its {stage} stage to, because `pipeline` names a source"
            )
    if problems:
        raise TeamFileError(team_file, problems)
    return PipelinePlan(
        home_stage=home_stage, home=envs[home_stage], targets={s: envs[s] for s in TARGET_STAGES}
    )


def smoke_build_role_name(team_name: str) -> str:
    """The smoke test's CodeBuild role, in the tooling account: a name of its own, so that a
    tooling account that is also the staging account can hold both roles (IAM names are per account)."""
    return team_resource(team_name, "smoke-test-build")


class TeamStage(cdk.Stage):
    """One deployment target of the pipeline: the team's stacks in that account and region."""

    def __init__(
        self, scope: Construct, construct_id: str, *, ctx: TeamContext, env: Environment,
        pipeline_account: str, smoke_test: bool,
    ) -> None:
        super().__init__(scope, construct_id, env=cdk.Environment(account=env.account, region=env.region))
        stack_env = cdk.Environment(account=env.account, region=env.region)
        # CDK Pipelines synthesises a stage when it is added: record acknowledgments first.
        with batched():
            self._add_stacks(ctx, stack_env, pipeline_account, smoke_test)

    def _add_stacks(self, ctx: TeamContext, stack_env: cdk.Environment, pipeline_account: str,
                    smoke_test: bool) -> None:
        self.team = TeamStacks(self, ctx=ctx, env=stack_env)
        self.outputs = {
            name: output
            for name in (TRAINING_OUTPUT, API_OUTPUT)
            if (output := _find_output(self.team.stacks, name)) is not None
        }
        if not smoke_test:
            return
        self.smoke_access = SmokeTestAccessStack(
            self,
            f"{ctx.name}-smoke-test-access",
            ctx=ctx,
            team=self.team,
            outputs=self.outputs,
            pipeline_account=pipeline_account,
            env=stack_env,
            synthesizer=synthesizer(ctx),
            description=f"Role the {ctx.name} pipeline's smoke test assumes in this account",
        )
        bound(self.smoke_access, ctx)


def _find_output(stacks: list[cdk.Stack], name: str) -> cdk.CfnOutput | None:
    for stack in stacks:
        for child in stack.node.find_all():
            if isinstance(child, cdk.CfnOutput) and name in (child.node.id, stack.resolve(child.logical_id)):
                return child
    return None


def policy_guardrail_commands(team: TeamConfig) -> list[str]:
    """The test stage's backtest of a changed policy against the one deployed to production (the
    commit recorded there, however many commits behind: not ``HEAD~1``, which a superseded run,
    a failed deployment or a pending approval leave undeployed): it stops the pipeline, printing
    the comparison, when the candidate breaks a ``decision_rules.guardrails`` limit, and does
    nothing when the policy is unchanged. Before the first production deployment the candidate
    alone is held to its absolute guardrails."""
    if team.decision_rules is None:  # batch-only: no policy to backtest
        return []
    return [f".venv/bin/mdlc backtest --model {team.name} --baseline-deployed {GUARDRAIL_BASELINE_STAGE} "
            "--enforce-guardrails"]


def record_deployed_commands(team: TeamConfig, stage: str) -> list[str]:
    """The post-deployment step's commands: write the deployed source commit (``$DEPLOYED_COMMIT``,
    the source action's CommitId) to the stage's parameter, in the pipeline's account and region
    (CodeBuild's). The AWS CLI is on the build image; the step needs no checkout."""
    return ['test -n "$DEPLOYED_COMMIT"',
            f"aws ssm put-parameter --name {deployed_commit_parameter(team.name, stage)} --type String "
            '--overwrite --value "$DEPLOYED_COMMIT"']


class SmokeTestAccessStack(cdk.Stack):
    """A role in the target account that only the pipeline's smoke test may assume.

    It may upload the smoke sample below the raw prefix, start and watch the training
    workflow, and invoke the decision API: nothing else.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, ctx: TeamContext, team: TeamStacks,
        outputs: dict[str, cdk.CfnOutput], pipeline_account: str, **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        tooling_role = f"arn:{self.partition}:iam::{pipeline_account}:role/{smoke_build_role_name(ctx.name)}"
        self.role = iam.Role(
            self,
            "SmokeTestRole",
            role_name=smoke_test_role_name(ctx.name),
            description=f"Assumed by the {ctx.name} pipeline's smoke test (CodeBuild in the tooling account)",
            assumed_by=iam.AccountPrincipal(pipeline_account).with_conditions(
                {"ArnEquals": {"aws:PrincipalArn": tooling_role}}
            ),
            max_session_duration=cdk.Duration.hours(2),
        )
        data = team.data.data
        raw_objects = data.raw_bucket.arn_for_objects(f"{ctx.team.data.raw_prefix}smoke-test/*")
        if TRAINING_OUTPUT in outputs:
            machine_arn = outputs[TRAINING_OUTPUT].value
            # State machines are named <team>--<workflow> (mdlc/names.py).
            executions = self.format_arn(
                service="states", resource="execution", resource_name=f"{team_prefix(ctx.name)}*:*",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )
            self.role.add_to_policy(iam.PolicyStatement(
                sid="StartTraining", actions=["states:StartExecution"], resources=[machine_arn]))
            self.role.add_to_policy(iam.PolicyStatement(
                sid="WatchTraining", actions=["states:DescribeExecution"], resources=[executions]))
            grant_execution_data(self.role, data.key, [machine_arn], sid="TrainingExecutionData")
            self.role.add_to_policy(iam.PolicyStatement(
                sid="UploadSample", actions=["s3:PutObject"], resources=[raw_objects]))
            self.role.add_to_policy(iam.PolicyStatement(
                sid="EncryptSample", actions=["kms:GenerateDataKey", "kms:Encrypt"],
                resources=[data.key.key_arn]))
            acknowledge_resource(
                self.role, executions,
                "The smoke test polls the execution it starts, whose name is only known at start; "
                "DescribeExecution is read-only and limited to executions of this team's state "
                "machines (named <team>--<workflow>; no team name contains --).",
            )
            acknowledge_resource(
                self.role, raw_objects,
                "The smoke test writes its sample below <raw_prefix>smoke-test/ of the team's raw "
                "bucket (one folder per run, named by time); nothing else in the bucket.",
            )
        if API_OUTPUT in outputs:
            # This team's API only, by its id (imported from the realtime stack of this stage):
            # the staging account may hold other teams' decision APIs.
            api = team.realtime.api.api
            api_arn = api.arn_for_execute_api("POST", "/decisions", api.deployment_stage.stage_name)
            self.role.add_to_policy(iam.PolicyStatement(
                sid="CallDecisionApi", actions=["execute-api:Invoke"], resources=[api_arn]))
        cdk.CfnOutput(self, "SmokeTestRoleArn", value=self.role.role_arn)
        cdk.CfnOutput(self, "RawBucketName", value=data.raw_bucket.bucket_name)


class PipelineStack(cdk.Stack):
    """The team's self-mutating CDK pipeline (in the tooling account)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, ctx: TeamContext, plan: PipelinePlan,
        build_dir: Path, **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        team = ctx.team
        name = team.name
        self.team_name = name
        source = self._source(team)
        guardrails = policy_guardrail_commands(team)
        synth = pipelines.CodeBuildStep(
            "Synth",
            input=source,
            # A fresh machine with python3 and node, exactly as the README starts.
            commands=["make test", *guardrails, f"npx --no-install cdk synth -c model={name} --no-notices"],
            primary_output_directory="cdk.out",
            # The guardrail backtest reads which commit production runs: that one parameter only.
            role_policy_statements=[iam.PolicyStatement(
                sid="ReadProductionCommit", actions=["ssm:GetParameter"],
                resources=[self._deployed_parameter_arn(name, GUARDRAIL_BASELINE_STAGE)])] if guardrails else None,
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name=team_resource(name, "pipeline"),
            # V2: per-action-minute pricing, pipeline-level variables and triggers (the
            # recommended flag defaults to it; said here so no flag can fall back to V1).
            pipeline_type=codepipeline.PipelineType.V2,
            synth=synth,
            self_mutation=True,
            cross_account_keys=True,
            enable_key_rotation=True,
            docker_enabled_for_synth=False,
            publish_assets_in_parallel=False,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(
                    build_image=BUILD_IMAGE,
                    compute_type=codebuild.ComputeType.LARGE,
                    environment_variables={
                        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": codebuild.BuildEnvironmentVariable(value="20"),
                        "CDK_DISABLE_CLI_TELEMETRY": codebuild.BuildEnvironmentVariable(value="true"),
                    },
                ),
                partial_build_spec=codebuild.BuildSpec.from_object(
                    {"phases": {"install": {"runtime-versions": {"python": "3.11", "nodejs": "20"}}}}
                ),
                timeout=cdk.Duration.minutes(60),
            ),
        )
        pipeline_account = plan.home.account
        stages = {}
        for target, env in plan.targets.items():
            stage_ctx = TeamContext(
                team=team, team_file=ctx.team_file, stage=target, build_dir=build_dir / target
            )
            stages[target] = TeamStage(
                self, f"{name}-{target}", ctx=stage_ctx, env=env, pipeline_account=pipeline_account,
                smoke_test=target == "staging",
            )
        staging = stages["staging"]
        smoke = self._smoke_test(ctx, source, staging, plan)
        record = self._record_deployed(team, source, synth, "staging")
        record.add_step_dependency(smoke)  # recorded only once the smoke test passed too
        self.pipeline.add_stage(staging, post=[smoke, record])
        self.pipeline.add_stage(
            stages["production"],
            pre=[pipelines.ManualApprovalStep(
                "PromoteToProduction",
                comment=f"Staging of {name} passed its smoke tests. Promote this build to production?",
            )],
            post=[self._record_deployed(team, source, synth, "production")],
        )
        self.pipeline.build_pipeline()
        self._grant_connection_use(team)
        self._log_artifact_access()
        self._scope_generated_statements(name)
        self._acknowledge_generated_roles()

    def _grant_connection_use(self, team: TeamConfig) -> None:
        """The source action may use the connection under the IAM prefix of its ARN's service.

        CDK's connection source grants ``codestar-connections:UseConnection`` only; a
        connection created since the rename has a ``codeconnections`` ARN, which IAM
        authorises as ``codeconnections:UseConnection``.
        """
        arn = team.pipeline.connection_arn
        if not arn or arn.split(":")[2] != "codeconnections":
            return
        roles = [c for c in self.pipeline.pipeline.node.find_all() if isinstance(c, iam.Role)
                 and "/Source/" in c.node.path and c.node.id == "CodePipelineActionRole"]
        if not roles:  # CDK Pipelines moved its source action role: find it again, never skip the grant
            raise RuntimeError(f"{self.node.path}: no CodePipelineActionRole under the pipeline's Source stage")
        # The source is a git clone (code_build_clone_output): every build step that reads it
        # (the synth and test build, the smoke test) clones through the connection too.
        roles += [c for c in self.node.find_all() if isinstance(c, iam.Role) and c.node.id in ("Role", "SmokeTestRole")
                  and ("/Build/Synth/" in c.node.path or c.node.id == "SmokeTestRole")]
        for role in roles:
            role.add_to_principal_policy(iam.PolicyStatement(actions=["codeconnections:UseConnection"],
                                                             resources=[arn]))

    def _scope_generated_statements(self, team_name: str) -> None:
        """Narrow the statements CDK Pipelines generates on any resource of the account, which
        in an account shared by teams reach every other team's pipeline (issue 27).

        - The asset role's codebuild:StartBuild/StopBuild/BatchGetBuilds on ``*`` and its logs
          on ``/aws/codebuild/*`` (CDK Pipelines lets CloudFormation name its asset projects, and
          the role is also the action role that starts them), and its reports on every report
          group: the asset projects are named ``<team>--assets-<n>`` here, and the role reaches
          those projects, their log groups and their report groups (``<project>-<report>``).
        - Self-mutation's sts:AssumeRole on ``role/*`` (already limited to bootstrap roles by
          their tag): the roles of this pipeline's own bootstrap qualifier, ``cdk-<qualifier>-*``
          (every team bootstraps with its own); its s3:ListBucket on ``*``: the qualifier's
          asset bucket; cloudformation:DescribeStacks stays on ``*`` (read-only stack status).
        """
        cdk.Tags.of(self.pipeline).add(TEAM_TAG, team_name)
        qualifier = self.synthesizer.bootstrap_qualifier or cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER
        assets = self.pipeline.node.try_find_child("Assets")
        projects = [c for c in assets.node.find_all() if isinstance(c, codebuild.CfnProject)] if assets else []
        for index, project in enumerate(projects):  # named, so the shared role can be scoped by name
            project.add_property_override("Name", team_resource(team_name, f"assets-{index + 1}"))
        codebuild_projects = self.format_arn(service="codebuild", resource="project",
                                             resource_name=team_resource(team_name, "assets-*"))
        codebuild_reports = self.format_arn(service="codebuild", resource="report-group",
                                            resource_name=team_resource(team_name, "assets-*"))
        codebuild_logs = self.format_arn(service="logs", resource="log-group",
                                         resource_name=f"/aws/codebuild/{team_resource(team_name, 'assets-*')}",
                                         arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
        bootstrap_roles = self.format_arn(service="iam", region="", resource="role", resource_name=f"cdk-{qualifier}-*")
        asset_bucket = f"arn:{self.partition}:s3:::cdk-{qualifier}-assets-{self.account}-{self.region}"
        # The documents are rewritten (not overridden) so that cdk-nag and checkov, which read
        # the L1 properties, see the statements CloudFormation deploys.
        for policy in (c for c in self.pipeline.node.find_all()
                       if isinstance(c, iam.CfnPolicy) and cdk.Stack.of(c) is self):
            document = self.resolve(policy.policy_document)
            rewritten = []
            for statement in document["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                resource = statement["Resource"]
                if "codebuild:StartBuild" in actions and resource == "*":
                    statement = {**statement, "Resource": codebuild_projects}
                elif "logs:PutLogEvents" in actions and str(resource).endswith("/aws/codebuild/*"):
                    statement = {**statement, "Resource": codebuild_logs}
                elif "codebuild:CreateReport" in actions and str(resource).endswith(":report-group/*"):
                    statement = {**statement, "Resource": codebuild_reports}
                elif actions == ["sts:AssumeRole"] and str(resource).endswith(":role/*"):
                    statement = {**statement, "Resource": bootstrap_roles}
                elif "s3:ListBucket" in actions and resource == "*":
                    rest = [a for a in actions if a != "s3:ListBucket"]
                    rewritten.append({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": asset_bucket})
                    statement = {**statement, "Action": rest[0] if len(rest) == 1 else rest}
                rewritten.append(statement)
            policy.policy_document = {**document, "Statement": rewritten}

    def _log_artifact_access(self) -> None:
        """Server access logging of the artifact bucket, which CDK Pipelines creates unlogged."""
        logs = access_log_bucket(self, "ArtifactAccessLogsBucket", serves="the pipeline's artifact bucket")
        artifacts = self.pipeline.pipeline.artifact_bucket
        cfn_bucket = artifacts.node.default_child
        cfn_bucket.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
            destination_bucket_name=logs.bucket_name, log_file_prefix="artifacts/"
        )
        # Versioned like every bucket of the team (CDK Pipelines leaves it unversioned): an
        # overwritten or deleted artifact of a run that is still deploying can be recovered.
        cfn_bucket.versioning_configuration = s3.CfnBucket.VersioningConfigurationProperty(status="Enabled")
        cfn_bucket.lifecycle_configuration = s3.CfnBucket.LifecycleConfigurationProperty(rules=[
            s3.CfnBucket.RuleProperty(id="expire-noncurrent-artifacts", status="Enabled",
                                      noncurrent_version_expiration=s3.CfnBucket.NoncurrentVersionExpirationProperty(
                                          noncurrent_days=30)),
        ])
        # The log bucket's policy must admit the logging service for this source bucket.
        logs.add_to_resource_policy(iam.PolicyStatement(
            sid="S3ServerAccessLogs",
            principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
            actions=["s3:PutObject"],
            resources=[logs.arn_for_objects("artifacts/*")],
            conditions={
                "ArnLike": {"aws:SourceArn": artifacts.bucket_arn},
                "StringEquals": {"aws:SourceAccount": self.account},
            },
        ))

    def _acknowledge_generated_roles(self) -> None:
        """The roles CDK Pipelines generates, each wildcard acknowledged with its reason."""
        bucket = self.pipeline.pipeline.artifact_bucket
        for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*"):
            acknowledge(self, f"AwsSolutions-IAM5[Action::{action}]",
                        f"{action} comes from CDK Pipelines' grant on the pipeline's own artifact "
                        "bucket; no role of the pipeline reaches another bucket with it.")
        for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
            acknowledge(self, f"AwsSolutions-IAM5[Action::{action}]",
                        f"{action} comes from CDK Pipelines' grant on the artifact bucket's own key "
                        "(the key that the target accounts may use); no other key.")
        acknowledge_resource(
            self, bucket.bucket_arn,
            "Pipeline actions read and write the build artifacts of every run anywhere in the "
            "pipeline's own artifact bucket (object keys are generated per run).",
            suffix="/*",
        )
        literal = self.resolve(self.partition)
        for project in (c for c in self.node.find_all() if isinstance(c, codebuild.CfnProject)):
            logical = self.resolve(project.ref)["Ref"]
            prefix = f"arn:{literal}:%s:{self.region}:{self.account}"
            acknowledge(self, f"AwsSolutions-IAM5[Resource::{prefix % 'logs'}:log-group:/aws/codebuild/<{logical}>:*]",
                        "CodeBuild writes each build's log stream (named per build) in the log "
                        "group of this one project.")
            acknowledge(self, f"AwsSolutions-IAM5[Resource::{prefix % 'codebuild'}:report-group/<{logical}>-*]",
                        "CodeBuild creates the test report groups of this one project, named "
                        "after it with a suffix per report.")
        assets = self.pipeline.node.try_find_child("Assets")
        if assets is not None:
            self._acknowledge_asset_roles(assets)
        self_mutation = self.pipeline.node.find_child("UpdatePipeline").node.find_child("SelfMutation")
        qualifier = self.synthesizer.bootstrap_qualifier or cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER
        acknowledge(self_mutation,
                    f"AwsSolutions-IAM5[Resource::arn:{literal}:iam::{self.account}:role/cdk-{qualifier}-*]",
                    "Self-mutation assumes the CDK bootstrap roles of this pipeline's own qualifier "
                    "(deploy, file-publishing, image-publishing, by the aws-cdk:bootstrap-role tag) "
                    "in the pipeline's account; another team bootstraps with another qualifier.")
        acknowledge(self_mutation, "AwsSolutions-IAM5[Resource::*]",
                    "Self-mutation's `cdk deploy` reads stack status (cloudformation:DescribeStacks, "
                    "read-only, no resource-level scope for the stack it learns at run time); its "
                    "bucket listing is limited to this qualifier's asset bucket.")

    def _acknowledge_asset_roles(self, assets: Construct) -> None:
        """CDK Pipelines shares one role among all asset-publishing projects of a kind."""
        prefix = f"arn:{self.resolve(self.partition)}:%s:{self.region}:{self.account}"
        assets_prefix = team_resource(self.team_name, "assets-*")
        acknowledge(assets, f"AwsSolutions-IAM5[Resource::{prefix % 'logs'}:log-group:/aws/codebuild/{assets_prefix}]",
                    "CDK Pipelines shares one publishing role among its asset projects, one per "
                    "asset, named <team>--assets-<n> here: the role writes only their log groups.")
        acknowledge(assets, f"AwsSolutions-IAM5[Resource::{prefix % 'codebuild'}:report-group/{assets_prefix}]",
                    "CodeBuild names a project's report groups <project>-<report>: the role reports "
                    "only into those of this pipeline's asset projects (<team>--assets-<n>).")
        acknowledge(assets, f"AwsSolutions-IAM5[Resource::{prefix % 'codebuild'}:project/{assets_prefix}]",
                    "The asset role starts, stops and watches builds of this pipeline's asset "
                    "projects (one per asset, named <team>--assets-<n>; no team name contains --).")

    def _source(self, team: TeamConfig) -> pipelines.CodePipelineSource:
        p = team.pipeline
        if p.codecommit_repository:
            repo = codecommit.Repository.from_repository_name(self, "Repository", p.codecommit_repository)
            return pipelines.CodePipelineSource.code_commit(repo, p.branch, code_build_clone_output=True)
        # A git clone, not a zip: the guardrail backtest reads the policy of the commit before.
        return pipelines.CodePipelineSource.connection(p.repository, p.branch, connection_arn=p.connection_arn,
                                                       code_build_clone_output=True)

    def _deployed_parameter_arn(self, team_name: str, stage: str) -> str:
        return self.format_arn(service="ssm", resource="parameter",
                               resource_name=deployed_commit_parameter(team_name, stage).lstrip("/"))

    def _record_deployed(self, team: TeamConfig, source: pipelines.CodePipelineSource,
                         synth: pipelines.CodeBuildStep, stage: str) -> pipelines.CodeBuildStep:
        """After the stage's deployment: record its source commit, for the guardrail backtest.

        Its input is the cloud assembly (an artifact, not a clone of the source: the step needs
        no connection); the commit comes from the source action's variable, so it is the one
        this execution deployed even when newer commits have entered the pipeline since."""
        return pipelines.CodeBuildStep(
            "RecordDeployedCommit",
            input=synth,
            commands=record_deployed_commands(team, stage),
            env={"DEPLOYED_COMMIT": source.source_attribute("CommitId")},
            role_policy_statements=[iam.PolicyStatement(
                sid="RecordDeployedCommit", actions=["ssm:PutParameter"],
                resources=[self._deployed_parameter_arn(team.name, stage)])],
            timeout=cdk.Duration.minutes(10),
        )

    def _smoke_test(
        self, ctx: TeamContext, source: pipelines.IFileSetProducer, staging: TeamStage, plan: PipelinePlan,
    ) -> pipelines.CodeBuildStep:
        env = plan.targets["staging"]
        role_arn = f"arn:{self.partition}:iam::{env.account}:role/{smoke_test_role_name(ctx.name)}"
        outputs = {
            "SMOKE_ROLE_ARN": staging.smoke_access.node.find_child("SmokeTestRoleArn"),
            "RAW_BUCKET": staging.smoke_access.node.find_child("RawBucketName"),
        }
        if TRAINING_OUTPUT in staging.outputs:
            outputs["TRAINING_STATE_MACHINE_ARN"] = staging.outputs[TRAINING_OUTPUT]
        if API_OUTPUT in staging.outputs:
            outputs["DECISION_API_URL"] = staging.outputs[API_OUTPUT]
        return pipelines.CodeBuildStep(
            "SmokeTest",
            input=source,
            commands=["make install", f".venv/bin/python scripts/smoke_test.py --team-file models/{ctx.name}.yaml"],
            env={"TARGET_REGION": env.region},
            env_from_cfn_outputs=outputs,
            role=iam.Role(
                self, "SmokeTestRole",
                role_name=smoke_build_role_name(ctx.name),
                assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
                description="Runs the staging smoke test of the pipeline; may only assume the smoke-test role there",
            ),
            role_policy_statements=[
                iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[role_arn]),
            ],
            timeout=cdk.Duration.minutes(90),
        )

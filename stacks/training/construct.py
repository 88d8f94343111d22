"""Training workflow: data quality → features → train → evaluate → gate → registry.

MDLC stages 1–5 as one Standard state machine. Each SageMaker job runs a script of
``sagemaker_jobs/`` from the job-code bundle; Lambdas prepare the run, read reports and
register the model with its lineage. Training writes nothing that production serves: the
online feature table belongs to the feature pipeline (``stacks/features``), so a challenger
that fails the gate changes nothing a decision reads.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from mdlc.bundle import INFERENCE_PROGRAM, TRAINING_PROGRAM
from mdlc.contract import REPO_ROOT, BuiltinAlgorithm, team_file_hash
from mdlc.instance_storage import volume_key
from mdlc.names import team_prefix
from stacks.common.images import serving_image, training_image
from stacks.common.job_assets import CODE_CHANNEL, SERVING_CODE, JobAssets
from stacks.common.lambda_function import ProjectFunction
from stacks.common.nag import acknowledge, acknowledge_resource
from stacks.common.network import job_network
from stacks.common.props import TeamContext
from stacks.common.sagemaker_jobs import JobInput, JobOutput, processing_job
from stacks.common.workflow import (
    FailurePath,
    guard,
    lambda_task,
    sagemaker_job_permissions,
    state_machine,
)
from stacks.data_plane import DataPlane
from stacks.training.tuning import grant_list_trials, grant_tuning, tuning_states

IN = "/opt/ml/processing/input"
OUT = "/opt/ml/processing/output"


def git_commit() -> str:
    """Commit the templates were synthesised from (lineage); 'unknown' outside a checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"




def _training_waves(team: Any) -> int:
    """Training jobs run one after another: one, or a tuning job's ceil(max_jobs / max_parallel_jobs)."""
    tuning = team.training.tuning
    return 1 if tuning is None else -(-tuning.max_jobs // tuning.max_parallel_jobs)


class TrainingWorkflow(Construct):
    """The team's training workflow and what it needs; exposes ``state_machine``."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane) -> None:
        super().__init__(scope, construct_id)
        team = ctx.team
        stack = cdk.Stack.of(self)
        self.ctx_name = team.name
        self.assets = JobAssets(self, "Assets", ctx=ctx)
        self.assets.grant_read(data.sagemaker_role)
        image = training_image(team, stack.region)
        self.image = image
        # Serving runs sagemaker_jobs/inference in the built-in XGBoost container, also for
        # models trained by a custom image (which must write an XGBoost booster).
        inference_image = serving_image(team, stack.region)

        env = {
            "RAW_BUCKET": data.raw_bucket.bucket_name,
            "FEATURES_BUCKET": data.features_bucket.bucket_name,
            "ARTIFACTS_BUCKET": data.artifacts_bucket.bucket_name,
            "MODEL_PACKAGE_GROUP": data.model_package_group_name,
        }
        fn = lambda cid, handler, desc, extra=None, **kw: ProjectFunction(  # noqa: E731
            self, cid, ctx=ctx, stage="training", handler=handler, description=desc, key=data.key,
            environment={**env, **(extra or {})}, invoked_by="the training workflow", **kw,
        )
        self.prepare_fn = fn("PrepareRunFunction", "prepare_training_run",
                             "resolve a training run's data, champion and paths")
        self.report_fn = fn("ReadReportFunction", "read_report", "read a job report for the workflow")
        self.register_fn = fn(
            "RegisterModelFunction", "register_model", "register a model version with its lineage",
            {
                "INFERENCE_IMAGE": inference_image,
                "INFERENCE_PROGRAM": INFERENCE_PROGRAM,
                # The model's code is inside model.tar.gz (the training job copies the bundle there).
                "CODE_BUNDLE_URI": SERVING_CODE,
                "GIT_COMMIT": git_commit(),
                "TEAM_FILE_SHA256": team_file_hash(ctx.team_file),
            },
        )
        self._grant_functions(data)

        definition = self._definition(ctx, data, image)
        self.state_machine = state_machine(
            self,
            "StateMachine",
            team=team.name,
            workflow="training",
            definition=definition,
            key=data.key,
            # Data quality, features and evaluation, plus training: one job, or the tuning
            # job's waves of max_parallel_jobs trials.
            timeout=cdk.Duration.minutes(
                (2 + _training_waves(team)) * team.training.max_runtime_minutes + 4 * 60
            ),
            comment=f"{team.name}: data quality → features → train → evaluate → gate → register",
        )
        self._grant_state_machine(data)
        if team.training.tuning is not None:
            grant_tuning(self.state_machine.role, name_prefix=team_prefix(team.name))
            grant_list_trials(self.register_fn.role, name_prefix=team_prefix(team.name))

    # ----------------------------------------------------------------- pieces
    def _grant_functions(self, data: DataPlane) -> None:
        data.raw_bucket.grant_read(self.prepare_fn.role)
        data.artifacts_bucket.grant_read_write(self.prepare_fn.role)
        data.artifacts_bucket.grant_read(self.report_fn.role)
        data.features_bucket.grant_read(self.report_fn.role)
        data.artifacts_bucket.grant_read_write(self.register_fn.role)
        for f in (self.prepare_fn, self.register_fn):
            data.key.grant_encrypt_decrypt(f.role)
        data.key.grant_decrypt(self.report_fn.role)
        group_arn = data.model_package_group_arn
        package_arn = cdk.Stack.of(self).format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{data.model_package_group_name}/*"
        )
        self.prepare_fn.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"],
                resources=[group_arn, package_arn],
            )
        )
        self.register_fn.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:AddTags"],
                resources=[group_arn, package_arn],
            )
        )
        for f in (self.prepare_fn, self.register_fn, self.report_fn):
            for bucket in data.buckets:
                acknowledge_resource(
                    f.role, bucket.bucket_arn,
                    "Run ids are only known at run time; access is limited to this team's bucket.",
                    suffix="/*",
                )
            for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*",
                           "kms:ReEncrypt*", "kms:GenerateDataKey*"):
                acknowledge(
                    f.role, f"AwsSolutions-IAM5[Action::{action}]",
                    f"{action} comes from the L2 grants on this team's own buckets and key.",
                )
        for f in (self.prepare_fn, self.register_fn):
            acknowledge_resource(
                f.role, package_arn,
                "Model package versions are numbered by SageMaker at registration; access is "
                "limited to this team's model package group.",
            )

    def _grant_state_machine(self, data: DataPlane) -> None:
        role = self.state_machine.role
        prefix = team_prefix(self.ctx_name)
        for kind in ("processing", "training"):
            sagemaker_job_permissions(role, job_kind=kind, name_prefix=prefix, execution_role=data.sagemaker_role,
                                      volume_key=data.key)
        stack = cdk.Stack.of(self)
        for kind in ("processing", "training"):
            acknowledge_resource(
                role,
                stack.format_arn(service="sagemaker", resource=f"{kind}-job", resource_name=f"{prefix}*"),
                "Job names carry the run id, known only at run time; the prefix <team>-- is this team's "
                "alone (no team name contains --).",
            )
        data.alerts_topic.grant_publish(role)
        for f in (self.prepare_fn, self.report_fn, self.register_fn):
            acknowledge_resource(
                role, f.function.function_arn,
                "LambdaInvoke grants the function and its versions (ARN:*); this is one of the "
                "workflow's own functions.",
                suffix=":*",
            )

    # ------------------------------------------------------------- definition
    def _definition(self, ctx: TeamContext, data: DataPlane, image: str) -> sfn.IChainable:
        team = ctx.team
        topic = data.alerts_topic
        failed = FailurePath(
            self, "StepFailed", topic=topic, workflow="training", error="TrainingWorkflowFailed",
            subject=f"[{team.name}] training workflow failed",
        )
        dq_failed = FailurePath(
            self, "DqFailed", topic=topic, workflow="training", error="DataQualityFailed",
            subject=f"[{team.name}] training stopped: data quality gate failed",
            cause_path="$.data_quality.reasons_text", message_path="$.data_quality",
        )
        gate_failed = FailurePath(
            self, "GateFailed", topic=topic, workflow="training", error="EvaluationGateFailed",
            subject=f"[{team.name}] challenger not registered: evaluation gate",
            cause_path="$.evaluation.reasons_text", message_path="$.evaluation",
        )
        on_error = failed.start
        job = self._job_factory(ctx, data, image)

        prepare = lambda_task(
            self, "PrepareRun", state_name="Prepare run", function=self.prepare_fn.function,
            payload={"execution": sfn.JsonPath.string_at("$$.Execution.Name"), "input": sfn.JsonPath.object_at("$")},
            result_path="$.run", on_error=on_error,
        )

        data_quality = guard(job(
            "DataQuality", "Data quality check", "data_quality/job.py", "data_quality",
            inputs=[
                JobInput("data", f"{IN}/data", uri_path="$.run.data_uri"),
                JobInput("baseline", f"{IN}/baseline", uri_path="$.run.baseline_uri"),
            ],
            outputs=[
                JobOutput("report", f"{OUT}/report", "$.run.paths.data_quality_report"),
                JobOutput("baseline", f"{OUT}/baseline", "$.run.paths.data_quality_baseline"),
            ],
            environment={
                "PREVIOUS_ROW_COUNT.$": "$.run.previous_row_count",
                "DRIFT_ACCEPTED.$": "$.run.drift_accepted",
            },
            result_path="$.jobs.data_quality",
        ), on_error)
        read_dq = self._read_report("ReadDataQuality", "Read data quality report", "$.run.paths.report",
                                    "$.data_quality", ["passed", "violations", "row_count", "row_count_change"],
                                    on_error)

        features = guard(job(
            "FeatureEngineering", "Feature engineering", "features/job.py", "features",
            inputs=[JobInput("data", f"{IN}/data", uri_path="$.run.data_uri")],
            outputs=[
                JobOutput("splits", f"{OUT}/splits", "$.run.paths.splits"),
                JobOutput("online", f"{OUT}/online", "$.run.paths.online"),
            ],
            result_path="$.jobs.features",
        ), on_error)

        training = self._training_parameters(ctx, data, image)
        # With training.tuning, a tuning job's best trial stands where the one training job was.
        train = (tuning_states(self, team, training, on_error) if team.training.tuning is not None
                 else guard(self._training_job(training), on_error))

        evaluate = guard(job(
            "Evaluate", "Evaluate challenger", "evaluation/job.py", "evaluation",
            inputs=[
                JobInput("test", f"{IN}/test", uri_path="$.run.paths.test"),
                JobInput("train", f"{IN}/train", uri_path="$.run.paths.train"),
                JobInput("model", f"{IN}/model", uri_path="$.training.model_uri"),
                JobInput("champion", f"{IN}/champion", uri_path="$.run.champion_model_uri"),
            ],
            outputs=[JobOutput("evaluation", f"{OUT}/evaluation", "$.run.paths.evaluation")],
            result_path="$.jobs.evaluation",
        ), on_error)
        read_eval = self._read_report("ReadEvaluation", "Read evaluation report", "$.run.paths.evaluation_report",
                                      "$.evaluation", ["gate", "metrics", "baseline", "champion", "score_bands",
                                                       "cost_bands",
                                                       "feature_importance", "unused_features"], on_error)

        register = lambda_task(
            self, "Register", state_name="Register model version", function=self.register_fn.function,
            payload={key: sfn.JsonPath.object_at(f"$.{key}")
                     for key in ("run", "training", "evaluation", "data_quality")
                     + (("tuning",) if team.training.tuning is not None else ())},
            result_path="$.registered", on_error=on_error,
        )
        notify = tasks.SnsPublish(
            self, "NotifyRegistered", state_name="Notify registered", topic=topic,
            subject=f"[{team.name}] new model version registered",
            message=sfn.TaskInput.from_object({
                "workflow": "training",
                "outcome": "Registered",
                "model_package_arn": sfn.JsonPath.string_at("$.registered.model_package_arn"),
                "approval_status": sfn.JsonPath.string_at("$.registered.approval_status"),
                "metrics": sfn.JsonPath.object_at("$.evaluation.metrics"),
                "reason": sfn.JsonPath.string_at("$.run.reason"),
            }),
            result_path=sfn.JsonPath.DISCARD,
        )
        guard(notify, on_error)
        done = sfn.Succeed(self, "Registered", state_name="Registered")

        dq_ok = sfn.Choice(self, "DqPassed", state_name="Data quality passed?")
        gate_ok = sfn.Choice(self, "GatePassed", state_name="Evaluation gate passed?")
        return (
            prepare.next(data_quality).next(read_dq).next(
                dq_ok.when(sfn.Condition.boolean_equals("$.data_quality.passed", True),
                           features.next(train).next(evaluate).next(read_eval).next(
                               gate_ok.when(sfn.Condition.boolean_equals("$.evaluation.gate.passed", True),
                                            register.next(notify).next(done))
                               .otherwise(gate_failed.start)))
                .otherwise(dq_failed.start)
            )
        )

    def _read_report(self, cid: str, name: str, uri_path: str, result_path: str, keys: list[str], on_error) -> Any:
        return lambda_task(
            self, cid, state_name=name, function=self.report_fn.function,
            payload={"uri": sfn.JsonPath.string_at(uri_path), "keys": keys},
            result_path=result_path, on_error=on_error,
        )

    def _job_factory(self, ctx: TeamContext, data: DataPlane, image: str):
        t = ctx.team.training
        common_inputs = self.assets.job_inputs()

        def make(cid: str, name: str, script: str, job_key: str, *, inputs, outputs, result_path, environment=None):
            return processing_job(
                self, cid, state_name=name, name_path=f"$.run.job_names.{job_key}",
                role_arn=data.sagemaker_role.role_arn, image=image, script=script,
                inputs=common_inputs + inputs, outputs=outputs,
                instance_type=t.processing_instance_type, kms_key_arn=data.key.key_arn,
                max_runtime_seconds=t.max_runtime_minutes * 60, environment=environment,
                result_path=result_path, tags={"mdlc:team": ctx.name}, network=job_network(ctx.team),
            )

        return make

    def _training_parameters(self, ctx: TeamContext, data: DataPlane, image: str) -> dict[str, Any]:
        """The CreateTrainingJob request of the run (the tuning job's trials are made from it too)."""
        t = ctx.team.training
        algorithm = t.algorithm
        program = TRAINING_PROGRAM if isinstance(algorithm, BuiltinAlgorithm) else algorithm.entry_point
        hyperparameters = {k: json.dumps(v) if isinstance(v, bool) else str(v) for k, v in t.hyperparameters.items()}
        code_uri, code_path = self.assets.training_code()
        hyperparameters.update({
            "seed": str(t.seed),
            # Script mode: the toolkit in the container runs this program from the code bundle,
            # which SageMaker delivers as the "code" channel (an isolated container downloads nothing).
            "sagemaker_program": json.dumps(program),
            "sagemaker_submit_directory": json.dumps(code_path),
            "sagemaker_region": json.dumps(cdk.Stack.of(self).region),
        })
        distribution = "ShardedByS3Key" if t.instance_count > 1 else "FullyReplicated"

        def channel(name: str, path: str | None = None, uri: str | None = None, dist: str = distribution) -> dict:
            source = {"S3DataType": "S3Prefix", "S3DataDistributionType": dist}
            source.update({"S3Uri.$": path} if path else {"S3Uri": uri})
            content = {"config": "application/json", CODE_CHANNEL: "application/gzip"}.get(
                name, "application/x-parquet")
            return {"ChannelName": name, "DataSource": {"S3DataSource": source}, "ContentType": content}

        stopping: dict[str, Any] = {"MaxRuntimeInSeconds": t.max_runtime_minutes * 60}
        parameters: dict[str, Any] = {
            "TrainingJobName.$": "$.run.job_names.training",
            "RoleArn": data.sagemaker_role.role_arn,
            "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
            "HyperParameters": hyperparameters,
            "InputDataConfig": [
                channel("train", path="$.run.paths.train"),
                channel("validation", path="$.run.paths.validation", dist="FullyReplicated"),
                channel("config", uri=self.assets.spec.s3_object_url, dist="FullyReplicated"),
                channel(CODE_CHANNEL, uri=code_uri, dist="FullyReplicated"),
            ],
            "OutputDataConfig": {"S3OutputPath.$": "$.run.paths.model", "KmsKeyId": data.key.key_arn},
            "ResourceConfig": {
                "InstanceCount": t.instance_count,
                "InstanceType": t.instance_type,
                "VolumeSizeInGB": t.volume_gb,
                **volume_key(t.instance_type, data.key.key_arn),  # none on local-NVMe types
            },
            "StoppingCondition": stopping,
            "EnableInterContainerTrafficEncryption": t.instance_count > 1,
            **job_network(ctx.team).container(),
            "Tags": [{"Key": "mdlc:team", "Value": ctx.name}],
        }
        if t.use_spot:
            parameters["EnableManagedSpotTraining"] = True
            stopping["MaxWaitTimeInSeconds"] = t.spot_wait_minutes * 60
            parameters["CheckpointConfig"] = {"S3Uri.$": "$.run.paths.checkpoints"}
        return parameters

    def _training_job(self, parameters: dict[str, Any]) -> sfn.CustomState:
        return sfn.CustomState(
            self, "Train model",
            state_json={
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": parameters,
                "ResultSelector": {
                    "job_name.$": "$.TrainingJobName",
                    "status.$": "$.TrainingJobStatus",
                    "model_uri.$": "$.ModelArtifacts.S3ModelArtifacts",
                },
                "ResultPath": "$.training",
            },
        )


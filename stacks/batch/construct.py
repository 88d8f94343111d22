"""Batch inference workflow: Approved model → input data quality → features → transform →
validated results with a manifest → ``BatchScored`` event.

MDLC stage 6 as one Standard state machine, started on the team's ``batch.schedule`` by
EventBridge or by hand. Results are staged first and published only after validation, so
a failed run never leaves partial results under the results prefix.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from lambdas.shared.batch_output import output_filter
from mdlc.instance_storage import volume_key
from mdlc.names import team_prefix, team_resource
from stacks.common.functions import (
    acknowledge_invoke,
    data_environment,
    grant_registry_read,
    grant_team_data,
)
from stacks.common.images import serving_image
from stacks.common.job_assets import JobAssets
from stacks.common.lambda_function import ProjectFunction
from stacks.common.nag import acknowledge_resource
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

IN = "/opt/ml/processing/input"
OUT = "/opt/ml/processing/output"
CSV = "text/csv"
BATCH_SCORED = "BatchScored"


def event_source(team: str) -> str:
    """EventBridge ``source`` of the team's MDLC events."""
    return f"mdlc.{team}"



def batch_quality_environment(team: Any) -> dict[str, str]:
    """The batch input's own data-quality settings (``batch.min_rows``, ``batch.max_psi``)."""
    env = {"PREVIOUS_ROW_COUNT": "", "REQUIRE_LABEL": "false", "MIN_ROWS": str(team.batch.min_rows)}
    if team.batch.max_psi is None:
        env["DRIFT_ACCEPTED"] = "true"  # PSI reported, not gated: monitoring alarms on drift
    else:
        env["MAX_PSI"] = str(team.batch.max_psi)
    return env

class BatchWorkflow(Construct):
    """The team's batch scoring workflow and its schedule; exposes ``state_machine``."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane) -> None:
        super().__init__(scope, construct_id)
        team = ctx.team
        stack = cdk.Stack.of(self)
        self.team_name = team.name
        self.assets = JobAssets(self, "Assets", ctx=ctx)
        self.assets.grant_read(data.sagemaker_role)
        self.image = serving_image(team, stack.region)

        fn = lambda cid, handler, desc, **kw: ProjectFunction(  # noqa: E731
            self, cid, ctx=ctx, stage="batch", handler=handler, description=desc, key=data.key,
            environment=data_environment(data), invoked_by="the batch workflow", **kw)
        self.prepare_fn = fn(
            "PrepareBatchFunction", "prepare_batch_run", "resolve a batch run's input, model and paths"
        )
        self.report_fn = fn("SummariseDqFunction", "summarise_data_quality", "summarise the input data-quality report")
        self.validate_fn = fn("ValidateOutputFunction", "validate_batch_output", "validate batch transform output",
                              timeout=cdk.Duration.minutes(15), memory_size=2048)
        self.publish_fn = fn("PublishResultsFunction", "publish_batch_results", "publish validated batch results",
                             timeout=cdk.Duration.minutes(15), memory_size=1024)
        grant_team_data(self.prepare_fn, data, read=[data.raw_bucket], write=[])  # it only names paths
        grant_registry_read(self.prepare_fn, data)
        grant_team_data(self.report_fn, data, read=[data.artifacts_bucket], write=[])
        grant_team_data(self.validate_fn, data, read=[data.artifacts_bucket], write=[])
        grant_team_data(self.publish_fn, data, read=[data.artifacts_bucket], write=[data.reports_bucket])

        self.state_machine = state_machine(
            self, "StateMachine", team=team.name, workflow="batch",
            definition=self._definition(ctx, data), key=data.key,
            timeout=cdk.Duration.hours(12),
            comment=f"{team.name}: Approved model → data quality → features → transform → validate → publish",
        )
        self._grant_state_machine(data)
        if team.batch.schedule:
            self.schedule = events.Rule(
                self, "Schedule", rule_name=team_resource(team.name, "batch-schedule"),
                description=f"{team.name}: batch scoring on the team's schedule",
                schedule=events.Schedule.expression(team.batch.schedule),
                targets=[targets.SfnStateMachine(
                    self.state_machine, input=events.RuleTargetInput.from_object({"reason": "schedule"}))],
            )

    # ------------------------------------------------------------------ grants
    def _grant_state_machine(self, data: DataPlane) -> None:
        role = self.state_machine.role
        stack = cdk.Stack.of(self)
        prefix = team_prefix(self.team_name)
        for kind in ("processing", "transform"):
            sagemaker_job_permissions(role, job_kind=kind, name_prefix=prefix, execution_role=data.sagemaker_role,
                                      volume_key=data.key)
            acknowledge_resource(
                role, stack.format_arn(service="sagemaker", resource=f"{kind}-job", resource_name=f"{prefix}*"),
                "Job names carry the batch run id, known only at run time; the prefix <team>-- is this "
                "team's alone (no team name contains --).",
            )
        model_arn = stack.format_arn(service="sagemaker", resource="model", resource_name=f"{prefix}batch-*")
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sagemaker:CreateModel", "sagemaker:AddTags"], resources=[model_arn]))
        acknowledge_resource(role, model_arn, "Each batch run creates a model named <team>--batch-<run id>, "
                                              "known only at run time; the prefix <team>-- is this team's "
                                              "alone (no team name contains --).")
        data.alerts_topic.grant_publish(role)
        # "Publish BatchScored event" puts the team's event on the account's default bus;
        # the condition keeps one team from publishing under another team's source.
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["events:PutEvents"],
            resources=[stack.format_arn(service="events", resource="event-bus", resource_name="default")],
            conditions={"StringEquals": {"events:source": event_source(self.team_name)}},
        ))
        acknowledge_invoke(role, [self.prepare_fn, self.report_fn, self.validate_fn, self.publish_fn])

    # -------------------------------------------------------------- definition
    def _definition(self, ctx: TeamContext, data: DataPlane) -> sfn.IChainable:
        team = ctx.team
        topic = data.alerts_topic
        failed = FailurePath(self, "StepFailed", topic=topic, workflow="batch", error="BatchWorkflowFailed",
                             subject=f"[{team.name}] batch scoring failed")
        dq_failed = FailurePath(
            self, "DqFailed", topic=topic, workflow="batch", error="DataQualityFailed",
            subject=f"[{team.name}] batch scoring stopped: input failed data quality",
            cause_path="$.data_quality.reasons_text", message_path="$.data_quality",
        )
        invalid = FailurePath(
            self, "OutputInvalid", topic=topic, workflow="batch", error="BatchOutputInvalid",
            subject=f"[{team.name}] batch scoring stopped: output failed validation",
            cause_path="$.validation.reasons_text", message_path="$.validation",
        )
        on_error = failed.start

        def invoke(cid: str, name: str, fn: Any, payload: dict, result_path: str) -> Any:
            return lambda_task(self, cid, state_name=name, function=fn.function, payload=payload,
                               result_path=result_path, on_error=on_error)

        prepare = invoke("Prepare", "Prepare batch run", self.prepare_fn, {
            "execution": sfn.JsonPath.string_at("$$.Execution.Name"), "input": sfn.JsonPath.object_at("$"),
        }, "$.run")
        common = [*self.assets.job_inputs()]

        def job(name: str, script: str, key: str, inputs: list, outputs: list, env: dict, result: str) -> Any:
            return guard(processing_job(
                self, name, state_name=name, name_path=f"$.run.job_names.{key}",
                role_arn=data.sagemaker_role.role_arn, image=self.image, script=script,
                inputs=common + inputs, outputs=outputs, instance_type=team.batch.instance_type,
                instance_count=1, kms_key_arn=data.key.key_arn, max_runtime_seconds=4 * 3600,
                environment=env, result_path=result, tags={"mdlc:team": team.name},
                network=job_network(team),
            ), on_error)

        data_quality = job(
            "Input data quality check", "data_quality/job.py", "data_quality",
            [JobInput("data", f"{IN}/data", uri_path="$.run.input_uri"),
             JobInput("baseline", f"{IN}/baseline", uri_path="$.run.baseline_uri")],
            [JobOutput("report", f"{OUT}/report", "$.run.paths.data_quality_report"),
             JobOutput("baseline", f"{OUT}/baseline", "$.run.paths.data_quality_baseline")],
            batch_quality_environment(team), "$.jobs.data_quality",
        )
        read_dq = invoke("ReadDq", "Read data quality report", self.report_fn, {
            "uri": sfn.JsonPath.string_at("$.run.paths.report"),
        }, "$.data_quality")
        features = job(
            "Batch features", "batch/job.py", "features",
            [JobInput("data", f"{IN}/data", uri_path="$.run.input_uri"),
             JobInput("online", f"{IN}/online", uri_path="$.run.online_features_uri")],
            [JobOutput("records", f"{OUT}/records", "$.run.paths.features"),
             JobOutput("summary", f"{OUT}/summary", "$.run.paths.features_summary")],
            {"CONTENT_TYPE": team.batch.content_type}, "$.jobs.features",
        )
        create_model = guard(sfn.CustomState(self, "Create model", state_json={
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:createModel",
            "Parameters": {
                "ModelName.$": "$.run.model_name",
                "ExecutionRoleArn": data.sagemaker_role.role_arn,
                "PrimaryContainer": {
                    "Image.$": "$.run.model.image",
                    "ModelDataUrl.$": "$.run.model.model_uri",
                    "Environment.$": "$.run.model.environment",
                },
                # The transform job runs with its model's isolation and VPC.
                **job_network(team).container(),
                "Tags": [{"Key": "mdlc:team", "Value": team.name}],
            },
            "ResultSelector": {"arn.$": "$.ModelArn"},
            "ResultPath": "$.created_model",
        }), on_error)
        transform = guard(self._transform(ctx, data), on_error)
        validate = invoke("Validate", "Validate output", self.validate_fn, {
            "staging_uri": sfn.JsonPath.string_at("$.run.paths.staging"),
            "summary_uri": sfn.JsonPath.string_at("$.run.paths.features_summary_file"),
            "content_type": sfn.JsonPath.string_at("$.run.content_type"),
        }, "$.validation")
        publish = invoke("Publish", "Publish results", self.publish_fn, {
            "run": sfn.JsonPath.object_at("$.run"), "validation": sfn.JsonPath.object_at("$.validation"),
        }, "$.published")
        announce = guard(sfn.CustomState(self, "Publish BatchScored event", state_json={
            "Type": "Task",
            "Resource": "arn:aws:states:::events:putEvents",
            "Parameters": {"Entries": [{
                "Source": event_source(team.name),
                "DetailType": BATCH_SCORED,
                "Detail": {
                    "team": team.name,
                    "run_id.$": "$.run.run_id",
                    "manifest_uri.$": "$.published.manifest_uri",
                    "results_uri.$": "$.published.results_uri",
                    "rows.$": "$.published.rows",
                    "model_package_arn.$": "$.run.model.arn",
                },
            }]},
            "ResultSelector": {"failed.$": "$.FailedEntryCount"},
            "ResultPath": "$.event",
        }), on_error)
        notify = guard(tasks.SnsPublish(
            self, "NotifyScored", state_name="Notify scored", topic=topic,
            subject=f"[{team.name}] batch scoring published",
            message=sfn.TaskInput.from_object({
                "workflow": "batch", "outcome": BATCH_SCORED,
                "manifest_uri": sfn.JsonPath.string_at("$.published.manifest_uri"),
                "rows": sfn.JsonPath.number_at("$.published.rows"),
                "model_package_arn": sfn.JsonPath.string_at("$.run.model.arn"),
            }),
            result_path=sfn.JsonPath.DISCARD,
        ), on_error)
        done = sfn.Succeed(self, "Scored", state_name="Scored")
        dq_ok = sfn.Choice(self, "DqPassed", state_name="Input data quality passed?")
        valid = sfn.Choice(self, "OutputValid", state_name="Output valid?")
        return prepare.next(data_quality).next(read_dq).next(
            dq_ok.when(
                sfn.Condition.boolean_equals("$.data_quality.passed", True),
                features.next(create_model).next(transform).next(validate).next(
                    valid.when(sfn.Condition.boolean_equals("$.validation.passed", True),
                               publish.next(announce).next(notify).next(done))
                    .otherwise(invalid.start)),
            ).otherwise(dq_failed.start)
        )

    def _transform(self, ctx: TeamContext, data: DataPlane) -> sfn.CustomState:
        batch = ctx.team.batch
        csv = batch.content_type == CSV
        return sfn.CustomState(self, "Batch transform", state_json={
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:createTransformJob.sync",
            "Parameters": {
                "TransformJobName.$": "$.run.job_names.transform",
                "ModelName.$": "$.run.model_name",
                "BatchStrategy": "MultiRecord",
                "MaxPayloadInMB": batch.max_payload_mb,
                "TransformInput": {
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": "$.run.paths.features"}},
                    "ContentType": batch.content_type,
                    "SplitType": "Line",
                    "CompressionType": "None",
                },
                "TransformOutput": {
                    "S3OutputPath.$": "$.run.paths.staging",
                    "Accept": batch.content_type,
                    "AssembleWith": "Line",
                    "KmsKeyId": data.key.key_arn,
                },
                "TransformResources": {
                    "InstanceCount": batch.instance_count,
                    "InstanceType": batch.instance_type,
                    **volume_key(batch.instance_type, data.key.key_arn),  # none on local-NVMe types
                },
                # The id rides along: dropped before the model (CSV), joined back to the score.
                "DataProcessing": {
                    "InputFilter": "$[1:]" if csv else "$",
                    "JoinSource": "Input",
                    "OutputFilter": output_filter(batch.reason_codes) if csv else "$",
                },
                "Tags": [{"Key": "mdlc:team", "Value": ctx.name}],
            },
            "ResultSelector": {"job_name.$": "$.TransformJobName", "status.$": "$.TransformJobStatus"},
            "ResultPath": "$.jobs.transform",
        })

"""Model monitoring: a scheduled workflow measuring drift and model quality, the team's
alarms on those numbers, and the team's dashboard.

Open loop: PSI of the endpoint's captured inputs and of the latest batch input against the
champion's training baseline, and of their scores against the champion's test-split
scores. Closed loop: precision, recall and PR-AUC of predictions joined with ground truth.
Skew (teams with an endpoint): the features each decision was served against the
point-in-time features recomputed from the raw data for the same event, per feature.
One processing job (``sagemaker_jobs/monitoring/job.py``) computes them; a Lambda
publishes them as CloudWatch metrics in ``MDLC/<team>``; alarms use the team file's
thresholds (``monitoring.*``), including the model's age.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from mdlc.names import alarm_name, endpoint_name, state_machine_name, team_resource
from stacks.common.alarms import alarm_specs, metric_namespace, sources
from stacks.common.functions import (
    acknowledge_invoke,
    data_environment,
    grant_registry_read,
    grant_team_data,
)
from stacks.common.images import serving_image
from stacks.common.job_assets import JobAssets
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

IN = "/opt/ml/processing/input"
CURSOR_KEY = "monitoring/cursor.json"  # lambdas/monitoring/prepare_monitoring_run/handler.py
# Inputs listed object by object (SageMaker manifest files): only what the run's window holds.
# SageMaker takes at most 10 processing inputs: the shadow pairs ride in the capture manifest
# (same bucket), under capture/shadow/.
WINDOWED_INPUTS = ("capture", "batch", "batch_input", "ground_truth", "raw")
OUT = "/opt/ml/processing/output"
WORKFLOWS = ("training", "batch", "monitoring")
REALTIME_WORKFLOWS = ("deployment", "decision")  # only when realtime.enabled
#: The decision mix the decision function emits (lambdas/realtime/decide: Powertools adds `service`).
DECISIONS_METRIC = "Decisions"


class MonitoringWorkflow(Construct):
    """The team's monitoring workflow, schedule, alarms and dashboard.

    Exposes ``state_machine`` and ``alarms`` (slug → ``cw.Alarm``).
    """

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane) -> None:
        super().__init__(scope, construct_id)
        team = ctx.team
        stack = cdk.Stack.of(self)
        self.team_name = team.name
        self.assets = JobAssets(self, "Assets", ctx=ctx)
        self.assets.grant_read(data.sagemaker_role)
        self.image = serving_image(team, stack.region)
        self.prepare_fn = ProjectFunction(self, "PrepareMonitoringFunction", ctx=ctx, stage="monitoring",
                                          handler="prepare_monitoring_run", key=data.key,
                                          environment=data_environment(data),
                                          description="resolve a monitoring run's champion, baselines and window",
                                          invoked_by="the monitoring workflow")
        self.publish_fn = ProjectFunction(self, "PublishMetricsFunction", ctx=ctx, stage="monitoring",
                                          handler="publish_monitoring_metrics", key=data.key,
                                          environment=data_environment(data),
                                          description="publish a monitoring report as CloudWatch metrics",
                                          invoked_by="the monitoring workflow")
        # Prepare lists the window's capture hours, batch runs and label partitions (and reads
        # and writes the cursor and the run's input manifests in the artifacts bucket).
        listed = [b for b in (data.reports_bucket, data.capture_bucket, data.raw_bucket) if b is not None]
        grant_team_data(self.prepare_fn, data, read=listed, write=[data.artifacts_bucket])  # no capture: batch-only
        grant_registry_read(self.prepare_fn, data)
        grant_team_data(self.publish_fn, data, read=[data.artifacts_bucket], write=[])
        # Publish moves the window cursor once the run's numbers are out: that one object only.
        data.artifacts_bucket.grant_put(self.publish_fn.role, CURSOR_KEY)
        self.publish_fn.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"], resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": metric_namespace(team.name)}},
        ))
        acknowledge(self.publish_fn.role, "AwsSolutions-IAM5[Resource::*]",
                    "cloudwatch:PutMetricData has no resource scope; the cloudwatch:namespace condition "
                    "limits it to this team's MDLC namespace. X-Ray tracing also needs Resource::*.")

        self.state_machine = state_machine(
            self, "StateMachine", team=team.name, workflow="monitoring",
            definition=self._definition(ctx, data), key=data.key, timeout=cdk.Duration.hours(4),
            comment=f"{team.name}: drift (endpoint capture, batch) and model quality → CloudWatch metrics",
        )
        self._grant_state_machine(data)
        self.schedule = events.Rule(
            self, "Schedule", rule_name=team_resource(team.name, "monitoring-schedule"),
            description=f"{team.name}: model monitoring on the team's schedule",
            schedule=events.Schedule.expression(team.monitoring.schedule),
            targets=[targets.SfnStateMachine(
                self.state_machine, input=events.RuleTargetInput.from_object({"reason": "schedule"}))],
        )
        self.alarms = self._alarms(ctx, data)
        self.dashboard = self._dashboard(ctx)

    # ------------------------------------------------------------------ grants
    def _grant_state_machine(self, data: DataPlane) -> None:
        role = self.state_machine.role
        stack = cdk.Stack.of(self)
        sagemaker_job_permissions(role, job_kind="processing", name_prefix=team_resource(self.team_name, "mon-"),
                                  execution_role=data.sagemaker_role, volume_key=data.key)
        acknowledge_resource(
            role, stack.format_arn(service="sagemaker", resource="processing-job",
                                   resource_name=team_resource(self.team_name, "mon-*")),
            "Monitoring job names carry the run id, known only at run time; the prefix <team>-- is this "
            "team's alone (no team name contains --).",
        )
        data.alerts_topic.grant_publish(role)
        acknowledge_invoke(role, [self.prepare_fn, self.publish_fn])

    # -------------------------------------------------------------- definition
    def _definition(self, ctx: TeamContext, data: DataPlane) -> sfn.IChainable:
        team = ctx.team
        failed = FailurePath(self, "StepFailed", topic=data.alerts_topic, workflow="monitoring",
                             error="MonitoringWorkflowFailed", subject=f"[{team.name}] monitoring failed")
        on_error = failed.start

        def invoke(cid: str, name: str, fn: Any, payload: dict, result_path: str) -> Any:
            return lambda_task(self, cid, state_name=name, function=fn.function, payload=payload,
                               result_path=result_path, on_error=on_error)

        prepare = invoke("Prepare", "Prepare monitoring run", self.prepare_fn, {
            "execution": sfn.JsonPath.string_at("$$.Execution.Name"), "input": sfn.JsonPath.object_at("$"),
        }, "$.run")
        inputs = [*self.assets.job_inputs()]
        inputs += [JobInput(name, f"{IN}/{name}", uri_path=f"$.run.inputs.{name}",
                            data_type="ManifestFile" if name in WINDOWED_INPUTS else "S3Prefix")
                   for name in ("baseline", "reference", "model", *WINDOWED_INPUTS)]
        monitor = guard(processing_job(
            self, "Monitor", state_name="Measure drift and quality", name_path="$.run.job_name",
            role_arn=data.sagemaker_role.role_arn, image=self.image, script="monitoring/job.py",
            inputs=inputs, outputs=[JobOutput("report", f"{OUT}/report", "$.run.paths.report_dir")],
            instance_type=team.training.processing_instance_type, kms_key_arn=data.key.key_arn,
            max_runtime_seconds=3 * 3600,
            environment={"WINDOW_START.$": "$.run.window.start", "WINDOW_END.$": "$.run.window.end",
                         "QUALITY_START.$": "$.run.window.quality_start",
                         "QUALITY_END.$": "$.run.window.quality_end",
                         "SKEW_START.$": "$.run.window.skew_start", "SKEW_END.$": "$.run.window.skew_end"},
            result_path="$.jobs.monitoring", tags={"mdlc:team": team.name}, network=job_network(team),
        ), on_error)
        publish = invoke("Publish", "Publish metrics", self.publish_fn, {
            "report_uri": sfn.JsonPath.string_at("$.run.paths.report"),
            "model": sfn.JsonPath.object_at("$.run.model"),
            "window": sfn.JsonPath.object_at("$.run.window"),
            "run_id": sfn.JsonPath.string_at("$.run.run_id"),
        }, "$.monitoring")
        notify = guard(tasks.SnsPublish(
            self, "NotifyIssues", state_name="Notify monitoring issues", topic=data.alerts_topic,
            subject=f"[{team.name}] monitoring found drift or a quality drop",
            message=sfn.TaskInput.from_object({
                "workflow": "monitoring", "outcome": "IssuesFound",
                "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
                "details": sfn.JsonPath.object_at("$.monitoring"),
            }),
            result_path=sfn.JsonPath.DISCARD,
        ), on_error)
        healthy = sfn.Succeed(self, "Healthy", state_name="Healthy")
        issues = sfn.Succeed(self, "IssuesFound", state_name="Issues found")
        check = sfn.Choice(self, "Passed", state_name="Within thresholds?")
        return prepare.next(monitor).next(publish).next(
            check.when(sfn.Condition.boolean_equals("$.monitoring.passed", True), healthy)
            .otherwise(notify.next(issues))
        )

    # ------------------------------------------------------------------ alarms
    def _alarms(self, ctx: TeamContext, data: DataPlane) -> dict[str, cw.Alarm]:
        period = cdk.Duration.hours(1)
        out = {}
        action = cw_actions.SnsAction(data.alerts_topic)
        for spec in alarm_specs(ctx):
            alarm = cw.Alarm(
                self, f"Alarm-{spec.slug}",
                alarm_name=alarm_name(ctx.name, spec.slug),
                alarm_description=f"{ctx.name}: {spec.description}",
                metric=cw.Metric(namespace=metric_namespace(ctx.name), metric_name=spec.metric,
                                 dimensions_map=spec.dimensions or None, statistic=spec.statistic, period=period),
                threshold=spec.threshold,
                comparison_operator=spec.comparison,
                evaluation_periods=1,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            out[spec.slug] = alarm
        shadow = ctx.team.realtime.shadow if ctx.team.realtime.enabled else None
        if shadow is not None:
            # Not an AlarmSpec: a better challenger is news for the team, not a retraining trigger.
            out["shadow-better"] = cw.Alarm(
                self, "Alarm-shadow-better", alarm_name=alarm_name(ctx.name, "shadow-better"),
                alarm_description=f"{ctx.name}: the shadow challenger beats the live decisions by at least "
                                  f"{shadow.promote_margin} {shadow.compare_metric} on the same labelled requests; "
                                  f"promote it with `mdlc promote --model {ctx.name} --stage <stage>`",
                metric=cw.Metric(namespace=metric_namespace(ctx.name), metric_name="ShadowAdvantage",
                                 statistic="Maximum", period=period),
                threshold=shadow.promote_margin,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1, treat_missing_data=cw.TreatMissingData.NOT_BREACHING)
            out["shadow-better"].add_alarm_action(action)
        return out

    # --------------------------------------------------------------- dashboard
    def _dashboard(self, ctx: TeamContext) -> cw.Dashboard:
        name, ns = ctx.name, metric_namespace(ctx.name)
        stack = cdk.Stack.of(self)
        five = cdk.Duration.minutes(5)
        hour = cdk.Duration.hours(1)
        m = ctx.team.monitoring

        def metric(metric_name: str, stat: str = "Maximum", **dims: str) -> cw.Metric:
            return cw.Metric(namespace=ns, metric_name=metric_name, dimensions_map=dims or None,
                             statistic=stat, period=hour, label=" ".join([metric_name, *dims.values()]))

        def search(expression: str, label: str, stat: str = "Average") -> cw.MathExpression:
            return cw.MathExpression(expression=f"SEARCH('{expression}', '{stat}', 300)", label=label,
                                     using_metrics={}, period=five)

        def line(value: float, label: str) -> cw.HorizontalAnnotation:
            return cw.HorizontalAnnotation(value=value, label=label, color=cw.Color.RED)

        workflows = WORKFLOWS + (REALTIME_WORKFLOWS if ctx.team.realtime.enabled else ())
        machines = {w: stack.format_arn(service="states", resource="stateMachine",
                                        resource_name=state_machine_name(name, w),
                                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME) for w in workflows}
        workflow_metrics = [
            cw.Metric(namespace="AWS/States", metric_name=outcome, dimensions_map={"StateMachineArn": arn},
                      statistic="Sum", period=hour, label=f"{w} {outcome.removeprefix('Executions').lower()}")
            for w, arn in machines.items() for outcome in ("ExecutionsSucceeded", "ExecutionsFailed")
        ]
        return cw.Dashboard(
            self, "Dashboard", dashboard_name=team_resource(name, "mdlc"),
            default_interval=cdk.Duration.days(7),
            widgets=[
                [cw.TextWidget(markdown=f"# {name}: model health\nDrift, quality, serving and workflows of the "
                               f"team's MDLC. Thresholds come from `models/{name}.yaml`.", width=24, height=2)],
                *([self._serving_widgets(ctx, search)] if ctx.team.realtime.enabled else []),
                [
                    cw.GraphWidget(title="Input drift (max feature PSI)", width=8,
                                   left=[metric("MaxFeaturePSI", Source=s) for s in sources(ctx)],
                                   left_annotations=[line(m.max_feature_psi, "max_feature_psi")]),
                    cw.GraphWidget(title="Prediction drift (score PSI)", width=8,
                                   left=[metric("PredictionPSI", Source=s) for s in sources(ctx)],
                                   left_annotations=[line(m.max_prediction_psi, "max_prediction_psi")]),
                    cw.GraphWidget(title="Feature PSI by feature", width=8,
                                   left=[search(f"{{{ns},Feature,Source}} MetricName=\"FeaturePSI\"",
                                                "FeaturePSI", "Maximum")]),
                ],
                [
                    cw.GraphWidget(title="Model quality on labelled predictions", width=8,
                                   left=[metric("Precision", "Minimum"), metric("Recall", "Minimum"),
                                         metric("PRAUC", "Minimum")],
                                   left_annotations=[line(m.min_pr_auc, "min_pr_auc"),
                                                     line(m.min_recall, "min_recall"),
                                                     line(m.min_precision, "min_precision")]),
                    cw.GraphWidget(title="Workflow outcomes", width=8, left=workflow_metrics),
                    cw.GraphWidget(title="Model age (days)", width=8, left=[metric("ModelAgeDays")],
                                   left_annotations=[line(m.max_model_age_days, "max_model_age_days")]),
                ],
                *([self._skew_widgets(ctx, metric, search, line)] if ctx.team.realtime.enabled else []),
                *([self._shadow_widgets(ctx, metric, search, line)]
                  if ctx.team.realtime.enabled and ctx.team.realtime.shadow is not None else []),
                [cw.AlarmStatusWidget(title="Alarms", width=24, alarms=list(self.alarms.values()))],
            ],
        )

    @staticmethod
    def _skew_widgets(ctx: TeamContext, metric: Any, search: Any, line: Any) -> list[cw.IWidget]:
        """Training/serving skew: served features against their point-in-time recomputation."""
        ns = metric_namespace(ctx.name)
        return [
            cw.GraphWidget(title="Training/serving skew (max share of decisions)", width=12,
                           left=[metric("MaxFeatureSkew")],
                           left_annotations=[line(ctx.team.monitoring.max_feature_skew, "max_feature_skew")]),
            cw.GraphWidget(title="Feature skew by feature; decisions checked and unmatched", width=12,
                           left=[search(f"{{{ns},Feature}} MetricName=\"FeatureSkew\"", "FeatureSkew", "Maximum")],
                           right=[metric("SkewCheckedDecisions", "Sum"), metric("SkewUnmatchedDecisions", "Sum")]),
        ]

    @staticmethod
    def _shadow_widgets(ctx: TeamContext, metric: Any, search: Any, line: Any) -> list[cw.IWidget]:
        """Live against the shadow challenger on the same requests (realtime.shadow)."""
        ns, shadow = metric_namespace(ctx.name), ctx.team.realtime.shadow
        assert shadow is not None
        side = lambda name: [metric(name, "Maximum", Side=s) for s in ("live", "shadow")]  # noqa: E731
        return [
            cw.GraphWidget(title="Shadow: decisions it would change (flip and error rate)", width=6,
                           left=[metric("ShadowFlipRate"), metric("ShadowErrorRate")],
                           right=[metric("ShadowComparedDecisions", "Sum")]),
            cw.GraphWidget(title="Shadow: live × shadow decisions", width=6, stacked=True,
                           left=[search(f"{{{ns},Live,Shadow}} MetricName=\"ShadowDecisionPairs\"", "pairs", "Sum")]),
            cw.GraphWidget(title="Live vs shadow: PR-AUC, recall, precision", width=6,
                           left=[*side("ChallengerPRAUC"), *side("ChallengerRecall"), *side("ChallengerPrecision")]),
            cw.GraphWidget(title=f"Shadow advantage ({shadow.compare_metric}); fraud amount saved", width=6,
                           left=[metric("ShadowAdvantage")], right=side("ChallengerAmountSaved"),
                           left_annotations=[line(shadow.promote_margin, "promote_margin")]),
        ]

    @staticmethod
    def _serving_widgets(ctx: TeamContext, search: Any) -> list[cw.IWidget]:
        """Endpoint latency and errors, and the decision mix (teams with real-time inference)."""
        name, ns = ctx.name, metric_namespace(ctx.name)
        endpoint = f"{{AWS/SageMaker,EndpointName,VariantName}} EndpointName=\"{endpoint_name(name)}\""
        return [
            cw.GraphWidget(title="Endpoint latency (µs)", width=8,
                           left=[search(f"{endpoint} MetricName=\"ModelLatency\"", "ModelLatency"),
                                 search(f"{endpoint} MetricName=\"OverheadLatency\"", "OverheadLatency")]),
            cw.GraphWidget(title="Endpoint errors", width=8,
                           left=[search(f"{endpoint} MetricName=\"Invocation4XXErrors\"", "4XX", "Sum"),
                                 search(f"{endpoint} MetricName=\"Invocation5XXErrors\"", "5XX", "Sum"),
                                 # Cold starts: only a serverless endpoint emits ModelSetupTime.
                                 *([search(f"{endpoint} MetricName=\"ModelSetupTime\"", "setup", "Sum")]
                                   if ctx.team.realtime.serverless else [])]),
            cw.GraphWidget(title="Decision mix", width=8, stacked=True,
                           left=[search(f"{{{ns},Decision,service}} MetricName=\"{DECISIONS_METRIC}\" "
                                        f"service=\"{name}-decide\"", "decisions", "Sum")]),
        ]

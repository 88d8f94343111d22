"""The deployment workflow (Standard): approved model package → endpoint, safely.

MDLC stage 6. Started by EventBridge when a package of the team's group becomes Approved,
or by hand with ``{"model_package_arn"}`` (``mdlc rollback`` does that with the previous
approved version). Creates the Model and an EndpointConfig with data capture, creates the
endpoint or updates it with SageMaker's deployment guardrails (blue/green, canary of the
team's size and bake time, auto-rollback on the 5xx, model-latency and decision
error-rate alarms), polls until InService or rolled back, smoke-tests the endpoint,
registers autoscaling, records the deployed version in SSM and notifies the team.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from mdlc.contract import Realtime
from mdlc.instance_storage import volume_key
from mdlc.names import team_prefix
from stacks.common.feature_names import backfill_workflow, signature_parameter
from stacks.common.lambda_function import ProjectFunction
from stacks.common.nag import acknowledge, acknowledge_resource
from stacks.common.network import job_network
from stacks.common.props import TeamContext
from stacks.common.sagemaker_jobs import volume_key_grant
from stacks.common.workflow import FailurePath, grant_execution_data, guard, state_machine
from stacks.data_plane import DataPlane
from stacks.realtime.names import SHADOW_VARIANT, VARIANT, alarm_names, deployed_parameter, endpoint_name

CAPTURE_PREFIX = "datacapture"
IN_PROGRESS = ["Creating", "Updating", "SystemUpdating", "RollingBack"]
# Tag of the team's scalable targets (the tag every resource of the team carries, stacks/team.py).
TEAM_TAG = "mdlc:team"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
TERMINATION_WAIT_SECONDS = 300


def deployment_config(realtime: Realtime, alarms: list[str]) -> dict[str, Any]:
    """UpdateEndpoint's DeploymentConfig: blue/green with canary (instances) and rollback alarms."""
    bake = realtime.canary.bake_minutes * 60
    if realtime.serverless is None:
        routing = {"Type": "CANARY", "WaitIntervalInSeconds": bake,
                   "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": realtime.canary.percent}}
    else:  # serverless endpoints shift all traffic at once, then bake
        routing = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": bake}
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": TERMINATION_WAIT_SECONDS,
            "MaximumExecutionTimeoutInSeconds": min(28800, max(600, bake + TERMINATION_WAIT_SECONDS + 1800)),
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarms]},
    }


def endpoint_config_parameters(realtime: Realtime, *, capture_uri: str, key_arn: str, team: str) -> dict[str, Any]:
    """CreateEndpointConfig parameters: one variant (instances or serverless), data capture."""
    variant: dict[str, Any] = {"VariantName": VARIANT, "ModelName.$": "$.deployment.model_name"}
    params: dict[str, Any] = {"EndpointConfigName.$": "$.deployment.endpoint_config_name",
                              "ProductionVariants": [variant], "Tags": [{"Key": "mdlc:team", "Value": team}]}
    if realtime.serverless is not None:
        variant["ServerlessConfig"] = {"MemorySizeInMB": realtime.serverless.memory_mb,
                                       "MaxConcurrency": realtime.serverless.max_concurrency}
        _add_shadow(realtime, params, {"ServerlessConfig": variant["ServerlessConfig"]})
        return params  # serverless endpoints support neither data capture nor a volume key
    variant.update({"InstanceType": realtime.instance_type, "InitialInstanceCount": realtime.min_capacity,
                    "InitialVariantWeight": 1})
    _add_shadow(realtime, params, {"InstanceType": realtime.instance_type, "InitialInstanceCount": 1})
    params.update(volume_key(realtime.instance_type, key_arn, "KmsKeyId"))  # none on local-NVMe types
    if realtime.data_capture_percent > 0:
        params["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": realtime.data_capture_percent,
            "DestinationS3Uri": capture_uri,
            "KmsKeyId": key_arn,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"], "CsvContentTypes": ["text/csv"]},
        }
    return params


def _add_shadow(realtime: Realtime, params: dict[str, Any], capacity: dict[str, Any]) -> None:
    """The challenger's variant (realtime.shadow.model_version): weight 0, so no live request
    reaches it, only the shadow Lambda's TargetVariant calls (stacks/realtime/shadow.py); one
    instance, not autoscaled."""
    if realtime.shadow is None or realtime.shadow.model_version is None:
        return
    params["ProductionVariants"].append({"VariantName": SHADOW_VARIANT, "ModelName.$": "$.deployment.shadow.model_name",
                                         "InitialVariantWeight": 0, **capacity})


class EndpointDeployment(Construct):
    """Rollback alarms, the deployment Lambdas, the Standard workflow and its EventBridge rule."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane,
                 decision_machine: sfn.StateMachine) -> None:
        super().__init__(scope, construct_id)
        team = ctx.team
        stack = cdk.Stack.of(self)
        self.team = team
        self.endpoint_name = endpoint_name(team.name)
        self.parameter_name = deployed_parameter(team.name)
        self.capture_uri = f"s3://{data.capture_bucket.bucket_name}/{CAPTURE_PREFIX}"
        self.alarms = self._alarms(data, decision_machine)
        arn = lambda resource, name: stack.format_arn(service="sagemaker", resource=resource, resource_name=name)  # noqa: E731
        self.endpoint_arn = arn("endpoint", self.endpoint_name)
        self.package_arn = arn("model-package", f"{data.model_package_group_name}/*")
        self.parameter_arn = stack.format_arn(service="ssm", resource="parameter",
                                              resource_name=self.parameter_name.lstrip("/"))

        self.prepare_fn = ProjectFunction(
            self, "PrepareDeploymentFunction", ctx=ctx, stage="realtime", handler="prepare_deployment",
            description="resolve an approved model package for deployment", key=data.key,
            environment={"MODEL_PACKAGE_GROUP": data.model_package_group_name,
                         "ENDPOINT_NAME": self.endpoint_name, "DEPLOYED_PARAMETER": self.parameter_name},
            invoked_by="the deployment workflow")
        self.smoke_fn = ProjectFunction(
            self, "SmokeTestFunction", ctx=ctx, stage="realtime", handler="smoke_test_endpoint",
            description="invoke the endpoint with a known record and check the response", key=data.key,
            invoked_by="the deployment workflow")
        # Gate: the online table must hold this team file's feature definitions (else backfill).
        self.backfill_arn = stack.format_arn(service="states", resource="stateMachine",
                                             resource_name=backfill_workflow(team.name),
                                             arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
        self.features_parameter_arn = stack.format_arn(service="ssm", resource="parameter",
                                                       resource_name=signature_parameter(team.name).lstrip("/"))
        self.features_fn = ProjectFunction(
            self, "EnsureOnlineFeaturesFunction", ctx=ctx, stage="realtime", handler="ensure_online_features",
            description="start the feature backfill when the online table lacks the model's features",
            key=data.key, environment={"BACKFILL_STATE_MACHINE": self.backfill_arn},
            invoked_by="the deployment workflow")
        self._grant_functions(data)

        self.state_machine = state_machine(
            self, "StateMachine", team=team.name, workflow="deployment", definition=self._definition(data),
            key=data.key, timeout=cdk.Duration.minutes(120 + 2 * team.realtime.canary.bake_minutes),
            comment=f"{team.name}: approved model → endpoint (blue/green canary, auto-rollback) → smoke test",
        )
        self._grant_state_machine(data)
        self.rule = events.Rule(
            self, "ApprovedRule",
            description=f"Deploy {team.name} model versions when they are approved",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"], detail_type=["SageMaker Model Package State Change"],
                detail={"ModelPackageGroupName": [data.model_package_group_name],
                        "ModelApprovalStatus": ["Approved"]}),
            targets=[targets.SfnStateMachine(self.state_machine)],
        )

    # --------------------------------------------------------------------- alarms
    def _alarms(self, data: DataPlane, decision_machine: sfn.StateMachine) -> dict[str, cloudwatch.Alarm]:
        realtime = self.team.realtime
        names = alarm_names(self.team.name)
        dims = {"EndpointName": self.endpoint_name, "VariantName": VARIANT}
        minute = cdk.Duration.minutes(1)
        errors = cloudwatch.Alarm(
            self, "Endpoint5xxAlarm", alarm_name=names["errors"],
            alarm_description="Endpoint 5xx errors: rolls a canary back",
            metric=cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="Invocation5XXErrors",
                                     dimensions_map=dims, statistic="Sum", period=minute),
            threshold=1, evaluation_periods=2, datapoints_to_alarm=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        latency = cloudwatch.Alarm(
            self, "ModelLatencyAlarm", alarm_name=names["latency"],
            alarm_description=f"Model latency p99 above {realtime.latency_alarm_ms} ms: rolls a canary back",
            metric=cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="ModelLatency",
                                     dimensions_map=dims, statistic="p99", period=minute),
            threshold=realtime.latency_alarm_ms * 1000,  # ModelLatency is in microseconds
            evaluation_periods=3, datapoints_to_alarm=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        rate = cloudwatch.MathExpression(
            expression="IF(started > 0, 100 * failed / started, 0)",
            using_metrics={"failed": decision_machine.metric_failed(period=minute, statistic="Sum"),
                           "started": decision_machine.metric_started(period=minute, statistic="Sum")},
            label="decision workflow error rate (%)", period=minute)
        decisions = cloudwatch.Alarm(
            self, "DecisionErrorRateAlarm", alarm_name=names["decisions"],
            alarm_description="More than 5% of decision workflow executions fail: rolls a canary back",
            metric=rate, threshold=5, evaluation_periods=2, datapoints_to_alarm=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        alarms = {"errors": errors, "latency": latency, "decisions": decisions}
        for alarm in alarms.values():
            alarm.add_alarm_action(cw_actions.SnsAction(data.alerts_topic))
        return alarms

    # ---------------------------------------------------------------- permissions
    def _grant_functions(self, data: DataPlane) -> None:
        self.prepare_fn.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sagemaker:DescribeModelPackage"], resources=[self.package_arn]))
        self.prepare_fn.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sagemaker:DescribeEndpoint"], resources=[self.endpoint_arn]))
        # the deployed config's variant names decide whether guardrails apply (shadow variant)
        configs = cdk.Stack.of(self).format_arn(service="sagemaker", resource="endpoint-config",
                                                resource_name=f"{team_prefix(self.team.name)}*")
        self.prepare_fn.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sagemaker:DescribeEndpointConfig"], resources=[configs]))
        acknowledge_resource(self.prepare_fn.role, configs,
                             "Endpoint configs are named <team>--v<version>-<execution hash> at run time; "
                             "the prefix <team>-- is this team's alone.")
        self.prepare_fn.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["ssm:GetParameter"], resources=[self.parameter_arn]))
        acknowledge_resource(self.prepare_fn.role, self.package_arn,
                             "Model package versions are numbered by SageMaker at registration; access "
                             "is limited to describing this team's model package group.")
        self.smoke_fn.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sagemaker:InvokeEndpoint"], resources=[self.endpoint_arn]))
        self.features_fn.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["ssm:GetParameter"], resources=[self.features_parameter_arn]))
        self.features_fn.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["states:StartExecution", "states:ListExecutions"], resources=[self.backfill_arn]))
        backfill_executions = cdk.Stack.of(self).format_arn(
            service="states", resource="execution", resource_name=f"{backfill_workflow(self.team.name)}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
        self.features_fn.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["states:DescribeExecution"], resources=[backfill_executions]))
        grant_execution_data(self.features_fn.role, data.key, [self.backfill_arn])
        acknowledge_resource(self.features_fn.role, backfill_executions,
                             "The gate reads the status of the backfill execution it started; execution names "
                             "are chosen by Step Functions, and access is limited to that one workflow.")

    def _grant_state_machine(self, data: DataPlane) -> None:
        role = self.state_machine.role
        stack = cdk.Stack.of(self)
        prefix = f"{team_prefix(self.team.name)}*"
        own = [stack.format_arn(service="sagemaker", resource=kind, resource_name=prefix)
               for kind in ("model", "endpoint-config")]
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint",
                     "sagemaker:UpdateEndpoint", "sagemaker:DescribeEndpoint", "sagemaker:AddTags"],
            resources=[*own, self.endpoint_arn]))
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[data.sagemaker_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}))
        data.key.grant(role, "kms:DescribeKey")
        role.add_to_principal_policy(volume_key_grant(data.key))  # the endpoint config's KmsKeyId
        # Deployment guardrails read the rollback alarms (UpdateEndpoint's AutoRollbackConfiguration)
        # with the permissions of the role that calls UpdateEndpoint.
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["cloudwatch:DescribeAlarms"], resources=[alarm.alarm_arn for alarm in self.alarms.values()]))
        for arn in own:
            acknowledge_resource(role, arn, "Each deployment creates a Model and EndpointConfig named "
                                 "<team>--v<version>-<execution hash>, known only at run time; the prefix "
                                 "<team>-- is this team's alone (no team name contains --).")
        for f in (self.prepare_fn, self.smoke_fn, self.features_fn):
            acknowledge_resource(role, f.function.function_arn,
                                 "LambdaInvoke grants the function and its versions (ARN:*); this is one of "
                                 "the workflow's own functions.", suffix=":*")
        if self.team.realtime.serverless is None:
            targets_arn = stack.format_arn(service="application-autoscaling", resource="scalable-target",
                                           resource_name="*")
            # Scalable target ids are generated by the service: the team's targets are those
            # tagged mdlc:team=<team>, a tag the workflow sets when it registers one (and only
            # that value); a target of another team (tagged with its name) is refused.
            own_tag = {f"aws:ResourceTag/{TEAM_TAG}": self.team.name}
            role.add_to_principal_policy(iam.PolicyStatement(
                sid="RegisterTeamScaling",
                actions=["application-autoscaling:RegisterScalableTarget", "application-autoscaling:TagResource"],
                resources=[targets_arn],
                conditions={"StringEquals": {f"aws:RequestTag/{TEAM_TAG}": self.team.name},
                            "ForAllValues:StringEquals": {"aws:TagKeys": [TEAM_TAG]},
                            "StringEqualsIfExists": own_tag}))
            role.add_to_principal_policy(iam.PolicyStatement(
                sid="ChangeTeamScaling",
                actions=["application-autoscaling:DeregisterScalableTarget",
                         "application-autoscaling:PutScalingPolicy"],
                resources=[targets_arn], conditions={"StringEquals": own_tag}))
            # DescribeScalableTargets takes no resource type: IAM authorises it only on "*".
            role.add_to_principal_policy(iam.PolicyStatement(
                actions=["application-autoscaling:DescribeScalableTargets"], resources=["*"]))
            # What Application Auto Scaling checks on its caller for a SageMaker variant.
            role.add_to_principal_policy(iam.PolicyStatement(
                actions=["sagemaker:UpdateEndpointWeightsAndCapacities"], resources=[self.endpoint_arn]))
            role.add_to_principal_policy(iam.PolicyStatement(
                actions=["sagemaker:DescribeEndpointConfig"], resources=[own[1]]))
            role.add_to_principal_policy(iam.PolicyStatement(
                actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
                resources=[stack.format_arn(service="cloudwatch", resource="alarm",
                                            resource_name=f"TargetTracking-endpoint/{self.endpoint_name}/*",
                                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)]))
            role.add_to_principal_policy(iam.PolicyStatement(
                actions=["iam:CreateServiceLinkedRole"],
                resources=[stack.format_arn(
                    service="iam", region="", resource="role",
                    resource_name="aws-service-role/sagemaker.application-autoscaling.amazonaws.com/*")],
                conditions={"StringLike": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}}))
            # One reason per rule and role: this one also covers what state_machine() acknowledges.
            acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
                        "Step Functions log delivery (logs:*LogDelivery, DescribeLogGroups…), X-Ray trace "
                        "segments and application-autoscaling:DescribeScalableTargets accept no resource "
                        "scope (Service Authorization Reference); the workflow describes only the team "
                        "endpoint's variant (ResourceIds in the task).")
            acknowledge_resource(role, targets_arn,
                                 "Application Auto Scaling names scalable targets with generated ids; the "
                                 "statements are conditioned on the mdlc:team tag with this team's name "
                                 "(set at registration, aws:RequestTag; required after, aws:ResourceTag), "
                                 "so another team's targets in the account are refused.")
            acknowledge(role, f"AwsSolutions-IAM5[Resource::arn:aws:cloudwatch:{stack.region}:{stack.account}:"
                        f"alarm:TargetTracking-endpoint/{self.endpoint_name}/*]",
                        "Target tracking creates its own alarms, named TargetTracking-<resource id>-<uuid>; "
                        "the resource id endpoint/<team>--endpoint/ names this team's endpoint only (no "
                        "team name contains --).")
            acknowledge(role, "AwsSolutions-IAM5[Resource::arn:aws:iam::"
                        f"{stack.account}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/*]",
                        "The SageMaker autoscaling service-linked role, created once per account; limited by "
                        "the iam:AWSServiceName condition.")

    # ----------------------------------------------------------------- definition
    def _definition(self, data: DataPlane) -> sfn.IChainable:
        team, realtime = self.team, self.team.realtime
        topic = data.alerts_topic
        failed = FailurePath(self, "StepFailed", topic=topic, workflow="deployment", error="DeploymentFailed",
                             subject=f"[{team.name}] model deployment failed")
        rolled_back = FailurePath(
            self, "RolledBack", topic=topic, workflow="deployment", error="DeploymentRolledBack",
            subject=f"[{team.name}] model deployment rolled back by an alarm",
            cause_path="$.endpoint.FailureReason", message_path="$.endpoint")
        endpoint_failed = FailurePath(
            self, "EndpointFailed", topic=topic, workflow="deployment", error="EndpointDeploymentFailed",
            subject=f"[{team.name}] endpoint deployment failed",
            cause_path="$.endpoint.FailureReason", message_path="$.endpoint")
        on_error = failed.start

        prepare = guard(tasks.LambdaInvoke(
            self, "Prepare", state_name="Prepare deployment", lambda_function=self.prepare_fn.function,
            payload=sfn.TaskInput.from_object({"input": sfn.JsonPath.object_at("$"),
                                               "execution": sfn.JsonPath.string_at("$$.Execution.Name")}),
            payload_response_only=True, retry_on_service_exceptions=False, result_path="$.deployment",
        ), on_error)
        skip = sfn.Succeed(self, "AlreadyDeployed", state_name="Already deployed")
        model_parameters = {
            "ModelName.$": "$.deployment.model_name",
            "ExecutionRoleArn": data.sagemaker_role.role_arn,
            "PrimaryContainer.$": "$.deployment.container",
            **job_network(team).container(),  # the endpoint's instances: isolation and VPC
            "Tags": [{"Key": "mdlc:team", "Value": team.name}],
        }
        create_model = guard(self._sagemaker("Create model", "createModel", model_parameters), on_error)
        create_config = guard(self._sagemaker(
            "Create endpoint config", "createEndpointConfig",
            endpoint_config_parameters(realtime, capture_uri=self.capture_uri, key_arn=data.key.key_arn,
                                       team=team.name)), on_error)
        create_endpoint = guard(self._sagemaker("Create endpoint", "createEndpoint", {
            "EndpointName.$": "$.deployment.endpoint_name",
            "EndpointConfigName.$": "$.deployment.endpoint_config_name",
            "Tags": [{"Key": "mdlc:team", "Value": team.name}],
        }), on_error)
        update_endpoint = guard(self._sagemaker("Update endpoint blue-green", "updateEndpoint", {
            "EndpointName.$": "$.deployment.endpoint_name",
            "EndpointConfigName.$": "$.deployment.endpoint_config_name",
            # Literal names (alarm_names): the alarms are this stack's, named deterministically.
            "DeploymentConfig": deployment_config(realtime, list(alarm_names(team.name).values())),
        }), on_error)
        # Guardrails need the same variant names before and after: adding or removing the shadow
        # variant switches at once (the live model is the same one then, or the team chose both).
        update_at_once = guard(self._sagemaker("Update endpoint at once", "updateEndpoint", {
            "EndpointName.$": "$.deployment.endpoint_name",
            "EndpointConfigName.$": "$.deployment.endpoint_config_name"}), on_error)
        guarded = sfn.Choice(self, "Guarded", state_name="Same variants?")
        guarded.when(sfn.Condition.boolean_equals("$.deployment.guarded", False), update_at_once)
        guarded.otherwise(update_endpoint)
        wait = sfn.Wait(self, "WaitForEndpoint", state_name="Wait for endpoint",
                        time=sfn.WaitTime.seconds_path("$.deployment.poll_seconds"))
        describe = guard(tasks.CallAwsService(
            self, "Describe", state_name="Describe endpoint", service="sagemaker", action="describeEndpoint",
            iam_action="sagemaker:DescribeEndpoint", iam_resources=[self.endpoint_arn],
            parameters={"EndpointName": sfn.JsonPath.string_at("$.deployment.endpoint_name")},
            result_path="$.endpoint"), on_error)
        smoke = guard(tasks.LambdaInvoke(
            self, "Smoke", state_name="Smoke test", lambda_function=self.smoke_fn.function,
            payload=sfn.TaskInput.from_object({"endpoint_name": sfn.JsonPath.string_at("$.deployment.endpoint_name")}),
            payload_response_only=True, retry_on_service_exceptions=False, result_path="$.smoke",
        ), on_error)
        record = sfn.Pass(self, "DescribeVersion", state_name="Describe deployed version", parameters={
            "model_package_arn": sfn.JsonPath.string_at("$.deployment.model_package_arn"),
            "version": sfn.JsonPath.number_at("$.deployment.version"),
            "model_version": sfn.JsonPath.string_at("$.smoke.model_version"),
            "endpoint_name": sfn.JsonPath.string_at("$.deployment.endpoint_name"),
            "endpoint_config_name": sfn.JsonPath.string_at("$.deployment.endpoint_config_name"),
            "previous_model_package_arn": sfn.JsonPath.string_at("$.deployment.previous_model_package_arn"),
            "shadow": sfn.JsonPath.object_at("$.deployment.shadow"),
            "reason": sfn.JsonPath.string_at("$.deployment.reason"),
            "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
            "deployed_at": sfn.JsonPath.string_at("$$.State.EnteredTime"),
        }, result_path="$.record")
        put = guard(tasks.CallAwsService(
            self, "Record", state_name="Record deployed version", service="ssm", action="putParameter",
            iam_action="ssm:PutParameter", iam_resources=[self.parameter_arn],
            parameters={"Name": self.parameter_name, "Type": "String", "Overwrite": True,
                        "Description": f"Model version serving on {self.endpoint_name} "
                                       "(written by the deployment workflow)",
                        "Value": sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.record"))},
            result_path=sfn.JsonPath.DISCARD), on_error)
        notify = guard(tasks.SnsPublish(
            self, "NotifyDeployed", state_name="Notify deployed", topic=topic,
            subject=f"[{team.name}] model version deployed to {self.endpoint_name}",
            message=sfn.TaskInput.from_object({"workflow": "deployment", "outcome": "Deployed",
                                               "deployed": sfn.JsonPath.object_at("$.record")}),
            result_path=sfn.JsonPath.DISCARD), on_error)
        done = sfn.Succeed(self, "Deployed", state_name="Deployed")

        after_smoke: sfn.IChainable = record
        before_update: sfn.IChainable = guarded
        on_rolled_back: sfn.IChainable = rolled_back.start
        on_endpoint_failed: sfn.IChainable = endpoint_failed.start
        if realtime.serverless is None:
            after_smoke = self._autoscaling(on_error).next(record)
            # Application Auto Scaling refuses an update that changes a scaled variant's
            # instance type: deregister first; register again after the update settles,
            # on the new config (after the smoke test) or on the old one (rolled back).
            before_update = self._deregister_scaling(on_error, guarded)
            on_rolled_back = self._restore_scaling("RolledBack", on_error, rolled_back.start)
            on_endpoint_failed = self._restore_scaling("EndpointFailed", on_error, endpoint_failed.start)
        record.next(put).next(notify).next(done)

        wait.next(describe)
        ready = sfn.Choice(self, "Ready", state_name="Endpoint in service?")
        in_progress = [sfn.Condition.string_equals("$.endpoint.EndpointStatus", s) for s in IN_PROGRESS]
        ready.when(sfn.Condition.or_(*in_progress), wait)
        ready.when(sfn.Condition.and_(
            sfn.Condition.string_equals("$.endpoint.EndpointStatus", "InService"),
            sfn.Condition.string_equals_json_path("$.endpoint.EndpointConfigName",
                                                         "$.deployment.endpoint_config_name")),
            smoke.next(after_smoke))
        ready.when(sfn.Condition.string_equals("$.endpoint.EndpointStatus", "InService"), on_rolled_back)
        ready.otherwise(on_endpoint_failed)
        describe.next(ready)
        create_endpoint.next(wait)
        update_endpoint.next(wait)
        update_at_once.next(wait)

        exists = sfn.Choice(self, "Exists", state_name="Endpoint exists?")
        exists.when(sfn.Condition.boolean_equals("$.deployment.endpoint_exists", True), before_update)
        exists.otherwise(create_endpoint)
        fresh = sfn.Choice(self, "Fresh", state_name="Already deployed?")
        fresh.when(sfn.Condition.boolean_equals("$.deployment.already_deployed", True), skip)
        # A model is served with the online features of this team file: wait for the backfill
        # (started by the check) when the table holds other feature definitions.
        features = guard(tasks.LambdaInvoke(
            self, "EnsureFeatures", state_name="Check online features", lambda_function=self.features_fn.function,
            payload=sfn.TaskInput.from_object({"state": sfn.JsonPath.object_at("$")}), payload_response_only=True,
            retry_on_service_exceptions=False, result_path="$.online_features"), on_error)
        wait_features = sfn.Wait(self, "WaitForFeatures", state_name="Wait for feature backfill",
                                 time=sfn.WaitTime.seconds_path("$.deployment.poll_seconds"))
        features_ready = sfn.Choice(self, "FeaturesReady", state_name="Online features ready?")
        features_ready.when(sfn.Condition.boolean_equals("$.online_features.ready", True),
                            create_model.next(self._shadow_model(model_parameters, on_error, create_config))
                            .next(exists))
        features_ready.otherwise(wait_features.next(features))
        fresh.otherwise(features.next(features_ready))
        return prepare.next(fresh)

    def _shadow_model(self, live: dict[str, Any], on_error: sfn.IChainable, then: sfn.IChainable) -> sfn.IChainable:
        """The challenger's Model (realtime.shadow.model_version) before the config that serves it."""
        shadow = self.team.realtime.shadow
        if shadow is None or shadow.model_version is None:
            return then
        create = guard(self._sagemaker("Create shadow model", "createModel", {
            **live, "ModelName.$": "$.deployment.shadow.model_name",
            "PrimaryContainer.$": "$.deployment.shadow.container"}), on_error)
        return create.next(then)

    def _sagemaker(self, name: str, action: str, parameters: dict[str, Any]) -> sfn.CustomState:
        return sfn.CustomState(self, name, state_json={
            "Type": "Task", "Resource": f"arn:aws:states:::sagemaker:{action}",
            # CDK drops a null ResultPath, so each result is kept under $.sagemaker instead.
            "Parameters": parameters, "ResultPath": f"$.sagemaker.{action}"})

    def _scaling_call(self, construct_id: str, state_name: str, action: str, parameters: dict[str, Any],
                      result_path: str | None = None) -> sfn.TaskStateBase | sfn.CustomState:
        """One Application Auto Scaling call on the endpoint's variant. Describe* takes no
        resource type (granted on "*" by _grant_state_machine); the others are custom states,
        so that no statement on every scalable target is generated for them: their grant is
        conditioned on the team's tag (_grant_state_machine), the only thing that tells one
        team's target from another's (the service generates their ids)."""
        base = {"ServiceNamespace": "sagemaker", "ScalableDimension": SCALABLE_DIMENSION, **parameters}
        if action.startswith("describe"):
            return tasks.CallAwsService(
                self, construct_id, state_name=state_name, service="applicationautoscaling", action=action,
                iam_action=f"application-autoscaling:{action[0].upper()}{action[1:]}", iam_resources=["*"],
                parameters=base, result_path=result_path or sfn.JsonPath.DISCARD)
        if action == "registerScalableTarget":
            base["Tags"] = {TEAM_TAG: self.team.name}
        # A custom state is named by its construct id: the state's name, as the task had.
        return sfn.CustomState(self, state_name, state_json={
            "Type": "Task", "Resource": f"arn:{cdk.Aws.PARTITION}:states:::aws-sdk:applicationautoscaling:{action}",
            # CDK drops a null ResultPath: the (empty) result is kept under $.scaling instead.
            "Parameters": base, "ResultPath": f"$.scaling.{action}"})

    def _deregister_scaling(self, on_error: sfn.IChainable, update: sfn.IChainable) -> sfn.Chain:
        """Before UpdateEndpoint: remember the variant's scalable target, then deregister it."""
        resource_id = f"endpoint/{self.endpoint_name}/variant/{VARIANT}"
        describe = guard(self._scaling_call(
            "DescribeScalingBefore", "Describe autoscaling", "describeScalableTargets",
            {"ResourceIds": [resource_id]}, result_path="$.scaling_before"), on_error)
        deregister = guard(self._scaling_call(
            "DeregisterScaling", "Deregister autoscaling", "deregisterScalableTarget",
            {"ResourceId": resource_id}), on_error)
        registered = sfn.Choice(self, "ScalingRegistered", state_name="Autoscaling registered?")
        registered.when(sfn.Condition.is_present("$.scaling_before.ScalableTargets[0]"), deregister.next(update))
        registered.otherwise(update)
        return sfn.Chain.start(describe).next(registered)

    def _restore_scaling(self, path: str, on_error: sfn.IChainable, then: sfn.IChainable) -> sfn.IChainable:
        """After a rolled-back or failed update: the old config gets its scalable target and
        the team's scaling policy back (as this workflow registered them), then the failure
        is reported."""
        realtime = self.team.realtime
        resource_id = f"endpoint/{self.endpoint_name}/variant/{VARIANT}"
        register = guard(self._scaling_call(
            f"Restore{path}Scaling", f"Restore autoscaling ({path})", "registerScalableTarget", {
                "ResourceId": resource_id, "MinCapacity": realtime.min_capacity,
                "MaxCapacity": realtime.max_capacity}),
            on_error)
        policy = guard(self._scaling_call(
            f"Restore{path}ScalingPolicy", f"Restore scaling policy ({path})", "putScalingPolicy",
            self._policy_parameters(resource_id)), on_error)
        register.next(policy).next(then)
        was = sfn.Choice(self, f"WasScaled{path}", state_name=f"Was autoscaled? ({path})")
        was.when(sfn.Condition.is_present("$.scaling_before.ScalableTargets[0]"), register)
        return was.otherwise(then)

    def _policy_parameters(self, resource_id: str) -> dict[str, Any]:
        realtime = self.team.realtime
        return {
            "PolicyName": f"{self.endpoint_name}-invocations", "ResourceId": resource_id,
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": realtime.target_invocations_per_instance,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "ScaleInCooldown": 300, "ScaleOutCooldown": 60}}

    def _autoscaling(self, on_error: sfn.IChainable) -> sfn.Chain:
        """After the smoke test: the variant of the new config is scaled on invocations."""
        realtime = self.team.realtime
        resource_id = f"endpoint/{self.endpoint_name}/variant/{VARIANT}"
        register = guard(self._scaling_call("RegisterScaling", "Register autoscaling", "registerScalableTarget", {
            "ResourceId": resource_id, "MinCapacity": realtime.min_capacity, "MaxCapacity": realtime.max_capacity}),
            on_error)
        policy = guard(self._scaling_call("ScalingPolicy", "Put scaling policy", "putScalingPolicy",
                                          self._policy_parameters(resource_id)), on_error)
        return sfn.Chain.start(register).next(policy)

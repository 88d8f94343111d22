"""Retraining: EventBridge rules (schedule, drift/quality/staleness alarms) that start the
training workflow through a guard allowing one training run per team at a time.

The guard is a Lambda with a DynamoDB lock (conditional writes); concurrent triggers
coalesce into the run already in progress. Every run's execution input names its reason,
which the training workflow records in the registered model's lineage. A retrained model
then follows the normal approval path (``retraining.auto_approve`` approves it at once).
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from mdlc.names import alarm_name, state_machine_name, team_resource
from stacks.common.alarms import AlarmSpec, alarm_specs
from stacks.common.functions import data_environment
from stacks.common.lambda_function import ProjectFunction
from stacks.common.nag import acknowledge, acknowledge_resource
from stacks.common.props import TeamContext
from stacks.common.workflow import grant_execution_data
from stacks.data_plane import DataPlane


def training_state_machine_arn(scope: Construct, team: str) -> str:
    """The training workflow's ARN from its deterministic name (no cross-stack export)."""
    return cdk.Stack.of(scope).format_arn(service="states", resource="stateMachine",
                                          resource_name=state_machine_name(team, "training"),
                                          arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)


def triggering_alarms(ctx: TeamContext) -> list[AlarmSpec]:
    """The alarms that start a retraining run under the team's ``retraining`` settings."""
    r = ctx.team.retraining
    # Skew is a serving fault (a lagging stream, a stale online table): a new model does not fix it.
    wanted = {"drift": r.on_drift, "staleness": r.on_staleness, "quality": r.on_quality_drop, "skew": False}
    return [a for a in alarm_specs(ctx) if wanted[a.kind]]


class RetrainingTriggers(Construct):
    """The guard function, its lock table and the rules that call it; exposes ``guard``."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane) -> None:
        super().__init__(scope, construct_id)
        team = ctx.team
        stack = cdk.Stack.of(self)
        machine_arn = training_state_machine_arn(self, team.name)
        self.lock_table = dynamodb.Table(
            self, "LockTable", table_name=team_resource(team.name, "retraining-lock"),
            partition_key=dynamodb.Attribute(name="team", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED, encryption_key=data.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            time_to_live_attribute="expires_at",
            removal_policy=cdk.RemovalPolicy.DESTROY,  # a lock, not data: nothing to keep
        )
        alarms = triggering_alarms(ctx)
        self.guard = ProjectFunction(
            self, "StartRetrainingFunction", ctx=ctx, stage="retraining", handler="start_retraining",
            description="start one guarded retraining run per trigger", key=data.key,
            invoked_by="the EventBridge rules of this stack", on_failure=data.alerts_topic,
            environment={
                **data_environment(data),
                "LOCK_TABLE": self.lock_table.table_name,
                "TRAINING_STATE_MACHINE_ARN": machine_arn,
                "ALARM_REASONS": json.dumps({alarm_name(team.name, a.slug): a.reason for a in alarms}, sort_keys=True),
            },
        )
        self.lock_table.grant_read_write_data(self.guard.role)
        self.guard.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["states:StartExecution", "states:ListExecutions"], resources=[machine_arn]))
        grant_execution_data(self.guard.role, data.key, [machine_arn])
        self.guard.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["states:DescribeExecution"],
            resources=[stack.format_arn(service="states", resource="execution",
                                        resource_name=f"{state_machine_name(team.name, 'training')}:*",
                                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)]))
        acknowledge_resource(
            self.guard.role,
            stack.format_arn(service="states", resource="execution",
                             resource_name=f"{state_machine_name(team.name, 'training')}:*",
                             arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME),
            "The guard reads the status of this team's training executions, whose names are only "
            "known at run time.",
        )
        for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
            acknowledge(self.guard.role, f"AwsSolutions-IAM5[Action::{action}]",
                        f"{action} comes from grant_read_write_data on the lock table encrypted with "
                        "this team's own key.")

        self.rules: list[events.Rule] = []
        target = targets.LambdaFunction(self.guard.function, retry_attempts=2)
        if team.retraining.schedule:
            self.rules.append(events.Rule(
                self, "Schedule", rule_name=team_resource(team.name, "retraining-schedule"),
                description=f"{team.name}: periodic retraining",
                schedule=events.Schedule.expression(team.retraining.schedule), targets=[target],
            ))
        if alarms:
            self.rules.append(events.Rule(
                self, "OnAlarm", rule_name=team_resource(team.name, "retraining-on-alarm"),
                description=f"{team.name}: retrain when a drift, quality or staleness alarm fires",
                event_pattern=events.EventPattern(
                    source=["aws.cloudwatch"], detail_type=["CloudWatch Alarm State Change"],
                    detail={"alarmName": [alarm_name(team.name, a.slug) for a in alarms],
                            "state": {"value": ["ALARM"]}},
                ),
                targets=[target],
            ))

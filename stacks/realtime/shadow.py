"""The shadow challenger (issue 24): every live decision decided again, off the synchronous path.

Built only for a team whose file sets ``realtime.shadow``. A Lambda reads the decisions
table's stream (the outbox the decision workflow already writes; the relay to the event bus
is the other reader) and decides each new live decision as the challenger would: the
endpoint's ``Shadow`` variant scores the recorded model input (when the shadow names a model
version), the candidate policy decides. The pairs go to ``shadow/dt=<day>/`` in the capture
bucket for the monitoring workflow. The decision workflow gains no step: a slow, failing or
wrong shadow cannot change a live answer or its latency, because it runs after the answer.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from mdlc.names import alarm_name, team_resource
from stacks.common.functions import NO_PAYLOADS_IN_TRACES
from stacks.common.lambda_function import ProjectFunction
from stacks.common.nag import acknowledge, acknowledge_resource
from stacks.common.props import TeamContext
from stacks.data_plane import DataPlane
from stacks.realtime.decisions import DecisionService
from stacks.realtime.names import SHADOW_PREFIX, SHADOW_VARIANT

#: Stream retries of a batch whose pairs could not be written, before its dead-letter queue.
SHADOW_RETRY_ATTEMPTS = 5


class ShadowChallenger(Construct):
    """The shadow Lambda on the decisions stream, its dead-letter queue and alarm."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane,
                 decisions: DecisionService) -> None:
        super().__init__(scope, construct_id)
        shadow = ctx.team.realtime.shadow
        assert shadow is not None and data.capture_bucket is not None
        self.function = ProjectFunction(
            self, "ShadowDecisionsFunction", ctx=ctx, stage="realtime", handler="shadow_decisions",
            description="decide each live decision again as the shadow challenger (recorded, never acted on)",
            key=data.key, timeout=cdk.Duration.seconds(60), memory_size=1024,
            environment={**NO_PAYLOADS_IN_TRACES, "SHADOW_BUCKET": data.capture_bucket.bucket_name,
                         "ENDPOINT_NAME": decisions.endpoint_name, "SHADOW_VARIANT": SHADOW_VARIANT},
            invoked_by="the decisions table's stream (one batch per shard at a time)")
        data.capture_bucket.grant_put(self.function.role, f"{SHADOW_PREFIX}*")
        data.key.grant_encrypt_decrypt(self.function.role)
        if shadow.model_version is not None:
            self.function.role.add_to_principal_policy(iam.PolicyStatement(
                actions=["sagemaker:InvokeEndpoint"], resources=[decisions.endpoint_arn]))
        for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
            acknowledge(self.function.role, f"AwsSolutions-IAM5[Action::{action}]",
                        f"{action} comes from the L2 grants on this team's own bucket and key.")
        acknowledge(self.function.role, "AwsSolutions-IAM5[Action::s3:Abort*]",
                    "s3:Abort* comes from the L2 grant_put of the shadow prefix of this team's capture bucket.")
        acknowledge_resource(self.function.role, data.capture_bucket.bucket_arn,
                             "The shadow log's keys are per day and stream batch, under this team's shadow/ "
                             "prefix of its capture bucket.", suffix=f"/{SHADOW_PREFIX}*")
        self.dead_letters = self._source(ctx, data, decisions)

    def _source(self, ctx: TeamContext, data: DataPlane, decisions: DecisionService) -> sqs.Queue:
        dlq = sqs.Queue(self, "ShadowDeadLetters", queue_name=team_resource(ctx.name, "shadow-decisions-dlq"),
                        encryption=sqs.QueueEncryption.KMS, encryption_master_key=data.key, enforce_ssl=True,
                        retention_period=cdk.Duration.days(14))
        acknowledge(dlq, "AwsSolutions-SQS3",
                    "This queue is the dead-letter destination of the shadow Lambda's stream mapping; "
                    "a dead-letter queue has no dead-letter queue of its own.")
        self.function.function.add_event_source(sources.DynamoEventSource(
            decisions.decisions_table, starting_position=lambda_.StartingPosition.TRIM_HORIZON, batch_size=100,
            max_batching_window=cdk.Duration.seconds(5), retry_attempts=SHADOW_RETRY_ATTEMPTS,
            max_record_age=cdk.Duration.hours(24), on_failure=sources.SqsDlq(dlq),
            filters=[lambda_.FilterCriteria.filter({"eventName": lambda_.FilterRule.is_equal("INSERT")})],
        ))
        alarm = cloudwatch.Alarm(
            self, "ShadowDeadLettersAlarm", alarm_name=alarm_name(ctx.name, "shadow-decisions-unrecorded"),
            alarm_description=f"{ctx.name}: shadow decisions that could not be recorded after "
                              f"{SHADOW_RETRY_ATTEMPTS} retries are in "
                              f"{team_resource(ctx.name, 'shadow-decisions-dlq')} (live decisions are unaffected)",
            metric=dlq.metric_approximate_number_of_messages_visible(period=cdk.Duration.minutes(5),
                                                                     statistic="Maximum"),
            threshold=0, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        alarm.add_alarm_action(cw_actions.SnsAction(data.alerts_topic))
        return dlq

"""The team's feature pipeline, apart from training: stream → consumer → online table, and
the backfill/reconciliation workflow that bootstraps and checks the table.

* a Kinesis Data Stream ``<team>-events`` (on-demand, the team's KMS key) takes the raw
  events (id, entity key, timestamp and record columns); the decision workflow feeds
  every scored transaction into it;
* a consumer Lambda, driven by an event source mapping (batches, bisect on error,
  partial batch responses, retries, on-failure destination: an alarmed DLQ), updates each
  entity's state in the online feature table incrementally;
* a Standard workflow ``<team>-feature-backfill`` on ``streaming.reconciliation_schedule``
  recomputes the state from the newest raw partition (Distributed Map over entity shards),
  writes missing entities and publishes the mismatch rate, with an alarm;
* freshness alarms (iterator age, the consumer's own lag) and a dashboard.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from mdlc import features as F
from mdlc.names import alarm_name, team_resource
from stacks.common.feature_names import backfill_workflow, signature_parameter, stream_name
from stacks.common.functions import NO_PAYLOADS_IN_TRACES
from stacks.common.lambda_function import ProjectFunction
from stacks.common.nag import acknowledge, acknowledge_resource
from stacks.common.props import TeamContext
from stacks.common.workflow import FailurePath, lambda_task, state_machine, transient_retry
from stacks.data_plane import DataPlane


def metric_namespace(team: str) -> str:
    return f"MDLC/{team}"


#: Which handler emits each of the pipeline's own metrics. Powertools adds the dimension
#: ``service`` (the function's POWERTOOLS_SERVICE_NAME, ``<team>-<handler>``) to every
#: metric, so a reader must name it or CloudWatch finds no such metric.
EMITTED_BY = {
    **dict.fromkeys(("StreamToFeatureLag", "EventToFeatureLag", "EventsApplied", "DuplicateEvents",
                     "LateEventsDropped", "InvalidEvents", "FailedEvents", "LargestOnlineItemBytes",
                     "OversizedOnlineItems"), "consume_events"),
    **dict.fromkeys(("ReconciliationMismatchRate", "ReconciliationMismatches", "EntitiesBackfilled",
                     "StaleEntityStates"), "publish_reconciliation"),
}


def pipeline_metric(team: str, name: str, statistic: str, period: cdk.Duration, label: str | None = None) -> cw.Metric:
    """One of the feature pipeline's own metrics, with the dimension its handler emits."""
    return cw.Metric(namespace=metric_namespace(team), metric_name=name, statistic=statistic, period=period,
                     dimensions_map={"service": f"{team}-{EMITTED_BY[name]}"}, label=label)


class FeaturePipeline(Construct):
    """Stream, consumer, DLQ, backfill workflow, alarms and dashboard of one team.

    Exposes ``stream``, ``consumer``, ``dead_letter_queue``, ``state_machine`` and
    ``alarms`` (slug → alarm).
    """

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane) -> None:
        super().__init__(scope, construct_id)
        team, s = ctx.team, ctx.team.streaming
        self.ctx = ctx
        self.stream = kinesis.Stream(
            self, "EventStream", stream_name=stream_name(team.name),
            stream_mode=kinesis.StreamMode.ON_DEMAND,
            encryption=kinesis.StreamEncryption.KMS, encryption_key=data.key,
            retention_period=cdk.Duration.hours(24),
        )
        acknowledge(self.stream, "AwsSolutions-KDS3",
                    "The stream carries card transactions: it is encrypted with the team's own rotating "
                    "key like every other store of the team's data, so access is governed by one key policy.")
        self.dead_letter_queue = sqs.Queue(
            self, "ConsumerDlq", queue_name=team_resource(team.name, "features-dlq"),
            encryption=sqs.QueueEncryption.KMS, encryption_master_key=data.key,
            enforce_ssl=True, retention_period=cdk.Duration.days(14),
        )
        acknowledge(self.dead_letter_queue, "AwsSolutions-SQS3",
                    "This queue is itself the consumer's on-failure destination (a dead-letter "
                    "queue); its depth is alarmed.")
        self.consumer = ProjectFunction(
            self, "ConsumerFunction", ctx=ctx, stage="features", handler="consume_events",
            description="apply stream events to the entities' online features", key=data.key,
            environment={"FEATURE_TABLE": data.feature_table.table_name},
            timeout=cdk.Duration.seconds(60), memory_size=1024,
        )
        # The mapping KinesisEventSource would add (same id: the deployed mapping and its
        # checkpoint stay), without its stream.grantRead: that grant scopes kinesis:ListStreams
        # (an action IAM authorises only on "*") and the enhanced fan-out consumer actions
        # (DescribeStreamConsumer, SubscribeToShard: consumer ARNs) to the stream ARN, where
        # they grant nothing. The role gets what Lambda's poller uses on a standard iterator.
        self.consumer.function.add_event_source_mapping(
            f"KinesisEventSource:{cdk.Names.node_unique_id(self.stream.node)}",
            event_source_arn=self.stream.stream_arn, starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=s.batch_size, max_batching_window=cdk.Duration.seconds(s.max_batching_window_seconds),
            bisect_batch_on_error=True, report_batch_item_failures=True, retry_attempts=s.retry_attempts,
            max_record_age=cdk.Duration.hours(24), parallelization_factor=1,
            on_failure=sources.SqsDlq(self.dead_letter_queue),
        )
        self.stream.grant(self.consumer.role, "kinesis:DescribeStream", "kinesis:DescribeStreamSummary",
                          "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards")
        data.feature_table.grant_read_write_data(self.consumer.role)
        data.key.grant_encrypt_decrypt(self.consumer.role)
        for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
            acknowledge(self.consumer.role, f"AwsSolutions-IAM5[Action::{action}]",
                        f"{action} comes from the L2 grants on this team's own stream, queue, table and key.")
        self._backfill(ctx, data)
        self.alarms = self._alarms(ctx, data)
        self.dashboard = self._dashboard(ctx)

    # --------------------------------------------------------------- backfill
    def _backfill(self, ctx: TeamContext, data: DataPlane) -> None:
        team = ctx.team
        common = {"FEATURE_TABLE": data.feature_table.table_name, "RAW_BUCKET": data.raw_bucket.bucket_name,
                  "FEATURES_BUCKET": data.features_bucket.bucket_name,
                  "REPORTS_BUCKET": data.reports_bucket.bucket_name}
        # Shard results name mismatched entities (customer ids): no payloads in X-Ray.
        fn = lambda cid, handler, desc: ProjectFunction(  # noqa: E731
            self, cid, ctx=ctx, stage="features", handler=handler, description=desc, key=data.key,
            environment={**common, **NO_PAYLOADS_IN_TRACES},
            timeout=cdk.Duration.minutes(15), memory_size=2048)
        self.plan_fn = fn("PlanBackfillFunction", "plan_backfill", "split a raw partition into entity shards")
        self.shard_fn = fn("ReconcileShardFunction", "reconcile_shard",
                           "recompute one entity shard and reconcile it with the online table")
        self.publish_fn = fn("PublishReconciliationFunction", "publish_reconciliation",
                             "publish the online table's mismatch rate")
        data.raw_bucket.grant_read(self.plan_fn.role)
        data.features_bucket.grant_read_write(self.plan_fn.role)
        data.features_bucket.grant_read(self.shard_fn.role)
        data.feature_table.grant_read_write_data(self.shard_fn.role)
        data.reports_bucket.grant_read_write(self.publish_fn.role)
        parameter = cdk.Stack.of(self).format_arn(
            service="ssm", resource="parameter", resource_name=signature_parameter(team.name).lstrip("/"))
        self.publish_fn.role.add_to_principal_policy(iam.PolicyStatement(actions=["ssm:PutParameter"],
                                                                         resources=[parameter]))
        for f in (self.plan_fn, self.shard_fn, self.publish_fn):
            data.key.grant_encrypt_decrypt(f.role)
            for bucket in data.buckets:
                acknowledge_resource(f.role, bucket.bucket_arn,
                                     "Run ids are only known at run time; access is limited to this team's bucket.",
                                     suffix="/*")
            for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*",
                           "kms:ReEncrypt*", "kms:GenerateDataKey*"):
                acknowledge(f.role, f"AwsSolutions-IAM5[Action::{action}]",
                            f"{action} comes from the L2 grants on this team's own buckets, table and key.")

        failed = FailurePath(self, "BackfillFailed", topic=data.alerts_topic, workflow="feature-backfill",
                             error="FeatureBackfillFailed", subject=f"[{team.name}] feature backfill failed")
        plan = lambda_task(self, "Plan", state_name="Plan shards", function=self.plan_fn.function,
                           payload={"execution": sfn.JsonPath.string_at("$$.Execution.Name"),
                                    "input": sfn.JsonPath.object_at("$")},
                           result_path="$.run", on_error=failed.start)
        reconcile = sfn.CustomState(self, "Reconcile", state_json=self._shard_map())
        reconcile.add_catch(failed.start, errors=["States.ALL"], result_path="$.error")
        publish = lambda_task(self, "Publish", state_name="Publish mismatch rate", function=self.publish_fn.function,
                              payload={"run": sfn.JsonPath.object_at("$.run"),
                                       "shards": sfn.JsonPath.object_at("$.shards")},
                              result_path="$.summary", on_error=failed.start)
        done = sfn.Succeed(self, "Reconciled", state_name="Reconciled")
        self.state_machine = state_machine(
            self, "StateMachine", team=team.name, workflow="feature-backfill",
            definition=plan.next(reconcile).next(publish).next(done), key=data.key,
            timeout=cdk.Duration.hours(6),
            include_execution_data=False,  # shard results name mismatched entities (customer ids)
            comment=f"{team.name}: raw partition → entity shards → recompute, write missing, compare",
        )
        role = self.state_machine.role
        data.alerts_topic.grant_publish(role)
        self.shard_fn.function.grant_invoke(role)
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[data.features_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": ["backfill/*"]}}))
        stack = cdk.Stack.of(self)
        machine_arn = stack.format_arn(service="states", resource="stateMachine",
                                       resource_name=backfill_workflow(team.name),
                                       arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
        executions = stack.format_arn(service="states", resource="execution",
                                      resource_name=f"{backfill_workflow(team.name)}/*",
                                      arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
        role.add_to_principal_policy(iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine_arn]))
        role.add_to_principal_policy(iam.PolicyStatement(actions=["states:DescribeExecution", "states:StopExecution"],
                                                         resources=[executions]))
        acknowledge_resource(role, executions,
                             "The Distributed Map's child executions are named by Step Functions at run time; "
                             "access is limited to this workflow's own executions.")
        for f in (self.plan_fn, self.shard_fn, self.publish_fn):
            acknowledge_resource(role, f.function.function_arn,
                                 "LambdaInvoke grants the function and its versions (ARN:*); this is one of "
                                 "the workflow's own functions.", suffix=":*")
        self.schedule = events.Rule(
            self, "Schedule", rule_name=team_resource(team.name, "feature-backfill-schedule"),
            description=f"{team.name}: reconcile the online feature table with the raw data",
            schedule=events.Schedule.expression(team.streaming.reconciliation_schedule),
            targets=[targets.SfnStateMachine(self.state_machine,
                                             input=events.RuleTargetInput.from_object({"reason": "schedule"}))],
        )

    def _shard_map(self) -> dict:
        r = transient_retry()
        retry = {"ErrorEquals": r["errors"], "IntervalSeconds": 1, "MaxAttempts": r["max_attempts"],
                 "BackoffRate": 2, "MaxDelaySeconds": 60, "JitterStrategy": "FULL"}
        return {
            "Type": "Map", "Label": "ReconcileShards",
            "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2",
                           "Parameters": {"Bucket.$": "$.run.shard_bucket", "Prefix.$": "$.run.shard_prefix"}},
            "ItemSelector": {
                "uri.$": "States.Format('s3://{}/{}', $.run.shard_bucket, $$.Map.Item.Value.Key)",
                "snapshot_end.$": "$.run.snapshot_end", "repair.$": "$.run.repair"},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Reconcile shard",
                "States": {"Reconcile shard": {
                    "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": self.shard_fn.function.function_arn, "Payload.$": "$"},
                    "OutputPath": "$.Payload", "Retry": [retry], "End": True}},
            },
            "MaxConcurrency": 20, "ResultPath": "$.shards",
        }

    # ----------------------------------------------------------------- alarms
    def _alarms(self, ctx: TeamContext, data: DataPlane) -> dict[str, cw.Alarm]:
        s, name = ctx.team.streaming, ctx.name
        five = cdk.Duration.minutes(5)
        lag_ms = s.max_lag_seconds * 1000
        specs = {
            "features-dlq": (self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=five, statistic="Maximum"), 0, "stream batches that failed every retry are in the DLQ"),
            "features-iterator-age": (self.consumer.function.metric(
                "IteratorAge", period=cdk.Duration.minutes(1), statistic="Maximum"), lag_ms,
                f"the consumer is more than {s.max_lag_seconds} s behind the stream (iterator age)"),
            "features-lag": (pipeline_metric(name, "StreamToFeatureLag", "Maximum", cdk.Duration.minutes(1)), lag_ms,
                             f"an event took more than {s.max_lag_seconds} s from the stream to the online table"),
            # An online item holds a key value's events of its longest window plus the lateness;
            # a hot key (a card-testing device) nearing DynamoDB's item limit would stop its writes.
            "features-item-size": (pipeline_metric(name, "LargestOnlineItemBytes", "Maximum", five),
                                   int(F.MAX_ITEM_BYTES * F.ITEM_WARN_FRACTION),
                                   f"an online item is above {F.ITEM_WARN_FRACTION:.0%} of DynamoDB's "
                                   f"{F.MAX_ITEM_BYTES // 1024} KB item limit (a hot key: shorten its longest "
                                   "window or the lateness)"),
            "features-mismatch": (pipeline_metric(name, "ReconciliationMismatchRate", "Maximum", cdk.Duration.days(1)),
                                  s.max_mismatch_rate,
                                  f"more than {s.max_mismatch_rate:.2%} of entities differ from the recomputation"),
        }
        action = cw_actions.SnsAction(data.alerts_topic)
        out = {}
        for slug, (metric, threshold, text) in specs.items():
            alarm = cw.Alarm(self, f"Alarm-{slug}", alarm_name=alarm_name(name, slug),
                             alarm_description=f"{name}: {text}",
                             metric=metric, threshold=threshold, evaluation_periods=1,
                             comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                             treat_missing_data=cw.TreatMissingData.NOT_BREACHING)
            alarm.add_alarm_action(action)
            out[slug] = alarm
        return out

    def _dashboard(self, ctx: TeamContext) -> cw.Dashboard:
        name, s = ctx.name, ctx.team.streaming
        minute = cdk.Duration.minutes(1)

        def metric(metric_name: str, stat: str = "Sum", period: cdk.Duration = minute) -> cw.Metric:
            return pipeline_metric(name, metric_name, stat, period, label=metric_name)

        lag_line = cw.HorizontalAnnotation(value=s.max_lag_seconds * 1000, label="max_lag_seconds",
                                           color=cw.Color.RED)
        return cw.Dashboard(
            self, "Dashboard", dashboard_name=team_resource(name, "features"), default_interval=cdk.Duration.days(1),
            widgets=[
                [cw.TextWidget(markdown=f"# {name}: online features\nFreshness of the stream → online table "
                               "path, its dead-letter queue and the daily reconciliation.", width=24, height=2)],
                [
                    cw.GraphWidget(title="Event → feature lag (ms)", width=8, left_annotations=[lag_line],
                                   left=[self.consumer.function.metric("IteratorAge", statistic="Maximum",
                                                                       period=minute, label="IteratorAge"),
                                         metric("StreamToFeatureLag", "Maximum"),
                                         metric("EventToFeatureLag", "Maximum")]),
                    cw.GraphWidget(title="Events", width=8, stacked=True,
                                   left=[metric("EventsApplied"), metric("DuplicateEvents"),
                                         metric("LateEventsDropped"), metric("InvalidEvents"),
                                         metric("FailedEvents"), metric("OversizedOnlineItems")]),
                    cw.GraphWidget(title="DLQ depth", width=8, left=[
                        self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                            period=minute, statistic="Maximum")]),
                ],
                [
                    cw.GraphWidget(title="Reconciliation mismatch rate", width=12,
                                   left=[metric("ReconciliationMismatchRate", "Maximum", cdk.Duration.hours(1))],
                                   left_annotations=[cw.HorizontalAnnotation(value=s.max_mismatch_rate,
                                                                             label="max_mismatch_rate",
                                                                             color=cw.Color.RED)]),
                    cw.GraphWidget(title="Entities backfilled / stale", width=12,
                                   left=[metric("EntitiesBackfilled", "Sum", cdk.Duration.hours(1)),
                                         metric("StaleEntityStates", "Sum", cdk.Duration.hours(1))]),
                ],
                [cw.AlarmStatusWidget(title="Alarms", width=24, alarms=list(self.alarms.values()))],
            ],
        )

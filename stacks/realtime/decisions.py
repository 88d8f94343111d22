"""The decision workflow (Express): collect features → inference → rules → action.

MDLC stage 8. One synchronous Express state machine per team: a Lambda validates the
request and merges the entity's online features with it, SageMaker InvokeEndpoint scores
it (an error, a timeout or a malformed answer gives the team's fallback decision instead
of a failure), a Lambda applies the team's rules, and a Lambda records the decision
idempotently. The workflow's output is the API response body, with its HTTP status.

Publishing is an outbox: the decisions table's stream feeds a relay Lambda that puts one
event per new decision on the team's bus (retried from the stream, then a dead-letter
queue), so a decision that is recorded is published even if the bus fails at that moment.
The workflow logs every event without execution data: requests carry card data.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from mdlc.names import alarm_name, team_resource
from stacks.common.feature_names import stream_name
from stacks.common.functions import NO_PAYLOADS_IN_TRACES
from stacks.common.lambda_function import ProjectFunction
from stacks.common.nag import acknowledge, acknowledge_resource
from stacks.common.props import TeamContext
from stacks.common.workflow import guard, state_machine
from stacks.data_plane import DataPlane
from stacks.realtime.names import decision_bus, endpoint_name

#: An InvokeEndpoint slower than this gives the fallback decision (the API waits ≤ 29 s).
INFERENCE_TIMEOUT_SECONDS = 5
#: Stream retries of a failed publish before the record goes to the dead-letter queue.
RELAY_RETRY_ATTEMPTS = 10
#: Why the decision path reserves nothing unless the team opts in (checkov's CKV_AWS_115).
UNRESERVED_DECISION_PATH = (
    "Reserved concurrency is opt-in per team (realtime.decision_concurrency): Lambda keeps 100 of "
    "the account's quota unreserved, so an account with a quota of 100 or less (new accounts: often "
    "10) can reserve nothing and the stack would not deploy. Without a reservation the decision path "
    "is bounded by the API's throttle (realtime.api_rate_limit/api_burst_limit).")


class DecisionService(Construct):
    """Decisions table (the outbox), idempotency table, event bus, the Lambdas, the relay and the Express workflow."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane) -> None:
        super().__init__(scope, construct_id)
        team = ctx.team
        self.entity_key = team.schema.entity_key
        self.id_column = team.schema.id_column
        self.stream_name = stream_name(team.name)
        self.stream_arn = cdk.Stack.of(self).format_arn(service="kinesis", resource="stream",
                                                        resource_name=self.stream_name)
        self.endpoint_name = endpoint_name(team.name)
        self.endpoint_arn = cdk.Stack.of(self).format_arn(
            service="sagemaker", resource="endpoint", resource_name=self.endpoint_name)
        self.decisions_table = self._table("DecisionsTable", "request_id", "expires_at", data, cdk.RemovalPolicy.RETAIN,
                                           stream=dynamodb.StreamViewType.NEW_IMAGE)
        # Powertools Idempotency's record layout: key `id`, TTL `expiration`.
        self.idempotency_table = self._table("IdempotencyTable", "id", "expiration", data, cdk.RemovalPolicy.DESTROY)
        self.bus = events.EventBus(self, "DecisionBus", event_bus_name=decision_bus(team.name), kms_key=data.key,
                                   description=f"Decisions of model team {team.name}")

        # Only the three functions of the synchronous path reserve, and only when the team opts
        # in (realtime.decision_concurrency): a reservation cannot be made in a new account.
        fn = lambda cid, handler, desc, env=None, path=True: ProjectFunction(  # noqa: E731
            self, cid, ctx=ctx, stage="realtime", handler=handler, description=desc, key=data.key,
            environment={**NO_PAYLOADS_IN_TRACES, **(env or {})}, timeout=cdk.Duration.seconds(10),
            memory_size=1024, invoked_by="the decision workflow (Express, synchronous)" if path
            else "the decisions table's stream (one batch per shard at a time)",
            reserved_concurrency=team.realtime.decision_concurrency if path else None,
            unreserved_reason=UNRESERVED_DECISION_PATH if path else None)
        self.collect_fn = fn("CollectFeaturesFunction", "collect_features",
                             "validate a decision request and merge its online features",
                             {"FEATURE_TABLE": data.feature_table.table_name})
        self.rules_fn = fn("ApplyRulesFunction", "apply_rules", "apply the team's decision rules")
        self.action_fn = fn("PerformActionFunction", "perform_action", "record a decision once (the outbox)",
                            {"DECISIONS_TABLE": self.decisions_table.table_name,
                             "IDEMPOTENCY_TABLE": self.idempotency_table.table_name})
        self.relay_fn = fn("PublishDecisionsFunction", "publish_decisions",
                           "publish each new decision of the decisions table's stream to the bus",
                           {"DECISION_BUS": self.bus.event_bus_name}, path=False)
        self._grant(data)
        self.relay_dlq = self._relay(ctx, data)

        self.state_machine = state_machine(
            self, "StateMachine", team=team.name, workflow="decision", definition=self._definition(),
            key=data.key, timeout=cdk.Duration.seconds(60), express=True,
            comment=f"{team.name}: collect features → inference → rules → action (synchronous)",
            include_execution_data=False,  # every event (cdk-nag SF1), no request values
        )
        for f in (self.collect_fn, self.rules_fn, self.action_fn):
            acknowledge_resource(
                self.state_machine.role, f.function.function_arn,
                "LambdaInvoke grants the function and its versions (ARN:*); this is one of the "
                "workflow's own functions.", suffix=":*")

    def _table(self, cid: str, key: str, ttl: str, data: DataPlane, removal: cdk.RemovalPolicy,
               stream: dynamodb.StreamViewType | None = None) -> dynamodb.Table:
        return dynamodb.Table(
            self, cid,
            partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED, encryption_key=data.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            time_to_live_attribute=ttl, removal_policy=removal, stream=stream,
        )

    def _grant(self, data: DataPlane) -> None:
        data.feature_table.grant_read_data(self.collect_fn.role)
        self.decisions_table.grant_read_write_data(self.action_fn.role)
        self.idempotency_table.grant_read_write_data(self.action_fn.role)
        self.bus.grant_put_events_to(self.relay_fn.role)
        data.key.grant_encrypt_decrypt(self.relay_fn.role)
        for f in (self.collect_fn, self.action_fn, self.relay_fn):
            for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
                acknowledge(f.role, f"AwsSolutions-IAM5[Action::{action}]",
                            f"{action} comes from the L2 grants on this team's own tables and key.")

    def _relay(self, ctx: TeamContext, data: DataPlane) -> sqs.Queue:
        """Stream → relay Lambda (new items only, retried from the failed record) → DLQ; alarm on the DLQ."""
        dlq = sqs.Queue(self, "RelayDeadLetters", queue_name=team_resource(ctx.name, "decision-events-dlq"),
                        encryption=sqs.QueueEncryption.KMS, encryption_master_key=data.key, enforce_ssl=True,
                        retention_period=cdk.Duration.days(14))
        acknowledge(dlq, "AwsSolutions-SQS3",
                    "This queue is the dead-letter destination of the decision relay's stream mapping; "
                    "a dead-letter queue has no dead-letter queue of its own.")
        self.relay_fn.function.add_event_source(sources.DynamoEventSource(
            self.decisions_table, starting_position=lambda_.StartingPosition.TRIM_HORIZON, batch_size=10,
            report_batch_item_failures=True, retry_attempts=RELAY_RETRY_ATTEMPTS,
            max_record_age=cdk.Duration.hours(24), on_failure=sources.SqsDlq(dlq),
            filters=[lambda_.FilterCriteria.filter({"eventName": lambda_.FilterRule.is_equal("INSERT")})],
        ))
        alarm = cloudwatch.Alarm(
            self, "RelayDeadLettersAlarm", alarm_name=alarm_name(ctx.name, "decision-events-undelivered"),
            alarm_description=f"{ctx.name}: decision events the relay could not publish after "
                              f"{RELAY_RETRY_ATTEMPTS} retries are waiting in "
                              f"{team_resource(ctx.name, 'decision-events-dlq')}",
            metric=dlq.metric_approximate_number_of_messages_visible(period=cdk.Duration.minutes(5),
                                                                     statistic="Maximum"),
            threshold=0, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        alarm.add_alarm_action(cw_actions.SnsAction(data.alerts_topic))
        return dlq

    # ------------------------------------------------------------------ definition
    def _definition(self) -> sfn.IChainable:
        failed = sfn.Fail(self, "DecisionFailed", state_name="DecisionFailed", error="DecisionFailed",
                          cause_path="$.error.Cause")
        collect = guard(tasks.LambdaInvoke(
            self, "Collect", state_name="Collect features", lambda_function=self.collect_fn.function,
            payload=sfn.TaskInput.from_object({"body": sfn.JsonPath.object_at("$.body")}),
            payload_response_only=True, retry_on_service_exceptions=False, result_path="$.collected",
        ), failed)
        reject = sfn.Pass(self, "Reject", state_name="Reject request", input_path="$.collected.response")

        # The body stays a string here: Apply rules parses it, so a malformed body takes the
        # fallback (parsing it in a Pass state raises States.Runtime, which no Catch catches).
        # InferenceId is the event's id: data capture records it, and the monitor joins the
        # captured decision with its label and with its point-in-time features by it.
        invoke = tasks.CallAwsService(
            self, "Inference", state_name="Run inference", service="sagemakerruntime", action="invokeEndpoint",
            iam_action="sagemaker:InvokeEndpoint", iam_resources=[self.endpoint_arn],
            parameters={"EndpointName": self.endpoint_name, "ContentType": "application/json",
                        "Accept": "application/json", "Body": sfn.JsonPath.object_at("$.collected.features"),
                        "InferenceId": sfn.JsonPath.string_at(f"$.collected.request.{self.id_column}")},
            result_selector={"body": sfn.JsonPath.string_at("$.Body")},
            result_path="$.model", task_timeout=sfn.Timeout.duration(cdk.Duration.seconds(INFERENCE_TIMEOUT_SECONDS)),
        )
        fallback = sfn.Pass(self, "Fallback", state_name="Use fallback decision", parameters={
            "error": sfn.JsonPath.string_at("$.inference_error.Error")}, result_path="$.model")
        # Only throttling is retried: a model error or timeout answers with the fallback at once.
        invoke.add_retry(errors=["ThrottlingException", "SageMakerRuntime.ThrottlingException",
                                 "SageMakerRuntime.ServiceUnavailableException"],
                         interval=cdk.Duration.seconds(1), max_attempts=2, backoff_rate=2,
                         jitter_strategy=sfn.JitterType.FULL)
        invoke.add_catch(fallback, errors=["States.ALL"], result_path="$.inference_error")

        rules = guard(tasks.LambdaInvoke(
            self, "Rules", state_name="Apply rules", lambda_function=self.rules_fn.function,
            payload=sfn.TaskInput.from_object({
                "request": sfn.JsonPath.object_at("$.collected.request"),
                "features": sfn.JsonPath.object_at("$.collected.features"),
                "model": sfn.JsonPath.object_at("$.model")}),
            payload_response_only=True, retry_on_service_exceptions=False, result_path="$.decision",
        ), failed)
        action = guard(tasks.LambdaInvoke(
            self, "Action", state_name="Perform action", lambda_function=self.action_fn.function,
            payload=sfn.TaskInput.from_object({
                "request": sfn.JsonPath.object_at("$.collected.request"),
                "decision": sfn.JsonPath.object_at("$.decision"),
                "unknown_entity": sfn.JsonPath.object_at("$.collected.unknown_entity"),
                # recorded (not returned) for the shadow challenger, which scores the same input
                "features": sfn.JsonPath.object_at("$.collected.features")}),
            payload_response_only=True, retry_on_service_exceptions=False, result_path="$.response",
        ), failed)
        answer = sfn.Pass(self, "Answer", state_name="Answer", output_path="$.response")

        # Every transaction decided here goes to the team's event stream, so the entity's next
        # decision sees it (stream → consumer → online table, about a second). After Perform
        # action: a 409 (request_id reused with other content) decided nothing and is not fed;
        # a replay is fed again and the consumer counts it once. A failed put must not fail
        # the decision: the daily reconciliation writes what the stream missed.
        feed = tasks.CallAwsService(
            self, "Feed", state_name="Feed feature stream", service="kinesis", action="putRecord",
            iam_resources=[self.stream_arn], iam_action="kinesis:PutRecord",
            parameters={"StreamName": self.stream_name,
                        "PartitionKey": sfn.JsonPath.string_at(f"$.collected.request.{self.entity_key}"),
                        # an object for a blob member: Step Functions sends it as JSON (as InvokeEndpoint Body)
                        "Data": sfn.JsonPath.object_at("$.collected.request")},
            result_path=sfn.JsonPath.DISCARD,
        )
        feed.add_retry(errors=["ThrottlingException", "Kinesis.ProvisionedThroughputExceededException",
                               "Kinesis.KmsThrottlingException"],
                       interval=cdk.Duration.seconds(1), max_attempts=1, backoff_rate=2,
                       jitter_strategy=sfn.JitterType.FULL)
        feed.add_catch(answer, errors=["States.ALL"], result_path="$.feed_error")
        performed = sfn.Choice(self, "Performed", state_name="Decided?")
        rules.next(action).next(
            performed.when(sfn.Condition.and_(sfn.Condition.is_present("$.response.status"),
                                              sfn.Condition.number_equals("$.response.status", 409)), answer)
            .otherwise(feed.next(answer)))
        fallback.next(rules)
        valid = sfn.Choice(self, "Valid", state_name="Request valid?")
        return collect.next(
            valid.when(sfn.Condition.boolean_equals("$.collected.valid", True), invoke.next(rules))
            .otherwise(reject))

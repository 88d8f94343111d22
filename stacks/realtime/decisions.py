"""The decision workflow (Express): one decision function, its fallback, and the outbox.

MDLC stage 8. One synchronous Express state machine per team. Its one task runs the
decision function (``lambdas/realtime/decide``: request check, one batched feature read,
InvokeEndpoint, the rules, the decision written last), since every hop on this path costs
the fraud client's authorisation time (``mdlc latency`` models it from this template). The
task has no Retry: Step Functions' shortest retry interval (1 s) alone would break the
client's timeout, so the function bounds its own calls (a timeout each, at most one retry)
and answers the fallback decision itself when features, endpoint or rules fail; if the
function itself fails or outlives its timeout, the catch answers the team's fallback
decision (``recorded: false``). The workflow's output is the API response body, with its
HTTP status.

Publishing is an outbox: the decisions table's stream feeds a relay Lambda that puts one
event per new decision on the team's bus and the request on the team's feature stream
(retried from the stream, then a dead-letter queue), so a recorded decision is published
and fed even if the bus or the stream fails at that moment, and neither is on the
synchronous path. The workflow logs every event without execution data: requests carry
card data.
"""

from __future__ import annotations

import math
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from mdlc import latency_deadline as deadline
from mdlc import policy
from mdlc.contract import runtime_spec
from mdlc.latency import LATENCY_METADATA
from mdlc.names import alarm_name, team_resource
from stacks.common.feature_names import stream_name
from stacks.common.functions import NO_PAYLOADS_IN_TRACES
from stacks.common.lambda_function import ProjectFunction
from stacks.common.nag import acknowledge, acknowledge_resource
from stacks.common.props import TeamContext
from stacks.common.workflow import state_machine
from stacks.data_plane import DataPlane
from stacks.realtime.names import decision_bus, endpoint_name

#: The AWS calls the decision function makes per decision, in order (the latency model reads
#: them from the template; tests/unit/lambdas/realtime/test_decide.py checks them against the
#: calls the handler really makes).
DECIDE_CALLS = ("dynamodb:BatchGetItem", "sagemaker:InvokeEndpoint", "dynamodb:PutItem")
#: The calls whose timeout the function cuts to the request's deadline (the write is not: a
#: decision made is recorded; its own timeout bounds it, and the reserve covers its p99).
DEADLINE_CALLS = ("dynamodb:BatchGetItem", "sagemaker:InvokeEndpoint")
#: The decision function's timeouts for its feature read and its decision write (ms; the
#: write may be tried twice). InvokeEndpoint's is the team's realtime.inference_timeout_ms.
FEATURE_TIMEOUT_MS = 100
RECORD_TIMEOUT_MS = 150
#: Receives of a deferred decision record before it goes to the dead-letter queue.
RECORD_ATTEMPTS = 10
#: Stream retries of a failed publish before the record goes to the dead-letter queue.
RELAY_RETRY_ATTEMPTS = 10
#: Why the decision path reserves nothing unless the team opts in (checkov's CKV_AWS_115).
UNRESERVED_DECISION_PATH = (
    "Reserved concurrency is opt-in per team (realtime.decision_concurrency): Lambda keeps 100 of "
    "the account's quota unreserved, so an account with a quota of 100 or less (new accounts: often "
    "10) can reserve nothing and the stack would not deploy. Without a reservation the decision path "
    "is bounded by the API's throttle (realtime.api_rate_limit/api_burst_limit).")


class DecisionService(Construct):
    """Decisions table (outbox, idempotency record), bus, the decision function, relay, Express workflow."""

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
        self.bus = events.EventBus(self, "DecisionBus", event_bus_name=decision_bus(team.name), kms_key=data.key,
                                   description=f"Decisions of model team {team.name}")

        # Only the decision function reserves, and only when the team opts in
        # (realtime.decision_concurrency): a reservation cannot be made in a new account.
        realtime = team.realtime
        self.function_timeout_s = decision_function_timeout_s(realtime.client_timeout_ms)
        self.deadline_reserve_ms = deadline.reserve_ms()
        self.decide_fn = ProjectFunction(
            self, "DecideFunction", ctx=ctx, stage="realtime", handler="decide",
            description="decide one request: features, model, rules, recorded decision", key=data.key,
            environment={**NO_PAYLOADS_IN_TRACES, "FEATURE_TABLE": data.feature_table.table_name,
                         "DECISIONS_TABLE": self.decisions_table.table_name, "ENDPOINT_NAME": self.endpoint_name,
                         "FEATURE_TIMEOUT_MS": str(FEATURE_TIMEOUT_MS), "RECORD_TIMEOUT_MS": str(RECORD_TIMEOUT_MS),
                         "INFERENCE_TIMEOUT_MS": str(realtime.inference_timeout_ms),
                         # The per-request deadline (mdlc/latency_deadline.py): request time + budget − reserve.
                         "DEADLINE_BUDGET_MS": str(realtime.latency_budget_ms),
                         "DEADLINE_RESERVE_MS": str(self.deadline_reserve_ms),
                         "CLIENT_TIMEOUT_MS": str(realtime.client_timeout_ms)},
            timeout=cdk.Duration.seconds(self.function_timeout_s), memory_size=1024,
            invoked_by="the decision workflow (Express, synchronous)",
            reserved_concurrency=realtime.decision_concurrency, unreserved_reason=UNRESERVED_DECISION_PATH,
            provisioned_concurrency=realtime.provisioned_concurrency, snap_start=realtime.snap_start)
        # What the latency model reads (mdlc/latency.py): the measured compute and the calls.
        self.decide_fn.function.node.default_child.add_metadata(LATENCY_METADATA, {
            "compute": "decide", "calls": list(DECIDE_CALLS),
            "timeouts_ms": {"dynamodb:BatchGetItem": FEATURE_TIMEOUT_MS, "dynamodb:PutItem": 2 * RECORD_TIMEOUT_MS,
                            "sagemaker:InvokeEndpoint": realtime.inference_timeout_ms},
            "deadline": {"budget_ms": realtime.latency_budget_ms, "reserve_ms": self.deadline_reserve_ms,
                         "step_ms": deadline.TIMEOUT_STEP_MS, "calls": list(DEADLINE_CALLS)}})
        self.relay_fn = ProjectFunction(
            self, "PublishDecisionsFunction", ctx=ctx, stage="realtime", handler="publish_decisions",
            description="publish each new decision of the decisions table's stream to the bus and the feature stream",
            key=data.key, environment={**NO_PAYLOADS_IN_TRACES, "DECISION_BUS": self.bus.event_bus_name,
                                       "FEATURE_STREAM": self.stream_name},
            timeout=cdk.Duration.seconds(10), memory_size=1024,
            invoked_by="the decisions table's stream (one batch per shard at a time)")
        self._grant(data)
        self.relay_dlq = self._relay(ctx, data)
        self.records_queue = self._deferred_records(ctx, data)

        self.state_machine = state_machine(
            self, "StateMachine", team=team.name, workflow="decision", definition=self._definition(team),
            key=data.key, timeout=cdk.Duration.seconds(math.ceil(realtime.client_timeout_ms / 1000)), express=True,
            comment=f"{team.name}: decide (features → model → rules → recorded decision), fallback on failure",
            include_execution_data=False,  # every event (cdk-nag SF1), no request values
        )
        acknowledge_resource(
            self.state_machine.role, self.decide_fn.function.function_arn,
            "LambdaInvoke grants the function and its versions (ARN:*); this is the workflow's own function.",
            suffix=":*")

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
        role = self.decide_fn.role
        data.feature_table.grant(role, "dynamodb:BatchGetItem")
        self.decisions_table.grant(role, "dynamodb:PutItem", "dynamodb:GetItem")
        data.key.grant_encrypt_decrypt(role)  # the team-key-encrypted tables and records queue
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"],
                                                         resources=[self.endpoint_arn]))
        self.bus.grant_put_events_to(self.relay_fn.role)
        self.relay_fn.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["kinesis:PutRecord"], resources=[self.stream_arn]))
        data.key.grant_encrypt_decrypt(self.relay_fn.role)
        for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
            acknowledge(self.relay_fn.role, f"AwsSolutions-IAM5[Action::{action}]",
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

    def _deferred_records(self, ctx: TeamContext, data: DataPlane) -> sqs.Queue:
        """Decisions the table did not take in the decision function's time → a queue → written
        off the synchronous path by ``record_decisions`` (retried by the queue, then a DLQ)."""
        dlq_name = team_resource(ctx.name, "decision-records-dlq")
        dlq = sqs.Queue(self, "DeferredRecordsDeadLetters", queue_name=dlq_name,
                        encryption=sqs.QueueEncryption.KMS, encryption_master_key=data.key, enforce_ssl=True,
                        retention_period=cdk.Duration.days(14))
        acknowledge(dlq, "AwsSolutions-SQS3",
                    "This queue is the dead-letter queue of the deferred decision records; a dead-letter "
                    "queue has no dead-letter queue of its own.")
        queue = sqs.Queue(self, "DeferredRecords", queue_name=team_resource(ctx.name, "decision-records"),
                          encryption=sqs.QueueEncryption.KMS, encryption_master_key=data.key, enforce_ssl=True,
                          visibility_timeout=cdk.Duration.seconds(60), retention_period=cdk.Duration.days(4),
                          dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=RECORD_ATTEMPTS))
        writer = ProjectFunction(
            self, "RecordDecisionsFunction", ctx=ctx, stage="realtime", handler="record_decisions",
            description="write the decisions the decision function queued because the table was slow",
            key=data.key, environment={**NO_PAYLOADS_IN_TRACES, "DECISIONS_TABLE": self.decisions_table.table_name},
            timeout=cdk.Duration.seconds(10), memory_size=512,
            invoked_by="the decision-records queue (batches of 10)")
        writer.function.add_event_source(sources.SqsEventSource(queue, batch_size=10,
                                                                report_batch_item_failures=True))
        self.decisions_table.grant(writer.role, "dynamodb:PutItem")
        data.key.grant_encrypt_decrypt(writer.role)
        queue.grant_send_messages(self.decide_fn.role)
        self.decide_fn.function.add_environment("RECORDS_QUEUE_URL", queue.queue_url)
        for role in (writer.role, self.decide_fn.role):
            for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
                acknowledge(role, f"AwsSolutions-IAM5[Action::{action}]",
                            f"{action} comes from the L2 grants on this team's own queue, table and key.")
        alarm = cloudwatch.Alarm(
            self, "DeferredRecordsDeadLettersAlarm", alarm_name=alarm_name(ctx.name, "decision-records-lost"),
            alarm_description=f"{ctx.name}: decisions answered to clients but not recorded after "
                              f"{RECORD_ATTEMPTS} tries are waiting in {dlq_name}",
            metric=dlq.metric_approximate_number_of_messages_visible(period=cdk.Duration.minutes(5),
                                                                     statistic="Maximum"),
            threshold=0, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        alarm.add_alarm_action(cw_actions.SnsAction(data.alerts_topic))
        return queue

    # ------------------------------------------------------------------ definition
    def _definition(self, team: Any) -> sfn.IChainable:
        """Decide → the answer; any failure of the function → the team's fallback decision.

        No Retry (a retry waits 1 s at least, the client's whole budget); the task's timeout is
        the function's, so a hung function is answered within the client timeout."""
        fallback = team.realtime.fallback_decision
        id_column = team.schema.id_column
        answer = sfn.Pass(self, "Fallback", state_name="Fallback decision", parameters={
            "status": 200,
            "request_id": sfn.JsonPath.string_at("$.body.request_id"),
            id_column: sfn.JsonPath.string_at(f"$.body.{id_column}"),
            "decision": fallback,
            "model_version": "unavailable",
            # the deployed policy's hash, as the function would have recorded it without a model
            "policy_version": policy.policy_version(runtime_spec(team), "unavailable"),
            "reasons": sfn.JsonPath.array(sfn.JsonPath.format(
                f"decision_unavailable: {{}}; fallback decision {fallback}", sfn.JsonPath.string_at("$.error.Error"))),
            "reason_codes": [],
            "decided_by": "fallback",
            "fallback": True,
            "unknown_entity": False,
            "recorded": False,
        })
        decide = tasks.LambdaInvoke(
            self, "Decide", state_name="Decide", lambda_function=self.decide_fn.invocable,
            # No payload: the function gets the whole input, the body and, from the API, its
            # request time (the deadline); a direct caller's input without it still reaches it.
            payload_response_only=True, retry_on_service_exceptions=False,
            task_timeout=sfn.Timeout.duration(cdk.Duration.seconds(self.function_timeout_s)),
        )
        decide.add_catch(self._fallback_input(id_column, answer), errors=["States.ALL"], result_path="$.error")
        return decide

    def _fallback_input(self, id_column: str, answer: sfn.IChainable) -> sfn.IChainable:
        """The fallback's ids from any input a direct caller may send: its body as JSON text is
        parsed first; a body without the request id or the event id is a 400 naming it. A path
        that does not resolve in a Pass state fails the execution with States.Runtime, which no
        Catch takes, so every path the answer reads is checked here first.

        Not caught: text that looks like an object (``{…}``) but is not JSON, while the function
        fails too; ``States.StringToJson`` then fails the execution (a failed intrinsic cannot be
        caught). Without the function failing, such text is the function's own 400."""
        def invalid(cid: str, field: str, message: str) -> sfn.Pass:
            return sfn.Pass(self, cid, state_name=f"Fallback: invalid {field}", result=sfn.Result.from_object({
                "status": 400, "error": "invalid request", "errors": [{"field": field, "message": message}]}))

        no_request_id = invalid("FallbackNoRequestId", "request_id", "missing or not a string; expected string")
        ids = (sfn.Choice(self, "FallbackIds", state_name="Fallback: ids present?")
               .when(sfn.Condition.is_not_present("$.body.request_id"), no_request_id)
               .when(sfn.Condition.is_not_string("$.body.request_id"), no_request_id)  # present: safe to type
               .when(sfn.Condition.is_not_present(f"$.body.{id_column}"),
                     invalid("FallbackNoEventId", id_column, "missing; expected string"))
               .otherwise(answer))
        parse = sfn.Pass(self, "FallbackParseBody", state_name="Fallback: parse body", parameters={
            "body": sfn.JsonPath.string_to_json(sfn.JsonPath.string_at("$.body")),
            "error": sfn.JsonPath.object_at("$.error")}).next(ids)
        return (sfn.Choice(self, "FallbackBody", state_name="Fallback: body as text?")
                .when(sfn.Condition.and_(sfn.Condition.is_string("$.body"),
                                         sfn.Condition.string_matches("$.body", "{*}")), parse)
                .when(sfn.Condition.is_string("$.body"),
                      invalid("FallbackBodyNotObject", "(body)", "not a JSON object; expected a JSON object"))
                .otherwise(ids))


def decision_function_timeout_s(client_timeout_ms: int) -> int:
    """The decision function's timeout: whole seconds (Lambda's unit), leaving the API, the
    workflow and the fallback answer a quarter second of the client's timeout."""
    return max(1, (client_timeout_ms - 250) // 1000)

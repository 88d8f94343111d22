"""Building blocks every MDLC workflow shares: retries, failure path, logging, SageMaker jobs.

Every Task state gets a Retry for throttling and transient errors (exponential backoff with
full jitter) and a Catch that routes to the workflow's failure-notification path. State
machines log to a KMS-encrypted log group and trace with X-Ray. JSONPath only (the offline
executor cannot run JSONata).

Definitions and execution data (input, output, history) are encrypted with the team's key
(a customer managed key on top of Step Functions' own encryption), so whoever starts an
execution or reads one needs the key too: ``grant_execution_data`` for a role of the
team's, and EventBridge targets get it automatically (``_EventsRoleKey``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from mdlc import names
from stacks.common.nag import acknowledge
from stacks.common.sagemaker_jobs import volume_key_grant

# Throttling and transient faults of the services the workflows call.
TRANSIENT_ERRORS = [
    "ThrottlingException",
    "SageMaker.ThrottlingException",
    "SageMaker.AmazonSageMakerException",
    "SageMaker.InternalFailure",
    "SageMaker.ServiceUnavailable",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.InternalServerErrorException",
    "SNS.ThrottledException",
    "SNS.InternalErrorException",
    "TransientError",
]


#: One Duration per value: each ``Duration.seconds`` is a call into CDK's Node.js process,
#: and every state of every workflow asks for the same two.
_seconds = functools.lru_cache(maxsize=None)(cdk.Duration.seconds)


def transient_retry(max_attempts: int = 4, interval_seconds: int = 1) -> dict[str, Any]:
    """Retry settings (keyword arguments of ``add_retry``) for throttling and transient faults."""
    return {
        "errors": TRANSIENT_ERRORS,
        "interval": _seconds(interval_seconds),
        "max_attempts": max_attempts,
        "backoff_rate": 2,
        "max_delay": _seconds(60),
        "jitter_strategy": sfn.JitterType.FULL,
    }


def guard(state: Any, failure: sfn.IChainable, *, retry: bool = True) -> Any:
    """Retry transient errors, then catch everything into ``failure`` with the error at $.error."""
    if retry:
        state.add_retry(**transient_retry())
    state.add_catch(failure, errors=["States.ALL"], result_path="$.error")
    return state


class FailurePath(Construct):
    """Notify the team, then fail the execution with a named error.

    The e-mail names the workflow, the outcome, the execution and a console link to it, and
    the report at ``message_path`` when a step wrote one (counts and reasons: data quality,
    evaluation, output validation, the endpoint's failure reason); never the execution's
    state, which can hold customer ids (a decision request, a shard's mismatched entities).
    The error and its cause are in the execution, encrypted with the team key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        workflow: str,
        error: str,
        subject: str,
        cause_path: str = "$.error.Cause",
        message_path: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        region = cdk.Stack.of(self).region
        message: dict[str, Any] = {
            "workflow": workflow,
            "outcome": error,
            "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
            "console": sfn.JsonPath.format(
                f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{{}}",
                sfn.JsonPath.string_at("$$.Execution.Id")),
        }
        if message_path:
            message["details"] = sfn.JsonPath.object_at(message_path)
        notify = tasks.SnsPublish(
            self,
            f"Notify{error}",
            state_name=f"Notify {error}",
            topic=topic,
            subject=subject[:99],
            message=sfn.TaskInput.from_object(message),
            result_path=sfn.JsonPath.DISCARD,
        )
        notify.add_retry(**transient_retry())
        fail = sfn.Fail(self, error, state_name=error, error=error, cause_path=cause_path)
        # A failed notification must not hide the failure itself.
        notify.add_catch(fail, errors=["States.ALL"], result_path="$.notify_error")
        self.start = notify
        notify.next(fail)


def log_group(scope: Construct, construct_id: str, *, team: str, workflow: str, key: kms.IKey) -> logs.LogGroup:
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=f"/aws/vendedlogs/{team}/states/{workflow}",
        encryption_key=key,
        retention=logs.RetentionDays.ONE_YEAR,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


def state_machine(
    scope: Construct,
    construct_id: str,
    *,
    team: str,
    workflow: str,
    definition: sfn.IChainable,
    key: kms.IKey,
    timeout: cdk.Duration,
    express: bool = False,
    comment: str = "",
    log_level: sfn.LogLevel = sfn.LogLevel.ALL,
    include_execution_data: bool = True,
) -> sfn.StateMachine:
    """A state machine with its own role, encrypted logs of every event, and X-Ray tracing.

    A workflow whose input is a customer's request (the decision workflow) logs without
    execution data, so no request value reaches CloudWatch Logs.
    """
    machine = sfn.StateMachine(
        scope,
        construct_id,
        state_machine_name=names.state_machine_name(team, workflow),
        comment=comment or None,
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        state_machine_type=sfn.StateMachineType.EXPRESS if express else sfn.StateMachineType.STANDARD,
        timeout=timeout,
        tracing_enabled=True,
        # CDK adds the machine role's own kms:Decrypt/GenerateDataKey, conditioned on this
        # machine's ARN as encryption context (aws:states:stateMachineArn).
        encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(key),
        logs=sfn.LogOptions(
            destination=log_group(scope, f"{construct_id}Logs", team=team, workflow=workflow, key=key),
            level=log_level,
            include_execution_data=include_execution_data,
        ),
    )
    key.grant_encrypt_decrypt(machine.role)
    cdk.Aspects.of(machine).add(_EventsRoleKey(machine, key))
    acknowledge(
        machine.role,
        "AwsSolutions-IAM5[Resource::*]",
        "Step Functions log delivery (logs:*LogDelivery, DescribeLogGroups…) and X-Ray trace "
        "segments accept no resource scope; CDK adds them for logging and tracing.",
    )
    for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
        acknowledge(
            machine.role,
            f"AwsSolutions-IAM5[Action::{action}]",
            f"{action} comes from grant_encrypt_decrypt on the team's own key, for its "
            "encrypted logs, topic and buckets.",
        )
    return machine


def grant_execution_data(role: iam.IRole, key: kms.IKey, machine_arns: Sequence[str], *,
                         sid: str | None = None) -> None:
    """Let ``role`` start executions of, and read the execution data of, the team's encrypted machines.

    Step Functions encrypts the input with a data key it asks KMS for on the caller's behalf
    (``kms:GenerateDataKey``) and decrypts for DescribeExecution, GetExecutionHistory and a
    synchronous execution's output (``kms:Decrypt``): the caller needs both on the team key,
    here only through Step Functions and only for the named state machines.
    """
    stack = cdk.Stack.of(role)
    role.add_to_principal_policy(iam.PolicyStatement(
        sid=sid,
        actions=["kms:Decrypt", "kms:GenerateDataKey"],
        resources=[key.key_arn],
        conditions={
            "StringEquals": {
                "kms:EncryptionContext:aws:states:stateMachineArn": list(machine_arns),
                "kms:ViaService": f"states.{stack.region}.{stack.url_suffix}",
            },
        },
    ))


@jsii.implements(cdk.IAspect)
class _EventsRoleKey:
    """The role EventBridge starts a team state machine with can use its key (for the input).

    ``targets.SfnStateMachine`` creates that role as the machine's child ``EventsRole`` when a
    rule targets it; an aspect reaches every such role, whichever stage adds the rule.
    """

    def __init__(self, machine: sfn.StateMachine, key: kms.IKey) -> None:
        self.machine, self.key = machine, key

    def visit(self, node: Any) -> None:
        if isinstance(node, iam.Role) and node.node.path == f"{self.machine.node.path}/EventsRole":
            grant_execution_data(node, self.key, [self.machine.state_machine_arn])


def sagemaker_job_permissions(
    role: iam.IRole,
    *,
    job_kind: str,
    name_prefix: str,
    execution_role: iam.IRole,
    volume_key: kms.IKey,
) -> None:
    """Let a workflow run, watch and stop SageMaker jobs named ``<name_prefix>*`` (.sync), whose
    storage volumes are encrypted with `volume_key` (SageMaker creates a grant on it as the caller)."""
    stack = cdk.Stack.of(role)
    role.add_to_principal_policy(volume_key_grant(volume_key))
    api = {"processing": "ProcessingJob", "training": "TrainingJob", "transform": "TransformJob"}[job_kind]
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[f"sagemaker:Create{api}", f"sagemaker:Describe{api}", f"sagemaker:Stop{api}", "sagemaker:AddTags"],
            resources=[
                stack.format_arn(service="sagemaker", resource=f"{job_kind}-job", resource_name=f"{name_prefix}*")
            ],
        )
    )
    # .sync integrations watch the job through a Step Functions-managed EventBridge rule.
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[
                stack.format_arn(
                    service="events",
                    resource="rule",
                    resource_name=f"StepFunctionsGetEventsForSageMaker{api}sRule",
                )
            ],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["iam:PassRole"],
            resources=[execution_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
    )


def lambda_task(
    scope: Construct,
    construct_id: str,
    *,
    state_name: str,
    function: Any,
    payload: dict[str, Any],
    result_path: str,
    on_error: sfn.IChainable,
) -> tasks.LambdaInvoke:
    """A LambdaInvoke returning the function's payload, with the transient Retry and catch-all."""
    return guard(
        tasks.LambdaInvoke(
            scope,
            construct_id,
            state_name=state_name,
            lambda_function=function,
            payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path=result_path,
        ),
        on_error,
    )

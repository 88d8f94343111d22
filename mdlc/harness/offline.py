"""`OfflineAws`: moto with the harness' adapters installed, plus helpers for tests and CLI."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws
from moto.awslambda.models import LambdaBackend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.responses import BaseResponse
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client

from mdlc import runtimes
from mdlc.harness import alarms, iam, isolation, jobs, reuse, scaling_tags, sfn_aws_sdk, volume_keys
from mdlc.harness import quotas as quotas_module
from mdlc.harness.capture import DataCapture
from mdlc.harness.cfn import deploy_template
from mdlc.harness.ddb_streams import StreamDelivery
from mdlc.harness.endpoints import (
    Breakage,
    EndpointServer,
    EndpointUpdate,
    make_invoke_endpoint_response,
    make_update_endpoint_response,
)
from mdlc.harness.execution import ProgressCallback, RunResult, end_signals, follow_execution, sync_response
from mdlc.harness.faults import FaultInjector, make_call_action_patch
from mdlc.harness.inference import ModelCache
from mdlc.harness.lambdas import (
    Handler,
    LambdaRoute,
    LambdaRouter,
    ThreadEnviron,
    make_invoke_patch,
    make_lambda_task_timeout_patch,
    placeholder_zip,
)
from mdlc.harness.sfn_sagemaker import make_factory_patch
from mdlc.harness.sqs_delivery import QueueDelivery
from mdlc.harness.streams import DeliveryReport, KinesisDelivery
from mdlc.harness.tuning import TuningEmulator
from mdlc.harness.tuning import patches as tuning_patches
from mdlc.runtimes import Runtime

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
DEFAULT_REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"


class OfflineAws:
    """moto plus adapters that run the project's real Lambda handlers and SageMaker jobs.

    Use as a context manager; every AWS call made inside (by tests, handlers or the
    Step Functions executor) goes to moto in `region`.
    """

    def __init__(self, region: str = DEFAULT_REGION, account_id: str = ACCOUNT_ID, *,
                 evaluate_iam: bool = True, quotas: quotas_module.AccountQuotas = quotas_module.NEW_ACCOUNT) -> None:
        self.region = region
        # The account's limits enforced at deploy (quotas.py): by default a new account's.
        self.quotas = quotas
        self.quota_ledger = quotas_module.QuotaLedger(quotas, region)
        self.account_id = account_id
        # Every call evaluated against its principal's role (iam.py); off only for unit
        # tests of the adapters themselves.
        self.iam = iam.IamEvaluator(region, account_id) if evaluate_iam else None
        self.faults = FaultInjector()
        self.lambdas = LambdaRouter(region)
        self.streams = StreamDelivery(self.client, self._client_as)  # DynamoDB stream → Lambda mappings
        self.queues = QueueDelivery(self._client_as, self.iam.allows if self.iam else None)  # SQS → Lambda
        self.endpoint_updates: list[EndpointUpdate] = []
        self._stack = ExitStack()
        self._workdir: Path | None = None
        self.jobs: jobs.JobEmulator | None = None
        self.endpoints: EndpointServer | None = None
        self.kinesis = KinesisDelivery(self.client, region, self._client_as)  # Kinesis → Lambda mappings
        self.runtimes: dict[str, Runtime] = {}  # custom image URI → its declared runtime
        self.clients = reuse.ClientCache()  # the harness' and the executor's boto3 clients
        # Alarm state changes run their actions as CloudWatch would (alarms.py).
        self.alarm_actions = alarms.AlarmActions(self.iam)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> OfflineAws:
        self._workdir = Path(tempfile.mkdtemp(prefix="mdlc-harness-"))
        self._stack.callback(jobs.cleanup, self._workdir)
        # moto answers as `account_id` (its MOTO_ACCOUNT_ID), so the ARNs of a template
        # synthesised for a real account match the ones moto creates.
        self._stack.enter_context(mock.patch.dict("os.environ", {"AWS_DEFAULT_REGION": self.region,
                                                                 "MOTO_ACCOUNT_ID": self.account_id}))
        self._stack.enter_context(mock_aws(config=MOTO_CONFIG))
        if self.iam is not None:
            self._stack.enter_context(mock.patch.dict("os.environ", self.iam.create_admin()))
            self.lambdas.credentials_for = self.iam.credentials
        # Lambda handlers get their function's variables per thread, not process-wide.
        self._stack.enter_context(mock.patch.object(os, "environ", ThreadEnviron(os.environ)))
        models = ModelCache(lambda: self.client("s3"), self._workdir / "models", self.runtime_for_image)
        self._stack.callback(models.close)  # model-server processes end with the harness
        self.jobs = jobs.JobEmulator(lambda: self.client("s3"), lambda: self.admin_client("sagemaker"),
                                     self._workdir, models, self.runtime_for_image)
        self.endpoints = EndpointServer(models, DataCapture(lambda: self.client("s3")))
        for patcher in self._patches():
            self._stack.enter_context(patcher)
        self._stack.enter_context(volume_keys.installed())  # no volume key on local-NVMe types
        if self.iam is not None:
            from moto.core.authorization import enable_iam_authentication

            self._stack.enter_context(enable_iam_authentication())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def _patches(self) -> list[Any]:
        """Every moto internal the harness replaces (see README.md)."""
        assert self.jobs is not None and self.endpoints is not None
        patches = [
            mock.patch.object(LambdaSimpleBackend, "invoke",
                              make_invoke_patch(self.lambdas, LambdaSimpleBackend.invoke)),
            mock.patch.object(LambdaBackend, "put_function_concurrency",
                              quotas_module.make_put_function_concurrency(self.quotas)),
            mock.patch.object(BaseResponse, "call_action",
                              make_call_action_patch(self.faults, BaseResponse.call_action)),
            mock.patch.object(boto_client, "boto3", reuse.ExecutorBoto3(
                self.clients, iam.executor_principal(self.iam) if self.iam is not None else None)),
            mock.patch.object(AmazonStateLanguageParser, "parse",
                              staticmethod(reuse.cached_asl_parse(AmazonStateLanguageParser.parse))),
            *reuse.jsonpath_patches(),
            reuse.action_lookup_patch(),
            mock.patch.object(state_task_factory, "state_task_service_for",
                              make_factory_patch(state_task_factory.state_task_service_for)),
            mock.patch.object(ExecutionState, "_evaluate_with_timeout",
                              make_lambda_task_timeout_patch(ExecutionState._evaluate_with_timeout)),
            end_signals(),  # a follower of an execution wakes when it ends (execution.py)
            mock.patch.dict(StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES,
                            {"sagemakerruntime": "sagemaker-runtime",
                             "applicationautoscaling": "application-autoscaling"}),
            mock.patch.dict(state_task_service_aws_sdk._SERVICE_ERROR_NAMES,
                            {"sagemaker": "SageMaker", "sagemakerruntime": "SageMakerRuntime",
                             "s3": "S3", "lambda": "Lambda", "ssm": "SSM",
                             "applicationautoscaling": "ApplicationAutoScaling", "kinesis": "Kinesis"}),
            mock.patch.object(state_task_service_aws_sdk.StateTaskServiceAwsSdk, "_normalise_parameters",
                              sfn_aws_sdk.normalise_parameters),
            mock.patch.object(state_task_service_aws_sdk.StateTaskServiceAwsSdk, "_normalise_response",
                              sfn_aws_sdk.normalise_response),
            mock.patch.object(SageMakerResponse, "update_endpoint",
                              make_update_endpoint_response(self.endpoint_updates), create=True),
            mock.patch.object(SageMakerRuntimeResponse, "invoke_endpoint",
                              self._as_principal(iam.endpoint_invoke_role,
                                                 make_invoke_endpoint_response(self.endpoints))),
        ]
        patches.append(mock.patch.object(SageMakerResponse, "create_model",
                                         isolation.make_create_model_patch(SageMakerResponse.create_model)))
        for kind in jobs.JOB_TYPES:
            method = f"create_{kind}_job"
            patches.append(mock.patch.object(
                SageMakerResponse, method,
                self._as_principal(lambda inner, kind=kind: iam.job_role(kind, inner),
                                   jobs.make_create_patch(kind, self.jobs, getattr(SageMakerResponse, method))),
            ))
        # Tuning jobs: each trial is a training job through moto, run by the job emulator above.
        self.tuning = TuningEmulator(lambda: self.admin_client("sagemaker"), lambda: self.jobs.records)
        patches += tuning_patches(self.tuning)
        patches += alarms.patches(self.alarm_actions)
        patches += scaling_tags.patches()
        if self.iam is not None:
            patches += iam.patches(self.iam)
        return patches

    def _as_principal(self, wrap: Any, method: Any) -> Any:
        """`method`, run as the job's/endpoint's execution role when IAM is evaluated."""
        return wrap(method) if self.iam is not None else method

    # -- clients ---------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A boto3 client for `service` in the harness' region (talks to moto).

        With IAM evaluation on, it acts as the test driver (an admin user), or inside a
        job/endpoint/handler as that principal's role.
        """
        role = iam.acting_role()
        return self.clients.get((service, role), lambda: boto3.client(service, region_name=self.region))

    def admin_client(self, service: str) -> Any:
        """A client for the harness' own bookkeeping: never a principal's role."""
        if self.iam is None:
            return self.client(service)
        return self.clients.get((service, "admin"), lambda: boto3.client(
            service, region_name=self.region, **self.iam.client_kwargs(None)))

    # -- executions ------------------------------------------------------------------------
    def run(self, state_machine_arn: str, input: Any = None, name: str | None = None, *,
            timeout: float = 120.0, progress: ProgressCallback | None = None,
            history: bool = True) -> RunResult:
        """Start an execution, wait for it to end, and return what happened.

        `input` may be a dict/list (JSON-encoded here) or a JSON string. `progress` is
        called with a StateVisit as each state is entered and again when it exits. With
        `history=False` the result has no history and no states (reading them back from
        moto costs more than a short execution).
        """
        sfn = self.client("stepfunctions")
        started = sfn.start_execution(stateMachineArn=state_machine_arn,
                                      name=name or f"run-{uuid.uuid4().hex[:12]}",
                                      input=_as_json(input))
        result = follow_execution(sfn, started["executionArn"], timeout=timeout, progress=progress,
                                  history=history)
        self.deliver_streams()  # what the execution wrote to streamed tables reaches its consumers
        return result

    def deliver_streams(self) -> int:
        """Deliver new DynamoDB stream records and queued SQS messages to their mapped functions
        (ddb_streams.py, sqs_delivery.py), until neither has more: a function fed by a queue may
        write to a streamed table. Returns the batches delivered."""
        delivered = self.streams.deliver()
        while batches := self.queues.deliver():
            delivered += batches + self.streams.deliver()
        return delivered

    def _client_as(self, service: str, role_arn: str | None) -> Any:
        """A client acting as `role_arn` (a service polling for a function), else the harness' own."""
        if role_arn is None or self.iam is None:
            return self.admin_client(service)
        return self.clients.get((service, role_arn), lambda: self.iam.client(service, role_arn))

    def run_sync(self, state_machine_arn: str, input: Any = None, name: str | None = None, *,
                 timeout: float = 300.0) -> dict:
        """StartSyncExecution for an EXPRESS machine (moto answers 'Not yet implemented').

        Runs the machine to completion and returns a StartSyncExecution-shaped response.
        """
        sfn = self.client("stepfunctions")
        machine_type = self._machine_type(state_machine_arn) or sfn.describe_state_machine(
            stateMachineArn=state_machine_arn)["type"]
        if machine_type != "EXPRESS":
            raise ValueError(f"StartSyncExecution needs an EXPRESS state machine; "
                             f"{state_machine_arn} is {machine_type}")
        name = name or f"sync-{uuid.uuid4().hex[:12]}"
        result = self.run(state_machine_arn, input, name, timeout=timeout, history=False)
        return sync_response(sfn, result, state_machine_arn, name)

    def _machine_type(self, arn: str) -> str | None:
        """The type of the state machine `arn` as moto holds it, None when moto has none in the
        harness' account (the caller then asks the API, which answers with the service's error).
        The harness' own check before a sync run, not a principal's call: read from moto's
        backend, without a DescribeStateMachine request to serialise and evaluate per decision."""
        from moto.stepfunctions.responses import get_backend

        parts = arn.split(":")
        if len(parts) < 7 or parts[4] != self.account_id:
            return None
        try:
            return get_backend(parts[4], parts[3]).describe_state_machine(arn).type
        except Exception:  # noqa: BLE001 - no such machine (or region): the API says what is wrong
            return None

    # -- Lambda ----------------------------------------------------------------------------
    def register_lambda(self, function_name: str, *, handler: Handler | None = None,
                        source_dir: str | Path | None = None, handler_spec: str = "handler.handler",
                        environment: dict[str, str] | None = None, timeout: int = 3,
                        memory_mb: int = 128) -> str:
        """Create `function_name` in moto (if absent) and route its invokes to real code.

        Give either `handler` (a callable) or `source_dir` (folder of the handler module,
        `handler_spec` as in the function's Handler property). Returns the function ARN.
        """
        if (handler is None) == (source_dir is None):
            raise ValueError("give exactly one of handler= or source_dir=")
        arn = self._ensure_function(function_name, handler_spec, environment or {}, timeout, memory_mb)
        self.lambdas.register(LambdaRoute(
            function_name=function_name, arn=arn, environment=dict(environment or {}),
            source_dir=Path(source_dir) if source_dir is not None else None,
            handler_spec=handler_spec, handler=handler, memory_mb=memory_mb,
            timeout_seconds=timeout,
        ))
        return arn

    def _ensure_function(self, name: str, handler_spec: str, environment: dict[str, str],
                         timeout: int, memory_mb: int) -> str:
        client = self.client("lambda")
        try:
            return client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        except client.exceptions.ResourceNotFoundException:
            pass
        return client.create_function(
            FunctionName=name, Runtime="python3.12", Role=self.execution_role_arn(),
            Handler=handler_spec, Code={"ZipFile": placeholder_zip()}, Timeout=timeout,
            MemorySize=memory_mb, Environment={"Variables": environment},
        )["FunctionArn"]

    def execution_role_arn(self) -> str:
        """An IAM role in moto for functions and state machines created without one
        (`register_lambda`, templates without `Role`). It may do anything: it stands for
        "no IAM under test"; synthesised resources always bring their own role."""
        iam = self.admin_client("iam")
        name = "mdlc-harness-execution-role"
        try:
            return iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                      "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]}}]}
            arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))["Role"]["Arn"]
            iam.put_role_policy(RoleName=name, PolicyName="harness-any", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
            return arn

    def deliver_kinesis(self, function_name: str | None = None) -> DeliveryReport:
        """Deliver the Kinesis records not yet delivered to their event source mappings' functions
        (explicit, unlike DynamoDB streams: a test decides when "a second later" is)."""
        return self.kinesis.deliver(function_name)

    # -- SageMaker -------------------------------------------------------------------------
    def register_runtime(self, image_uri: str, runtime: Runtime) -> None:
        """Run jobs and models of the custom image `image_uri` in `runtime`."""
        self.runtimes[image_uri] = runtime

    def runtime_for_image(self, image_uri: str | None) -> Runtime:
        """The runtime a job or model of `image_uri` runs in (built-in by tag, or registered)."""
        if image_uri in self.runtimes:
            return self.runtimes[image_uri]
        runtime = runtimes.builtin_runtime_for_image(image_uri or "")
        if runtime is None:
            raise runtimes.RuntimeUnavailable(
                f"image {image_uri!r} has no known runtime: use a built-in image "
                f"(sagemaker-xgboost:{'|'.join(runtimes.supported_versions())}) or declare the custom "
                "image's runtime (training.algorithm.runtime; OfflineAws.register_runtime)"
            )
        return runtime

    def break_endpoint(self, name: str, error: str | None = "injected endpoint failure", *,
                       timeout: bool = False, body: bytes | None = None, hang_seconds: float = 0.0) -> None:
        """Make InvokeEndpoint on `name` fail with ModelError (`error`) or a timeout, or
        answer 200 with `body` (a malformed model response); `hang_seconds` keeps the caller
        waiting first (up to its client's read timeout, which then fails the call), and with
        `error=None` the endpoint answers normally after the wait."""
        assert self.endpoints is not None, "use OfflineAws as a context manager"
        self.endpoints.broken[name] = Breakage(error=error, timeout=timeout, body=body, hang_seconds=hang_seconds)

    def repair_endpoint(self, name: str) -> None:
        """Undo break_endpoint."""
        assert self.endpoints is not None, "use OfflineAws as a context manager"
        self.endpoints.broken.pop(name, None)

    def fail_next_job(self, job_type: str, reason: str = "AlgorithmError: injected by mdlc.harness") -> None:
        """Make the next `job_type` job ('processing', 'training', 'transform') fail."""
        assert self.jobs is not None, "use OfflineAws as a context manager"
        self.jobs.fail_next(job_type, reason)

    @property
    def job_records(self) -> list[jobs.JobRecord]:
        """Every job the harness ran, with its stdout/stderr and temp folder."""
        assert self.jobs is not None, "use OfflineAws as a context manager"
        return self.jobs.records

    # -- faults ----------------------------------------------------------------------------
    def inject_fault(self, service: str, operation: str, error_code: str, times: int = 1, *,
                     message: str | None = None, status_code: int = 400) -> None:
        """Make the next `times` calls of `service` (boto3 name) `operation` fail.

        `operation` may be 'CreateTrainingJob' or 'create_training_job'. Works for every
        moto service that dispatches through BaseResponse.call_action (not S3).
        """
        self.faults.add(service, operation, error_code, times=times, message=message,
                        status_code=status_code)

    # -- templates -------------------------------------------------------------------------
    def deploy(self, *templates: dict, repo_root: str | Path | None = None,
               stack_names: list[str] | None = None, assets_dir: str | Path | None = None) -> Any:
        """Create the resources of one or more synthesised templates (see cfn.deploy_template)."""
        return deploy_template(list(templates), harness=self, repo_root=repo_root,
                               stack_names=stack_names, assets_dir=assets_dir)


def _as_json(value: Any) -> str:
    if value is None:
        return "{}"
    return value if isinstance(value, str) else json.dumps(value)

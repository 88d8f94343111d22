"""The `sagemaker` Step Functions integration moto lacks: request-response and `.sync`.

moto's task factory sends `sagemaker` to its "unsupported" class, which forwards the
request but cannot wait for a job (`.sync`). This class forwards every action to moto's
SageMaker (where the harness runs the job, see jobs.py) and, for `.sync`, polls the
matching Describe*Job like Step Functions: Completed → the Describe response is the task
output; Failed/Stopped → the task fails with `States.TaskFailed` and the Describe response
(with FailureReason) as cause. Service errors fail the task as
`SageMaker.AmazonSageMakerException`, the name Step Functions' optimised SageMaker
integration uses, with the service's error code in the cause.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any, Final

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import (
    StateCredentials,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
    ResourceRuntimePart,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

_PATTERNS: Final = {ResourceCondition.WaitForTaskToken, ResourceCondition.Sync}
# createXJob → (DescribeXJob action, name parameter, status field, the managed rule's job kind)
SYNC_JOBS: Final[dict[str, tuple[str, str, str, str]]] = {
    "createprocessingjob": ("describe_processing_job", "ProcessingJobName", "ProcessingJobStatus", "Processing"),
    "createtrainingjob": ("describe_training_job", "TrainingJobName", "TrainingJobStatus", "Training"),
    "createtransformjob": ("describe_transform_job", "TransformJobName", "TransformJobStatus", "Transform"),
    "createhyperparametertuningjob": ("describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName",
                                      "HyperParameterTuningJobStatus", "Tuning"),
}
_FAILED = {"Failed", "Stopped"}


class SageMakerJobFailed(Exception):
    """A `.sync` job ended Failed or Stopped; `cause` is its Describe response (JSON)."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


def to_sfn_value(value: Any) -> Any:
    """Describe output as Step Functions shows it: timestamps as epoch milliseconds."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {key: to_sfn_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_sfn_value(item) for item in value]
    return value


class StateTaskServiceSageMaker(StateTaskServiceCallback):
    """Runs `arn:aws:states:::sagemaker:<action>[.sync]` tasks against moto."""

    def __init__(self) -> None:
        super().__init__(supported_integration_patterns=_PATTERNS)

    def _validate_service_integration_is_supported(self) -> None:
        if self.resource.condition == ResourceCondition.Sync and (
            self.resource.api_action.lower() not in SYNC_JOBS
        ):
            raise ValueError(f"{self.resource.resource_arn}: .sync is only supported for "
                             "createProcessingJob, createTrainingJob, createTransformJob and "
                             "createHyperParameterTuningJob")

    def _get_sfn_resource_type(self) -> str:
        return "sagemaker"

    def _client(self, region: str, credentials: StateCredentials) -> Any:
        return boto_client_for(service="sagemaker", region=region, state_credentials=credentials)

    def _normalise_parameters(self, parameters: dict, boto_service_name: str | None = None,
                              service_action_name: str | None = None) -> None:
        # Step Functions accepts numbers where the API wants strings (e.g. HyperParameters).
        action = self.resource.api_action
        operation = _sagemaker_model().operation_model(action[0].upper() + action[1:])
        self._to_boto_request(parameters, operation.input_shape)

    def _normalise_response(self, response: Any, boto_service_name: str | None = None,
                            service_action_name: str | None = None) -> None:
        if isinstance(response, dict):
            response.update(to_sfn_value(response))

    def _eval_service_task(self, env: Environment, resource_runtime_part: ResourceRuntimePart,
                           normalised_parameters: dict, state_credentials: StateCredentials) -> None:
        client = self._client(resource_runtime_part.region, state_credentials)
        response = getattr(client, self._get_boto_service_action())(**normalised_parameters) or {}
        response.pop("ResponseMetadata", None)
        env.stack.append(response)

    def _build_sync_resolver(self, env: Environment, resource_runtime_part: ResourceRuntimePart,
                             normalised_parameters: dict,
                             state_credentials: StateCredentials) -> Callable[[], Any]:
        describe, name_key, status_key, kind = SYNC_JOBS[self.resource.api_action.lower()]
        client = self._client(resource_runtime_part.region, state_credentials)
        name = normalised_parameters[name_key]
        self._managed_rule(kind, resource_runtime_part, state_credentials)

        def resolve() -> Any:
            described = getattr(client, describe)(**{name_key: name})
            described.pop("ResponseMetadata", None)
            described = to_sfn_value(described)
            if described[status_key] in _FAILED:
                raise SageMakerJobFailed(json.dumps(described))
            return described if described[status_key] == "Completed" else None

        return resolve

    def _managed_rule(self, kind: str, runtime: ResourceRuntimePart, credentials: StateCredentials) -> None:
        """What Step Functions does, as the execution's role, to hear a ``.sync`` job finish: put
        and read its managed rule ``StepFunctionsGetEventsForSageMaker<Kind>JobsRule`` (so a role
        without events:PutRule/PutTargets/DescribeRule on it fails here, as on AWS)."""
        rule = f"StepFunctionsGetEventsForSageMaker{kind}JobsRule"
        detail = {"Tuning": "HyperParameter Tuning"}.get(kind, kind)
        events = boto_client_for(service="events", region=runtime.region, state_credentials=credentials)
        try:
            events.put_rule(Name=rule, State="ENABLED", EventPattern=json.dumps(
                {"source": ["aws.sagemaker"], "detail-type": [f"SageMaker {detail} Job State Change"]}))
            # Step Functions' own endpoint receives the events; no emulated event ever matches.
            events.put_targets(Rule=rule, Targets=[{"Id": "StepFunctions", "Arn": (
                f"arn:aws:states:{runtime.region}:{runtime.account}:stateMachine:{rule}")}])
            events.describe_rule(Name=rule)
        except ClientError as error:
            raise SageMakerJobFailed(f"{credentials.role_arn or 'the execution role'} is not authorized to "
                                     f"create managed-rule {rule}: {error}") from error

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        if isinstance(ex, SageMakerJobFailed):
            return self._failure(env, StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                                 StatesErrorNameType.StatesTaskFailed.to_name(), ex.cause)
        if isinstance(ex, ClientError):
            error = "SageMaker.AmazonSageMakerException"
            metadata = ex.response.get("ResponseMetadata", {})
            cause = (f"{ex.response['Error'].get('Message')} (Service: AmazonSageMaker; "
                     f"Status Code: {metadata.get('HTTPStatusCode')}; "
                     f"Error Code: {ex.response['Error'].get('Code')}; "
                     f"Request ID: {metadata.get('RequestId')}; Proxy: null)")
            return self._failure(env, CustomErrorName(error), error, cause)
        return super()._from_error(env=env, ex=ex)

    def _failure(self, env: Environment, error_name: Any, error: str, cause: str) -> FailureEvent:
        return FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=error, cause=cause,
                    resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type(),
                )
            ),
        )


@cache
def _sagemaker_model() -> Any:
    """botocore's SageMaker service model (loaded once: a new session reads it from disk)."""
    from botocore.session import get_session

    return get_session().get_service_model("sagemaker")


def make_factory_patch(original: Callable[[str], Any]) -> Callable[[str], Any]:
    """Replacement for `state_task_service_for`: `sagemaker` gets the class above."""

    def state_task_service_for(service_name: str) -> Any:
        if service_name == "sagemaker":
            return StateTaskServiceSageMaker()
        return original(service_name)

    return state_task_service_for

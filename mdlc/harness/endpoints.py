"""SageMaker endpoints offline: UpdateEndpoint (with alarm rollback) and InvokeEndpoint.

moto has no `update_endpoint`; the harness adds it to moto's backend and response
class. `invoke_endpoint` in moto returns canned data; the harness replaces it with the
real inference script of the model behind the endpoint (endpoint → endpoint config →
production variant → model), served by the image's serving stack in the model's runtime
(a model-server process per model, `inference.py`). A non-200 answer of that stack
becomes SageMaker Runtime's ModelError with the container's status as
`OriginalStatusCode`, as InvokeEndpoint reports it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ReadTimeoutError
from botocore.handlers import BUILTIN_HANDLERS
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, sagemaker_backends

from mdlc.harness import clock
from mdlc.harness.capture import DataCapture
from mdlc.harness.inference import InferenceError, ModelCache, ModelServerError, ModelSource

_TIMEOUT_MESSAGE = (
    "Your invocation timed out while waiting for a response from container primary. "
    "Review the latency metrics for each container in Amazon CloudWatch, resolve the issue, "
    "and try again."
)


@dataclass
class EndpointUpdate:
    """One UpdateEndpoint call as the harness resolved it."""

    endpoint_name: str
    previous_config: str
    requested_config: str
    rolled_back: bool
    alarms_in_alarm: list[str] = field(default_factory=list)


def _alarms_in_alarm(account_id: str, region: str, names: list[str]) -> list[str]:
    alarms = cloudwatch_backends[account_id][region].alarms
    return [name for name in names if name in alarms and alarms[name].state_value == "ALARM"]


def _rollback_alarm_names(deployment: dict | None) -> list[str]:
    rollback = (deployment or {}).get("AutoRollbackConfiguration") or {}
    return [alarm["AlarmName"] for alarm in rollback.get("Alarms") or []]


def _refuse_scaled_instance_type_change(backend: Any, endpoint: FakeEndpoint, config: FakeEndpointConfig) -> None:
    """What SageMaker does when an update changes the instance type of a variant that is
    registered with Application Auto Scaling: refuse it (deregister first)."""
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    targets = applicationautoscaling_backends[backend.account_id][backend.region_name].targets
    scaled = targets.get("sagemaker:variant:DesiredInstanceCount", {})
    current = backend.endpoint_configs.get(endpoint.endpoint_config_name)
    old_types = {v["VariantName"]: v.get("InstanceType") for v in (current.production_variants if current else [])}
    changed = [v["VariantName"] for v in config.production_variants
               if f"endpoint/{endpoint.endpoint_name}/variant/{v['VariantName']}" in scaled
               and v["VariantName"] in old_types and v.get("InstanceType") != old_types[v["VariantName"]]]
    if changed:
        raise ValidationError(message=(
            f"The variant(s) \"{changed}\" include instance type changes and are registered with "
            "Application Auto Scaling. Deregister the scalable target(s) before updating the "
            "endpoint, and register them again afterwards."))


def update_endpoint(backend: Any, params: dict) -> EndpointUpdate:
    """Switch an endpoint to a new config, or roll back if a rollback alarm is firing.

    A blue/green deployment (ALL_AT_ONCE, CANARY or LINEAR) shifts traffic and watches
    the AutoRollbackConfiguration alarms while it bakes; offline the whole deployment is
    instantaneous, so the alarms are read once, at update time. If any is in ALARM the
    endpoint keeps its old config and reports the rollback in FailureReason, as
    DescribeEndpoint does after an automatic rollback.
    """
    name, config_name = params["EndpointName"], params["EndpointConfigName"]
    endpoint: FakeEndpoint | None = backend.endpoints.get(name)
    if endpoint is None:
        arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
        raise ValidationError(message=f"Could not find endpoint '{arn}'.")
    config: FakeEndpointConfig | None = backend.endpoint_configs.get(config_name)
    if config is None:
        arn = FakeEndpointConfig.arn_formatter(config_name, backend.account_id, backend.region_name)
        raise ValidationError(message=f"Could not find endpoint configuration '{arn}'.")
    _refuse_scaled_instance_type_change(backend, endpoint, config)
    deployment = params.get("DeploymentConfig")
    firing = _alarms_in_alarm(backend.account_id, backend.region_name, _rollback_alarm_names(deployment))
    update = EndpointUpdate(name, endpoint.endpoint_config_name, config_name, bool(firing), firing)
    endpoint.last_modified_time = utcnow()
    endpoint.endpoint_status = "InService"
    if deployment:
        endpoint.last_deployment_config = deployment
    if firing:
        endpoint.failure_reason = (
            f"Update of endpoint to endpoint config '{config_name}' was rolled back because "
            f"CloudWatch alarm(s) {', '.join(firing)} went into ALARM state during the deployment."
        )
        return update
    endpoint.endpoint_config_name = config_name
    endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
    endpoint.data_capture_config = config.data_capture_config
    endpoint.failure_reason = None
    return update


def make_update_endpoint_response(history: list[EndpointUpdate]) -> Callable:
    """The `SageMakerResponse.update_endpoint` method moto lacks."""

    def update(self):  # type: ignore[no-untyped-def]
        result = update_endpoint(self.sagemaker_backend, json.loads(self.body or "{}"))
        history.append(result)
        return ActionResult({"EndpointArn": self.sagemaker_backend.endpoints[result.endpoint_name].arn})

    return update


class ModelError(ServiceException):
    """SageMaker Runtime's ModelError (HTTP 424): the container answered with an error."""

    code = "ModelError"

    def __init__(self, message: str, original_status: int = 500, original_message: str = "") -> None:
        super().__init__("ModelError", message)
        self.OriginalStatusCode = original_status
        self.OriginalMessage = original_message


class EndpointNotFound(ServiceException):
    """InvokeEndpoint on an endpoint that does not exist (a ValidationError)."""

    code = "ValidationError"


@dataclass
class Breakage:
    """How a broken endpoint answers: an error message, a timeout, or a 200 with ``body``."""

    error: str | None = None
    timeout: bool = False
    body: bytes | None = None  # e.g. b'{"model_version": "v1"}': a malformed answer
    hang_seconds: float = 0.0  # the container answers this late (the caller's read timeout applies)


class EndpointServer:
    """Answers InvokeEndpoint with the real inference script of the endpoint's model."""

    def __init__(self, models: ModelCache, capture: DataCapture | None = None) -> None:
        self.models = models
        self.capture = capture
        self.broken: dict[str, Breakage] = {}
        self.waits: list[float] = []  # seconds each emulated hang kept its caller waiting
        self.given_up: list[float] = []  # read timeouts (s) at which callers gave up on a hang
        self.invocations: list[tuple[str, str]] = []

    def invoke(self, backend: Any, name: str, body: bytes, content_type: str,
               accept: str | None, target_variant: str | None,
               inference_id: str | None = None) -> tuple[bytes, str, str]:
        """(body, content type, variant name) for one request; raises ModelError."""
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise EndpointNotFound("ValidationError", f"Endpoint {name} of account {backend.account_id} not found.")
        self._raise_if_broken(name)
        variant = _pick_variant(backend.endpoint_configs[endpoint.endpoint_config_name], target_variant)
        if name in self.broken and self.broken[name].body is not None:  # the container answers 200 with it
            return self.broken[name].body or b"", "application/json", variant["VariantName"]
        model = self.models.get(ModelSource.from_describe(_describe_model(backend, variant["ModelName"])))
        self.invocations.append((name, variant["ModelName"]))
        try:
            response, response_type = model.invoke(body, content_type, accept)
        except ModelServerError as error:
            raise _model_error(error.status, error.body.decode(errors="replace"),
                               backend.account_id) from error
        except InferenceError as error:  # the model server is gone: the container failed
            raise _model_error(500, str(error), backend.account_id) from error
        if self.capture is not None:  # DataCaptureConfig of the endpoint's config (capture.py)
            config = backend.endpoint_configs[endpoint.endpoint_config_name].data_capture_config
            self.capture.record(name, variant["VariantName"], config, body, content_type, response, response_type,
                                inference_id)
        return response, response_type, variant["VariantName"]

    def _raise_if_broken(self, name: str) -> None:
        breakage = self.broken.get(name)
        if breakage is not None and breakage.hang_seconds:
            try:
                self.waits.append(hang(breakage.hang_seconds))
            except ReadTimeoutError:
                self.given_up.append(_CALLER.read_timeout)
                raise
            if breakage.error is None and not breakage.timeout and breakage.body is None:
                return  # a slow endpoint that answers, late
        if breakage is None or breakage.body is not None:
            return
        if breakage.timeout:
            raise ModelError(f'Received server error (0) from primary with message "{_TIMEOUT_MESSAGE}".',
                             original_status=0, original_message=_TIMEOUT_MESSAGE)
        raise ModelError(f'Received server error (500) from primary with message "{breakage.error}".',
                         original_message=breakage.error or "")


# The read timeout of the client making the current call, per thread: botocore applies it to
# the socket, which moto's in-process dispatch never opens, so the harness honours it here.
_CALLER = threading.local()


def _remember_read_timeout(request: Any, **_: Any) -> None:
    config = (getattr(request, "context", None) or {}).get("client_config")
    _CALLER.read_timeout = getattr(config, "read_timeout", None)


# Every client created from now on records its read timeout when it builds an InvokeEndpoint request.
BUILTIN_HANDLERS.append(("request-created.sagemaker-runtime.InvokeEndpoint", _remember_read_timeout))


def hang(seconds: float) -> float:
    """Keep the caller waiting ``seconds``, or until its read timeout, which then raises botocore's
    ReadTimeoutError as the socket would; returns the seconds waited."""
    from mdlc.harness.lambdas import record_emulated_wait

    limit = getattr(_CALLER, "read_timeout", None)
    if limit is not None and limit < seconds:
        time.sleep(limit)
        record_emulated_wait(limit)  # part of the calling handler's duration
        clock.advance(limit)
        raise ReadTimeoutError(endpoint_url="https://runtime.sagemaker.amazonaws.com/endpoints/invocations")
    time.sleep(seconds)
    record_emulated_wait(seconds)
    clock.advance(seconds)
    return seconds


def _model_error(status: int, message: str, account_id: str) -> ModelError:
    kind = "client" if 400 <= status < 500 else "server"
    return ModelError(
        f'Received {kind} error ({status}) from primary with message "{message}". '
        f"See the endpoint's CloudWatch logs in account {account_id} for more information.",
        original_status=status, original_message=message,
    )


def _pick_variant(config: FakeEndpointConfig, target: str | None) -> dict:
    variants = config.production_variants
    if target:
        for variant in variants:
            if variant["VariantName"] == target:
                return variant
        raise ModelError(f"Target variant {target} not found in endpoint config "
                         f"{config.endpoint_config_name}.", original_status=400)
    return max(variants, key=lambda variant: float(variant.get("InitialVariantWeight", 1.0)))


def _describe_model(backend: Any, model_name: str) -> dict:
    model = backend.describe_model(model_name)
    return {"ModelName": model.model_name, "PrimaryContainer": model.primary_container,
            "Containers": model.containers, "EnableNetworkIsolation": model.enable_network_isolation}


def make_invoke_endpoint_response(server: EndpointServer) -> Callable:
    """Replacement for `SageMakerRuntimeResponse.invoke_endpoint`."""

    def invoke_endpoint(self):  # type: ignore[no-untyped-def]
        name = unquote(self.path.split("/")[2])
        backend = sagemaker_backends[self.current_account][self.region]
        body = self.body if isinstance(self.body, bytes) else (self.body or "").encode()
        try:
            response, content_type, variant = server.invoke(
                backend, name, body,
                self.headers.get("Content-Type") or "application/json",
                self.headers.get("Accept"),
                self.headers.get("X-Amzn-SageMaker-Target-Variant"),
                self.headers.get("X-Amzn-SageMaker-Inference-Id"),  # InferenceId: into the capture
            )
        except ServiceException as error:
            status, headers, payload = self.serialized(ActionResult(error))
            headers["status"] = str(status)
            return status, headers, payload
        return 200, {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": variant}, response

    return invoke_endpoint

"""Fault injection: make the next N calls of one AWS operation fail with an error code.

Faults are checked in moto's `BaseResponse.call_action`, the point every JSON/query
protocol request of moto's services passes through (S3's REST dispatch does not), so a
fault hits boto3 calls from tests, handlers and the Step Functions executor alike.
Note that boto3 clients retry throttling and 5xx codes themselves (as against AWS), so
one injected ThrottlingException is invisible to a default client; the Step Functions
executor's clients do not retry, so the state machine's Retry sees every fault.
"""

from __future__ import annotations

import threading
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult


def _normalise(operation: str) -> str:
    return operation.replace("_", "").replace("-", "").lower()


@dataclass
class Fault:
    """One planned failure: `times` more calls of `service`/`operation` fail."""

    service: str
    operation: str
    error_code: str
    message: str
    status_code: int
    times: int


class _InjectedError(ServiceException):
    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.error_code, fault.message)
        self.code = fault.error_code


class FaultInjector:
    """Holds planned faults and hands them out, call by call."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.fired: list[tuple[str, str, str]] = []

    def add(self, service: str, operation: str, error_code: str, *, times: int = 1,
            message: str | None = None, status_code: int = 400) -> Fault:
        """Plan a fault for `service` (boto3 name, e.g. 'sagemaker') / `operation`."""
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        fault = Fault(
            service=service.lower(),
            operation=_normalise(operation),
            error_code=error_code,
            message=message or f"Injected by mdlc.harness: {error_code}",
            status_code=status_code,
            times=times,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, service: str, operation: str) -> Fault | None:
        """The fault planned for this call, if any (consuming one of its `times`)."""
        key = (service.lower(), _normalise(operation))
        with self._lock:
            for fault in self._faults:
                if (fault.service, fault.operation) == key:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    self.fired.append((service, operation, fault.error_code))
                    return fault
        return None

    @property
    def pending(self) -> list[Fault]:
        """Faults that have not fired (all their times) yet."""
        with self._lock:
            return list(self._faults)


def _service_of(response: object) -> str:
    return getattr(response, "boto3_service_name", None) or getattr(response, "service_name", "")


def make_call_action_patch(injector: FaultInjector, original: Callable) -> Callable:
    """Replacement for `BaseResponse.call_action` that fires planned faults first."""

    def call_action(self) -> TYPE_RESPONSE:  # type: ignore[no-untyped-def]
        fault = injector.take(_service_of(self), self._get_action() or "")
        if fault is None:
            return original(self)
        with warnings.catch_warnings():  # error codes outside the service model are fine here
            warnings.simplefilter("ignore", UserWarning)
            status, headers, body = self.serialized(ActionResult(_InjectedError(fault)))
        headers["status"] = str(fault.status_code)
        headers.setdefault("x-amzn-RequestId", str(uuid.uuid4()))  # Step Functions reads it
        return fault.status_code, headers, body

    return call_action

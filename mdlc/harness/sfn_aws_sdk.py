"""Request/response shaping for `aws-sdk:*` tasks that moto's executor leaves out.

moto's `StateTaskServiceAwsSdk` passes Parameters to boto3 as written, so a JSON object
given for a blob member (e.g. `sagemakerruntime:invokeEndpoint` `Body`) is not
serialised, and a streaming response Body cannot become task output. Step Functions
serialises such values as JSON and returns streamed bodies as strings; these two
methods, installed on the class by OfflineAws, do the same using the botocore shapes.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from botocore.model import OperationModel
from botocore.session import get_session


@cache
def _operation(service: str, action: str) -> OperationModel:
    model = get_session().get_service_model(service)
    return model.operation_model(action[0].upper() + action[1:])


def normalise_parameters(self: Any, parameters: dict, boto_service_name: str | None = None,
                         service_action_name: str | None = None) -> None:
    """Convert Parameters to the boto3 request (JSON-encode objects given for blobs/strings)."""
    operation = _operation(self._get_boto_service_name(boto_service_name),
                           service_action_name or self.resource.api_action)
    self._to_boto_request(parameters, operation.input_shape)


def normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                       service_action_name: str | None = None) -> None:
    """Read streamed response members into strings, as Step Functions returns them."""
    operation = _operation(self._get_boto_service_name(boto_service_name),
                           service_action_name or self.resource.api_action)
    if operation.output_shape is not None:
        self._from_boto_response(response, operation.output_shape)
    _timestamps_to_text(response)


def _timestamps_to_text(value: Any) -> Any:
    """Timestamps (e.g. DescribeEndpoint's CreationTime) as ISO-8601 text, in place.

    The task output must be JSON; Step Functions renders SDK timestamps as text.
    """
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in list(items):
        if isinstance(item, datetime):
            value[key] = item.isoformat()
        else:
            _timestamps_to_text(item)
    return value

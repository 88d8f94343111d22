"""SageMaker's refusal of a volume KMS key on instance types with local NVMe storage.

SageMaker's API reference, on ``VolumeKmsKeyId`` of CreateTrainingJob, CreateProcessingJob,
CreateTransformJob and on ``KmsKeyId`` of CreateEndpointConfig: "Certain Nitro-based instances
include local storage ... You can't request a VolumeKmsKeyId when using an instance type with
local storage." moto accepts the key, so a template that sends one for ml.g4dn or ml.m5d
passed offline and failed at its first job. This check refuses such a request before it
reaches moto, with a ``ValidationException`` (the message is the harness', quoting the rule;
AWS's exact wording is not published). Which types have local storage: ``mdlc.instance_storage``
(EC2's instance-type data). Every SageMaker call made offline passes here: the Step Functions
executor's optimised integrations, Lambda handlers, tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mdlc.harness import validation
from mdlc.instance_storage import has_local_storage

#: Job operation → the path of the section holding its InstanceType and VolumeKmsKeyId.
_JOBS = {
    "CreateTrainingJob": ("ResourceConfig",),
    "CreateProcessingJob": ("ProcessingResources", "ClusterConfig"),
    "CreateTransformJob": ("TransformResources",),
}


def _keyed_instance_types(operation: str, params: dict) -> list[str]:
    """The instance types of a request that also asks for a volume key."""
    if operation == "CreateEndpointConfig":
        keyed = "KmsKeyId" in params
        return [str(v.get("InstanceType") or "") for v in params.get("ProductionVariants") or []] if keyed else []
    if operation not in _JOBS:
        return []
    section: Any = params
    for key in _JOBS[operation]:
        section = (section or {}).get(key)
    section = section or {}
    return [str(section.get("InstanceType") or "")] if "VolumeKmsKeyId" in section else []


def refusal(operation: str, params: dict) -> str | None:
    """Why SageMaker refuses ``operation`` with ``params``, or None."""
    for instance_type in _keyed_instance_types(operation, params):
        if instance_type and has_local_storage(instance_type):
            member = "KmsKeyId" if operation == "CreateEndpointConfig" else "VolumeKmsKeyId"
            return (f"{operation}: instance type {instance_type} has local instance storage, encrypted by a hardware "
                    f"module on the instance; a {member} cannot be requested for it (leave the key out)")
    return None


_active = 0  # OfflineAws contexts inside which the check applies


def _rule(operation: str, params: dict) -> str | None:
    return refusal(operation, params) if _active else None


# Answered by the request validation's one `before-call` handler (mdlc.harness.validation),
# active only inside `installed()`: botocore sessions outlive a harness.
validation.add_rule("sagemaker", _rule)


@contextmanager
def installed() -> Iterator[None]:
    """Check every SageMaker call made while inside."""
    global _active
    _active += 1
    try:
        yield
    finally:
        _active -= 1

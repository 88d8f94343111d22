"""What a service checks on its caller beyond the call's own action (SageMaker's grant on a
volume key), for the IAM evaluator (`iam.IamEvaluator._implied`) to evaluate with the
caller's role; and KMS key references as ARNs (`key_arn`, also used by `service_principals.py`)."""

from __future__ import annotations

from mdlc.harness.calls import Call

Need = tuple[str, str, dict[str, str]]  # (action, resource ARN, request context)


def key_arn(account: str, region: str, key: str) -> str:
    """A KMS key reference (ARN, key ID, alias name or alias ARN) as the key's ARN; a reference
    moto does not know is returned as given (no key policy then allows anything on it)."""
    from moto.kms.models import kms_backends

    if key.startswith("arn:") and ":key/" in key:
        return key
    try:
        key_id = kms_backends[account][region].any_id_to_key_id(key)
    except Exception:  # noqa: BLE001 - moto raises several errors for an unknown alias
        return key
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


# -- SageMaker: the volume key's grant ------------------------------------------------------
def _volume_key(call: Call) -> str | None:
    """The volume key a SageMaker create call asks for (None when it gives none)."""
    p = call.params
    action = call.action.split(":", 1)[1]
    if action == "CreateTrainingJob":
        return (p.get("ResourceConfig") or {}).get("VolumeKmsKeyId")
    if action == "CreateHyperParameterTuningJob":  # the trials' volumes, created for the caller
        return ((p.get("TrainingJobDefinition") or {}).get("ResourceConfig") or {}).get("VolumeKmsKeyId")
    if action == "CreateProcessingJob":
        return ((p.get("ProcessingResources") or {}).get("ClusterConfig") or {}).get("VolumeKmsKeyId")
    if action == "CreateTransformJob":
        return (p.get("TransformResources") or {}).get("VolumeKmsKeyId")
    if action in ("CreateEndpoint", "UpdateEndpoint"):
        return _endpoint_config_key(call, str(p.get("EndpointConfigName", "")))
    return None


def _endpoint_config_key(call: Call, name: str) -> str | None:
    from moto.sagemaker.models import sagemaker_backends

    config = sagemaker_backends[call.account][call.region].endpoint_configs.get(name)
    return getattr(config, "kms_key_id", None) if config is not None else None


def service_needs(call: Call) -> list[Need]:
    """What a service checks on its caller for `call`, beyond the call's own action.

    A tuning job's caller passes the trials' execution role (``iam:PassRole``). SageMaker
    encrypts a job's (or an endpoint's instances') storage volume with
    ``VolumeKmsKeyId`` (``KmsKeyId`` of the endpoint config, used when CreateEndpoint or
    UpdateEndpoint launches the instances) by creating a KMS grant for the caller: the caller
    needs ``kms:CreateGrant`` on the key with ``kms:GrantIsForAWSResource`` true, and the key
    policy must allow it (the evaluator's KMS rule)."""
    if not call.action.startswith("sagemaker:"):
        return []
    needs: list[Need] = []
    if call.action == "sagemaker:CreateHyperParameterTuningJob":
        # The trials run as the definition's role, passed by the tuning job's caller.
        role = (call.params.get("TrainingJobDefinition") or {}).get("RoleArn")
        if role:
            needs.append(("iam:PassRole", str(role), {"iam:passedtoservice": "sagemaker.amazonaws.com"}))
    key = _volume_key(call)
    if not key:
        return needs
    context = {"kms:grantisforawsresource": "true", "kms:viaservice": f"sagemaker.{call.region}.amazonaws.com"}
    return [*needs, ("kms:CreateGrant", key_arn(call.account, call.region, key), context)]

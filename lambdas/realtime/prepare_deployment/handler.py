"""Deployment step 1: resolve the approved model package into names and settings.

Accepts the EventBridge event of an approval (``detail.ModelPackageArn``) or a manual
input ``{"model_package_arn", "poll_seconds"?, "reason"?, "force"?}``. Checks the package
belongs to this team's group and is Approved, and returns the container to deploy, the
names of the new Model and EndpointConfig (unique per execution), whether the endpoint
exists, and the wait between status polls.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from lambdas.shared.aws import client
from lambdas.shared.spec import env, team_spec
from mdlc import names

VARIANT, SHADOW_VARIANT = "AllTraffic", "Shadow"  # stacks/realtime/names.py

logger = Logger()
tracer = Tracer()

DEFAULT_POLL_SECONDS = 30
MAX_POLL_SECONDS = 300


class NotDeployable(ValueError):
    """The package is not this team's, or not Approved."""


def package_arn(event: dict[str, Any]) -> str:
    arn = event.get("model_package_arn") or (event.get("detail") or {}).get("ModelPackageArn")
    if not isinstance(arn, str) or ":model-package/" not in arn:
        raise NotDeployable(f"expected a model package ARN in model_package_arn or detail.ModelPackageArn, "
                            f"got {arn!r}")
    return arn


def poll_seconds(event: dict[str, Any]) -> int:
    value = event.get("poll_seconds", DEFAULT_POLL_SECONDS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_POLL_SECONDS:
        raise NotDeployable(f"poll_seconds: got {value!r}; expected a whole number of seconds in "
                            f"[1, {MAX_POLL_SECONDS}]")
    return value


def deployed_record(parameter: str) -> dict[str, Any] | None:
    ssm = client("ssm")
    try:
        return json.loads(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


def endpoint_config(endpoint: str) -> str | None:
    sm = client("sagemaker")
    try:
        return sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    except sm.exceptions.ClientError as exc:
        if "Could not find endpoint" in str(exc) or exc.response["Error"]["Code"] == "ValidationException":
            return None
        raise


def shadow_model(spec: dict[str, Any], live_arn: str, suffix: str) -> dict[str, Any] | None:
    """The challenger of ``realtime.shadow.model_version`` (same group as the live version):
    its container and the name of its Model; None without one. A Rejected version never serves."""
    version = ((spec.get("realtime") or {}).get("shadow") or {}).get("model_version")
    if version is None:
        return None
    arn = f"{live_arn.rsplit('/', 1)[0]}/{version}"
    sm = client("sagemaker")
    try:
        package = sm.describe_model_package(ModelPackageName=arn)
    except sm.exceptions.ClientError as exc:
        raise NotDeployable(f"realtime.shadow.model_version {version}: no such version of "
                            f"{env('MODEL_PACKAGE_GROUP')} ({exc.response['Error']['Message']}); expected a "
                            "registered version number") from None
    if package.get("ModelApprovalStatus") == "Rejected":
        raise NotDeployable(f"realtime.shadow.model_version {version} is Rejected; expected a version pending "
                            "approval (a challenger) or approved")
    return {"model_package_arn": arn, "version": version, "container": _container(package),
            "model_name": names.team_resource(spec["name"], f"v{version}-{suffix}-shadow")}


def _container(package: dict[str, Any]) -> dict[str, Any]:
    container = dict(package["InferenceSpecification"]["Containers"][0])
    # Real-time requests carry one record: parallelism comes from the model server's workers,
    # and OpenMP threads per request only add tail latency (bench/bench_decision.py).
    container["Environment"] = {"OMP_NUM_THREADS": "1", **(container.get("Environment") or {})}
    return {key: container[key] for key in ("Image", "ModelDataUrl", "Environment") if key in container}


def variant_names(config: str | None) -> list[str]:
    """The production variants of an endpoint config (none for no config)."""
    if not config:
        return []
    described = client("sagemaker").describe_endpoint_config(EndpointConfigName=config)
    return sorted(v["VariantName"] for v in described["ProductionVariants"])


def prepare(event: dict[str, Any], execution: str, spec: dict[str, Any]) -> dict[str, Any]:
    arn = package_arn(event)
    package = client("sagemaker").describe_model_package(ModelPackageName=arn)
    group = env("MODEL_PACKAGE_GROUP")
    if package.get("ModelPackageGroupName") != group:
        raise NotDeployable(f"{arn} belongs to group {package.get('ModelPackageGroupName')!r}; "
                            f"expected {group!r}")
    if package.get("ModelApprovalStatus") != "Approved":
        raise NotDeployable(f"{arn} is {package.get('ModelApprovalStatus')!r}; only Approved versions deploy")
    version = int(package.get("ModelPackageVersion") or arn.rsplit("/", 1)[-1])
    suffix = hashlib.sha256(execution.encode()).hexdigest()[:8]
    name = names.deployment_name(spec["name"], version, suffix)
    endpoint = env("ENDPOINT_NAME")
    current = endpoint_config(endpoint)
    deployed = deployed_record(env("DEPLOYED_PARAMETER"))
    same = bool(deployed and deployed.get("model_package_arn") == arn and current)
    shadow = shadow_model(spec, arn, suffix)
    variants = sorted([VARIANT, SHADOW_VARIANT] if shadow else [VARIANT])
    return {
        "model_package_arn": arn,
        "version": version,
        "container": _container(package),
        "model_name": name,
        "endpoint_config_name": name,
        "endpoint_name": endpoint,
        "endpoint_exists": current is not None,
        "previous_config": current or "",
        "previous_model_package_arn": (deployed or {}).get("model_package_arn", ""),
        # The shadow's model changes with the team file, not with an approval: redeploy when it differs.
        "already_deployed": same and not event.get("force", False)
        and ((deployed or {}).get("shadow") or {}).get("model_package_arn") == (shadow or {}).get("model_package_arn"),
        "shadow": shadow or {},
        # Deployment guardrails (blue/green canary) need the same variant names in the old and
        # new config: adding or removing the shadow variant is an update without them.
        "guarded": not current or variant_names(current) == variants,
        "poll_seconds": poll_seconds(event),
        "reason": str(event.get("reason") or ("approved" if "detail" in event else "manual")),
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Standard workflow task: ``{"input": <event or manual input>, "execution": name}``."""
    result = prepare(event["input"], event["execution"], team_spec())
    logger.info("deployment prepared", extra={k: result[k] for k in ("model_package_arn", "endpoint_exists")})
    return result

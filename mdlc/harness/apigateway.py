"""API Gateway REST APIs of the deployed templates, answering requests offline.

The template's ``AWS::ApiGateway::*`` resources are created in moto's API Gateway
(``CREATORS``, used by ``cfn.deploy_template``). ``RestApiGateway.invoke`` then sends a
request through what is stored there, step by step as API Gateway does, running each
piece of the template with a real engine:

* resource and method lookup (an unknown route is ``MISSING_AUTHENTICATION_TOKEN``, 403,
  as on AWS);
* the method's request validator with its model: JSON Schema draft-04 by ``jsonschema``'s
  ``Draft4Validator`` (API Gateway's model dialect); a mismatch is ``BAD_REQUEST_BODY``;
* the integration request template (VTL) rendered by ``airspeed-ext`` with API Gateway's
  ``$input``/``$util``/``$context`` (``mdlc.harness.vtl``); ``$util.escapeJavaScript`` is
  Java's ``StringEscapeUtils.escapeJavaScript`` (``'`` becomes ``\\'``), because whether a
  body stays valid JSON depends on exactly that;
* the integration call. ``states:StartSyncExecution`` (the only AWS integration the
  project uses; moto lacks it) runs the Express machine with ``OfflineAws.run_sync`` after
  the checks Step Functions makes (JSON input, 256 KB input and output);
* the integration responses: selection pattern against the integration's HTTP status,
  response template (VTL, ``$context.responseOverride.status`` honoured);
* gateway responses (API Gateway's own refusals) from the template: substitution of
  ``$context`` variables only, as AWS does (those templates are not VTL).

Not evaluated: SigV4/IAM authorisation of the caller, stage throttling, usage plans,
request parameters mapping, caching, binary media types. The integration role's
permission is checked by an ``authorise`` hook (``role_authoriser``: the harness' IAM evaluator).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from jsonschema import Draft4Validator

from mdlc.harness import clock, vtl
from mdlc.harness.stack_context import Created, StackContext
from mdlc.harness.vtl import escape_javascript

if TYPE_CHECKING:
    from mdlc.harness.iam import IamEvaluator


class GatewayAws(Protocol):
    """What a REST API needs of the offline AWS (`OfflineAws`): its account, clients, IAM
    evaluator and synchronous Express executions."""

    region: str
    account_id: str
    iam: IamEvaluator | None

    def client(self, service: str) -> Any: ...

    def run_sync(self, state_machine_arn: str, input: Any = None, name: str | None = None, *,
                 timeout: float = 300.0) -> dict: ...


#: API Gateway's payload limit for REST APIs (10 MB).
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
#: Step Functions' limit on execution input and output, and on any state's data.
MAX_SFN_PAYLOAD_BYTES = 262_144
#: The integration timeout when the template sets none (29 s).
DEFAULT_TIMEOUT_MS = 29_000

#: Default status of each gateway response type (API Gateway developer guide, "Gateway response types").
GATEWAY_RESPONSE_STATUS = {
    "ACCESS_DENIED": 403, "API_CONFIGURATION_ERROR": 500, "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500, "BAD_REQUEST_PARAMETERS": 400, "BAD_REQUEST_BODY": 400, "EXPIRED_TOKEN": 403,
    "INTEGRATION_FAILURE": 504, "INTEGRATION_TIMEOUT": 504, "INVALID_API_KEY": 403, "INVALID_SIGNATURE": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403, "QUOTA_EXCEEDED": 429, "REQUEST_TOO_LARGE": 413,
    "RESOURCE_NOT_FOUND": 404, "THROTTLED": 429, "UNAUTHORIZED": 401, "UNSUPPORTED_MEDIA_TYPE": 415,
    "WAF_FILTERED": 403,
}
#: The message API Gateway puts in ``$context.error.message`` for each refusal it makes here.
GATEWAY_MESSAGES = {
    "API_CONFIGURATION_ERROR": "Internal server error",
    "BAD_REQUEST_BODY": "Invalid request body",
    "INTEGRATION_FAILURE": "Internal server error",
    "INTEGRATION_TIMEOUT": "Endpoint request timed out",
    "MISSING_AUTHENTICATION_TOKEN": "Missing Authentication Token",
    "REQUEST_TOO_LARGE": "Request Too Long",
    "UNSUPPORTED_MEDIA_TYPE": "Unsupported Media Type",
}

Authorise = Callable[[str, str, str], bool]
"""``(role_arn, action, resource) → allowed``: evaluates the integration role's policies."""


def role_authoriser(aws: GatewayAws) -> Authorise:
    """An ``authorise`` hook deciding with the harness' IAM evaluator (`iam.IamEvaluator`),
    the one every other principal's call goes through: the same wildcard, condition and
    resource-type semantics, and the decision is recorded with the others (`mdlc local
    iam-report`). Without IAM evaluation (``OfflineAws(evaluate_iam=False)``, adapter unit
    tests) nothing is evaluated and every role is allowed.
    """
    from mdlc.harness.iam import Call, Denied

    evaluator = aws.iam

    def authorise(role_arn: str, action: str, resource: str) -> bool:
        if evaluator is None:
            return True
        # API Gateway assumes the integration role; its session is the role's assumed-role ARN.
        session = f"arn:aws:sts::{aws.account_id}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/apigateway"
        call = Call(action, [resource], {}, aws.region, aws.account_id, context={"aws:securetransport": "true"})
        try:
            evaluator.check(role_arn, call, session)
        except Denied:
            return False
        return True

    return authorise


# ------------------------------------------------------------------------ responses
@dataclass
class HttpResponse:
    """What the client receives."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    #: Which part of the API answered: "integration" or the gateway response type.
    source: str = "integration"

    def json(self) -> Any:
        """The body parsed (raises ValueError when it is not JSON: a defect of the API)."""
        return json.loads(self.body)


class _GatewayRefusal(Exception):
    def __init__(self, response_type: str, message: str | None = None, validation_error: str = "") -> None:
        self.response_type = response_type
        self.message = message or GATEWAY_MESSAGES.get(response_type, response_type.replace("_", " ").title())
        self.validation_error = validation_error
        super().__init__(f"{response_type}: {self.message} {validation_error}".strip())


# -------------------------------------------------------------------------- gateway
class RestApiGateway:
    """One REST API stored in moto, invoked like its deployed stage."""

    def __init__(self, aws: GatewayAws, rest_api_id: str, *, stage: str | None = None,
                 authorise: Authorise | None = None) -> None:
        self.aws = aws
        self.rest_api_id = rest_api_id
        self.client = aws.client("apigateway")
        stages = [s["stageName"] for s in self.client.get_stages(restApiId=rest_api_id)["item"]]
        self.stage = stage or (stages[0] if stages else "")
        self.authorise = authorise
        self.integration_calls: list[dict[str, Any]] = []  # what the integration was sent, newest last
        self.errors: list[Exception] = []  # template errors answered with API_CONFIGURATION_ERROR
        self._resources = {r["path"]: r for r in self.client.get_resources(restApiId=rest_api_id)["items"]}

    @classmethod
    def named(cls, aws: GatewayAws, name: str, **kwargs: Any) -> RestApiGateway:
        """The API called ``name`` (``RestApi.Name`` in the template)."""
        apis = [a for a in aws.client("apigateway").get_rest_apis()["items"] if a["name"] == name]
        if len(apis) != 1:
            raise KeyError(f"REST API {name!r}: expected one, found {len(apis)}")
        return cls(aws, apis[0]["id"], **kwargs)

    # -- request ---------------------------------------------------------------------
    def invoke(self, http_method: str, path: str, body: bytes | str = b"",
               headers: dict[str, str] | None = None) -> HttpResponse:
        """Send one request (``path`` with or without the ``/<stage>`` prefix)."""
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        context = self._context(http_method, path, headers)
        try:
            return self._invoke(http_method, path, raw, headers, context)
        except _GatewayRefusal as refusal:
            return self._gateway_response(refusal, context)
        except NotImplementedError:
            raise  # a limit of the harness, not an answer AWS would give
        except Exception as exc:  # noqa: BLE001 - a template that fails to render: AWS answers 500
            self.errors.append(exc)
            return self._gateway_response(_GatewayRefusal("API_CONFIGURATION_ERROR"), context)

    def _invoke(self, http_method: str, path: str, raw: bytes, headers: dict[str, str],
                context: dict[str, Any]) -> HttpResponse:
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise _GatewayRefusal("REQUEST_TOO_LARGE")
        resource, method = self._route(http_method, path)
        context.update(resourcePath=resource["path"], resourceId=resource["id"])
        text = raw.decode("utf-8", errors="replace")
        content_type = (headers.get("content-type") or "application/json").split(";")[0].strip().lower()
        self._validate(method, content_type, text)
        integration = method["methodIntegration"]
        template = self._request_template(integration, content_type)
        rendered, _ = vtl.render(template, body=text, context=context, params=self._params(headers))
        status, answer = self._call(integration, rendered)
        return self._integration_response(integration, status, answer, context, headers)

    def _context(self, http_method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "requestId": str(uuid.uuid4()), "extendedRequestId": uuid.uuid4().hex[:16],
            "apiId": self.rest_api_id, "accountId": self.aws.account_id, "stage": self.stage,
            "httpMethod": http_method.upper(), "path": path, "protocol": "HTTP/1.1",
            "domainName": f"{self.rest_api_id}.execute-api.{self.aws.region}.amazonaws.com",
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            # On the emulated AWS's clock, the one the decision function's deadline reads (clock.py).
            "requestTimeEpoch": int(clock.now_ms()),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent", ""),
                         "accountId": self.aws.account_id, "caller": "", "user": "", "userArn": ""},
            "error": {}, "requestOverride": {"header": {}, "path": {}, "querystring": {}},
            "responseOverride": {"header": {}, "status": 0},
        }

    def _route(self, http_method: str, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
        path = "/" + path.strip("/")
        if self.stage and (path == f"/{self.stage}" or path.startswith(f"/{self.stage}/")):
            path = path[len(self.stage) + 1:] or "/"
        resource = self._resources.get(path)
        methods = (resource or {}).get("resourceMethods") or {}
        method = methods.get(http_method.upper()) or methods.get("ANY")
        if resource is None or method is None:
            raise _GatewayRefusal("MISSING_AUTHENTICATION_TOKEN")
        if "methodIntegration" not in method:  # the listing gives a summary: read the whole method
            method = self.client.get_method(restApiId=self.rest_api_id, resourceId=resource["id"],
                                            httpMethod=method["httpMethod"])
        return resource, method

    # -- validation ------------------------------------------------------------------
    def _validate(self, method: dict[str, Any], content_type: str, text: str) -> None:
        validator_id = method.get("requestValidatorId")
        if not validator_id:
            return
        validator = self.client.get_request_validator(restApiId=self.rest_api_id, requestValidatorId=validator_id)
        models = method.get("requestModels") or {}
        model_name = models.get(content_type) or models.get("$default")
        if not validator.get("validateRequestBody") or not model_name or model_name == "Empty":
            return
        schema = self.client.get_model(restApiId=self.rest_api_id, modelName=model_name)["schema"]
        schema = json.loads(schema) if isinstance(schema, str) else schema
        try:
            instance = _parse_json(text) if text.strip() else {}
        except ValueError as exc:
            raise _GatewayRefusal("BAD_REQUEST_BODY", validation_error=f"[Invalid JSON: {exc}]") from None
        errors = sorted(Draft4Validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            listed = ", ".join(_describe_error(e) for e in errors)
            raise _GatewayRefusal("BAD_REQUEST_BODY", validation_error=f"[{listed}]")

    # -- integration -----------------------------------------------------------------
    def _request_template(self, integration: dict[str, Any], content_type: str) -> str:
        templates = integration.get("requestTemplates") or {}
        if content_type in templates:
            return templates[content_type]
        passthrough = integration.get("passthroughBehavior", "WHEN_NO_MATCH")
        if passthrough == "NEVER" or (passthrough == "WHEN_NO_TEMPLATES" and templates):
            raise _GatewayRefusal("UNSUPPORTED_MEDIA_TYPE")
        return "$input.body"

    @staticmethod
    def _params(headers: dict[str, str]) -> dict[str, dict[str, str]]:
        # Request parameters mapping is not evaluated: the method's routes have no path or
        # query string parameters.
        return {"path": {}, "querystring": {}, "header": dict(headers)}

    def _call(self, integration: dict[str, Any], rendered: str) -> tuple[int, str]:
        """Call the integration's AWS action with the rendered body: (HTTP status, body)."""
        match = re.fullmatch(r"arn:aws[\w-]*:apigateway:[\w-]+:(?:[\w-]+\.)?([\w-]+):action/(\w+)",
                             integration.get("uri") or "")
        if integration.get("type") != "AWS" or match is None:
            raise NotImplementedError(f"mdlc.harness.apigateway runs AWS service integrations with an action "
                                      f"URI; got {integration.get('type')} {integration.get('uri')}")
        service, action = match.groups()
        if (service, action) != ("states", "StartSyncExecution"):
            raise NotImplementedError(f"integration {service}:{action} is not run offline "
                                      "(only states:StartSyncExecution)")
        self.integration_calls.append({"action": f"{service}:{action}", "body": rendered,
                                       "credentials": integration.get("credentials")})
        timeout = (integration.get("timeoutInMillis") or DEFAULT_TIMEOUT_MS) / 1000
        return self._start_sync_execution(rendered, integration.get("credentials"), timeout)

    def _start_sync_execution(self, rendered: str, role_arn: str | None, timeout: float) -> tuple[int, str]:
        """StartSyncExecution with Step Functions' own checks, then the Express run."""
        try:
            request = json.loads(rendered)
        except ValueError as exc:
            return _aws_error(400, "SerializationException", f"request body is not JSON: {exc}")
        arn, execution_input = request.get("stateMachineArn"), request.get("input", "{}")
        if not isinstance(arn, str) or not arn:
            return _aws_error(400, "ValidationException", "Value null at 'stateMachineArn' failed to satisfy "
                              "constraint: Member must not be null")
        if not isinstance(execution_input, str):
            return _aws_error(400, "SerializationException", "input must be a string")
        if len(execution_input.encode("utf-8")) > MAX_SFN_PAYLOAD_BYTES:
            return _aws_error(400, "ValidationException", "Value at 'input' failed to satisfy constraint: "
                              f"Member must have length less than or equal to {MAX_SFN_PAYLOAD_BYTES}")
        try:
            _parse_json(execution_input)
        except ValueError as exc:
            return _aws_error(400, "InvalidExecutionInput", f"Invalid State Machine Execution Input: {exc}")
        if role_arn and self.authorise and not self.authorise(role_arn, "states:StartSyncExecution", arn):
            return _aws_error(400, "AccessDeniedException", f"User: {role_arn} is not authorized to perform: "
                              f"states:StartSyncExecution on resource: {arn}")
        sfn = self.aws.client("stepfunctions")
        try:
            machine = sfn.describe_state_machine(stateMachineArn=arn)
        except sfn.exceptions.StateMachineDoesNotExist as exc:
            return _aws_error(400, "StateMachineDoesNotExist", str(exc))
        if machine["type"] != "EXPRESS":
            return _aws_error(400, "StateMachineTypeNotSupported", "This operation is not supported by this "
                              "type of state machine")
        try:
            answer = self.aws.run_sync(arn, execution_input, timeout=timeout)
        except TimeoutError:
            raise _GatewayRefusal("INTEGRATION_TIMEOUT") from None
        if answer.get("status") == "SUCCEEDED" and len((answer.get("output") or "").encode()) > MAX_SFN_PAYLOAD_BYTES:
            answer = {**answer, "status": "FAILED", "error": "States.DataLimitExceeded",
                      "cause": "The state/task returned a result with a size exceeding the maximum number of "
                               "bytes service limit."}
            answer.pop("output", None)
        return 200, json.dumps(answer, default=_epoch)

    # -- integration response ----------------------------------------------------------
    def _integration_response(self, integration: dict[str, Any], status: int, answer: str,
                              context: dict[str, Any], headers: dict[str, str]) -> HttpResponse:
        responses = list((integration.get("integrationResponses") or {}).values())
        chosen = next((r for r in responses if r.get("selectionPattern")
                       and re.fullmatch(r["selectionPattern"], str(status))), None)
        chosen = chosen or next((r for r in responses if not r.get("selectionPattern")), None)
        if chosen is None:
            raise _GatewayRefusal("API_CONFIGURATION_ERROR")
        templates = chosen.get("responseTemplates") or {}
        accept = headers.get("accept", "")
        template = templates.get(accept) or templates.get("application/json") or next(iter(templates.values()), "")
        if not template:
            body, override = answer, {"status": 0}
        else:
            body, rendered_context = vtl.render(template, body=answer, context=context, params=self._params(headers))
            override = rendered_context["responseOverride"]
        final = int(chosen["statusCode"])
        wanted = override.get("status")
        if isinstance(wanted, int) and not isinstance(wanted, bool) and 100 <= wanted < 600:
            final = wanted
        return HttpResponse(final, body, {"Content-Type": "application/json",
                                          "x-amzn-RequestId": context["requestId"]})

    # -- gateway responses -----------------------------------------------------------
    def _gateway_response(self, refusal: _GatewayRefusal, context: dict[str, Any]) -> HttpResponse:
        kind = refusal.response_type
        default_status = GATEWAY_RESPONSE_STATUS[kind]
        stored = {r["responseType"]: r for r in
                  self.client.get_gateway_responses(restApiId=self.rest_api_id).get("items", [])}
        fallback = "DEFAULT_5XX" if default_status >= 500 else "DEFAULT_4XX"
        response = stored.get(kind) or stored.get(fallback) or {}
        status = int(response.get("statusCode") or default_status)
        template = (response.get("responseTemplates") or {}).get("application/json") \
            or '{"message":$context.error.messageString}'
        context = {**context, "error": {"message": refusal.message, "messageString": json.dumps(refusal.message),
                                        "responseType": kind, "validationErrorString": refusal.validation_error}}
        return HttpResponse(status, substitute(template, context),
                            {"Content-Type": "application/json", "x-amzn-RequestId": context["requestId"],
                             "x-amzn-ErrorType": kind}, source=kind)


def substitute(template: str, context: dict[str, Any]) -> str:
    """A gateway response template's ``$context.*`` references replaced by their values (no VTL)."""

    def value(match: re.Match) -> str:
        node: Any = context
        for part in match.group(1).split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return "" if node is None else str(node)

    return re.sub(r"\$context\.([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*)", value, template)


def _parse_json(text: str) -> Any:
    """JSON as API Gateway and Step Functions read it: no NaN/Infinity, nesting bounded."""

    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(text, parse_constant=reject)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _describe_error(error: Any) -> str:
    where = "/" + "/".join(str(p) for p in error.absolute_path)
    return f"{error.message} (at {where})"


def _aws_error(status: int, code: str, message: str) -> tuple[int, str]:
    return status, json.dumps({"__type": code, "message": message})


def _epoch(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ------------------------------------------------------------------- CFN creators
def create_rest_api(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::ApiGateway::RestApi (Ref = id; RootResourceId)."""
    client = ctx.client("apigateway")
    kwargs = {k[0].lower() + k[1:]: props[k] for k in ("Name", "Description") if k in props}
    if "EndpointConfiguration" in props:
        kwargs["endpointConfiguration"] = {"types": props["EndpointConfiguration"].get("Types", ["EDGE"])}
    api = client.create_rest_api(**kwargs)
    root = next(r["id"] for r in client.get_resources(restApiId=api["id"])["items"] if r["path"] == "/")
    return Created(api["id"], {"RootResourceId": root, "RestApiId": api["id"]})


def create_resource(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::ApiGateway::Resource (Ref = id)."""
    created = ctx.client("apigateway").create_resource(
        restApiId=props["RestApiId"], parentId=props["ParentId"], pathPart=props["PathPart"])
    return Created(created["id"], {"ResourceId": created["id"]})


def create_model(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::ApiGateway::Model (Ref = name)."""
    name = props.get("Name") or re.sub(r"[^A-Za-z0-9]", "", logical_id)
    ctx.client("apigateway").create_model(
        restApiId=props["RestApiId"], name=name, contentType=props.get("ContentType", "application/json"),
        description=props.get("Description", ""), schema=json.dumps(props.get("Schema") or {}))
    return Created(name)


def create_request_validator(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::ApiGateway::RequestValidator (Ref = id)."""
    created = ctx.client("apigateway").create_request_validator(
        restApiId=props["RestApiId"], name=props.get("Name", logical_id),
        validateRequestBody=bool(props.get("ValidateRequestBody")),
        validateRequestParameters=bool(props.get("ValidateRequestParameters")))
    return Created(created["id"], {"RequestValidatorId": created["id"]})


def create_method(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::ApiGateway::Method with its integration, integration responses and method responses."""
    client = ctx.client("apigateway")
    key = {"restApiId": props["RestApiId"], "resourceId": props["ResourceId"], "httpMethod": props["HttpMethod"]}
    method: dict[str, Any] = {"authorizationType": props.get("AuthorizationType", "NONE")}
    for prop, arg in (("RequestModels", "requestModels"), ("RequestValidatorId", "requestValidatorId"),
                      ("RequestParameters", "requestParameters"), ("ApiKeyRequired", "apiKeyRequired")):
        if prop in props:
            method[arg] = props[prop]
    client.put_method(**key, **method)
    integration = props.get("Integration")
    if integration:
        args = {arg: integration[prop] for prop, arg in (
            ("Type", "type"), ("IntegrationHttpMethod", "integrationHttpMethod"), ("Uri", "uri"),
            ("Credentials", "credentials"), ("RequestTemplates", "requestTemplates"),
            ("PassthroughBehavior", "passthroughBehavior"), ("TimeoutInMillis", "timeoutInMillis"),
            ("RequestParameters", "requestParameters")) if prop in integration}
        client.put_integration(**key, **args)
        for response in integration.get("IntegrationResponses") or []:
            extra = {arg: response[prop] for prop, arg in (
                ("SelectionPattern", "selectionPattern"), ("ResponseTemplates", "responseTemplates"),
                ("ResponseParameters", "responseParameters")) if prop in response}
            client.put_integration_response(**key, statusCode=response["StatusCode"], **extra)
    for response in props.get("MethodResponses") or []:
        client.put_method_response(**key, statusCode=response["StatusCode"])
    return Created(f"{props['RestApiId']}-{props['ResourceId']}-{props['HttpMethod']}")


def create_gateway_response(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::ApiGateway::GatewayResponse."""
    args: dict[str, Any] = {"restApiId": props["RestApiId"], "responseType": props["ResponseType"]}
    for prop, arg in (("StatusCode", "statusCode"), ("ResponseTemplates", "responseTemplates"),
                      ("ResponseParameters", "responseParameters")):
        if prop in props:
            args[arg] = props[prop]
    ctx.client("apigateway").put_gateway_response(**args)
    return Created(f"{props['RestApiId']}-{props['ResponseType']}")


def create_deployment(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::ApiGateway::Deployment (Ref = id)."""
    created = ctx.client("apigateway").create_deployment(
        restApiId=props["RestApiId"], description=props.get("Description", ""))
    return Created(created["id"], {"DeploymentId": created["id"]})


def create_stage(ctx: StackContext, logical_id: str, props: dict) -> Created:
    """AWS::ApiGateway::Stage (Ref = stage name)."""
    ctx.client("apigateway").create_stage(
        restApiId=props["RestApiId"], stageName=props["StageName"], deploymentId=props["DeploymentId"],
        tracingEnabled=bool(props.get("TracingEnabled")))
    return Created(props["StageName"])


CREATORS: dict[str, Callable[[StackContext, str, dict], Created]] = {
    "AWS::ApiGateway::RestApi": create_rest_api,
    "AWS::ApiGateway::Resource": create_resource,
    "AWS::ApiGateway::Model": create_model,
    "AWS::ApiGateway::RequestValidator": create_request_validator,
    "AWS::ApiGateway::Method": create_method,
    "AWS::ApiGateway::GatewayResponse": create_gateway_response,
    "AWS::ApiGateway::Deployment": create_deployment,
    "AWS::ApiGateway::Stage": create_stage,
}

__all__ = ["CREATORS", "HttpResponse", "RestApiGateway", "role_authoriser", "escape_javascript", "substitute"]

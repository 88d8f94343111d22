"""The decision API: IAM-authorised ``POST /decisions`` running the Express workflow synchronously.

Request path, in the order API Gateway applies it (and the offline harness runs it,
``mdlc.harness.apigateway``):

1. the method's request validator checks the body against the request model, the JSON
   Schema of ``lambdas.shared.decision_request`` (the one the workflow's first step
   enforces); a mismatch is the ``BAD_REQUEST_BODY`` gateway response;
2. the integration request template (VTL) refuses a body over ``MAX_BODY_CHARS``
   before any workflow starts (see ``request_template``) and otherwise wraps the body
   into the StartSyncExecution request;
3. the integration responses map what Step Functions answered: the workflow's output
   with the HTTP status it carries, or an error body (``INTEGRATION_RESPONSES``).

Who reaches it: TLS 1.2 or later only (``SECURITY_POLICY`` on the API itself, which covers
the default ``execute-api`` endpoint; the default for a Regional API would be ``TLS_1_0``),
SigV4 with IAM authorisation, and a resource policy that denies every principal but the
team's clients (``realtime.api.allowed_principals``; default: the stage's own account); a
regional WAF web ACL is associated with the stage when the team file names one.

Every body the API returns, 2xx to 5xx, is a JSON object; errors carry ``status``,
``error``, ``message`` and ``api_request_id`` (400s from the workflow also ``errors``).
Gateway response templates are not VTL (simple ``$context`` substitution only, nothing
can be escaped there), so they only insert values AWS itself quotes
(``$context.error.messageString``) or that cannot hold a quote (``$context.requestId``).
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from lambdas.shared.decision_request import MAX_BODY_BYTES, request_schema
from mdlc.contract import runtime_spec
from mdlc.names import smoke_test_role_name, team_resource
from stacks.common.nag import acknowledge
from stacks.common.props import TeamContext
from stacks.common.workflow import grant_execution_data
from stacks.data_plane import DataPlane

STAGE = "v1"

#: TLS 1.2 and 1.3 only, AES-GCM/ChaCha20 with forward secrecy, no CBC (API Gateway's "Supported
#: security policies"). An enhanced policy (``SecurityPolicy_*``) needs an endpoint access mode:
#: STRICT also refuses requests whose SNI/Host name another endpoint (AWS's production advice).
SECURITY_POLICY = "SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09"
ENDPOINT_ACCESS_MODE = "STRICT"

#: Bodies longer than this (characters) are refused with 413 before the workflow starts.
#: The workflow's own check uses the same number in bytes; both keep the execution input
#: far below Step Functions' 256 KB limit (escaping at most sextuples a character).
MAX_BODY_CHARS = MAX_BODY_BYTES

#: The HTTP statuses the method can answer. The workflow's output carries its own (200
#: decided, 400 invalid, 409 request_id reused with other content); the rest are the
#: integration responses' refusals and failures.
METHOD_STATUSES = ("200", "400", "409", "413", "429", "500", "503", "504")

_TOO_LARGE_INPUT = f"mdlc: request body longer than {MAX_BODY_CHARS} characters"


def request_template(state_machine_arn: str) -> str:
    """The integration request: StartSyncExecution with ``{"body": <request>, "api_request_id",
    "request_time_epoch_ms"}``; the request time (API Gateway's clock, epoch ms) starts the
    decision function's deadline (``lambdas/realtime/decide``).

    ``$util.escapeJavaScript`` escapes the request JSON into the ``input`` string; it also
    turns ``'`` into ``\\'``, which is not a JSON escape, hence the ``replaceAll``. A body
    over ``MAX_BODY_CHARS`` gets an ``input`` that is not JSON: Step Functions refuses it
    with ``InvalidExecutionInput`` without starting an execution, and the 4xx integration
    response turns that into 413.
    """
    arn = json.dumps(state_machine_arn)
    return (
        f"#if($input.body.length() > {MAX_BODY_CHARS})\n"
        f'{{"stateMachineArn": {arn}, "input": "{_TOO_LARGE_INPUT}"}}\n'
        "#else\n"
        f'{{"stateMachineArn": {arn}, '
        '"input": "{\\"body\\": $util.escapeJavaScript($input.json(\'$\')).replaceAll("\\\\\'", "\'"), '
        '\\"api_request_id\\": \\"$context.requestId\\", '
        '\\"request_time_epoch_ms\\": $context.requestTimeEpoch}"}\n'
        "#end"
    )


def _error_body(status: int, error: str, message: str) -> str:
    """An error body as a VTL/substitution template (only ``$context.requestId`` inserted)."""
    fixed = json.dumps({"status": status, "error": error, "message": message})
    return fixed[:-1] + ', "api_request_id": "$context.requestId"}'


#: StartSyncExecution answered 200: the execution's output with its own status, or 500/504.
SUCCEEDED_TEMPLATE = f"""#set($status = $input.path('$.status'))
#if($status == "SUCCEEDED")
#set($output = $util.parseJson($input.path('$.output')))
#set($context.responseOverride.status = $output.status)
$input.path('$.output')
#elseif($status == "TIMED_OUT")
#set($context.responseOverride.status = 504)
{_error_body(504, "decision timed out", "the decision workflow did not finish in time; retry with the same request_id")}
#else
#set($context.responseOverride.status = 500)
{_error_body(500, "decision failed", "the decision workflow failed; retry with the same request_id")}
#end"""

_TOO_LARGE = f"the request body is longer than {MAX_BODY_CHARS} characters; a decision request is one flat JSON object"
_THROTTLED = "the decision workflow is throttled; retry with backoff and the same request_id"

#: StartSyncExecution refused the call (4xx): too large (our guard), throttled, or a fault of ours.
REFUSED_TEMPLATE = f"""#set($type = "$input.path('$.__type')")
#if($type.contains("InvalidExecutionInput"))
#set($context.responseOverride.status = 413)
{_error_body(413, "request too large", _TOO_LARGE)}
#elseif($type.contains("Throttling") || $type.contains("LimitExceeded"))
#set($context.responseOverride.status = 429)
{_error_body(429, "too many requests", _THROTTLED)}
#else
{_error_body(500, "decision service error", "the decision workflow could not be started")}
#end"""

#: Step Functions failed (5xx).
UNAVAILABLE_TEMPLATE = _error_body(503, "decision service unavailable",
                                   "Step Functions is unavailable; retry with backoff and the same request_id")

#: (selection pattern, integration response status, template); the first without a pattern is the default.
INTEGRATION_RESPONSES = (
    (None, "200", SUCCEEDED_TEMPLATE),
    ("4\\d{2}", "500", REFUSED_TEMPLATE),
    ("5\\d{2}", "503", UNAVAILABLE_TEMPLATE),
)

#: Gateway responses (API Gateway's own refusals): type → (status, error).
GATEWAY_RESPONSES = {
    apigw.ResponseType.ACCESS_DENIED: (403, "access denied"),
    apigw.ResponseType.API_CONFIGURATION_ERROR: (500, "API configuration error"),
    apigw.ResponseType.AUTHORIZER_CONFIGURATION_ERROR: (500, "authorizer configuration error"),
    apigw.ResponseType.AUTHORIZER_FAILURE: (500, "authorizer failure"),
    apigw.ResponseType.BAD_REQUEST_PARAMETERS: (400, "invalid request"),
    apigw.ResponseType.EXPIRED_TOKEN: (403, "expired token"),
    apigw.ResponseType.INTEGRATION_FAILURE: (504, "decision service unavailable"),
    apigw.ResponseType.INTEGRATION_TIMEOUT: (504, "decision timed out"),
    apigw.ResponseType.INVALID_API_KEY: (403, "invalid API key"),
    apigw.ResponseType.INVALID_SIGNATURE: (403, "invalid signature"),
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: (403, "not found or not signed"),
    apigw.ResponseType.QUOTA_EXCEEDED: (429, "quota exceeded"),
    apigw.ResponseType.REQUEST_TOO_LARGE: (413, "request too large"),
    apigw.ResponseType.RESOURCE_NOT_FOUND: (404, "not found"),
    apigw.ResponseType.THROTTLED: (429, "too many requests"),
    apigw.ResponseType.UNAUTHORIZED: (401, "unauthorized"),
    apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE: (415, "unsupported media type"),
    apigw.ResponseType.WAF_FILTERED: (403, "request blocked"),
}


def gateway_response_template(status: int | None, error: str, errors: list[dict[str, str]] | None = None) -> str:
    """A gateway response body: substitution only, so only values that are JSON-safe as inserted."""
    head = json.dumps({"status": status, "error": error} if status else {"error": error})[:-1]
    tail = f', "errors": {json.dumps(errors)}' if errors else ""
    return head + ', "message": $context.error.messageString' + tail + ', "api_request_id": "$context.requestId"}'


_TYPES = {"object": apigw.JsonSchemaType.OBJECT, "string": apigw.JsonSchemaType.STRING,
          "number": apigw.JsonSchemaType.NUMBER, "integer": apigw.JsonSchemaType.INTEGER,
          "boolean": apigw.JsonSchemaType.BOOLEAN, "null": apigw.JsonSchemaType.NULL}


def to_cdk_schema(schema: dict[str, Any]) -> apigw.JsonSchema:
    """The draft-04 dict of ``request_schema`` as CDK's JsonSchema (the subset it uses)."""
    kinds = schema.get("type")
    kwargs: dict[str, Any] = {}
    if kinds is not None:
        kwargs["type"] = [_TYPES[k] for k in kinds] if isinstance(kinds, list) else _TYPES[kinds]
    simple = {"title": "title", "description": "description", "enum": "enum", "minimum": "minimum",
              "maximum": "maximum", "minLength": "min_length", "maxLength": "max_length", "pattern": "pattern",
              "required": "required", "additionalProperties": "additional_properties"}
    for key, arg in simple.items():
        if key in schema:
            kwargs[arg] = schema[key]
    if "$schema" in schema:
        kwargs["schema"] = apigw.JsonSchemaVersion.DRAFT4
    if "properties" in schema:
        kwargs["properties"] = {name: to_cdk_schema(prop) for name, prop in schema["properties"].items()}
    return apigw.JsonSchema(**kwargs)


class DecisionApi(Construct):
    """REST API in front of the decision workflow; exposes ``url`` and ``api``.

    No ``AWS::ApiGateway::Account`` here (``cloud_watch_role=False``): that resource is one
    per account and region, so it is set up once per account (README, "One-time account
    setup"), not owned by every team's stack.
    """

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane,
                 decision_machine: sfn.StateMachine) -> None:
        super().__init__(scope, construct_id)
        team = ctx.team
        self.schema = request_schema(runtime_spec(team))
        access_logs = logs.LogGroup(
            self, "AccessLogs", log_group_name=f"/aws/vendedlogs/{team.name}/api/decisions",
            encryption_key=data.key, retention=logs.RetentionDays.ONE_YEAR, removal_policy=cdk.RemovalPolicy.RETAIN)
        self.api = apigw.RestApi(
            self, "Api", rest_api_name=team_resource(team.name, "decisions"),
            description=f"Fraud/risk decisions of model team {team.name}: features + model + rules in one call",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            policy=resource_policy(team.realtime.api.allowed_principals, cdk.Stack.of(self).account,
                                   own_roles=[smoke_test_role_name(team.name)]),
            deploy_options=apigw.StageOptions(
                stage_name=STAGE, tracing_enabled=True, metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR, data_trace_enabled=False,
                throttling_rate_limit=team.realtime.api_rate_limit,
                throttling_burst_limit=team.realtime.api_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=True)),
        )
        api = self.api.node.default_child
        api.security_policy = SECURITY_POLICY
        api.endpoint_access_mode = ENDPOINT_ACCESS_MODE
        self._web_acl(team.realtime.api.web_acl_for(ctx.stage))
        model_name = "".join(part.title() for part in team.name.split("-")) + "DecisionRequest"  # alphanumeric
        model = self.api.add_model("RequestModel", content_type="application/json", model_name=model_name,
                                   description=self.schema["title"], schema=to_cdk_schema(self.schema))
        validator = self.api.add_request_validator("BodyValidator",
                                                   request_validator_name=team_resource(team.name, "decision-body"),
                                                   validate_request_body=True, validate_request_parameters=True)
        self._gateway_responses(model_name)

        role = iam.Role(self, "IntegrationRole", assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
                        description=f"{team.name} decision API: start the decision workflow synchronously")
        decision_machine.grant_start_sync_execution(role)
        grant_execution_data(role, data.key, [decision_machine.state_machine_arn])  # input in, output back
        resource = self.api.root.add_resource("decisions")
        resource.add_method(
            "POST", self._integration(role, decision_machine, team.realtime.client_timeout_ms),
            authorization_type=apigw.AuthorizationType.IAM,
            request_validator=validator, request_models={"application/json": model},
            method_responses=[apigw.MethodResponse(status_code=code) for code in METHOD_STATUSES],
        )
        self.url = f"{self.api.url}decisions"
        self._acknowledge()

    def _web_acl(self, web_acl_arn: str | None) -> None:
        """The team's regional web ACL in front of the stage (none: Firewall Manager may add one)."""
        if web_acl_arn:
            wafv2.CfnWebACLAssociation(self, "WebAcl", resource_arn=self.api.deployment_stage.stage_arn,
                                       web_acl_arn=web_acl_arn)

    def _integration(self, role: iam.IRole, machine: sfn.StateMachine, timeout_ms: int) -> apigw.AwsIntegration:
        """StartSyncExecution, given up after the client's own timeout (realtime.client_timeout_ms):
        the workflow answers (a decision or the fallback) well before it, so this is the last bound."""
        return apigw.AwsIntegration(
            service="states", action="StartSyncExecution", subdomain="sync", integration_http_method="POST",
            options=apigw.IntegrationOptions(
                credentials_role=role, timeout=cdk.Duration.millis(timeout_ms),
                passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                request_templates={"application/json": request_template(machine.state_machine_arn)},
                integration_responses=[
                    apigw.IntegrationResponse(status_code=status, selection_pattern=pattern,
                                              response_templates={"application/json": template})
                    for pattern, status, template in INTEGRATION_RESPONSES],
            ),
        )

    def _gateway_responses(self, model_name: str) -> None:
        """Every gateway response as a documented JSON error body (README, decision API)."""
        fields = ", ".join(self.schema["properties"])
        hint = [{"field": "(body)", "message": f"does not match the request model {model_name}; expected a JSON "
                 f"object with only the fields {fields}, each of its documented type and range"}]
        self.api.add_gateway_response(
            "BadRequestBody", type=apigw.ResponseType.BAD_REQUEST_BODY, status_code="400",
            templates={"application/json": gateway_response_template(400, "invalid request", hint)})
        for kind, (status, error) in GATEWAY_RESPONSES.items():
            self.api.add_gateway_response(
                _construct_id(kind.response_type), type=kind, status_code=str(status),
                templates={"application/json": gateway_response_template(status, error)})
        for kind, error in ((apigw.ResponseType.DEFAULT_4_XX, "request refused"),
                            (apigw.ResponseType.DEFAULT_5_XX, "decision service error")):
            self.api.add_gateway_response(_construct_id(kind.response_type), type=kind,
                                          templates={"application/json": gateway_response_template(None, error)})

    def _acknowledge(self) -> None:
        acknowledge(self.api, "AwsSolutions-APIG3",
                    "The decision API is IAM-authorised (SigV4) for the team's own payment services; "
                    "unsigned requests are refused before any integration runs, its resource policy "
                    "denies every principal but the team's clients, and stage throttling from the team "
                    "file bounds the rate. A web ACL is associated when the team file names one "
                    "(realtime.api.waf_acl_arn); otherwise WAF is the account's (Firewall Manager).")
        acknowledge(self.api, "AwsSolutions-COG4",
                    "Callers are AWS workloads signing with SigV4 (IAM authorisation), not end users "
                    "with Cognito tokens.")


def resource_policy(allowed: list[str], account: str, *, own_roles: list[str] = ()) -> iam.PolicyDocument:
    """Allow the named callers to invoke the API and deny every other principal, same account included.

    With IAM authorisation, an identity policy alone lets any principal of the API's account
    call it (in an account shared by several teams, any team's role with ``execute-api:Invoke``
    on ``*``); the Deny closes that: a caller passes only if its role is named (``aws:PrincipalArn``
    of an assumed role is the role's ARN) or its account is. Cross-account callers also need
    their own identity allow, as AWS requires. ``own_roles`` (role names of the team's own
    account: the pipeline's smoke test) are excepted from the Deny only, not named as
    principals, which IAM would refuse while they do not exist yet.
    """
    roles = [p for p in allowed if p.startswith("arn:")]
    accounts = [p for p in allowed if not p.startswith("arn:")] or ([] if roles else [account])
    principals = roles + [f"arn:{cdk.Aws.PARTITION}:iam::{a}:root" for a in accounts]
    unless: dict[str, Any] = {}
    if roles:
        own = [f"arn:{cdk.Aws.PARTITION}:iam::{account}:role/{name}" for name in own_roles]
        unless["ArnNotEquals"] = {"aws:PrincipalArn": roles + own}
    if accounts:
        unless["StringNotEquals"] = {"aws:PrincipalAccount": accounts}
    invoke = "execute-api:/*"  # API Gateway expands it to this API's ARN
    return iam.PolicyDocument(statements=[
        iam.PolicyStatement(sid="TeamClients", effect=iam.Effect.ALLOW, actions=["execute-api:Invoke"],
                            principals=[iam.ArnPrincipal(p) for p in principals], resources=[invoke]),
        iam.PolicyStatement(sid="NoOtherCaller", effect=iam.Effect.DENY, actions=["execute-api:Invoke"],
                            principals=[iam.AnyPrincipal()], resources=[invoke], conditions=unless),
    ])


def _construct_id(response_type: str) -> str:
    """``BAD_REQUEST_BODY`` → ``BadRequestBody`` (construct IDs are a contract: derived, not typed)."""
    return "".join(part.title() for part in response_type.split("_"))

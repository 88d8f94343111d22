"""The decision API: IAM-authorised ``POST /decisions`` running the Express workflow synchronously.

The request model is the JSON Schema of ``lambdas.shared.decision_request`` (the same one
the workflow's first step enforces). The integration calls StartSyncExecution; the
response template returns the workflow's output with the HTTP status it carries (200,
400 or 409), or 500 when the execution failed.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.shared.decision_request import request_schema
from mdlc.contract import runtime_spec
from stacks.common.nag import acknowledge
from stacks.common.props import TeamContext
from stacks.data_plane import DataPlane

STAGE = "v1"
# Statuses the workflow's output may carry (responseOverride sets them): 200 decided,
# 400 invalid, 409 request_id reused with other content (issue 13), 500 execution failed.
DECLARED_STATUSES = ("200", "400", "409", "500")

REQUEST_TEMPLATE = (
    '{"stateMachineArn": "%s", '
    '"input": "{\\"body\\": $util.escapeJavaScript($input.json(\'$\')).replaceAll("\\\\\'", "\'"), '
    '\\"api_request_id\\": \\"$context.requestId\\"}"}'
)
RESPONSE_TEMPLATE = """#set($status = $input.path('$.status'))
#if($status == "SUCCEEDED")
#set($output = $util.parseJson($input.path('$.output')))
#set($context.responseOverride.status = $output.status)
$input.path('$.output')
#else
#set($context.responseOverride.status = 500)
{"status": 500, "error": "decision failed", "api_request_id": "$context.requestId"}
#end"""
BAD_BODY_TEMPLATE = (
    '{"status": 400, "error": "invalid request", '
    '"errors": [{"field": "(body)", "message": "$context.error.validationErrorString"}]}'
)

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
    """REST API in front of the decision workflow; exposes ``url`` and ``api``."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: TeamContext, data: DataPlane,
                 decision_machine: sfn.StateMachine) -> None:
        super().__init__(scope, construct_id)
        team = ctx.team
        self.schema = request_schema(runtime_spec(team))
        access_logs = logs.LogGroup(
            self, "AccessLogs", log_group_name=f"/aws/vendedlogs/{team.name}/api/decisions",
            encryption_key=data.key, retention=logs.RetentionDays.ONE_YEAR, removal_policy=cdk.RemovalPolicy.RETAIN)
        self.api = apigw.RestApi(
            self, "Api", rest_api_name=f"{team.name}-decisions",
            description=f"Fraud/risk decisions of model team {team.name}: features + model + rules in one call",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True, cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN,
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
        model_name = "".join(part.title() for part in team.name.split("-")) + "DecisionRequest"  # alphanumeric
        model = self.api.add_model("RequestModel", content_type="application/json", model_name=model_name,
                                   description=self.schema["title"], schema=to_cdk_schema(self.schema))
        validator = self.api.add_request_validator("BodyValidator", request_validator_name=f"{team.name}-decision-body",
                                                   validate_request_body=True, validate_request_parameters=True)
        self.api.add_gateway_response("BadRequestBody", type=apigw.ResponseType.BAD_REQUEST_BODY,
                                      status_code="400", templates={"application/json": BAD_BODY_TEMPLATE})

        role = iam.Role(self, "IntegrationRole", assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
                        description=f"{team.name} decision API: start the decision workflow synchronously")
        decision_machine.grant_start_sync_execution(role)
        integration = apigw.AwsIntegration(
            service="states", action="StartSyncExecution", subdomain="sync", integration_http_method="POST",
            options=apigw.IntegrationOptions(
                credentials_role=role,
                passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                request_templates={"application/json": REQUEST_TEMPLATE % decision_machine.state_machine_arn},
                integration_responses=[apigw.IntegrationResponse(
                    status_code="200", response_templates={"application/json": RESPONSE_TEMPLATE})],
            ),
        )
        resource = self.api.root.add_resource("decisions")
        resource.add_method(
            "POST", integration, authorization_type=apigw.AuthorizationType.IAM,
            request_validator=validator, request_models={"application/json": model},
            method_responses=[apigw.MethodResponse(status_code=code) for code in DECLARED_STATUSES],
        )
        self.url = f"{self.api.url}decisions"
        self._acknowledge()

    def _acknowledge(self) -> None:
        acknowledge(self.api, "AwsSolutions-APIG3",
                    "The decision API is IAM-authorised (SigV4) for the team's own payment services; "
                    "unsigned requests are refused before any integration runs, and stage throttling "
                    "from the team file bounds the rate. WAF is attached per account, not per team.")
        acknowledge(self.api, "AwsSolutions-COG4",
                    "Callers are AWS workloads signing with SigV4 (IAM authorisation), not end users "
                    "with Cognito tokens.")
        acknowledge(self.api, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs]",
                    "API Gateway's account-level CloudWatch Logs role needs this AWS-managed policy to "
                    "write execution logs (APIG6).")


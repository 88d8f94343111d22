"""Harness: a REST API template answers requests offline through its own pieces.

These test the harness (``mdlc.harness.apigateway``) with a small hand-written template:
an API whose POST /echo validates the body against a draft-04 model, renders a VTL
request template into StartSyncExecution of an Express machine, and maps the answer with
integration responses; gateway responses come from the template.
"""

from __future__ import annotations

import json

import pytest

from mdlc.harness.apigateway import RestApiGateway, escape_javascript, role_authoriser, substitute

from .support import aws  # noqa: F401 - pytest fixture

REQUEST = {"Fn::Join": ["", [
    '{"stateMachineArn": "', {"Ref": "EchoMachine"}, '", "input": "{\\"body\\": '
    "$util.escapeJavaScript($input.json('$')).replaceAll(\"\\\\'\", \"'\"), "
    '\\"request\\": \\"$context.requestId\\"}"}']]}
SUCCEEDED = """#set($status = $input.path('$.status'))
#if($status == "SUCCEEDED")
#set($output = $util.parseJson($input.path('$.output')))
#set($context.responseOverride.status = $output.code)
$input.path('$.output')
#else
#set($context.responseOverride.status = 500)
{"failed": "$status"}
#end"""
REFUSED = """#set($type = "$input.path('$.__type')")
{"refused": "$type"}"""

MODEL = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "additionalProperties": False,
         "required": ["name"], "properties": {"name": {"type": "string", "maxLength": 4000},
                                              "code": {"type": "integer", "minimum": 100, "maximum": 599}}}
DEFINITION = {"StartAt": "Code given?", "States": {
    "Code given?": {"Type": "Choice", "Choices": [{"Variable": "$.body.code", "IsPresent": True, "Next": "Echo code"}],
                    "Default": "Echo"},
    "Echo code": {"Type": "Pass", "Parameters": {"code.$": "$.body.code", "echo.$": "$.body", "request.$": "$.request"},
                  "End": True},
    "Echo": {"Type": "Pass", "Parameters": {"code": 200, "echo.$": "$.body", "request.$": "$.request"},
             "End": True}}}

API = "EchoApi"
TEMPLATE = {"Resources": {
    "MachineRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
    "EchoMachine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "StateMachineType": "EXPRESS", "DefinitionString": json.dumps(DEFINITION),
        "RoleArn": {"Fn::GetAtt": ["MachineRole", "Arn"]}}},
    "IntegrationRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
    API: {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "echo"}},
    "Echo": {"Type": "AWS::ApiGateway::Resource", "Properties": {
        "RestApiId": {"Ref": API}, "ParentId": {"Fn::GetAtt": [API, "RootResourceId"]}, "PathPart": "echo"}},
    "Model": {"Type": "AWS::ApiGateway::Model", "Properties": {
        "RestApiId": {"Ref": API}, "Name": "EchoRequest", "ContentType": "application/json", "Schema": MODEL}},
    "Validator": {"Type": "AWS::ApiGateway::RequestValidator", "Properties": {
        "RestApiId": {"Ref": API}, "ValidateRequestBody": True}},
    "Post": {"Type": "AWS::ApiGateway::Method", "Properties": {
        "RestApiId": {"Ref": API}, "ResourceId": {"Ref": "Echo"}, "HttpMethod": "POST",
        "AuthorizationType": "AWS_IAM", "RequestValidatorId": {"Ref": "Validator"},
        "RequestModels": {"application/json": {"Ref": "Model"}},
        "Integration": {
            "Type": "AWS", "IntegrationHttpMethod": "POST", "PassthroughBehavior": "NEVER",
            "Uri": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":apigateway:", {"Ref": "AWS::Region"},
                                      ":sync.states:action/StartSyncExecution"]]},
            "Credentials": {"Fn::GetAtt": ["IntegrationRole", "Arn"]},
            "RequestTemplates": {"application/json": REQUEST},
            "IntegrationResponses": [
                {"StatusCode": "200", "ResponseTemplates": {"application/json": SUCCEEDED}},
                {"StatusCode": "502", "SelectionPattern": "4\\d{2}",
                 "ResponseTemplates": {"application/json": REFUSED}},
            ]},
        "MethodResponses": [{"StatusCode": "200"}, {"StatusCode": "500"}, {"StatusCode": "502"}]}},
    "BadBody": {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": {
        "RestApiId": {"Ref": API}, "ResponseType": "BAD_REQUEST_BODY", "StatusCode": "422",
        "ResponseTemplates": {"application/json":
                              '{"error": $context.error.messageString, "request": "$context.requestId"}'}}},
    "Deployment": {"Type": "AWS::ApiGateway::Deployment", "Properties": {"RestApiId": {"Ref": API}},
                   "DependsOn": ["Post", "BadBody"]},
    "Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {
        "RestApiId": {"Ref": API}, "StageName": "v1", "DeploymentId": {"Ref": "Deployment"}}},
}}


@pytest.fixture
def gateway(aws):  # noqa: F811 - the fixture imported above
    deployed = aws.deploy(TEMPLATE, stack_names=["echo"])
    return RestApiGateway(aws, deployed["EchoApi"])


def test_a_valid_request_runs_the_express_machine_and_maps_its_output(gateway):
    response = gateway.invoke("POST", "/v1/echo", json.dumps({"name": "it's \"quoted\" / ünï \n"}))

    assert response.status == 200 and response.source == "integration"
    body = response.json()
    assert body["echo"] == {"name": "it's \"quoted\" / ünï \n"}  # escapeJavaScript + replaceAll round trip
    assert body["request"] == response.headers["x-amzn-RequestId"]  # $context.requestId reached the workflow


def test_the_response_template_sets_the_status_from_the_output(gateway):
    assert gateway.invoke("POST", "/v1/echo", json.dumps({"name": "a", "code": 409})).status == 409


@pytest.mark.parametrize("body", ['{"name": 5}', '{"nom": "a"}', "{not json", "[1]", '{"name": NaN}'],
                         ids=["wrong type", "unknown field", "malformed", "not an object", "NaN"])
def test_a_body_the_model_rejects_is_the_templates_bad_request_body_response(gateway, body):
    response = gateway.invoke("POST", "/v1/echo", body)

    assert response.status == 422 and response.source == "BAD_REQUEST_BODY"
    assert response.json() == {"error": "Invalid request body", "request": response.headers["x-amzn-RequestId"]}
    assert gateway.integration_calls == []  # nothing reached the integration


def test_an_unknown_route_or_method_is_missing_authentication_token(gateway):
    for method, path in (("POST", "/v1/nope"), ("GET", "/v1/echo")):
        response = gateway.invoke(method, path, "{}")
        assert response.status == 403 and response.json() == {"message": "Missing Authentication Token"}


def test_a_content_type_without_template_is_refused_when_passthrough_is_never(gateway):
    response = gateway.invoke("POST", "/v1/echo", "name=a", {"Content-Type": "text/plain"})

    assert response.status == 415 and response.source == "UNSUPPORTED_MEDIA_TYPE"


def test_a_step_functions_refusal_goes_through_the_selection_pattern(aws, gateway):  # noqa: F811
    aws.client("stepfunctions").delete_state_machine(
        stateMachineArn=aws.client("stepfunctions").list_state_machines()["stateMachines"][0]["stateMachineArn"])

    response = gateway.invoke("POST", "/v1/echo", json.dumps({"name": "a"}))

    assert response.status == 502 and response.json() == {"refused": "StateMachineDoesNotExist"}


def test_an_input_over_step_functions_limit_is_refused_before_any_execution(aws, gateway):  # noqa: F811
    status, answer = gateway._start_sync_execution(
        json.dumps({"stateMachineArn": "arn:x", "input": json.dumps({"a": "x" * 262_144})}), None, 5)

    assert status == 400 and json.loads(answer)["__type"] == "ValidationException"
    status, answer = gateway._start_sync_execution(json.dumps({"stateMachineArn": "arn:x", "input": "no"}), None, 5)
    assert status == 400 and json.loads(answer)["__type"] == "InvalidExecutionInput"


def test_an_integration_role_without_the_grant_is_refused_like_aws(aws, gateway):  # noqa: F811
    gateway.authorise = lambda role, action, resource: False

    response = gateway.invoke("POST", "/v1/echo", json.dumps({"name": "a"}))

    assert response.status == 502 and response.json() == {"refused": "AccessDeniedException"}


def test_the_role_authoriser_holds_a_role_to_its_policies_with_the_harness_evaluator(aws, gateway):  # noqa: F811
    """Harness emulation: the integration role goes through the evaluator every other principal
    does (IAM's wildcards: a `.` in a Resource is itself, not moto's any-character)."""
    iam = aws.client("iam")
    role = next(r["RoleName"] for r in iam.list_roles()["Roles"] if "IntegrationRole" in r["RoleName"])
    machine = aws.client("stepfunctions").list_state_machines()["stateMachines"][0]["stateMachineArn"]
    gateway.authorise = role_authoriser(aws)
    iam.put_role_policy(RoleName=role, PolicyName="start", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "states:StartExecution",
                                                "Resource": machine}]}))

    denied = gateway.invoke("POST", "/v1/echo", json.dumps({"name": "a"}))
    dotted = machine[:-1] + "."  # the machine's name with its last character as a `.`
    iam.put_role_policy(RoleName=role, PolicyName="start", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "states:StartSyncExecution",
                                                "Resource": dotted}]}))
    other_machine = gateway.invoke("POST", "/v1/echo", json.dumps({"name": "a"}))
    iam.put_role_policy(RoleName=role, PolicyName="start", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "states:StartSyncExecution",
                                                "Resource": machine}]}))
    allowed = gateway.invoke("POST", "/v1/echo", json.dumps({"name": "a"}))

    assert denied.json() == {"refused": "AccessDeniedException"}
    assert other_machine.json() == {"refused": "AccessDeniedException"}
    assert allowed.status == 200
    assert [d.action for d in aws.iam.denied()] == ["states:StartSyncExecution"] * 2  # recorded with the rest


def test_a_template_that_fails_to_render_is_a_500_configuration_error(aws, gateway):  # noqa: F811
    aws.client("apigateway").put_integration(
        restApiId=gateway.rest_api_id, resourceId=gateway._resources["/echo"]["id"], httpMethod="POST", type="AWS",
        integrationHttpMethod="POST", uri="arn:aws:apigateway:eu-west-1:sync.states:action/StartSyncExecution",
        passthroughBehavior="NEVER", requestTemplates={"application/json": '$util.parseJson("not json")'})
    gateway = RestApiGateway(aws, gateway.rest_api_id)

    response = gateway.invoke("POST", "/v1/echo", json.dumps({"name": "a"}))

    assert response.status == 500 and response.source == "API_CONFIGURATION_ERROR"
    assert response.json() == {"message": "Internal server error"} and gateway.errors


def test_escape_javascript_is_javas_including_single_quotes_and_non_ascii():
    assert escape_javascript("it's \"x\"/\\\n\té😀") == "it\\'s \\\"x\\\"\\/\\\\\\n\\t\\u00E9\\uD83D\\uDE00"


def test_gateway_response_templates_are_substitution_only():
    context = {"requestId": "r-1", "error": {"messageString": '"Bad"', "message": "Bad"}}

    text = substitute('{"m": $context.error.messageString, "r": "$context.requestId", "u": "$util.x($context.no)"}',
                      context)

    assert text == '{"m": "Bad", "r": "r-1", "u": "$util.x()"}'

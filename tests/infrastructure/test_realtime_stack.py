"""The example team's real-time stack as synthesised: API contract and protection, tables,
alarms, workflows. (Every team in models/: test_every_team.py.)"""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from lambdas.shared.decision_request import request_schema
from mdlc.contract import MODELS_DIR, load_team, runtime_spec

STACK = "fraud-detection-realtime"


@pytest.fixture(scope="module")
def template(assembly):
    return Template.from_json(assembly.template(STACK))


@pytest.fixture(scope="module")
def resources(assembly):
    return assembly.template(STACK)["Resources"]


def _machine(resources, name):
    res = next(r for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"
               and r["Properties"]["StateMachineName"] == name)
    parts = res["Properties"]["DefinitionString"]
    text = parts if isinstance(parts, str) else "".join(
        p if isinstance(p, str) else "aws" if p == {"Ref": "AWS::Partition"} else "REF" for p in parts["Fn::Join"][1])
    return res, json.loads(text)


def test_the_api_is_iam_authorised_validated_throttled_logged_and_traced(template):
    template.has_resource_properties("AWS::ApiGateway::Method", {
        "HttpMethod": "POST", "AuthorizationType": "AWS_IAM",
        "RequestValidatorId": Match.any_value(), "RequestModels": {"application/json": Match.any_value()},
        "Integration": Match.object_like({"Type": "AWS", "Uri": Match.any_value()})})
    template.has_resource_properties("AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True})
    template.has_resource_properties("AWS::ApiGateway::Stage", {
        "StageName": "v1", "TracingEnabled": True,
        "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
        "MethodSettings": [Match.object_like({"ThrottlingRateLimit": 200, "ThrottlingBurstLimit": 400})]})
    template.has_resource_properties("AWS::ApiGateway::GatewayResponse", {
        "ResponseType": "BAD_REQUEST_BODY", "StatusCode": "400"})


def test_no_team_stack_owns_the_accounts_api_gateway_settings(assembly):
    # AWS::ApiGateway::Account is one per account and region: many teams in one account
    # would overwrite each other's CloudWatch role (README, one-time account setup).
    for name, template in assembly.templates.items():
        kinds = {r["Type"] for r in template.get("Resources", {}).values()}
        assert "AWS::ApiGateway::Account" not in kinds, name


def test_every_api_gateway_response_body_is_json_with_the_documented_fields(resources):
    from mdlc.harness.apigateway import GATEWAY_RESPONSE_STATUS, substitute

    responses = {r["Properties"]["ResponseType"]: r["Properties"] for r in resources.values()
                 if r["Type"] == "AWS::ApiGateway::GatewayResponse"}
    assert set(GATEWAY_RESPONSE_STATUS) | {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    context = {"requestId": "r-1", "error": {"messageString": json.dumps('He said "no" \\ then left')}}
    for kind, props in responses.items():
        body = json.loads(substitute(props["ResponseTemplates"]["application/json"], context))
        assert {"error", "message", "api_request_id"} <= set(body), kind
        if kind.startswith("DEFAULT"):
            continue
        assert body["status"] == int(props["StatusCode"]), kind


def test_the_api_model_is_the_request_schema_the_workflow_enforces(resources):
    model = next(r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Model")
    schema = model["Properties"]["Schema"]
    expected = request_schema(runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml")))
    assert schema["required"] == expected["required"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["amount"]["maximum"] == 50000
    assert set(schema["properties"]) == set(expected["properties"])


def test_the_integration_starts_the_express_workflow_synchronously(resources):
    method = next(r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Method")
    uri = json.dumps(method["Properties"]["Integration"]["Uri"])
    assert "sync.states" in uri and "StartSyncExecution" in uri
    _, definition = _machine(resources, "fraud-detection--decision")
    machine = next(r for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"
                   and r["Properties"]["StateMachineName"] == "fraud-detection--decision")
    assert machine["Properties"]["StateMachineType"] == "EXPRESS"


def test_decision_workflow_is_one_decision_function_with_a_fallback_and_no_retry(resources):
    """Product: one task (features, model, rules, the write), no Retry on the synchronous path
    (a retry waits 1 s at least), the task bounded by the function's timeout, and any failure
    answered with the team's fallback decision, not an error."""
    machine, d = _machine(resources, "fraud-detection--decision")
    s = d["States"]
    decide = s[d["StartAt"]]
    assert d["StartAt"] == "Decide" and decide["End"] is True and "Retry" not in decide
    [target] = [p["Ref"] for p in machine["Properties"]["DefinitionString"]["Fn::Join"][1]
                if isinstance(p, dict) and "Ref" in p and p["Ref"] != "AWS::Partition"]
    function = resources[target]
    assert decide["TimeoutSeconds"] == 1 and decide["Catch"][0]["Next"] == "Fallback: body as text?"
    # Every path the fallback reads is checked before it (a Pass on a missing path is States.Runtime).
    assert s["Fallback: ids present?"]["Default"] == "Fallback decision"
    fallback = s["Fallback decision"]
    assert fallback["Parameters"]["decision"] == "REVIEW" and fallback["Parameters"]["fallback"] is True
    assert fallback["Parameters"]["recorded"] is False and fallback["End"] is True
    assert d["TimeoutSeconds"] == 2  # ceil(client_timeout_ms / 1000)
    assert function["Type"] == "AWS::Lambda::Alias"  # provisioned concurrency of the example team
    assert function["Properties"]["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    method = next(r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Method")
    assert method["Properties"]["Integration"]["TimeoutInMillis"] == 1500
    # Nothing on the synchronous path puts to Kinesis or EventBridge: the relay does, from the stream.
    assert "kinesis" not in json.dumps(d) and "events:" not in json.dumps(d)


def test_decision_workflow_logs_no_execution_data_and_its_lambdas_trace_no_payloads(resources):
    machine, _ = _machine(resources, "fraud-detection--decision")
    logging = machine["Properties"]["LoggingConfiguration"]
    assert logging["IncludeExecutionData"] is False and logging["Level"] == "ALL"
    decision_functions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"
                          and r["Properties"].get("Handler", "").split(".")[2:3] in (
                              ["decide"], ["publish_decisions"])]
    assert len(decision_functions) == 2
    for props in decision_functions:
        variables = props["Environment"]["Variables"]
        assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false", props["Handler"]
        assert variables["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false", props["Handler"]
    stage = next(r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage")
    assert all(m.get("DataTraceEnabled") is False for m in stage["MethodSettings"])


def test_the_decisions_table_streams_new_items_to_the_relay_with_a_dead_letter_queue(resources):
    mappings = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    [mapping] = [m for m in mappings if "PublishDecisionsFunction" in json.dumps(m["FunctionName"])]
    table = next(r for lid, r in resources.items() if lid == mapping["EventSourceArn"]["Fn::GetAtt"][0])
    assert table["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert "DecisionsTable" in mapping["EventSourceArn"]["Fn::GetAtt"][0]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert json.loads(mapping["FilterCriteria"]["Filters"][0]["Pattern"]) == {"eventName": ["INSERT"]}
    assert mapping["MaximumRetryAttempts"] == 10 and mapping["StartingPosition"] == "TRIM_HORIZON"
    dlq = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert resources[dlq]["Properties"]["KmsMasterKeyId"]
    method = next(r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGateway::Method")
    # The workflow's statuses (409 among them) are method responses; the API's own
    # refusals (413, 429, 503, 504) are too (stacks/realtime/api.py METHOD_STATUSES).
    assert {"200", "400", "409", "413", "429", "500", "503", "504"} == {
        m["StatusCode"] for m in method["MethodResponses"]}


def test_deployment_workflow_uses_blue_green_canary_with_the_three_rollback_alarms(resources):
    _, d = _machine(resources, "fraud-detection--deployment")
    update = d["States"]["Update endpoint blue-green"]["Parameters"]["DeploymentConfig"]
    routing = update["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {"Type": "CANARY", "WaitIntervalInSeconds": 600,
                       "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}
    assert [a["AlarmName"] for a in update["AutoRollbackConfiguration"]["Alarms"]] == [
        "fraud-detection--endpoint-5xx", "fraud-detection--endpoint-model-latency",
        "fraud-detection--decision-error-rate"]
    capture = d["States"]["Create endpoint config"]["Parameters"]["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == 20 and capture["KmsKeyId"]
    assert d["States"]["Wait for endpoint"]["SecondsPath"] == "$.deployment.poll_seconds"


def test_rollback_alarms_watch_the_endpoint_and_the_decision_error_rate(template, resources):
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "AlarmName": "fraud-detection--endpoint-model-latency", "MetricName": "ModelLatency",
        "Threshold": 100_000, "Namespace": "AWS/SageMaker"})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "AlarmName": "fraud-detection--endpoint-5xx", "MetricName": "Invocation5XXErrors"})
    rate = next(r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"
                and r["Properties"]["AlarmName"] == "fraud-detection--decision-error-rate")
    expressions = [m.get("Expression") for m in rate["Properties"]["Metrics"]]
    assert "IF(started > 0, 100 * failed / started, 0)" in expressions


def test_an_approval_of_this_teams_versions_starts_the_deployment(template):
    template.has_resource_properties("AWS::Events::Rule", {"EventPattern": {
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": ["fraud-detection--models"], "ModelApprovalStatus": ["Approved"]}}})


def test_decision_tables_are_encrypted_recoverable_and_expire(template):
    template.resource_count_is("AWS::DynamoDB::Table", 1)  # the decisions table is the idempotency record too
    template.all_resources_properties("AWS::DynamoDB::Table", {
        "SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"}),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "TimeToLiveSpecification": Match.object_like({"Enabled": True})})
    template.has_resource_properties("AWS::Events::EventBus", {"Name": "fraud-detection--decisions",
                                                               "KmsKeyIdentifier": Match.any_value()})


def test_a_decision_the_table_did_not_take_in_time_is_written_off_the_path_with_a_dead_letter_queue(resources):
    """Product: the decision function may queue a record (never wait for the table); the queue's
    consumer writes it with retries; what still fails waits in a DLQ that pages the team."""
    queues = {r["Properties"]["QueueName"]: (lid, r["Properties"]) for lid, r in resources.items()
              if r["Type"] == "AWS::SQS::Queue"}
    _, records = queues["fraud-detection--decision-records"]
    dlq_id, dlq = queues["fraud-detection--decision-records-dlq"]
    assert records["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] == dlq_id
    assert records["KmsMasterKeyId"] and dlq["KmsMasterKeyId"]
    mapping = next(r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"
                   and "DeferredRecords" in json.dumps(r["Properties"]["EventSourceArn"]))
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    decide = next(r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"
                  and r["Properties"]["Handler"].endswith("decide.handler.handler"))
    assert "RECORDS_QUEUE_URL" in decide["Environment"]["Variables"]
    alarm = next(r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"
                 and r["Properties"].get("AlarmName") == "fraud-detection--decision-records-lost")
    assert alarm["AlarmActions"]


def test_the_stack_outputs_the_decision_api_url(assembly):
    outputs = assembly.template(STACK)["Outputs"]
    assert "DecisionApiUrl" in outputs
    assert "decisions" in json.dumps(outputs["DecisionApiUrl"]["Value"])


def _statements(resources, role_fragment):
    return [s for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
            and any(role_fragment in ref["Ref"] for ref in r["Properties"]["Roles"])
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


def test_deployment_role_has_what_application_auto_scaling_checks_and_deregistration(resources):
    actions = {a for s in _statements(resources, "DeploymentStateMachineRole")
               for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {"application-autoscaling:RegisterScalableTarget", "application-autoscaling:DeregisterScalableTarget",
            "application-autoscaling:DescribeScalableTargets", "sagemaker:DescribeEndpointConfig",
            "sagemaker:UpdateEndpointWeightsAndCapacities", "iam:CreateServiceLinkedRole"} <= actions


def test_an_update_deregisters_autoscaling_first_and_a_rollback_restores_it(resources):
    _, d = _machine(resources, "fraud-detection--deployment")
    states = d["States"]
    registered = states["Autoscaling registered?"]
    assert registered["Choices"][0]["Next"] == "Deregister autoscaling"
    assert states["Deregister autoscaling"]["Next"] == "Same variants?"
    # the same variant names (the shadow variant neither added nor removed): guardrails apply
    assert states["Same variants?"]["Default"] == "Update endpoint blue-green"
    assert states["Same variants?"]["Choices"][0]["Next"] == "Update endpoint at once"
    assert states["Endpoint exists?"]["Choices"][0]["Next"] == "Describe autoscaling"
    ready = states["Endpoint in service?"]
    assert ready["Default"] == "Was autoscaled? (EndpointFailed)"
    assert "Restore autoscaling (RolledBack)" in states and "Restore autoscaling (EndpointFailed)" in states

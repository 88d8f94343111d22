"""Server-side request validation (harness emulation, `mdlc/harness/validation.py`): every call
made offline is checked against the service model's constraints botocore does not check, and
refused with the service's own error and message, as AWS refuses it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mdlc.harness import validation

from .support import aws, machine  # noqa: F401 - pytest fixture

GROUP = "fraud-detection-models"
REFUSED_METADATA = {"feature_importance": "amount:0.412,age:0.201"}
METADATA_ERROR = (
    "1 validation error detected: Value '{feature_importance=amount:0.412,age:0.201}' at "
    "'customerMetadataProperties' failed to satisfy constraint: Map value must satisfy constraint: "
    "[Member must have length less than or equal to 256, Member must have length greater than or equal to 1, "
    r"Member must satisfy regular expression pattern: ([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}]")


def _operation(service: str, name: str):
    return botocore.session.get_session().get_service_model(service).operation_model(name)


def _refusal(call) -> dict:
    with pytest.raises(ClientError) as refused:
        call()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return refused.value.response["Error"]


# -- who is checked ------------------------------------------------------------------------
def test_a_test_drivers_call_is_refused_with_sagemakers_error(aws):  # noqa: F811
    sagemaker = aws.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)

    error = _refusal(lambda: sagemaker.create_model_package(ModelPackageGroupName=GROUP,
                                                            CustomerMetadataProperties=REFUSED_METADATA))

    assert error == {"Code": "ValidationException", "Message": METADATA_ERROR}
    assert sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"] == []


def test_a_handlers_call_is_refused_and_fails_the_function(aws):  # noqa: F811
    def register(event, context):
        # A handler's own client: made inside the function, with its role's credentials.
        boto3.client("sagemaker").create_model_package(ModelPackageGroupName=GROUP,
                                                       CustomerMetadataProperties=REFUSED_METADATA)
    aws.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    arn = aws.register_lambda("register", handler=register)
    states = {"Register": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                           "Parameters": {"FunctionName": arn, "Payload.$": "$"}, "End": True}}

    result = aws.run(machine(aws, states, "Register"), {})

    assert not result.succeeded
    assert result.error == "ClientError"
    assert METADATA_ERROR in json.loads(result.cause)["errorMessage"]


def test_an_optimised_sagemaker_task_fails_as_step_functions_reports_it(aws):  # noqa: F811
    states = {"Model": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createModel",
                        "Parameters": {"ModelName": "fraud_detection v2",  # '_' and ' ' are refused
                                       "ExecutionRoleArn": aws.execution_role_arn(),
                                       "PrimaryContainer": {"Image": "image:1"}}, "End": True}}

    result = aws.run(machine(aws, states, "Model"), {})

    assert result.error == "SageMaker.AmazonSageMakerException"
    assert result.cause.startswith(
        "1 validation error detected: Value 'fraud_detection v2' at 'modelName' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: [a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])? (Service: ")
    assert "Error Code: ValidationException" in result.cause
    assert aws.client("sagemaker").list_models()["Models"] == []


@pytest.mark.parametrize(("parameters", "refusal"), [
    ({"ModelPackageGroupDescription": "d"},
     "Value null at 'modelPackageGroupName' failed to satisfy constraint: Member must not be null"),
    ({"ModelPackageGroupName": ""},
     "Value '' at 'modelPackageGroupName' failed to satisfy constraint: Member must have length greater than or "
     "equal to 1"),
])
def test_an_aws_sdk_task_is_checked_even_where_its_client_does_not_check(aws, parameters, refusal):  # noqa: F811
    # The executor's clients turn botocore's own validation off (required members, minimum
    # lengths): the service checks them.
    states = {"Group": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sagemaker:createModelPackageGroup",
                        "Parameters": parameters, "End": True}}

    result = aws.run(machine(aws, states, "Group"), {})

    assert result.error == "SageMaker.SageMakerException"
    assert refusal in result.cause


def test_a_call_under_moto_without_the_harness_is_checked_too():
    # The handler tests run handlers against moto's mock_aws alone (tests/unit/lambdas).
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name="eu-west-1")

        error = _refusal(lambda: sagemaker.create_model_package_group(ModelPackageGroupName="fraud_models"))

    assert error["Code"] == "ValidationException"
    assert "Value 'fraud_models' at 'modelPackageGroupName'" in error["Message"]


def test_requests_within_the_model_reach_moto(aws):  # noqa: F811
    # Timestamps, blobs, numbers, unicode letters, enums and nested lists as AWS accepts them.
    aws.client("cloudwatch").put_metric_data(Namespace="MDLC/fraud-detection", MetricData=[
        {"MetricName": "Décisions", "Timestamp": datetime.now(UTC), "Value": 1.5, "Unit": "Count",
         "Dimensions": [{"Name": "Team", "Value": "fraud-detection"}]}])
    key = aws.client("kms").create_key()["KeyMetadata"]["KeyId"]
    aws.client("kms").encrypt(KeyId=key, Plaintext=b"\x00\xff")
    sagemaker = aws.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    sagemaker.create_model_package(ModelPackageGroupName=GROUP, CustomerMetadataProperties={
        "feature_importance": "amount=0.412 âge=0.201 +3 more", "data_uri": "s3://b/raw/dt=2026-03-01/"})

    assert len(sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]) == 1


# -- AWS's error codes and messages -----------------------------------------------------------
@pytest.mark.parametrize(("service", "call", "code", "text"), [
    ("iam", lambda c: c.create_role(RoleName="fraud detection", AssumeRolePolicyDocument="{}"), "ValidationError",
     r"Value 'fraud detection' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression "
     r"pattern: [\w+=,.@-]+"),
    ("logs", lambda c: c.create_log_group(logGroupName="/mdlc/fraud detection"), "InvalidParameterException",
     r"Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+"),
    ("stepfunctions", lambda c: c.list_executions(stateMachineArn="arn:aws:states:eu-west-1:123456789012:"
                                                  "stateMachine:m", statusFilter="DONE"), "ValidationException",
     "Value 'DONE' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: "
     "[RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE]"),
    ("dynamodb", lambda c: c.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "X"}]),
     "ValidationException", "Value 'X' at 'attributeDefinitions.1.member.attributeType' failed to satisfy "
     "constraint: Member must satisfy enum value set: [S, N, B]"),
])
def test_each_service_answers_with_its_own_error_code(aws, service, call, code, text):  # noqa: F811
    error = _refusal(lambda: call(aws.client(service)))

    assert error["Code"] == code
    assert error["Message"].startswith("1 validation error detected: ") and text in error["Message"]


def test_messages_follow_awss_paths_and_collection_wording():
    errors = validation.violations(_operation("sagemaker", "CreateTrainingJob"), {
        "TrainingJobName": "fraud-train-" + "x" * 60,
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "VpcConfig": {"SecurityGroupIds": ["sg-1", "sg 2"], "Subnets": ["subnet-1"]},
        "Tags": [{"Key": "team", "Value": "fraud"}, {"Key": "owner", "Value": "a,b"}],
        "HyperParameters": {"any key, even this one!": "1"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 0},
    })

    assert validation.message(errors[:1]).startswith("1 validation error detected: ")
    assert validation.message(errors).startswith(f"{len(errors)} validation errors detected: ")
    assert ("Value 'fraud-train-" + "x" * 60 + "' at 'trainingJobName' failed to satisfy constraint: "
            "Member must have length less than or equal to 63") in errors
    assert not any("hyperParameters" in error for error in errors)  # its keys' pattern is '.*'
    assert ("Value '[sg-1, sg 2]' at 'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must "
            "satisfy constraint: [Member must have length less than or equal to 32, Member must have length "
            "greater than or equal to 0, Member must satisfy regular expression pattern: [-0-9a-zA-Z]+]") in errors
    assert ("Value 'a,b' at 'tags.2.member.value' failed to satisfy constraint: Member must satisfy regular "
            r"expression pattern: ([\p{L}\p{Z}\p{N}_.:/=+\-@]*)") in errors
    assert ("Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1") in errors
    assert "Value null at 'roleArn' failed to satisfy constraint: Member must not be null" in errors
    assert not any("'tags.1.member" in error for error in errors)


def test_a_sensitive_value_is_not_shown():
    errors = validation.violations(_operation("stepfunctions", "StartExecution"), {
        "stateMachineArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:m", "input": "x" * 262145})

    assert errors == ["Value at 'input' failed to satisfy constraint: "
                      "Member must have length less than or equal to 262144"]


# -- patterns ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("pattern", "value", "matches"), [
    (r"[\p{L}\p{Z}\p{N}_.:\/=+\-@]*", "âge=0.2 ü", True),  # \p{…} classes are Unicode
    (r"[\p{L}\p{Z}\p{N}_.:\/=+\-@]*", "a,b", False),  # the whole value must match
    (r"[\p{L}\p{Z}\p{N}_.:\/=+\-@]*", "a…", False),
    (r"[\w+=,.@-]+", "rôle", False),  # Java's \w, \d and \s are ASCII
    (r"\d+", "٣", False),
    (r"\S+", "a\u00a0b", True),
    (r"[\S]+", "ab", True),
    (r"\p{Alnum}+", "é", False),  # and so are its POSIX classes
    (r"\A\S[\p{Print}]*\z", "text/csv", True),
    (r".*", "line\rbreak", False),  # Java's '.' stops at every line terminator
    (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "emoji 😀", True),  # UTF-16 pairs
    (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "bell \x07", False),
])
def test_the_models_java_patterns_mean_what_they_mean_in_java(pattern, value, matches):
    compiled = validation.compiled_pattern(pattern)

    assert compiled is not None
    assert (compiled.fullmatch(value) is not None) is matches


SERVICES = ["sagemaker", "sagemaker-runtime", "stepfunctions", "lambda", "dynamodb", "dynamodbstreams", "sns",
            "sqs", "kms", "events", "ssm", "cloudwatch", "logs", "iam", "sts", "application-autoscaling",
            "kinesis", "apigateway", "cloudformation"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_pattern_of_the_services_the_stacks_call_compiles(service):
    """A pattern that does not compile would go unchecked: none may."""
    model = botocore.session.get_session().get_service_model(service)
    patterns = {shape.metadata["pattern"] for shape in map(model.shape_for, model.shape_names)
                if "pattern" in shape.metadata}

    assert [p for p in sorted(patterns) if validation.compiled_pattern(p) is None] == []

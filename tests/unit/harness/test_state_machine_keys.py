"""State machines encrypted with a customer managed key, evaluated offline (mdlc/harness/iam.py
`_execution_data_needs`): who starts an execution or reads one needs the key as the caller,
as Step Functions asks KMS with the caller's permissions. Tests of the harness' own emulation.
"""

from __future__ import annotations

import copy
import json

import pytest
from botocore.exceptions import ClientError

from mdlc.harness import OfflineAws

ACCOUNT, REGION = "123456789012", "eu-west-1"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:team--work"
ROOT_KEY = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
START = {"Effect": "Allow", "Action": ["states:StartExecution", "states:DescribeExecution"],
         "Resource": [MACHINE, f"arn:aws:states:{REGION}:{ACCOUNT}:execution:team--work:*"]}


def key_use(machine: str = MACHINE) -> dict:
    return {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": {"Fn::GetAtt": ["Key", "Arn"]},
            "Condition": {"StringEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": [machine],
                                           "kms:ViaService": f"states.{REGION}.amazonaws.com"}}}


TEMPLATE = {"Resources": {
    "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": [ROOT_KEY]}}},
    "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "StateMachineName": "team--work",
        "DefinitionString": json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        "EncryptionConfiguration": {"Type": "CUSTOMER_MANAGED_KMS_KEY", "KmsKeyId": {"Fn::GetAtt": ["Key", "Arn"]}}}},
    "Caller": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}}},
    "CallerPolicy": {"Type": "AWS::IAM::Policy", "Properties": {
        "PolicyName": "caller", "Roles": [{"Ref": "Caller"}],
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [START, key_use()]}}},
}}


def variant(statements: list[dict] | None = None, encrypted: bool = True) -> dict:
    template = copy.deepcopy(TEMPLATE)
    resources = template["Resources"]
    if statements is not None:
        resources["CallerPolicy"]["Properties"]["PolicyDocument"]["Statement"] = statements
    if not encrypted:
        del resources["Machine"]["Properties"]["EncryptionConfiguration"]
    return template


@pytest.fixture
def aws():
    with OfflineAws(REGION, ACCOUNT) as harness:
        yield harness


def start_as_caller(aws, template: dict) -> str:
    deployed = aws.deploy(template)
    sfn = aws.iam.client("stepfunctions", deployed.resource("Caller").arn)
    execution = sfn.start_execution(stateMachineArn=deployed.resource("Machine").arn, input="{}")["executionArn"]
    sfn.describe_execution(executionArn=execution)
    return execution


def test_a_caller_with_the_key_for_that_machine_starts_and_reads_executions(aws):
    assert start_as_caller(aws, TEMPLATE).startswith(f"arn:aws:states:{REGION}:{ACCOUNT}:execution:team--work:")
    used = {(d.action, d.allowed) for d in aws.iam.decisions if d.action.startswith("kms:")}
    assert used == {("kms:GenerateDataKey", True), ("kms:Decrypt", True)}


@pytest.mark.parametrize("statements", [
    [START],  # no key use at all
    [START, key_use(f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:other-team--work")],  # another machine's
])
def test_a_caller_without_the_key_for_that_machine_cannot_start_it(aws, statements):
    with pytest.raises(ClientError) as refused:
        start_as_caller(aws, variant(statements))
    assert "kms:GenerateDataKey" in str(refused.value)


def test_a_machine_without_a_customer_managed_key_needs_no_key_use(aws):
    start_as_caller(aws, variant([START], encrypted=False))
    assert not [d for d in aws.iam.decisions if d.action.startswith("kms:")]

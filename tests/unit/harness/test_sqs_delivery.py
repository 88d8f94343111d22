"""SQS queues and their Lambda event source mappings, offline (mdlc/harness/sqs_delivery.py,
the queue's attributes in cfn_resources.py, SQS key use in iam.py). Tests of the harness' own
emulation: what Lambda checks at CreateEventSourceMapping, how it polls as the function's
role, redelivers and redrives, and the key use SQS makes with its caller's permissions.
"""

from __future__ import annotations

import copy

import pytest
from botocore.exceptions import ClientError

from mdlc.harness import OfflineAws

ACCOUNT, REGION = "123456789012", "eu-west-1"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:work"
ROOT_KEY = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
CONSUME = {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
           "Resource": QUEUE_ARN}
DECRYPT = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Fn::GetAtt": ["Key", "Arn"]}}
SEND = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": QUEUE_ARN}
ENCRYPT = {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
           "Resource": {"Fn::GetAtt": ["Key", "Arn"]}}
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}


def _role(name: str, statements: list[dict]) -> dict:
    return {
        name: {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST}},
        f"{name}Policy": {"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": name, "Roles": [{"Ref": name}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}},
    }


TEMPLATE = {"Resources": {
    "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": [ROOT_KEY]}}},
    "DeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "work-dlq"}},
    "Queue": {"Type": "AWS::SQS::Queue", "Properties": {
        "QueueName": "work", "VisibilityTimeout": 30, "KmsMasterKeyId": {"Fn::GetAtt": ["Key", "Arn"]},
        "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetters", "Arn"]}, "maxReceiveCount": 2}}},
    **_role("Consumer", [CONSUME, DECRYPT]),
    **_role("Producer", [SEND, ENCRYPT]),
    "Function": {"Type": "AWS::Lambda::Function", "DependsOn": ["ConsumerPolicy"], "Properties": {
        "FunctionName": "consumer", "Runtime": "python3.13", "Handler": "index.handler", "Timeout": 10,
        "Role": {"Fn::GetAtt": ["Consumer", "Arn"]}, "Code": {"ZipFile": "def handler(e, c): pass"}}},
    "Mapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
        "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]}, "FunctionName": {"Ref": "Function"}, "BatchSize": 3,
        "FunctionResponseTypes": ["ReportBatchItemFailures"]}},
}}


def variant(*, consumer: list[dict] | None = None, producer: list[dict] | None = None,
            timeout: int | None = None) -> dict:
    template = copy.deepcopy(TEMPLATE)
    resources = template["Resources"]
    if consumer is not None:
        resources["ConsumerPolicy"]["Properties"]["PolicyDocument"]["Statement"] = consumer
    if producer is not None:
        resources["ProducerPolicy"]["Properties"]["PolicyDocument"]["Statement"] = producer
    if timeout is not None:
        resources["Function"]["Properties"]["Timeout"] = timeout
    return template


@pytest.fixture
def aws():
    with OfflineAws(REGION, ACCOUNT) as harness:
        yield harness


def deploy(aws, template: dict, handler) -> tuple[object, str]:
    """Deploy, route the function to `handler`; (a producer's SQS client, the queue URL)."""
    deployed = aws.deploy(template)
    aws.register_lambda("consumer", handler=handler)
    sqs = aws.iam.client("sqs", deployed.resource("Producer").arn)
    return sqs, aws.admin_client("sqs").get_queue_url(QueueName="work")["QueueUrl"]


def test_messages_arrive_in_batches_and_a_failed_item_is_retried_then_dead_lettered(aws):
    seen: list[list[str]] = []

    def handler(event, context):
        bodies = [r["body"] for r in event["Records"]]
        seen.append(bodies)
        assert {r["eventSource"] for r in event["Records"]} == {"aws:sqs"}
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]}
                                      for r in event["Records"] if r["body"] == "poison"]}

    sqs, url = deploy(aws, TEMPLATE, handler)
    for body in ("a", "b", "poison", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)

    aws.deliver_streams()

    delivered = sorted(b for batch in seen for b in batch)
    assert delivered.count("poison") == 2  # maxReceiveCount 2: two tries, then the dead-letter queue
    assert sorted(set(delivered)) == ["a", "b", "c", "poison"] and len(seen[0]) == 3
    admin = aws.admin_client("sqs")
    assert admin.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "0"
    dlq = admin.get_queue_url(QueueName="work-dlq")["QueueUrl"]
    assert [m["Body"] for m in admin.receive_message(QueueUrl=dlq).get("Messages", [])] == ["poison"]


def test_a_function_error_leaves_the_whole_batch_for_the_next_poll(aws):
    calls: list[int] = []

    def handler(event, context):
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            raise RuntimeError("the table is throttled")
        return {"batchItemFailures": []}

    sqs, url = deploy(aws, TEMPLATE, handler)
    sqs.send_message(QueueUrl=url, MessageBody="x")
    aws.deliver_streams()
    assert calls == [1, 1]


def test_the_consumer_role_needs_the_queue_key_to_receive(aws):
    """The mapping polls as the function's role: without kms:Decrypt on the queue's key, the
    messages cannot be received (on AWS the mapping reports KMS access denied)."""
    sqs, url = deploy(aws, variant(consumer=[CONSUME]), lambda event, context: None)
    sqs.send_message(QueueUrl=url, MessageBody="x")
    with pytest.raises(ClientError, match="kms:Decrypt"):
        aws.deliver_streams()


def test_a_producer_needs_the_queue_key_to_send(aws):
    sqs, url = deploy(aws, variant(producer=[SEND]), lambda event, context: None)
    with pytest.raises(ClientError, match="kms:GenerateDataKey"):
        sqs.send_message(QueueUrl=url, MessageBody="x")


@pytest.mark.parametrize(("template", "message"), [
    (variant(timeout=60), r"Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"),
    (variant(consumer=[{**CONSUME, "Action": ["sqs:ReceiveMessage", "sqs:GetQueueAttributes"]}, DECRYPT]),
     r"execution role does not have permissions to call DeleteMessage on SQS"),
], ids=["function timeout over the visibility timeout", "role without DeleteMessage"])
def test_lambda_refuses_a_mapping_at_deploy(aws, template, message):
    with pytest.raises(Exception, match=message):
        aws.deploy(template)

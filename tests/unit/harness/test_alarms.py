"""Alarm actions executed offline (mdlc/harness/alarms.py): an alarm changing state publishes
its notification to its SNS actions as ``cloudwatch.amazonaws.com``, through the topic policy
and the topic key's policy, or records CloudWatch's failure in the alarm's history.
Tests of the harness' own emulation."""

from __future__ import annotations

import copy
import json

import pytest

from mdlc.harness import OfflineAws

ACCOUNT, REGION = "123456789012", "eu-west-1"
ALARM = "team-errors"
ALARM_ARN = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{ALARM}"
SSL_ONLY = {"Sid": "AllowPublishThroughSSLOnly", "Effect": "Deny", "Principal": "*", "Action": "sns:Publish",
            "Resource": {"Ref": "Topic"}, "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
TEAM_ALARMS = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:team-*"
CLOUDWATCH_PUBLISH = {"Sid": "CloudWatchAlarms", "Effect": "Allow", "Action": "sns:Publish",
                      "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Resource": {"Ref": "Topic"},
                      "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                                    "ArnLike": {"aws:SourceArn": TEAM_ALARMS}}}
CLOUDWATCH_KEY = {"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                  "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
                  "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}
ROOT_KEY = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}

TEMPLATE = {"Resources": {
    "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {
        "Version": "2012-10-17", "Statement": [ROOT_KEY, CLOUDWATCH_KEY]}}},
    "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": {"Fn::GetAtt": ["Key", "Arn"]}}},
    "TopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {
        "Topics": [{"Ref": "Topic"}],
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [SSL_ONLY, CLOUDWATCH_PUBLISH]}}},
    "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
    "QueueSubscription": {"Type": "AWS::SNS::Subscription", "Properties": {
        "TopicArn": {"Ref": "Topic"}, "Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]}}},
    "EmailSubscription": {"Type": "AWS::SNS::Subscription", "Properties": {
        "TopicArn": {"Ref": "Topic"}, "Protocol": "email", "Endpoint": "oncall@example.com"}},
    "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": ALARM, "Namespace": "MDLC/team", "MetricName": "Errors", "Statistic": "Sum", "Period": 60,
        "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "AlarmActions": [{"Ref": "Topic"}], "OKActions": [{"Ref": "Topic"}]}},
}}


def _variant(change) -> dict:
    template = copy.deepcopy(TEMPLATE)
    change(template["Resources"])
    return template


def _fire(aws: OfflineAws, state: str = "ALARM") -> None:
    aws.client("cloudwatch").set_alarm_state(AlarmName=ALARM, StateValue=state, StateReason="test: errors seen")


def _queued(aws: OfflineAws, deployed) -> list[dict]:
    messages = aws.client("sqs").receive_message(QueueUrl=deployed["Queue"], MaxNumberOfMessages=10,
                                                 WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]  # SNS's envelope


def _actions(aws: OfflineAws) -> list[str]:
    history = aws.client("cloudwatch").describe_alarm_history(AlarmName=ALARM, HistoryItemType="Action")
    return [item["HistorySummary"] for item in history["AlarmHistoryItems"]]


@pytest.fixture
def aws():
    with OfflineAws(REGION, ACCOUNT) as harness:
        yield harness


def test_an_alarm_going_into_alarm_notifies_every_subscriber_of_its_topic(aws):
    deployed = aws.deploy(TEMPLATE)
    topic = deployed["Topic"]

    _fire(aws)

    [envelope] = _queued(aws, deployed)
    message = json.loads(envelope["Message"])
    assert envelope["Subject"] == f'ALARM: "{ALARM}" in Europe (Ireland)' and envelope["TopicArn"] == topic
    assert message["AlarmName"] == ALARM and message["NewStateValue"] == "ALARM" and message["OldStateValue"] == "OK"
    assert message["AlarmArn"] == ALARM_ARN and message["NewStateReason"] == "test: errors seen"
    assert message["Trigger"]["MetricName"] == "Errors" and message["Trigger"]["Namespace"] == "MDLC/team"
    [notification] = aws.alarm_actions.delivered_to(topic)
    assert ("email", "oncall@example.com") in notification.subscribers
    assert ("sqs", deployed.resource("Queue").arn) in notification.subscribers
    assert _actions(aws) == [f"Successfully executed action {topic}"]


def test_a_topic_policy_without_the_cloudwatch_allow_refuses_the_notification(aws):
    """`enforce_ssl` alone: the topic policy replaces SNS's default and allows no one."""
    def ssl_only(resources):
        resources["TopicPolicy"]["Properties"]["PolicyDocument"]["Statement"] = [SSL_ONLY]
    deployed = aws.deploy(_variant(ssl_only))

    _fire(aws)

    assert _queued(aws, deployed) == [] and aws.alarm_actions.notifications == []
    topic = deployed["Topic"]
    assert _actions(aws) == [
        f'Failed to execute action {topic}. Received error: "Resource: {ALARM_ARN} is not authorized to perform: '
        f'SNS:Publish on resource: {topic}"']
    assert [(d.principal, d.action) for d in aws.iam.denied()] == [("cloudwatch.amazonaws.com", "sns:Publish")]


def test_an_allow_scoped_to_other_alarms_does_not_cover_this_one(aws):
    def other_team(resources):
        statement = resources["TopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][1]
        statement["Condition"]["ArnLike"]["aws:SourceArn"] = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:other-*"
    deployed = aws.deploy(_variant(other_team))

    _fire(aws)

    assert _queued(aws, deployed) == []
    assert "is not authorized to perform: SNS:Publish" in _actions(aws)[0]


def test_a_key_policy_without_cloudwatch_refuses_the_notification_to_an_encrypted_topic(aws):
    def no_cloudwatch_key(resources):
        resources["Key"]["Properties"]["KeyPolicy"]["Statement"] = [ROOT_KEY]
    deployed = aws.deploy(_variant(no_cloudwatch_key))

    _fire(aws)

    assert _queued(aws, deployed) == []
    assert _actions(aws) == [f'Failed to execute action {deployed["Topic"]}. Received error: '
                             '"CloudWatch Alarms does not have authorization to access the SNS topic encryption key."']


def test_a_topic_with_snss_default_policy_and_no_key_takes_alarm_notifications(aws):
    """No TopicPolicy: SNS's default policy allows the account's principals, CloudWatch included."""
    def defaults(resources):
        del resources["TopicPolicy"], resources["Key"], resources["Topic"]["Properties"]["KmsMasterKeyId"]
    deployed = aws.deploy(_variant(defaults))

    _fire(aws)

    assert len(_queued(aws, deployed)) == 1


def test_actions_run_on_state_transitions_only_and_ok_actions_on_the_way_back(aws):
    deployed = aws.deploy(TEMPLATE)

    _fire(aws)
    _fire(aws)  # already in ALARM: no transition, no action
    _fire(aws, "OK")

    states = [json.loads(e["Message"])["NewStateValue"] for e in _queued(aws, deployed)]
    assert sorted(states) == ["ALARM", "OK"]
    history = aws.client("cloudwatch").describe_alarm_history(AlarmName=ALARM, ScanBy="TimestampAscending")
    assert [i["HistorySummary"] for i in history["AlarmHistoryItems"] if i["HistoryItemType"] == "StateUpdate"] == [
        "Alarm updated from OK to ALARM", "Alarm updated from ALARM to OK"]


def test_disabled_actions_are_not_run(aws):
    def disabled(resources):
        resources["Alarm"]["Properties"]["ActionsEnabled"] = False
    deployed = aws.deploy(_variant(disabled))

    _fire(aws)

    assert _queued(aws, deployed) == [] and _actions(aws) == []

"""What AWS services do for the example team, with its synthesised templates deployed offline:
its alarms' notifications reach the alerts topic's subscribers (CloudWatch through the topic
policy and the key policy, defect 4), and every role that starts SageMaker work with the team
key as volume key may let SageMaker create its grant (defect 2). Tests of the product,
evaluated by the harness' service-principal class (mdlc/harness/alarms.py, service_principals.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mdlc import names
from mdlc.harness import OfflineAws
from mdlc.harness.iam import Call, Denied
from mdlc.local.synth import Assembly
from mdlc.local.team import LocalTeam

TEAM = "fraud-detection"
DATA = f"{TEAM}-data"
SAGEMAKER_CREATE = {"createProcessingJob": "CreateProcessingJob", "createTrainingJob": "CreateTrainingJob",
                    "createTransformJob": "CreateTransformJob"}


def _deployed(assembly: Assembly, team_dir, change: Callable[[dict], None] | None = None) -> LocalTeam:
    templates = dict(assembly.templates)
    if change is not None:
        templates[DATA] = copy.deepcopy(templates[DATA])
        change(templates[DATA]["Resources"])
    return LocalTeam(TEAM, models_dir=team_dir, assembly=Assembly(assembly.outdir, templates), quiet=True)


def _of_type(resources: dict, kind: str) -> list[dict]:
    return [r["Properties"] for r in resources.values() if r["Type"] == kind]


def _without_cloudwatch_publish(resources: dict) -> None:
    for policy in _of_type(resources, "AWS::SNS::TopicPolicy"):
        statements = policy["PolicyDocument"]["Statement"]
        policy["PolicyDocument"]["Statement"] = [s for s in statements if "cloudwatch" not in json.dumps(s)]


def _without_cloudwatch_key_use(resources: dict) -> None:
    for key in _of_type(resources, "AWS::KMS::Key"):
        statements = key["KeyPolicy"]["Statement"]
        key["KeyPolicy"]["Statement"] = [s for s in statements if "cloudwatch" not in json.dumps(s.get("Principal"))]


def _team_alarms(team: LocalTeam) -> list[dict[str, Any]]:
    cloudwatch = team.client("cloudwatch")
    return [a for page in cloudwatch.get_paginator("describe_alarms").paginate() for a in page["MetricAlarms"]]


def _alerts_topic(team: LocalTeam) -> str:
    return team.resources.find("AWS::SNS::Topic", "AlertsTopic").ref


@pytest.fixture(scope="class")
def team(assembly, team_dir) -> Iterator[LocalTeam]:
    """The example team as synthesised, deployed once for the tests of one class (moto is one
    process-wide account: a second team can be deployed only after this one has left)."""
    with _deployed(assembly, team_dir) as deployed:
        yield deployed


# -- defect 2: SageMaker's grant on the volume key --------------------------------------------------
def _tasks(states: dict) -> Iterator[dict]:
    for state in states.values():
        yield state
        for branch in state.get("Branches", []):
            yield from _tasks(branch["States"])
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _tasks(state[key]["States"])


def _volume_key_calls(team: LocalTeam) -> Iterator[tuple[str, str, dict]]:
    """(state machine role, SageMaker action, static parameters) of every job task with a volume key."""
    sfn = team.client("stepfunctions")
    for machine in team.resources.of_type("AWS::StepFunctions::StateMachine"):
        described = sfn.describe_state_machine(stateMachineArn=machine.ref)
        for state in _tasks(json.loads(described["definition"])["States"]):
            api = str(state.get("Resource", "")).split(":sagemaker:")[-1].removesuffix(".sync")
            if state.get("Type") == "Task" and api in SAGEMAKER_CREATE and "VolumeKmsKeyId" in json.dumps(state):
                yield described["roleArn"], SAGEMAKER_CREATE[api], state["Parameters"]


class TestTheExampleTeamAsSynthesised:
    """One deployment of the unchanged templates."""

    def test_every_alarm_of_the_example_team_notifies_the_alerts_topics_subscribers(self, team):
        """Defect 4: enforce_ssl replaced the topic's default policy and nothing allowed CloudWatch."""
        alarms = _team_alarms(team)
        topic = _alerts_topic(team)
        assert len(alarms) >= 17 and all(topic in a["AlarmActions"] for a in alarms)

        for alarm in alarms:
            team.client("cloudwatch").set_alarm_state(AlarmName=alarm["AlarmName"], StateValue="ALARM",
                                                      StateReason="test: threshold crossed")

        delivered = team.aws.alarm_actions.delivered_to(topic)
        assert sorted(n.alarm for n in delivered) == sorted(a["AlarmName"] for a in alarms)
        email = team.team.owner.alert_email or team.team.owner.email
        assert all(("email", email) in n.subscribers for n in delivered)
        assert all(n.message["NewStateValue"] == "ALARM" for n in delivered)

    def test_every_caller_of_a_job_with_the_team_key_as_volume_key_may_have_sagemaker_create_its_grant(self, team):
        calls = list(_volume_key_calls(team))
        assert {action for _, action, _ in calls} == set(SAGEMAKER_CREATE.values())

        for role, action, params in calls:
            # No resource of its own: only what the call implies is evaluated (PassRole, the key grant).
            team.aws.iam.check(role, Call(f"sagemaker:{action}", [], params, team.region, team.account), role)

        granted = {(d.principal, d.resource) for d in team.aws.iam.decisions if d.action == "kms:CreateGrant"}
        assert {role for role, _ in granted} == {role for role, _, _ in calls}
        assert {key for _, key in granted} == {team.resources.find("AWS::KMS::Key").arn}

    def test_an_endpoint_deployment_may_have_sagemaker_create_its_grant_on_the_team_key(self, team):
        key = team.resources.find("AWS::KMS::Key").arn
        sagemaker = team.aws.admin_client("sagemaker")
        role = team.resources.find("AWS::IAM::Role", "SageMakerExecutionRole").attributes["Arn"]
        sagemaker.create_model(ModelName="grant-model", ExecutionRoleArn=role,
                               PrimaryContainer={"Image": "image", "ModelDataUrl": "s3://b/model.tar.gz"})
        sagemaker.create_endpoint_config(EndpointConfigName="grant-config", KmsKeyId=key, ProductionVariants=[{
            "VariantName": "v", "ModelName": "grant-model", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
        deployment = next(m for m in team.resources.of_type("AWS::StepFunctions::StateMachine")
                          if m.logical_id.startswith("Deployment"))
        machine_role = team.client("stepfunctions").describe_state_machine(stateMachineArn=deployment.ref)["roleArn"]

        call = Call("sagemaker:UpdateEndpoint", [], {"EndpointConfigName": "grant-config"}, team.region, team.account)
        team.aws.iam.check(machine_role, call, machine_role)

        assert [(d.resource, d.allowed) for d in team.aws.iam.decisions
                if d.principal == machine_role and d.action == "kms:CreateGrant"] == [(key, True)]

    def test_the_sagemaker_execution_role_may_create_grants_on_the_team_key_for_aws_resources_only(self, team):
        key = team.resources.find("AWS::KMS::Key").arn
        role = team.resources.find("AWS::IAM::Role", "SageMakerExecutionRole").attributes["Arn"]

        def grant(for_aws_resource: str) -> Call:
            return Call("kms:CreateGrant", [key], {}, team.region, team.account,
                        context={"kms:grantisforawsresource": for_aws_resource})

        team.aws.iam.check(role, grant("true"), role)
        with pytest.raises(Denied, match="kms:CreateGrant"):
            team.aws.iam.check(role, grant("false"), role)


def _alarms_only(template: dict) -> dict:
    """A template holding only `template`'s alarms, as synthesised (their actions import the topic)."""
    return {"Resources": {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}}


@pytest.mark.parametrize("change, error", [
    (_without_cloudwatch_publish, "is not authorized to perform: SNS:Publish"),
    (_without_cloudwatch_key_use, "CloudWatch Alarms does not have authorization to access the SNS topic encryption"),
], ids=["topic-policy", "key-policy"])
def test_without_the_cloudwatch_allow_no_notification_arrives(assembly, team_dir, change, error):
    """The data plane's template with CloudWatch's allow removed, and the monitoring stage's
    alarms as synthesised: an alarm fires, nothing is delivered, and the alarm's history says
    why, as CloudWatch's does."""
    data = copy.deepcopy(assembly.template(DATA))
    change(data["Resources"])
    where = LocalTeam(TEAM, models_dir=team_dir, assembly=assembly)  # the stage's account and region, not deployed
    monitoring = f"{TEAM}-monitoring"
    with OfflineAws(where.region, where.account) as aws:
        where.create_boundary(aws)
        deployed = aws.deploy(data, _alarms_only(assembly.template(monitoring)), stack_names=[DATA, monitoring])
        alarm = deployed.of_type("AWS::CloudWatch::Alarm")[0].ref
        cloudwatch = aws.client("cloudwatch")

        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test: threshold crossed")

        assert aws.alarm_actions.notifications == []
        [action] = cloudwatch.describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")["AlarmHistoryItems"]
        assert action["HistorySummary"].startswith("Failed to execute action") and error in action["HistorySummary"]


def test_the_same_alarm_and_data_plane_deliver_with_the_allows_in_place(assembly, team_dir):
    """The counterpart of the test above with the templates unchanged: it can fail only by the change."""
    where = LocalTeam(TEAM, models_dir=team_dir, assembly=assembly)
    monitoring = f"{TEAM}-monitoring"
    with OfflineAws(where.region, where.account) as aws:
        where.create_boundary(aws)
        deployed = aws.deploy(assembly.template(DATA), _alarms_only(assembly.template(monitoring)),
                              stack_names=[DATA, monitoring])
        alarm = deployed.of_type("AWS::CloudWatch::Alarm")[0].ref

        aws.client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test")

        assert [n.alarm for n in aws.alarm_actions.notifications] == [alarm]


def test_another_teams_alarm_in_the_account_may_not_notify_this_teams_topic(assembly, team_dir):
    """Teams share accounts: an alarm of team `fraud-detection-eu` (whose name starts with this
    team's name) is refused by the topic policy, which allows only this team's alarm prefix."""
    where = LocalTeam(TEAM, models_dir=team_dir, assembly=assembly)
    monitoring = f"{TEAM}-monitoring"
    [mine, *_] = _alarms_only(assembly.template(monitoring))["Resources"].values()
    theirs = copy.deepcopy(mine)
    theirs["Properties"]["AlarmName"] = names.alarm_name(f"{TEAM}-eu", "errors")
    with OfflineAws(where.region, where.account) as aws:
        where.create_boundary(aws)
        aws.deploy(assembly.template(DATA), {"Resources": {"Theirs": theirs}}, stack_names=[DATA, monitoring])
        cloudwatch = aws.client("cloudwatch")

        cloudwatch.set_alarm_state(AlarmName=theirs["Properties"]["AlarmName"], StateValue="ALARM", StateReason="t")

        assert aws.alarm_actions.notifications == []
        [action] = cloudwatch.describe_alarm_history(AlarmName=theirs["Properties"]["AlarmName"],
                                                     HistoryItemType="Action")["AlarmHistoryItems"]
        assert "is not authorized to perform: SNS:Publish" in action["HistorySummary"]

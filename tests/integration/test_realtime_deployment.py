"""The deployment workflow offline: first deployment, canary update, alarm rollback, rollback command.

One trained model (trained once per session) is registered as three Approved versions of
the team's group; the tests run in order against one offline deployment.
"""

from __future__ import annotations

import json

import pytest

from mdlc.commands.realtime import RollbackError, start_rollback
from mdlc.harness.execution import follow_execution
from mdlc.names import team_resource
from stacks.realtime.names import alarm_names, endpoint_name

from .realtime_support import (
    TEAM,
    RealtimeTeam,
    decide,
    deploy,
    deployed,
    endpoint,
    install_model,
    request,
    trained_model,
)


@pytest.fixture(scope="module")
def team():
    model = trained_model()
    with RealtimeTeam(TEAM) as local:
        local.packages = install_model(local, model, versions=3)
        local.customer = model.known_customer
        yield local


def test_an_unapproved_version_is_refused_before_anything_is_created(team):
    sm = team.client("sagemaker")
    pending = sm.create_model_package(ModelPackageGroupName=team.model_package_group,
                                      InferenceSpecification=sm.describe_model_package(
                                          ModelPackageName=team.packages[0])["InferenceSpecification"],
                                      ModelApprovalStatus="PendingManualApproval")["ModelPackageArn"]

    result = deploy(team, pending)

    assert result.status == "FAILED" and result.error == "DeploymentFailed"
    assert "only Approved versions deploy" in result.cause
    assert sm.list_endpoints()["Endpoints"] == []


def test_first_deployment_creates_the_endpoint_with_data_capture_and_autoscaling(team):
    result = deploy(team, team.packages[0])

    assert result.succeeded, result.cause
    assert "Create endpoint" in result.state_names and "Update endpoint blue-green" not in result.state_names
    described = endpoint(team)
    assert described["EndpointStatus"] == "InService"
    config = team.client("sagemaker").describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    capture = config["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == 20  # realtime.data_capture_percent
    assert capture["DestinationS3Uri"] == f"s3://{team.bucket('cap')}/datacapture" and capture["KmsKeyId"]
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 2  # realtime.min_capacity
    scaling = team.client("application-autoscaling")
    target = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    policy = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"][0]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    record = deployed(team)
    assert record["model_package_arn"] == team.packages[0] and record["version"] == 1
    assert record["model_version"].startswith(team_resource(TEAM, "train-"))  # what the smoke test saw the model answer
    assert decide(team, request("after-first-deploy", team.customer))["status"] == 200


def test_an_approval_event_deploys_and_a_repeated_event_changes_nothing(team):
    event = {"version": "0", "source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change",
             "detail": {"ModelPackageGroupName": team.model_package_group, "ModelApprovalStatus": "Approved",
                        "ModelPackageArn": team.packages[0]}, "poll_seconds": 1}

    result = team.run("deployment", event, timeout=120)

    assert result.succeeded and result.state_names[-1] == "Already deployed"


def test_update_shifts_traffic_blue_green_with_the_team_canary_and_rollback_alarms(team):
    before = endpoint(team)["EndpointConfigName"]

    result = deploy(team, team.packages[1])

    assert result.succeeded, result.cause
    assert "Update endpoint blue-green" in result.state_names
    described = endpoint(team)
    assert described["EndpointConfigName"] != before
    policy = described["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert policy == {"Type": "CANARY", "WaitIntervalInSeconds": 600,  # canary.bake_minutes: 10
                      "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}
    alarms = described["LastDeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert {a["AlarmName"] for a in alarms} == set(alarm_names(TEAM).values())
    assert deployed(team)["version"] == 2
    assert deployed(team)["previous_model_package_arn"] == team.packages[0]


def test_a_firing_alarm_rolls_the_canary_back_and_the_team_is_told(team):
    cloudwatch = team.client("cloudwatch")
    alarm = alarm_names(TEAM)["latency"]
    serving = endpoint(team)["EndpointConfigName"]
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="p99 above the limit")
    try:
        result = deploy(team, team.packages[2])
    finally:
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test over")

    assert result.status == "FAILED" and result.error == "DeploymentRolledBack"
    assert alarm in result.cause and "rolled back" in result.cause
    assert "Notify DeploymentRolledBack" in result.state_names and "Smoke test" not in result.state_names
    assert endpoint(team)["EndpointConfigName"] == serving
    assert deployed(team)["version"] == 2  # the record still names what serves
    assert decide(team, request("after-rollback", team.customer))["status"] == 200


def test_rollback_command_redeploys_the_previous_approved_version(team):
    started = start_rollback(team=TEAM, sagemaker=team.client("sagemaker"), ssm=team.client("ssm"),
                             stepfunctions=team.client("stepfunctions"),
                             state_machine_arn=team.state_machine_arn("deployment"), poll_seconds=1)

    result = follow_execution(team.client("stepfunctions"), started["execution_arn"], timeout=120)

    assert (started["from"], started["to"]) == (team.packages[1], team.packages[0])
    assert result.succeeded, result.cause
    record = deployed(team)
    assert (record["version"], record["reason"]) == (1, "rollback")
    config = endpoint(team)["EndpointConfigName"]
    assert config.startswith(team_resource(TEAM, "v1-"))
    assert endpoint(team)["EndpointName"] == endpoint_name(TEAM)


def test_rollback_with_no_older_approved_version_says_so(team):
    with pytest.raises(RollbackError, match="no approved version .* older than the deployed version 1"):
        start_rollback(team=TEAM, sagemaker=team.client("sagemaker"), ssm=team.client("ssm"),
                       stepfunctions=team.client("stepfunctions"),
                       state_machine_arn=team.state_machine_arn("deployment"))
    assert json.loads(team.client("ssm").get_parameter(
        Name=f"/mdlc/{TEAM}/realtime/deployed-model")["Parameter"]["Value"])["version"] == 1


def _serving_on_another_instance_type(team) -> str:
    """As if the team changed ``realtime.instance_type`` since the serving config was made:
    the serving config's variant runs on another type than the next config will."""
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[team.aws.account_id][team.region]
    serving = endpoint(team)["EndpointConfigName"]
    backend.endpoint_configs[serving].production_variants[0]["InstanceType"] = "ml.c5.9xlarge"
    return serving


def _scalable_targets(team) -> list[dict]:
    return team.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker")["ScalableTargets"]


def test_sagemaker_refuses_an_instance_type_change_while_the_variant_is_autoscaled(team):
    # Harness check: what the workflow must work around (UpdateEndpoint on a scaled variant).
    serving = _serving_on_another_instance_type(team)
    other = next(c["EndpointConfigName"] for c in team.client("sagemaker").list_endpoint_configs()["EndpointConfigs"]
                 if c["EndpointConfigName"] != serving)
    assert _scalable_targets(team)

    with pytest.raises(team.client("sagemaker").exceptions.ClientError, match="instance type"):
        team.client("sagemaker").update_endpoint(EndpointName=endpoint_name(TEAM), EndpointConfigName=other)


def test_an_instance_type_change_deregisters_autoscaling_updates_and_registers_it_again(team):
    _serving_on_another_instance_type(team)

    result = deploy(team, team.packages[1])

    assert result.succeeded, result.cause
    names = result.state_names
    assert names.index("Deregister autoscaling") < names.index("Update endpoint blue-green") \
        < names.index("Register autoscaling")
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in _scalable_targets(team)] == [
        (f"endpoint/{endpoint_name(TEAM)}/variant/AllTraffic", 2, 6)]
    assert deployed(team)["version"] == 2


def test_a_rolled_back_instance_type_change_gets_its_autoscaling_back(team):
    serving = _serving_on_another_instance_type(team)
    cloudwatch = team.client("cloudwatch")
    alarm = alarm_names(TEAM)["errors"]
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="5xx during the canary")
    try:
        result = deploy(team, team.packages[2])
    finally:
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test over")

    assert result.status == "FAILED" and result.error == "DeploymentRolledBack", result.cause
    names = result.state_names
    assert names.index("Deregister autoscaling") < names.index("Restore autoscaling (RolledBack)") \
        < names.index("Notify DeploymentRolledBack")
    assert endpoint(team)["EndpointConfigName"] == serving
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in _scalable_targets(team)] == [(2, 6)]
    policies = team.client("application-autoscaling").describe_scaling_policies(ServiceNamespace="sagemaker")
    assert [p["PolicyName"] for p in policies["ScalingPolicies"]] == [f"{endpoint_name(TEAM)}-invocations"]

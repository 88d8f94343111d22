"""Many teams in one account and region: no team stack owns what the account has only one
of, and every resource name a team's stacks set is its own.

Three generated teams (copies of each team file in ``models/`` under other names) are
synthesised together, without their pipelines, as ``cdk synth`` would for one account.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mdlc.contract import MODELS_DIR, Realtime, TeamConfig, TeamFileError, team_files
from tests.synth import Assembly, synth

# Resources of which an account (or an account's region) has one, or whose policy is one
# per account: whoever deploys one overwrites every other team's, and deleting the stack
# that owns it breaks them all. They belong in a platform stack, not in a team's.
ACCOUNT_WIDE = {
    "AWS::ApiGateway::Account": "API Gateway's CloudWatch role setting (one per region)",
    "AWS::IAM::ServiceLinkedRole": "service-linked roles (one per service and account)",
    "AWS::Logs::ResourcePolicy": "CloudWatch Logs resource policies (at most 10 per region)",
    "AWS::Logs::AccountPolicy": "CloudWatch Logs account policies",
    "AWS::Events::EventBusPolicy": "the event bus policy",
    "AWS::XRay::EncryptionConfig": "X-Ray's encryption setting (one per region)",
    "AWS::XRay::ResourcePolicy": "X-Ray resource policies",
    "AWS::Config::ConfigurationRecorder": "the AWS Config recorder (one per region)",
    "AWS::GuardDuty::Detector": "the GuardDuty detector (one per region)",
    "AWS::SecurityHub::Hub": "Security Hub (one per region)",
    "AWS::Macie::Session": "Macie (one per region)",
    "AWS::SageMaker::Domain": "a SageMaker domain (one per region by default)",
}
# Custom resources calling one of these APIs change an account-wide setting.
ACCOUNT_WIDE_CALLS = ("putresourcepolicy", "updateaccount", "createservicelinkedrole", "putaccountpolicy")
# The property that names a resource, for types whose names are unique per account and region.
NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName", "AWS::DynamoDB::Table": "TableName", "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName", "AWS::Lambda::Function": "FunctionName",
    "AWS::StepFunctions::StateMachine": "StateMachineName", "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::CloudWatch::Alarm": "AlarmName", "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::Events::Rule": "Name", "AWS::Events::EventBus": "Name", "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName", "AWS::KMS::Alias": "AliasName", "AWS::SSM::Parameter": "Name",
    "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName", "AWS::Kinesis::Stream": "Name",
    "AWS::CodePipeline::Pipeline": "Name", "AWS::CodeBuild::Project": "Name",
    "AWS::Lambda::LayerVersion": "LayerName", "AWS::SecretsManager::Secret": "Name",
}
GENERATED = ("alpha-risk", "beta-churn", "gamma-credit")


def generated_teams(folder: Path) -> Path:
    """The team files of ``models/`` under other names (cycled), one per generated team."""
    sources = team_files(MODELS_DIR)
    for i, name in enumerate(GENERATED):
        data = yaml.safe_load(sources[i % len(sources)].read_text())
        (folder / f"{name}.yaml").write_text(yaml.safe_dump({**data, "name": name}, sort_keys=False))
    return folder


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    models = generated_teams(tmp_path_factory.mktemp("teams"))
    return synth(tmp_path_factory.mktemp("cdk.out"), models_dir=models, pipelines=False,
                 default_account="123456789012", default_region="eu-west-1")


def owner(stack: str) -> str:
    [team] = [t for t in GENERATED if stack.startswith(f"{t}-")]
    return team


def rendered(value) -> str:
    """A name as a string: pseudo parameters as placeholders, other intrinsics as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(rendered(p) for p in parts)
    if isinstance(value, dict) and value.get("Ref", "").startswith("AWS::"):
        return "{" + value["Ref"] + "}"
    return json.dumps(value, sort_keys=True)


def account_wide(stack: str, logical_id: str, resource: dict) -> str | None:
    kind = resource["Type"]
    if kind in ACCOUNT_WIDE:
        return f"{stack}/{logical_id}: {kind}, {ACCOUNT_WIDE[kind]}"
    if kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource":
        calls = json.dumps(resource.get("Properties") or {}).lower().replace(":", "")
        hits = [c for c in ACCOUNT_WIDE_CALLS if c in calls]
        if hits or "resourcepolicy" in kind.lower():
            return f"{stack}/{logical_id}: {kind} calling {hits or kind}"
    return None


def test_no_team_stack_owns_an_account_or_region_wide_resource(many):
    found = [hit for stack, template in many.templates.items()
             for logical_id, resource in template["Resources"].items()
             if (hit := account_wide(stack, logical_id, resource))]
    assert len(many.templates) >= 5 * len(GENERATED)
    assert not found, "team stacks own account- or region-wide resources:\n" + "\n".join(found)


def test_every_name_a_team_sets_is_its_own_and_unique_in_the_account(many):
    seen: dict[tuple[str, str], str] = {}
    foreign, clashes = [], []
    for stack, template in many.templates.items():
        team = owner(stack)
        for logical_id, resource in template["Resources"].items():
            prop = NAME_PROPERTY.get(resource["Type"])
            if prop is None or prop not in (resource.get("Properties") or {}):
                continue
            name = rendered(resource["Properties"][prop])
            if team not in name:
                foreign.append(f"{stack}/{logical_id} {resource['Type']} {prop}={name!r}")
            key = (resource["Type"], name.lower())
            if key in seen:
                clashes.append(f"{resource['Type']} {name!r}: {seen[key]} and {stack}/{logical_id}")
            seen[key] = f"{stack}/{logical_id}"
    assert len(seen) > 20 * len(GENERATED)  # every team names its buckets, tables, workflows, alarms, …
    assert not foreign, "names without the team's name:\n" + "\n".join(foreign)
    assert not clashes, "names used twice in one account and region:\n" + "\n".join(clashes)


def test_twenty_teams_fit_a_new_accounts_concurrency_with_the_default_reservations():
    """Product: reservation is opt-in (realtime.decision_concurrency), so twenty default teams
    reserve nothing and fit even a new account (quota 10, of which Lambda keeps all unreserved);
    twenty that opt in to 40 each fit the default 1,000, and the synth's check says so."""
    from stacks.app_builder import ResolvedEnv, check_reserved_concurrency

    assert Realtime().reserved_concurrency == 0
    example = yaml.safe_load((MODELS_DIR / "fraud-detection.yaml").read_text())
    env = ResolvedEnv("111111111111", "eu-west-1", "team file", "environments.dev")
    defaults = [(TeamConfig.model_validate({**example, "name": f"team-{i:02d}"}), "dev", env) for i in range(20)]
    check_reserved_concurrency(defaults, 10, "models")
    opted = [(TeamConfig.model_validate({**example, "name": f"team-{i:02d}",
                                         "realtime": {**example.get("realtime", {}), "decision_concurrency": 40}}),
              "dev", env) for i in range(20)]
    check_reserved_concurrency(opted, 1000, "models")  # 20 × 1 × 40 = 800 ≤ 900
    with pytest.raises(TeamFileError, match="= 800"):
        check_reserved_concurrency(opted, 899, "models")

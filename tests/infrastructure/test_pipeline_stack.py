"""The example team's CI/CD pipeline: source, build, staging → smoke tests → approval →
production. (Every team in models/: test_every_team.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from aws_cdk.assertions import Match, Template

from mdlc.bootstrap import qualifier
from mdlc.contract import MODELS_DIR, TeamFileError
from stacks.pipeline import GUARDRAIL_BASELINE_STAGE, smoke_build_role_name, smoke_test_role_name
from tests.synth import synth

QUALIFIER = qualifier("fraud-detection")

NAME = "fraud-detection"
STACK = "fraud-detection-pipeline"
EXAMPLE = MODELS_DIR / "fraud-detection.yaml"
STAGING, PRODUCTION, TOOLING = "222222222222", "333333333333", "111111111111"


@pytest.fixture(scope="module")
def template(assembly) -> dict:
    return assembly.template(STACK)


@pytest.fixture(scope="module")
def stages(template) -> list[dict]:
    pipeline = next(r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline")
    return pipeline["Properties"]["Stages"]


def stage(stages: list[dict], name: str) -> dict:
    return next(s for s in stages if s["Name"] == name)


def buildspec(template: dict, logical_prefix: str) -> dict:
    project = next(r for k, r in template["Resources"].items()
                   if r["Type"] == "AWS::CodeBuild::Project" and k.startswith(logical_prefix))
    return json.loads(project["Properties"]["Source"]["BuildSpec"])


def test_stages_run_source_build_self_update_then_staging_then_production(stages):
    names = [s["Name"] for s in stages]
    assert names[:3] == ["Source", "Build", "UpdatePipeline"]
    assert names.index("fraud-detection-staging") < names.index("fraud-detection-production")
    assert names[-1] == "fraud-detection-production"


def test_production_waits_for_a_manual_approval_before_any_deployment(stages):
    actions = stage(stages, "fraud-detection-production")["Actions"]
    approval = next(a for a in actions if a["ActionTypeId"]["Category"] == "Approval")
    deploys = [a for a in actions if a["ActionTypeId"]["Category"] == "Deploy"]
    assert approval["ActionTypeId"]["Provider"] == "Manual"
    assert deploys and all(a["RunOrder"] > approval["RunOrder"] for a in deploys)


def test_staging_runs_the_smoke_test_after_every_deployment(stages, template):
    actions = stage(stages, "fraud-detection-staging")["Actions"]
    smoke = next(a for a in actions if a["Name"] == "SmokeTest")
    deploys = [a for a in actions if a["ActionTypeId"]["Category"] == "Deploy"]
    assert deploys and all(a["RunOrder"] < smoke["RunOrder"] for a in deploys)
    deployed = {a["Configuration"]["StackName"] for a in deploys}
    assert "fraud-detection-staging-fraud-detection-data" in deployed
    env = {v["name"]: v["value"] for v in json.loads(smoke["Configuration"]["EnvironmentVariables"])}
    # Stack outputs of the staging stage reach the script as variables.
    assert env["SMOKE_ROLE_ARN"].endswith(".SmokeTestRoleArn}")
    assert env["RAW_BUCKET"].endswith(".RawBucketName}")
    spec = buildspec(template, "PipelinefrauddetectionstagingSmokeTest")
    commands = spec["phases"]["build"]["commands"]
    assert commands[-1] == ".venv/bin/python scripts/smoke_test.py --team-file models/fraud-detection.yaml"


def test_the_build_step_runs_make_test_and_the_policy_guardrails_before_it_synthesises_the_team(template):
    commands = buildspec(template, "PipelineBuildSynthCdkBuildProject")["phases"]["build"]["commands"]
    assert commands == ["make test",
                        ".venv/bin/mdlc backtest --model fraud-detection --baseline-deployed production "
                        "--enforce-guardrails",
                        "npx --no-install cdk synth -c model=fraud-detection --no-notices"]


def deployed_parameter(stage_name: str) -> str:
    return f"arn:aws:ssm:eu-west-1:{TOOLING}:parameter/mdlc/fraud-detection/deployed/{stage_name}"


def ssm_grants(template: dict) -> dict[str, list[dict]]:
    """Every statement naming an SSM action, by the logical id of its policy."""
    out: dict[str, list[dict]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Policy":
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if any(a.startswith("ssm:") for a in actions):
                    out.setdefault(logical_id, []).append(statement)
    return out


@pytest.mark.parametrize("stage_name", ["staging", "production"])
def test_each_stage_records_the_commit_it_deployed_after_its_deployment_and_smoke_test(stages, template, stage_name):
    """Product test: once every stack of the stage deployed (and, in staging, the smoke test
    passed), a step writes the source commit of this execution to the stage's parameter in
    the pipeline's account. Its input is the cloud assembly, so it clones nothing."""
    actions = stage(stages, f"fraud-detection-{stage_name}")["Actions"]
    record = next(a for a in actions if a["Name"] == "RecordDeployedCommit")
    before = [a for a in actions if a["ActionTypeId"]["Category"] == "Deploy" or a["Name"] == "SmokeTest"]
    assert before and all(a["RunOrder"] < record["RunOrder"] for a in before)
    assert (stage_name == "staging") == any(a["Name"] == "SmokeTest" for a in before)
    assert [i["Name"] for i in record["InputArtifacts"]] == ["Synth_Output"]
    env = {v["name"]: v["value"] for v in json.loads(record["Configuration"]["EnvironmentVariables"])}
    source = stage(stages, "Source")["Actions"][0]
    assert env == {"DEPLOYED_COMMIT": f"#{{{source['Namespace']}.CommitId}}"}
    commands = buildspec(template, f"Pipelinefrauddetection{stage_name}RecordDeployedCommit")["phases"]["build"]
    assert commands["commands"] == [
        'test -n "$DEPLOYED_COMMIT"',
        f"aws ssm put-parameter --name /mdlc/fraud-detection/deployed/{stage_name} --type String --overwrite "
        '--value "$DEPLOYED_COMMIT"']


def test_ssm_grants_are_the_record_steps_put_and_the_guardrail_steps_get_of_production(template):
    """Product test (least privilege): each record step may only PutParameter its own stage's
    parameter; the build (the guardrail backtest) may only GetParameter production's, the
    stage whose decisions are live; no other role of the pipeline touches SSM."""
    assert GUARDRAIL_BASELINE_STAGE == "production"
    grants = {logical_id: [(s["Action"], s["Resource"]) for s in statements]
              for logical_id, statements in ssm_grants(template).items()}
    assert len(grants) == 3, grants
    for logical_id, granted in grants.items():
        if logical_id.startswith("PipelineBuildSynthCdkBuildProjectRole"):
            assert granted == [("ssm:GetParameter", deployed_parameter("production"))]
        else:
            stage_name = next(s for s in ("staging", "production")
                              if logical_id.startswith(f"Pipelinefrauddetection{s}RecordDeployedCommitRole"))
            assert granted == [("ssm:PutParameter", deployed_parameter(stage_name))]


def test_the_build_uses_an_image_with_python3_and_node_only(template):
    spec = buildspec(template, "PipelineBuildSynthCdkBuildProject")
    assert spec["phases"]["install"]["runtime-versions"] == {"python": "3.11", "nodejs": "20"}
    Template.from_json(template).has_resource_properties("AWS::CodeBuild::Project", {
        "Environment": Match.object_like({"Image": "aws/codebuild/standard:7.0", "PrivilegedMode": False}),
    })


def test_source_is_the_codeconnections_connection_named_in_the_team_file(stages):
    (action,) = stage(stages, "Source")["Actions"]
    assert action["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert action["Configuration"] == {
        "ConnectionArn": "arn:aws:codeconnections:eu-west-1:111111111111:connection/"
                         "0c5b7f2e-1d1a-4c8e-9a3b-1234567890ab",
        "FullRepositoryId": "example-org/mdlc-templates",
        "BranchName": "main",
        "OutputArtifactFormat": "CODEBUILD_CLONE_REF",  # a git clone: the guardrail backtest reads
        # the team file at the commit deployed to production
    }


def test_every_build_that_clones_the_source_may_use_the_codeconnections_connection(template):
    """Product test: the source is a git clone (the guardrail backtest reads the deployed commit), so the
    build and smoke-test roles clone through a connection whose ARN IAM authorises as
    codeconnections:UseConnection (CDK grants codestar-connections only)."""
    connection = "arn:aws:codeconnections:eu-west-1:111111111111:connection/0c5b7f2e-1d1a-4c8e-9a3b-1234567890ab"
    granted = set()
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "codeconnections:UseConnection" in actions and statement["Resource"] == connection:
                granted.add(logical_id)
    assert any(g.startswith("PipelineBuildSynthCdkBuildProjectRole") for g in granted), granted
    assert any(g.startswith("SmokeTestRole") for g in granted), granted


def test_each_stage_deploys_through_the_bootstrap_roles_of_its_own_account(stages):
    for name, account in (("fraud-detection-staging", STAGING), ("fraud-detection-production", PRODUCTION)):
        for action in stage(stages, name)["Actions"]:
            if action["ActionTypeId"]["Category"] != "Deploy":
                continue
            role = json.dumps(action["RoleArn"])
            # The team's own bootstrap (its qualifier), never the account's shared default one.
            assert f":iam::{account}:role/cdk-{QUALIFIER}-deploy-role-{account}-eu-west-1" in role, name


def test_artifact_bucket_is_encrypted_with_a_rotating_key_the_target_accounts_may_use(template):
    t = Template.from_json(template)
    t.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    key = next(r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key")
    trusted = json.dumps(key["Properties"]["KeyPolicy"])
    assert f"{STAGING}:role/cdk-{QUALIFIER}-deploy-role" in trusted
    assert f"{PRODUCTION}:role/cdk-{QUALIFIER}-deploy-role" in trusted
    pipeline = next(r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline")
    store = pipeline["Properties"]["ArtifactStore"]
    assert store["EncryptionKey"]["Type"] == "KMS"
    bucket = template["Resources"][store["Location"]["Ref"]]["Properties"]
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] == "aws:kms"
    assert bucket["LoggingConfiguration"]["DestinationBucketName"]


def test_the_pipeline_lives_in_the_tooling_account(assembly):
    manifest = json.loads((assembly.outdir / "manifest.json").read_text())
    assert manifest["artifacts"][STACK]["environment"] == f"aws://{TOOLING}/eu-west-1"


def staging_assembly(assembly) -> Path:
    return assembly.outdir / "assembly-fraud-detection-pipeline-fraud-detection-staging"


def test_the_smoke_test_role_in_staging_trusts_only_the_pipelines_smoke_test(assembly):
    templates = list(staging_assembly(assembly).glob("*smoketestaccess*.template.json"))
    assert len(templates) == 1
    role = next(r for r in json.loads(templates[0].read_text())["Resources"].values()
                if r["Type"] == "AWS::IAM::Role")["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert TOOLING in json.dumps(statement["Principal"])
    assert statement["Condition"]["ArnEquals"]["aws:PrincipalArn"] == (
        f"arn:aws:iam::{TOOLING}:role/{smoke_build_role_name(NAME)}")


def test_the_two_smoke_test_roles_have_names_of_their_own(assembly, template):
    """Product (issue 21, defect 11): the CodeBuild role in the tooling account and the role it
    assumes in staging are both named; with one name, a tooling account that is also the staging
    account would get two roles of that name and the second stack would fail to deploy."""
    [access] = staging_assembly(assembly).glob("*smoketestaccess*.template.json")
    staging_roles = {r["Properties"].get("RoleName") for r in json.loads(access.read_text())["Resources"].values()
                     if r["Type"] == "AWS::IAM::Role"}
    tooling_roles = {r["Properties"].get("RoleName") for r in template["Resources"].values()
                     if r["Type"] == "AWS::IAM::Role"}
    assert staging_roles == {smoke_test_role_name(NAME)}
    assert smoke_build_role_name(NAME) in tooling_roles
    assert not (staging_roles & tooling_roles) - {None}


def test_the_staging_stage_holds_the_teams_stacks_in_the_staging_account(assembly):
    manifest = json.loads((staging_assembly(assembly) / "manifest.json").read_text())
    stacks = {a["displayName"]: a["environment"] for a in manifest["artifacts"].values()
              if a["type"] == "aws:cloudformation:stack"}
    assert any("fraud-detection-data" in name for name in stacks)
    assert set(stacks.values()) == {f"aws://{STAGING}/eu-west-1"}


# ----------------------------------------------------------------- other team files
def team_dir(tmp_path: Path, edit) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    data = yaml.safe_load(EXAMPLE.read_text())
    edit(data)
    (models / "fraud-detection.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return models


def test_missing_staging_environment_is_named_when_a_pipeline_is_requested(tmp_path):
    models = team_dir(tmp_path, lambda d: d["environments"].pop("staging"))
    with pytest.raises(TeamFileError, match=r"field `environments.staging`: missing; expected the account"):
        synth(tmp_path / "out", models_dir=models)
    assert not list((tmp_path / "out").glob("*.template.json"))


def test_a_team_without_a_pipeline_source_gets_no_pipeline(tmp_path):
    def no_source(d):
        d.pop("pipeline")
        d["environments"].pop("staging")

    out = synth(tmp_path / "out", models_dir=team_dir(tmp_path, no_source))
    assert "fraud-detection-data" in out.templates
    assert STACK not in out.templates


def test_a_batch_only_team_gets_no_guardrail_step_and_no_ssm_read(tmp_path):
    """Any team: without decision_rules there is no policy to backtest, so the build neither
    runs the backtest nor may read the deployed commit; the record steps still record."""
    def batch_only(d):
        d.pop("decision_rules")
        d["realtime"] = {"enabled": False}

    out = synth(tmp_path / "out", models_dir=team_dir(tmp_path, batch_only))
    template = out.template(STACK)
    commands = buildspec(template, "PipelineBuildSynthCdkBuildProject")["phases"]["build"]["commands"]
    assert commands == ["make test", "npx --no-install cdk synth -c model=fraud-detection --no-notices"]
    actions = sorted(a for statements in ssm_grants(template).values() for s in statements
                     for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    assert actions == ["ssm:PutParameter", "ssm:PutParameter"]


def test_codecommit_is_used_only_when_named(tmp_path):
    def codecommit(d):
        d["pipeline"] = {"codecommit_repository": "fraud-detection", "branch": "release"}

    out = synth(tmp_path / "out", models_dir=team_dir(tmp_path, codecommit))
    pipeline = next(r for r in out.template(STACK)["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline")
    (action,) = pipeline["Properties"]["Stages"][0]["Actions"]
    assert action["ActionTypeId"]["Provider"] == "CodeCommit"
    assert action["Configuration"]["RepositoryName"] == "fraud-detection"
    assert action["Configuration"]["BranchName"] == "release"


def test_a_synth_for_a_target_stage_leaves_the_pipeline_out(tmp_path):
    out = synth(tmp_path / "out", model="fraud-detection", stage="staging")
    assert STACK not in out.templates


def test_the_smoke_test_may_start_the_training_workflow_and_nothing_broader(assembly, stages):
    """Once the training stack exports TrainingStateMachineArn, the smoke test is wired to it."""
    env = {v["name"]: v["value"] for v in json.loads(next(
        a for a in stage(stages, "fraud-detection-staging")["Actions"] if a["Name"] == "SmokeTest"
    )["Configuration"]["EnvironmentVariables"])}
    assert env["TRAINING_STATE_MACHINE_ARN"].endswith(".TrainingStateMachineArn}")
    (path,) = staging_assembly(assembly).glob("*smoketestaccess*.template.json")
    policy = next(r for r in json.loads(path.read_text())["Resources"].values() if r["Type"] == "AWS::IAM::Policy")
    grants = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert grants["StartTraining"]["Action"] == "states:StartExecution"
    assert "Fn::ImportValue" in json.dumps(grants["StartTraining"]["Resource"])
    assert grants["UploadSample"]["Resource"].endswith("/raw/transactions/smoke-test/*")


def test_the_smoke_test_calls_only_its_own_teams_decision_api(assembly):
    """A product test: the staging account may hold other teams' decision APIs; the smoke
    test's role invokes POST /decisions of this team's API only (its id, imported)."""
    (path,) = staging_assembly(assembly).glob("*smoketestaccess*.template.json")
    policy = next(r for r in json.loads(path.read_text())["Resources"].values() if r["Type"] == "AWS::IAM::Policy")
    grant = next(s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == "CallDecisionApi")
    rendered = json.dumps(grant["Resource"])
    assert "Fn::ImportValue" in rendered and rendered.endswith('/POST/decisions"]]}') and "*" not in rendered


def test_no_pipeline_role_may_start_write_or_list_on_any_resource(template):
    """A product test: in an account holding several teams' pipelines, the statements CDK
    Pipelines generates on "*" (the asset role's codebuild:StartBuild, self-mutation's
    s3:ListBucket and sts:AssumeRole on every role) are scoped to this team's asset projects
    (named <team>--assets-<n>), its bootstrap qualifier's bucket and roles. Only
    cloudformation:DescribeStacks (read-only stack status) stays on "*"."""
    statements = [s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    on_any = sorted({a for s in statements if "*" in (s["Resource"] if isinstance(s["Resource"], list) else
                                                      [s["Resource"]])
                     for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])})
    assert on_any == ["cloudformation:DescribeStacks"]
    resources = json.dumps(statements)
    assert ":role/*" not in resources and ":project/fraud-detection--assets-*" in resources
    projects = {r["Properties"].get("Name") for r in template["Resources"].values()
                if r["Type"] == "AWS::CodeBuild::Project"}
    assert "fraud-detection--assets-1" in projects

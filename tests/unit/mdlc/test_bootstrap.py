"""The team's own CDK bootstrap (mdlc/bootstrap.py): qualifier, bootstrap template, commands
(product tests; the policies are evaluated against deployed teams in
tests/infrastructure/test_team_bootstrap.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mdlc import bootstrap
from mdlc.cli import main
from mdlc.contract import MODELS_DIR, TeamFileError, load_team


def test_qualifier_is_deterministic_short_lowercase_and_differs_per_team():
    names = ["fraud", "fraud-detection", "fraud-detection-b", "a", "x" * 30]
    qualifiers = [bootstrap.qualifier(n) for n in names]
    assert qualifiers == [bootstrap.qualifier(n) for n in names]
    assert all(re.fullmatch(bootstrap.QUALIFIER_PATTERN, q) and len(q) == 10 for q in qualifiers)
    assert len(set(qualifiers)) == len(names)
    assert "hnb659fds" not in qualifiers  # never the account's shared default bootstrap


def test_qualifier_override_is_checked():
    assert bootstrap.qualifier("fraud", "legacy01") == "legacy01"
    with pytest.raises(ValueError, match="expected 1-10 lowercase letters and digits"):
        bootstrap.qualifier("fraud", "Legacy_01")


def test_team_file_refuses_a_qualifier_cdk_cannot_name_buckets_with(tmp_path: Path):
    data = yaml.safe_load((MODELS_DIR / "fraud-detection.yaml").read_text())
    data["pipeline"]["bootstrap_qualifier"] = "Has-Upper"
    path = tmp_path / "fraud-detection.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(TeamFileError, match="bootstrap_qualifier"):
        load_team(path)
    data["pipeline"]["bootstrap_qualifier"] = "fd2024"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert load_team(path).pipeline.bootstrap_qualifier == "fd2024"


def test_bootstrap_template_limits_the_deploy_role_to_the_teams_stacks():
    template = bootstrap.bootstrap_template(["fraud-data", "fraud-training"])
    statements = template["Resources"]["DeploymentActionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a.startswith("cloudformation:") for a in actions):
            assert statement["Resource"] != "*", statement
            arns = [r["Fn::Sub"] for r in statement["Resource"]]
            assert arns == [f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:stack/{s}/*"
                            for s in ("fraud-data", "fraud-training")]
    # The rest of CDK's template is kept (the qualifier is its parameter).
    assert "Qualifier" in template["Parameters"] and "CloudFormationExecutionRole" in template["Resources"]


def test_commands_name_the_qualifier_toolkit_stack_policies_and_trust(tmp_path: Path):
    deployment = bootstrap.TeamDeployment("fraud", "222222222222", "eu-west-1", {}, bootstrap.qualifier("fraud"))
    plan = bootstrap.BootstrapPlan(deployment, trust=("111111111111",))
    commands = plan.commands(tmp_path, policies=2)
    assert commands[0].startswith("aws iam create-policy --policy-name fraud--boundary ")
    cdk = commands[-1]
    assert f"--qualifier {bootstrap.qualifier('fraud')}" in cdk
    assert "--toolkit-stack-name CDKToolkit-fraud" in cdk
    assert ("--cloudformation-execution-policies arn:aws:iam::222222222222:policy/fraud--cfn-execution-1,"
            "arn:aws:iam::222222222222:policy/fraud--cfn-execution-2") in cdk
    assert "--trust 111111111111" in cdk and "AdministratorAccess" not in " ".join(commands)


def test_cli_names_a_missing_team_file(tmp_path: Path):
    result = CliRunner().invoke(main, ["bootstrap", "--model", "nosuch", "--models-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no team file for model 'nosuch'" in result.output


def test_a_team_named_like_another_teams_stack_is_found():
    starts = bootstrap.name_starts("fraud", ["fraud-data", "fraud-training", "fraud-pipeline"])
    assert bootstrap.colliding_teams(starts, ["fraud-data", "fraud-training-b", "fraud-detection", "fraud-x"]) == [
        "fraud-data", "fraud-training-b"]
    stage = bootstrap.name_starts("fraud", ["fraud-staging-fraud-data", "fraud-staging-fraud-training"])
    assert "fraud-staging-fraud-" in stage and "fraud-" not in stage
    assert bootstrap.colliding_teams(stage, ["fraud-staging", "fraud-staging-fraud"]) == ["fraud-staging-fraud"]
    # Never <team>-: the stacks of one stage share only that.
    assert "fraud-" not in bootstrap.name_starts("fraud", ["fraud-data", "fraud-detection-x"])

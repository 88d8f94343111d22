"""The CDK app: per-team stacks, deterministic names, many teams side by side, early failure."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from mdlc.contract import MODELS_DIR, TeamFileError
from tests.synth import synth

EXAMPLE = MODELS_DIR / "fraud-detection.yaml"


def second_team_dir(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    (models / "fraud-detection.yaml").write_text(EXAMPLE.read_text())
    data = yaml.safe_load(EXAMPLE.read_text())
    data["name"] = "chargeback-risk"
    data["owner"]["email"] = "chargebacks@example.com"
    (models / "chargeback-risk.yaml").write_text(yaml.safe_dump(data))
    return models


@pytest.fixture(scope="module")
def two_teams(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two-teams")
    return synth(tmp / "cdk.out", models_dir=second_team_dir(tmp))


def named_resources(template: dict) -> set[str]:
    """Physical names the templates fix (everything else CDK names uniquely per stack)."""
    keys = ("BucketName", "TableName", "TopicName", "ModelPackageGroupName", "StateMachineName",
            "FunctionName", "AliasName", "RoleName", "LogGroupName", "Name", "RuleName",
            "DashboardName", "AlarmName", "EventBusName", "EndpointName")
    found = set()
    for res in template["Resources"].values():
        for key in keys:
            value = res.get("Properties", {}).get(key)
            if isinstance(value, str):
                found.add(f"{res['Type']}:{value}")
    return found


def test_a_second_team_synthesises_beside_the_first_without_collisions(two_teams):
    names = set(two_teams.templates)
    assert any(n.startswith("chargeback-risk-") for n in names)
    assert any(n.startswith("fraud-detection-") for n in names)
    per_team = {"fraud-detection": set(), "chargeback-risk": set()}
    for stack, template in two_teams.templates.items():
        team = "fraud-detection" if stack.startswith("fraud-detection") else "chargeback-risk"
        per_team[team] |= named_resources(template)
    assert per_team["fraud-detection"]
    assert per_team["fraud-detection"].isdisjoint(per_team["chargeback-risk"])


def test_construct_ids_are_deterministic_across_synths(assembly, tmp_path):
    again = synth(tmp_path / "again", model="fraud-detection")
    for stack in again.templates:
        assert set(again.template(stack)["Resources"]) == set(assembly.template(stack)["Resources"])


def test_selecting_one_team_synthesises_only_that_team(tmp_path):
    models = second_team_dir(tmp_path)
    one = synth(tmp_path / "out", models_dir=models, model="chargeback-risk")
    assert one.templates and all(n.startswith("chargeback-risk-") for n in one.templates)


def test_unknown_team_is_named_with_the_teams_available(tmp_path):
    with pytest.raises(TeamFileError, match=r"got 'fraud'; expected one of the team files: fraud-detection"):
        synth(tmp_path / "out", model="fraud")


def test_stage_selects_the_account_and_region_of_the_team_file(tmp_path):
    out = synth(tmp_path / "out", model="fraud-detection", stage="production")
    manifest = json.loads((out.outdir / "manifest.json").read_text())
    envs = {a["environment"] for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack"}
    assert envs == {"aws://333333333333/eu-west-1"}


def test_wrong_team_file_fails_synth_before_any_template_is_written(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "fraud-detection.yaml").write_text(
        EXAMPLE.read_text().replace("eta: 0.1", "eta: fast").replace("min_capacity: 2", "min_capacity: 0")
    )
    out = tmp_path / "out"
    with pytest.raises(TeamFileError) as err:
        synth(out, models_dir=models)
    assert "field `realtime.min_capacity`: got 0" in str(err.value)
    assert not list(out.glob("*.template.json"))


def test_app_py_names_the_file_and_field_and_writes_nothing(tmp_path):
    """`cdk synth` runs app.py; a wrong team file stops it with the file and field named."""
    import os
    import sys

    from mdlc.contract import REPO_ROOT

    models = tmp_path / "models"
    models.mkdir()
    (models / "fraud-detection.yaml").write_text(
        EXAMPLE.read_text().replace("alert_email: fraud-ml-oncall@example.com", "alert_email: nobody"))
    out = tmp_path / "out"
    env = {**os.environ, "MDLC_MODELS_DIR": str(models), "CDK_OUTDIR": str(out)}
    result = subprocess.run([sys.executable, "app.py"], capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    assert result.returncode == 1
    assert f"{models}/fraud-detection.yaml" in result.stderr
    assert "field `owner.alert_email`: got 'nobody'" in result.stderr
    assert not out.exists() or not list(out.glob("*.template.json"))


def test_every_function_declares_the_python_its_handlers_are_tested_on(assembly):
    """The Lambda runtime of the stacks is the Python of the handler-test virtualenv
    (runtimes/lambda-python): if either changes alone, this fails."""
    import subprocess

    from mdlc.runtimes import lambda_runtime

    runtime = lambda_runtime()
    declared = {
        resource["Properties"]["Runtime"]
        for template in assembly.templates.values()
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function" and "Runtime" in resource["Properties"]
    }
    assert declared == {f"python{runtime.python}"}
    tested = subprocess.run([str(runtime.require_built()), "-c",
                             "import sys; print('%d.%d' % sys.version_info[:2])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert tested == runtime.python


def test_app_py_takes_the_region_from_context_not_the_clis_default_and_prints_it(tmp_path):
    """What `npx cdk synth -c region=us-east-2 -c account=...` hands app.py: the context as
    CDK_CONTEXT_JSON and CDK_DEFAULT_REGION set by the CLI itself (us-east-1 here)."""
    import os
    import sys

    from mdlc.contract import REPO_ROOT
    from tests.second_team import write_second_team

    models = tmp_path / "models"
    write_second_team(models)
    out = tmp_path / "out"
    context = {**json.loads((REPO_ROOT / "cdk.json").read_text())["context"],
               "model": "merchant-chargeback", "region": "us-east-2", "account": "210987654321"}
    env = {**os.environ, "MDLC_MODELS_DIR": str(models), "CDK_OUTDIR": str(out),
           "CDK_CONTEXT_JSON": json.dumps(context), "CDK_DEFAULT_REGION": "us-east-1",
           "CDK_DEFAULT_ACCOUNT": "999999999999"}
    result = subprocess.run([sys.executable, "app.py"], capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("merchant-chargeback (dev): account 210987654321, region us-east-2 "
            "(from -c region=us-east-2 -c account=210987654321)") in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    envs = {a["environment"] for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack"}
    assert envs == {"aws://210987654321/us-east-2"}
    data = json.loads((out / "merchant-chargeback-data.template.json").read_text())
    names = [r["Properties"]["BucketName"] for r in data["Resources"].values()
             if r["Type"] == "AWS::S3::Bucket" and isinstance(r["Properties"].get("BucketName"), str)]
    assert names and all(n.endswith("-210987654321-us-east-2") for n in names)

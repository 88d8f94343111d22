"""Every synthesised state machine: valid ASL, robust by construction, JSONPath only."""

from __future__ import annotations

import json
import subprocess

import pytest

from mdlc import runtimes
from mdlc.contract import REPO_ROOT

PLACEHOLDER = "arn:aws:lambda:eu-west-1:111111111111:function:placeholder"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111111111111",
          "AWS::URLSuffix": "amazonaws.com"}


def render(definition) -> dict:
    """The definition with pseudo parameters filled in and other references as placeholder ARNs."""
    if isinstance(definition, str):
        return json.loads(definition)
    parts = definition["Fn::Join"][1]

    def text(part) -> str:
        if isinstance(part, str):
            return part
        return PSEUDO.get(part.get("Ref", ""), PLACEHOLDER)

    return json.loads("".join(text(p) for p in parts))


def state_machines(assembly) -> dict[str, dict]:
    found = {}
    for stack, template in assembly.templates.items():
        for logical_id, res in template["Resources"].items():
            if res["Type"] == "AWS::StepFunctions::StateMachine":
                found[f"{stack}/{logical_id}"] = res
    return found


def all_states(definition: dict, caught: bool = False):
    """(name, state, caught by an enclosing Map/Parallel) for every state, nested ones too."""
    for name, state in definition["States"].items():
        yield name, state, caught
        inner_caught = caught or any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", []))
        for branch in state.get("Branches", []):
            yield from all_states(branch, inner_caught)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from all_states(state[key], inner_caught)


def test_the_team_has_its_workflows(assembly):
    names = {res["Properties"].get("StateMachineName") for res in state_machines(assembly).values()}
    assert "fraud-detection--training" in names


def test_every_state_machine_passes_asl_validator(assembly, tmp_path):
    machines = state_machines(assembly)
    paths = []
    for i, (_name, res) in enumerate(sorted(machines.items())):
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps(render(res["Properties"]["DefinitionString"])))
        paths.append(path)
    args = [a for p in paths for a in ("--json-path", str(p))]
    result = subprocess.run(
        ["npx", "--no-install", "asl-validator", *args], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_asl_validator_rejects_a_broken_definition(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "End": True}}}))
    result = subprocess.run(
        ["npx", "--no-install", "asl-validator", "--json-path", str(bad)],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert result.returncode != 0


@pytest.fixture(scope="module")
def machines(assembly):
    return {
        name: (res, render(res["Properties"]["DefinitionString"]))
        for name, res in state_machines(assembly).items()
    }


def test_every_task_retries_transient_errors_with_jitter_and_catches_everything(machines):
    for machine, (_res, definition) in machines.items():
        for name, state, enclosed in all_states(definition):
            if state["Type"] != "Task":
                continue
            catches = [e for c in state.get("Catch", []) for e in c["ErrorEquals"]]
            assert enclosed or "States.ALL" in catches, f"{machine}: {name} has no catch-all"
            if name.startswith("Notify "):
                continue  # the failure path's own notification: its catch goes straight to Fail
            retries = state.get("Retry", [])
            assert retries, f"{machine}: {name} has no Retry"
            assert any("ThrottlingException" in r["ErrorEquals"] for r in retries), name
            assert all(r.get("JitterStrategy") == "FULL" and r.get("BackoffRate", 1) > 1 for r in retries), name


def test_no_state_machine_uses_jsonata(machines):
    for machine, (_res, definition) in machines.items():
        assert definition.get("QueryLanguage", "JSONPath") == "JSONPath", machine
        for name, state, _ in all_states(definition):
            assert state.get("QueryLanguage", "JSONPath") == "JSONPath", f"{machine}: {name}"


def test_state_machines_log_everything_encrypted_trace_and_time_out(assembly, machines):
    for machine, (res, definition) in machines.items():
        props = res["Properties"]
        assert props["TracingConfiguration"] == {"Enabled": True}, machine
        assert props["LoggingConfiguration"]["Level"] == "ALL", machine
        assert "TimeoutSeconds" in definition, machine
        stack = machine.split("/")[0]
        groups = [r for r in assembly.template(stack)["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"]
        assert groups and all("KmsKeyId" in g["Properties"] for g in groups), machine


def training(machines) -> dict:
    return next(d for name, (r, d) in machines.items()
                if r["Properties"]["StateMachineName"] == "fraud-detection--training")


def test_training_runs_the_stages_in_order_and_stops_in_named_failures(machines):
    d = training(machines)
    s = d["States"]
    order: list[str] = []
    name = d["StartAt"]
    while name and name not in order:  # the happy path: first choice of every Choice
        order.append(name)
        state = s[name]
        name = state["Choices"][0]["Next"] if state["Type"] == "Choice" else state.get("Next")
    assert order[:5] == ["Prepare run", "Data quality check", "Read data quality report",
                         "Data quality passed?", "Feature engineering"]
    assert order.index("Train model") < order.index("Evaluate challenger") < order.index("Register model version")
    assert order.index("Feature engineering") + 1 == order.index("Train model")
    fails = {n for n, st in s.items() if st["Type"] == "Fail"}
    assert {"DataQualityFailed", "EvaluationGateFailed", "TrainingWorkflowFailed"} <= fails
    assert s["Data quality passed?"]["Default"] == "Notify DataQualityFailed"


def test_training_writes_nothing_that_production_serves(assembly):
    """The online feature table belongs to the feature pipeline: no training state or
    function of any team may write it (a rejected challenger changes nothing served)."""
    trainings = [name for name in assembly.templates if name.endswith("-training")]
    assert trainings
    for team in trainings:
        text = json.dumps(assembly.template(team))
        assert "dynamodb:PutItem" not in text and "dynamodb:BatchWriteItem" not in text, team
        assert "FEATURE_TABLE" not in text, team


def test_training_job_takes_hyperparameters_seed_and_spot_from_the_team_file(machines):
    train = training(machines)["States"]["Train model"]
    assert train["Resource"].endswith("sagemaker:createTrainingJob.sync")
    p = train["Parameters"]
    assert p["HyperParameters"]["max_depth"] == "5"
    assert p["HyperParameters"]["seed"] == "42"
    assert json.loads(p["HyperParameters"]["sagemaker_program"]) == "train.py"  # python -m train
    assert p["EnableManagedSpotTraining"] is True
    assert p["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    version = runtimes.default_version()  # the team file names no version: the newest manifest
    assert p["AlgorithmSpecification"]["TrainingImage"].endswith(f"/sagemaker-xgboost:{version}")
    assert p["ResourceConfig"]["InstanceCount"] == 1


def test_workflow_role_passes_only_the_sagemaker_execution_role(assembly):
    template = assembly.template("fraud-detection-training")
    for res in template["Resources"].values():
        if res["Type"] != "AWS::IAM::Policy":
            continue
        for st in res["Properties"]["PolicyDocument"]["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if "iam:PassRole" in actions:
                assert st["Resource"] != "*"
                assert (
                    "SageMakerExecutionRole" in json.dumps(st["Resource"])
                    or "sagemaker" in json.dumps(st["Resource"]).lower()
                )
                assert st["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_every_lambda_names_its_handler_for_the_offline_harness(assembly):
    for template in assembly.templates.values():
        for res in template["Resources"].values():
            if res["Type"] == "AWS::Lambda::Function" and "mdlc:source" in res.get("Metadata", {}):
                module = res["Properties"]["Handler"].rpartition(".")[0].replace(".", "/")
                source = REPO_ROOT / res["Metadata"]["mdlc:source"] / f"{module}.py"
                assert source.is_file(), source


def test_a_custom_training_image_replaces_the_builtin_container(tmp_path):
    import yaml

    from mdlc.contract import MODELS_DIR
    from tests.synth import synth

    data = yaml.safe_load((MODELS_DIR / "fraud-detection.yaml").read_text())
    image = "444455556666.dkr.ecr.eu-west-1.amazonaws.com/fraud-trainer:2.1"
    requirements = f"runtimes/xgboost-{runtimes.default_version()}/requirements.txt"
    data["training"]["algorithm"] = {"image_uri": image, "entry_point": "train.py",
                                     "runtime": {"python": "3.12", "requirements": requirements}}
    data["training"]["instance_count"] = 3
    models = tmp_path / "models"
    models.mkdir()
    (models / "fraud-detection.yaml").write_text(yaml.safe_dump(data))

    out = synth(tmp_path / "out", models_dir=models, stage="dev", pipelines=False)

    res = next(r for r in out.template("fraud-detection-training")["Resources"].values()
               if r["Type"] == "AWS::StepFunctions::StateMachine")
    p = render(res["Properties"]["DefinitionString"])["States"]["Train model"]["Parameters"]
    assert p["AlgorithmSpecification"]["TrainingImage"] == image
    assert p["ResourceConfig"]["InstanceCount"] == 3
    assert p["EnableInterContainerTrafficEncryption"] is True
    train_channel = p["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert train_channel["S3DataDistributionType"] == "ShardedByS3Key"  # each instance its shard

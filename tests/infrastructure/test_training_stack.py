"""CDK assertions on the example team's training stack: the workflow's order, the training job's
settings from the team file, what its roles may do (product: the synthesised templates)."""

from __future__ import annotations

import json

import pytest

from mdlc import runtimes
from tests.infrastructure.test_state_machines import render, state_machines


@pytest.fixture(scope="module")
def machines(assembly):
    return {
        name: (res, render(res["Properties"]["DefinitionString"]))
        for name, res in state_machines(assembly).items()
    }


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


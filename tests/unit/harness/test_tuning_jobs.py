"""Hyperparameter tuning jobs offline (mdlc/harness/tuning.py): the harness' own emulation of
SageMaker's tuning job, whose trials are real script-mode training jobs."""

from __future__ import annotations

import io
import json
import random
import tarfile

import pytest

from mdlc.harness import tuning

from .support import BUCKET, FIXTURES, IMAGE, aws, machine, put, read, tar_gz  # noqa: F401 - fixture

RANGES = {
    "ContinuousParameterRanges": [{"Name": "offset", "MinValue": "0", "MaxValue": "6", "ScalingType": "Linear"}],
    "IntegerParameterRanges": [{"Name": "depth", "MinValue": "1", "MaxValue": "4", "ScalingType": "Auto"}],
    "CategoricalParameterRanges": [{"Name": "kind", "Values": ["a", "b"]}],
}


def tuning_parameters(aws, *, jobs: int = 4, parallel: int = 2, seed: int = 7) -> dict:  # noqa: F811
    source = put(aws, "code/tune.tar.gz", tar_gz({"train.py": FIXTURES / "jobs" / "tune" / "train.py"}))
    put(aws, "splits/train/data.csv", "id,y\na,1\n")
    return {
        "HyperParameterTuningJobName.$": "$.job",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian", "RandomSeed": seed, "TrainingJobEarlyStoppingType": "Off",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:score"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": RANGES,
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"sagemaker_program": '"train.py"',
                                      "sagemaker_submit_directory": json.dumps(source)},
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File", "MetricDefinitions": [
                {"Name": "validation:score", "Regex": r"score=([-+0-9.eE]+);"}]},
            "RoleArn": aws.execution_role_arn(),
            "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/splits/train/"}}}],
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 120},
        },
    }


def tune(aws, name: str, **kw) -> tuple:  # noqa: F811
    task = {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync",
            "Parameters": tuning_parameters(aws, **kw), "End": True}
    result = aws.run(machine(aws, {"Tune": task}, "Tune"), {"job": name})
    trials = aws.client("sagemaker").list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, SortBy="Name")["TrainingJobSummaries"]
    return result, trials


def test_trials_are_real_training_jobs_and_the_best_objective_wins(aws):  # noqa: F811
    """4 trials, 2 at a time, each a training job whose last logged score is its objective;
    BestTrainingJob is the highest; the model of every trial is where SageMaker puts it."""
    result, trials = tune(aws, "tune-a")

    assert result.succeeded, result.cause
    assert [t["TrainingJobName"].rsplit("-", 1)[0] for t in trials] == [f"tune-a-{i:03d}" for i in range(1, 5)]
    values = {t["TrainingJobName"]: t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for t in trials}
    best = result.output["BestTrainingJob"]
    assert best["TrainingJobName"] == max(values, key=values.get)
    assert result.output["HyperParameterTuningJobStatus"] == "Completed"
    assert result.output["TrainingJobStatusCounters"]["Completed"] == 4
    runs = []
    for t in trials:
        hp = t["TunedHyperParameters"]
        assert 0 <= float(hp["offset"]) <= 6 and hp["depth"] in {"1", "2", "3", "4"} and hp["kind"] in {"a", "b"}
        # the last match, not the early -100: the objective is what the script ended with
        assert values[t["TrainingJobName"]] == pytest.approx(-(float(hp["offset"]) - 3) ** 2 - 0.01 * int(hp["depth"]))
        body = read(aws, f"models/{t['TrainingJobName']}/output/model.tar.gz")
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            runs.append(json.load(tar.extractfile("model.json")))
        assert runs[-1]["offset"] == float(hp["offset"])  # the tuned value reached the script
    # MaxParallelTrainingJobs: 2 trials ran at the same time (each sleeps a second)
    runs.sort(key=lambda r: r["started"])
    assert any(b["started"] < a["ended"] for a, b in zip(runs, runs[1:], strict=False))
    described = aws.client("sagemaker").describe_training_job(TrainingJobName=best["TrainingJobName"])
    assert described["TrainingJobStatus"] == "Completed"


def test_the_same_seed_picks_the_same_trials_and_winner(aws):  # noqa: F811
    """RandomSeed makes the search reproducible: the same values in the same order (whatever
    order the parallel trials finish in), so the same winning trial."""
    first, trials_a = tune(aws, "tune-b", jobs=3, parallel=3)
    second, trials_b = tune(aws, "tune-c", jobs=3, parallel=3)
    _, trials_other = tune(aws, "tune-d", jobs=3, parallel=3, seed=8)

    assert [t["TunedHyperParameters"] for t in trials_a] == [t["TunedHyperParameters"] for t in trials_b]
    def trial_number(result) -> str:  # <tuning job>-<NNN>-<8 hex>
        return result.output["BestTrainingJob"]["TrainingJobName"].rsplit("-", 2)[-2]

    assert trial_number(first) == trial_number(second)
    assert [t["TunedHyperParameters"] for t in trials_other] != [t["TunedHyperParameters"] for t in trials_a]


def test_no_successful_trial_fails_the_tuning_job_and_the_task(aws):  # noqa: F811
    """Every trial failed: the tuning job is Failed naming each trial's reason, and the .sync
    task fails with States.TaskFailed, as Step Functions reports a failed job."""
    aws.fail_next_job("training", "AlgorithmError: out of memory")
    aws.fail_next_job("training", "AlgorithmError: out of memory")

    result, trials = tune(aws, "tune-e", jobs=2, parallel=1)

    assert (result.status, result.error) == ("FAILED", "States.TaskFailed")
    cause = json.loads(result.cause)
    assert cause["HyperParameterTuningJobStatus"] == "Failed"
    assert "tune-e-001" in cause["FailureReason"] and "out of memory" in cause["FailureReason"]
    assert [t["ObjectiveStatus"] for t in trials] == ["Failed", "Failed"]


def test_the_workflows_role_puts_the_managed_rule_of_sync_tasks(aws):  # noqa: F811
    """Step Functions' managed rule for a .sync tuning task is put and read as the execution's
    role, so the IAM evaluation sees events:PutRule/PutTargets/DescribeRule on it."""
    tune(aws, "tune-f", jobs=1, parallel=1)

    rule = aws.client("events").describe_rule(Name="StepFunctionsGetEventsForSageMakerTuningJobsRule")
    assert "SageMaker HyperParameter Tuning Job State Change" in rule["EventPattern"]
    decided = {(d.action, d.resource.rsplit("/", 1)[-1]) for d in aws.iam.decisions if d.allowed}
    for action in ("events:PutRule", "events:PutTargets", "events:DescribeRule"):
        assert (action, "StepFunctionsGetEventsForSageMakerTuningJobsRule") in decided


def test_sampling_follows_the_ranges_and_their_scaling():
    """Integer, continuous (Linear, Logarithmic, ReverseLogarithmic) and categorical draws stay
    in range; Logarithmic draws are uniform in log space (a median near the geometric mean)."""
    ranges = {
        "IntegerParameterRanges": [{"Name": "n", "MinValue": "3", "MaxValue": "8"}],
        "ContinuousParameterRanges": [
            {"Name": "log", "MinValue": "0.001", "MaxValue": "10", "ScalingType": "Logarithmic"},
            {"Name": "rev", "MinValue": "0.9", "MaxValue": "0.999", "ScalingType": "ReverseLogarithmic"}],
        "CategoricalParameterRanges": [{"Name": "c", "Values": ["x", "y"]}],
    }
    rng = random.Random(1)
    draws = [tuning.sample(ranges, rng) for _ in range(2000)]
    assert {d["n"] for d in draws} == {str(i) for i in range(3, 9)}
    logs = sorted(float(d["log"]) for d in draws)
    assert 0.001 <= logs[0] and logs[-1] <= 10
    assert 0.03 < logs[1000] < 0.3  # geometric mean 0.1; a linear draw's median would be ~5
    assert all(0.9 <= float(d["rev"]) <= 0.999 for d in draws)
    assert {d["c"] for d in draws} == {"x", "y"}


def test_the_objective_is_the_last_match_and_ties_go_to_the_earlier_trial():
    defs = [{"Name": "m", "Regex": r"m=([0-9.]+);"}]
    assert tuning.objective_value("m=0.1; m=0.7;", defs, "m") == 0.7
    assert tuning.objective_value("nothing here", defs, "m") is None
    assert tuning.objective_value("m=0.7;", defs, "other") is None
    trials = [{"TrainingJobName": n, "ObjectiveStatus": "Succeeded",
               "FinalHyperParameterTuningJobObjectiveMetric": {"Value": v}} for n, v in (("a", 1), ("b", 2), ("c", 2))]
    assert tuning.best_trial(trials)["TrainingJobName"] == "b"
    assert tuning.best_trial(trials, "Minimize")["TrainingJobName"] == "a"

"""The training workflow's tuning path (``training.tuning``): a SageMaker hyperparameter tuning
job in place of the single training job, then the best trial's model goes to the gate.

``createHyperParameterTuningJob.sync`` has no CDK task class, so the state is written out like
the other job tasks (``stacks/common/sagemaker_jobs.py``). Its training job definition is the
single training job's request (same image, channels, output, instances, network, spot), with
the team's fixed hyperparameters as ``StaticHyperParameters`` and the objective read from the
script's log by ``MetricDefinitions`` (``sagemaker_jobs/training/objective.py``).
"""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from mdlc.contract import REPO_ROOT, TeamConfig, Tuning
from stacks.common.nag import acknowledge_resource
from stacks.common.workflow import guard

TUNING_RULE = "StepFunctionsGetEventsForSageMakerTuningJobsRule"
# The definition takes these members of CreateTrainingJob unchanged (HyperParameterTrainingJobDefinition).
_DEFINITION_MEMBERS = ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig", "ResourceConfig",
                       "StoppingCondition", "VpcConfig", "EnableNetworkIsolation",
                       "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "CheckpointConfig",
                       "RetryStrategy", "Environment")


@cache
def objective_module() -> Any:
    """The training script's objective module (one definition of the log line and its regex)."""
    path = REPO_ROOT / "sagemaker_jobs" / "training" / "objective.py"
    spec = importlib.util.spec_from_file_location("mdlc_training_objective", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parameter_ranges(tuning: Tuning) -> dict[str, list[dict[str, Any]]]:
    """``ParameterRanges`` of the request: SageMaker takes every bound and value as a string."""
    ranges: dict[str, list[dict[str, Any]]] = {
        "IntegerParameterRanges": [], "ContinuousParameterRanges": [], "CategoricalParameterRanges": []}
    for name, r in sorted(tuning.ranges.items()):
        if r.type == "categorical":
            ranges["CategoricalParameterRanges"].append({"Name": name, "Values": [str(v) for v in r.values or []]})
            continue
        assert r.min is not None and r.max is not None
        low, high = (str(int(r.min)), str(int(r.max))) if r.type == "integer" else (repr(r.min), repr(r.max))
        kind = "IntegerParameterRanges" if r.type == "integer" else "ContinuousParameterRanges"
        ranges[kind].append({"Name": name, "MinValue": low, "MaxValue": high, "ScalingType": r.scaling})
    return {kind: items for kind, items in ranges.items() if items}


def tuning_parameters(team: TeamConfig, training: dict[str, Any]) -> dict[str, Any]:
    """The CreateHyperParameterTuningJob request, built from the single training job's."""
    tuning = team.training.tuning
    assert tuning is not None
    objective = objective_module()
    definition = {key: value for key, value in training.items() if key in _DEFINITION_MEMBERS}
    definition["AlgorithmSpecification"] = {
        **training["AlgorithmSpecification"], "MetricDefinitions": objective.metric_definitions(team.evaluation.metric)}
    # A tuned name must not also be static (SageMaker refuses the request).
    definition["StaticHyperParameters"] = {
        key: value for key, value in training["HyperParameters"].items() if key not in tuning.ranges}
    return {
        "HyperParameterTuningJobName.$": "$.run.job_names.tuning",
        "HyperParameterTuningJobConfig": {
            "Strategy": tuning.strategy,
            "HyperParameterTuningJobObjective": {
                "Type": "Maximize", "MetricName": objective.metric_name(team.evaluation.metric)},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": tuning.max_jobs,
                               "MaxParallelTrainingJobs": tuning.max_parallel_jobs},
            "ParameterRanges": parameter_ranges(tuning),
            # Early stopping reads per-epoch metrics; the script reports its objective once, at the end.
            "TrainingJobEarlyStoppingType": "Off",
            # The same seed, data and ranges give the same trials: the run is reproducible.
            "RandomSeed": team.training.seed,
        },
        "TrainingJobDefinition": definition,
        "Tags": training.get("Tags", []),
    }


def tuning_states(scope: Construct, team: TeamConfig, training: dict[str, Any],
                  on_error: sfn.IChainable) -> sfn.Chain:
    """Tune, then read the best trial's model: ``$.tuning`` and ``$.training`` (as one job writes it)."""
    tune = sfn.CustomState(
        scope, "Tune hyperparameters",
        state_json={
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync",
            "Parameters": tuning_parameters(team, training),
            "ResultSelector": {
                "job_name.$": "$.HyperParameterTuningJobName",
                "status.$": "$.HyperParameterTuningJobStatus",
                "strategy.$": "$.HyperParameterTuningJobConfig.Strategy",
                "best_training_job.$": "$.BestTrainingJob.TrainingJobName",
                "objective.$": "$.BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric",
                "trial_counts.$": "$.TrainingJobStatusCounters",
            },
            "ResultPath": "$.tuning",
        },
    )
    best = sfn.CustomState(
        scope, "Read best training job",
        state_json={
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob",
            "Parameters": {"TrainingJobName.$": "$.tuning.best_training_job"},
            "ResultSelector": {
                "job_name.$": "$.TrainingJobName",
                "status.$": "$.TrainingJobStatus",
                "model_uri.$": "$.ModelArtifacts.S3ModelArtifacts",
            },
            "ResultPath": "$.training",
        },
    )
    return sfn.Chain.start(guard(tune, on_error)).next(guard(best, on_error))


def tuning_job_arn(scope: Construct, name_prefix: str) -> str:
    return cdk.Stack.of(scope).format_arn(service="sagemaker", resource="hyper-parameter-tuning-job",
                                          resource_name=f"{name_prefix}*")


def grant_tuning(role: iam.IRole, *, name_prefix: str) -> None:
    """Run, watch and stop tuning jobs named ``<name_prefix>*`` (.sync; the training permissions
    already pass the execution role and grant the volume key). The trials are created by
    SageMaker, not by this role."""
    arn = tuning_job_arn(role, name_prefix)
    role.add_to_principal_policy(iam.PolicyStatement(
        actions=["sagemaker:CreateHyperParameterTuningJob", "sagemaker:DescribeHyperParameterTuningJob",
                 "sagemaker:StopHyperParameterTuningJob", "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
                 "sagemaker:AddTags"],
        resources=[arn],
    ))
    role.add_to_principal_policy(iam.PolicyStatement(
        actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
        resources=[cdk.Stack.of(role).format_arn(service="events", resource="rule", resource_name=TUNING_RULE)],
    ))
    acknowledge_resource(role, arn, "Tuning job names carry the run, known only at run time; the prefix <team>-- "
                                    "is this team's alone (no team name contains --).")


def grant_list_trials(role: iam.IRole, *, name_prefix: str) -> None:
    """Read a tuning job's trials (the registration records each trial's values and objective)."""
    arn = tuning_job_arn(role, name_prefix)
    role.add_to_principal_policy(iam.PolicyStatement(
        actions=["sagemaker:ListTrainingJobsForHyperParameterTuningJob"], resources=[arn]))
    acknowledge_resource(role, arn, "Tuning job names carry the run, known only at run time; the prefix <team>-- "
                                    "is this team's alone (no team name contains --).")

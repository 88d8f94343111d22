"""Emulate SageMaker hyperparameter tuning jobs: every trial is a real training job.

When a CreateHyperParameterTuningJob request reaches moto, moto records the job (with
placeholder results); the harness then runs the tuning job as SageMaker does, with the
project's real code:

* ``ResourceLimits.MaxNumberOfTrainingJobs`` trials, at most ``MaxParallelTrainingJobs`` at a
  time (threads; each trial's training is its own process, so they really run in parallel);
* each trial is a ``CreateTrainingJob`` through moto (request validation, the job emulator of
  ``jobs.py`` in the image's runtime, the execution role's IAM), named
  ``<tuning job>-<NNN>-<8 hex>`` like SageMaker's, with ``StaticHyperParameters`` plus the
  trial's values of ``ParameterRanges``;
* the trial's objective is the last match, in its log, of the ``MetricDefinitions`` regex
  named by ``HyperParameterTuningJobObjective``; a trial that failed or logged no match has
  ``ObjectiveStatus: Failed``;
* the best trial (highest for Maximize, lowest for Minimize; the earlier trial on a tie) is
  ``BestTrainingJob``; the tuning job is Completed when a trial succeeded, else Failed.

What is not SageMaker's: the search. Every strategy (Bayesian, Random, Hyperband) is sampled
here as a random search seeded by ``RandomSeed`` (Linear/Auto uniform, Logarithmic
log-uniform, ReverseLogarithmic on 1 - x), so the same request picks the same trials and
winner; Bayesian's model of the objective and Hyperband's early stopping are not emulated.
``ListTrainingJobsForHyperParameterTuningJob``, which moto lacks, lists the trials.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow

# HyperParameterTrainingJobDefinition members that CreateTrainingJob takes unchanged.
_PASSED = ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig", "ResourceConfig",
           "StoppingCondition", "VpcConfig", "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
           "EnableManagedSpotTraining", "CheckpointConfig", "RetryStrategy", "Environment")


def sample(ranges: dict[str, Any], rng: random.Random) -> dict[str, str]:
    """One trial's values of ``ParameterRanges`` (as the strings SageMaker passes)."""
    values: dict[str, str] = {}
    for spec in ranges.get("IntegerParameterRanges") or []:
        low, high = int(spec["MinValue"]), int(spec["MaxValue"])
        if spec.get("ScalingType") == "Logarithmic":
            values[spec["Name"]] = str(min(high, max(low, round(math.exp(rng.uniform(math.log(low),
                                                                                       math.log(high)))))))
        else:
            values[spec["Name"]] = str(rng.randint(low, high))
    for spec in ranges.get("ContinuousParameterRanges") or []:
        low, high = float(spec["MinValue"]), float(spec["MaxValue"])
        scaling = spec.get("ScalingType")
        if scaling == "Logarithmic":
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        elif scaling == "ReverseLogarithmic":
            value = 1 - math.exp(rng.uniform(math.log(1 - high), math.log(1 - low)))
        else:
            value = rng.uniform(low, high)
        values[spec["Name"]] = repr(min(high, max(low, value)))
    for spec in ranges.get("CategoricalParameterRanges") or []:
        values[spec["Name"]] = rng.choice(list(spec["Values"]))
    return values


def trial_name(tuning_job: str, index: int) -> str:
    """``<tuning job>-<NNN>-<8 hex>``, SageMaker's naming of a tuning job's training jobs."""
    return f"{tuning_job}-{index:03d}-{hashlib.sha256(f'{tuning_job}/{index}'.encode()).hexdigest()[:8]}"


def objective_value(log: str, definitions: list[dict[str, str]], metric: str) -> float | None:
    """The last value the objective's regex matches in a trial's log."""
    regex = next((d["Regex"] for d in definitions if d["Name"] == metric), None)
    if regex is None:
        return None
    found = re.findall(regex, log)
    if not found:
        return None
    last = found[-1]
    try:
        return float(last[0] if isinstance(last, tuple) else last)
    except ValueError:
        return None


class TuningEmulator:
    """Runs a tuning job's trials through moto's CreateTrainingJob and records the outcome."""

    def __init__(self, sagemaker_factory: Callable[[], Any], records: Callable[[], list[Any]]) -> None:
        self._sagemaker_factory = sagemaker_factory
        self._records = records

    def run(self, job: Any, params: dict) -> None:
        """Run the trials of moto's HyperParameterTuningJob `job` (created from `params`)."""
        config = params["HyperParameterTuningJobConfig"]
        definition = params.get("TrainingJobDefinition")
        if definition is None:
            _finish(job, [], "TrainingJobDefinitions (several definitions) is not emulated; give TrainingJobDefinition")
            return
        limits = config["ResourceLimits"]
        rng = random.Random(config.get("RandomSeed", 0))
        count = int(limits["MaxNumberOfTrainingJobs"])
        # Values are drawn before any trial runs: the same seed gives the same trials however
        # the parallel trials finish.
        plans = [(trial_name(job.hyper_parameter_tuning_job_name, i + 1), sample(config.get("ParameterRanges") or {},
                                                                                  rng)) for i in range(count)]
        objective = config["HyperParameterTuningJobObjective"]
        parallel = max(1, min(int(limits["MaxParallelTrainingJobs"]), count))
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="tuning-trial") as pool:
            trials = list(pool.map(lambda plan: self._trial(job, params, definition, objective, *plan), plans))
        job.mdlc_trials = trials
        _finish(job, trials, None, objective["Type"])

    def _trial(self, job: Any, params: dict, definition: dict, objective: dict, name: str,
               tuned: dict[str, str]) -> dict[str, Any]:
        request = {key: definition[key] for key in _PASSED if key in definition}
        request["TrainingJobName"] = name
        request["HyperParameters"] = {**(definition.get("StaticHyperParameters") or {}), **tuned}
        if params.get("Tags"):
            request["Tags"] = params["Tags"]
        started = utcnow()
        summary: dict[str, Any] = {
            "TrainingJobName": name, "TuningJobName": job.hyper_parameter_tuning_job_name,
            "CreationTime": started, "TrainingStartTime": started, "TunedHyperParameters": tuned,
        }
        try:
            created = self._sagemaker_factory().create_training_job(**request)
        except Exception as error:  # noqa: BLE001 - a refused trial is a failed trial, as on AWS
            summary.update(TrainingJobArn="", TrainingJobStatus="Failed", ObjectiveStatus="Failed",
                           FailureReason=f"{type(error).__name__}: {error}", TrainingEndTime=utcnow())
            return summary
        record = next((r for r in reversed(self._records()) if r.name == name), None)
        status = record.status if record is not None else "Failed"
        value = None
        if status == "Completed" and record is not None:
            value = objective_value(record.stdout + "\n" + record.stderr,
                                    definition["AlgorithmSpecification"].get("MetricDefinitions") or [],
                                    objective["MetricName"])
        summary.update(TrainingJobArn=created["TrainingJobArn"], TrainingJobStatus=status, TrainingEndTime=utcnow(),
                       ObjectiveStatus="Succeeded" if value is not None else "Failed")
        if value is not None:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": objective["Type"], "MetricName": objective["MetricName"], "Value": value}
        elif record is not None and record.failure_reason:
            summary["FailureReason"] = record.failure_reason
        else:
            summary["FailureReason"] = f"the objective metric {objective['MetricName']} was not found in the log"
        return summary


def best_trial(trials: list[dict[str, Any]], goal: str = "Maximize") -> dict[str, Any] | None:
    """The trial with the best objective; the earlier one on a tie (trials are in index order)."""
    scored = [t for t in trials if t["ObjectiveStatus"] == "Succeeded"]
    if not scored:
        return None
    sign = -1 if goal == "Maximize" else 1
    return min(scored, key=lambda t: sign * t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])


def _finish(job: Any, trials: list[dict[str, Any]], failure: str | None, goal: str = "Maximize") -> None:
    """Write the outcome on moto's job, so Describe reports what happened."""
    now = utcnow()
    best = best_trial(trials, goal)
    statuses = [t["TrainingJobStatus"] for t in trials]
    job.training_job_status_counters = {
        "Completed": statuses.count("Completed"), "InProgress": 0, "RetryableError": 0,
        "NonRetryableError": statuses.count("Failed"), "Stopped": statuses.count("Stopped")}
    objectives = [t["ObjectiveStatus"] for t in trials]
    job.objective_status_counters = {"Succeeded": objectives.count("Succeeded"), "Pending": 0,
                                     "Failed": objectives.count("Failed")}
    job.best_training_job = dict(best) if best else None
    job.OverallBestTrainingJob = dict(best) if best else None
    job.tuning_job_completion_details = {}
    job.consumed_resources = {"RuntimeInSeconds": int((now - job.creation_time).total_seconds())}
    job.hyper_parameter_tuning_end_time = job.last_modified_time = now
    if best is None:
        job.hyper_parameter_tuning_job_status = "Failed"
        job.failure_reason = failure or ("No training job succeeded with the objective metric: "
                                         + "; ".join(f"{t['TrainingJobName']}: {t.get('FailureReason', '')}"
                                                     for t in trials)[:1000])
    else:
        job.hyper_parameter_tuning_job_status = "Completed"
        job.failure_reason = None


def _describe_without_empty(original: Callable) -> Callable:
    """Describe without the members moto fills with placeholders the emulation left unset."""

    def describe(self):  # type: ignore[no-untyped-def]
        result = original(self)
        return {key: value for key, value in result.items() if value not in (None, {}, "")}

    return describe


def make_create_patch(emulator: TuningEmulator, original: Callable) -> Callable:
    """Replacement for `SageMakerResponse.create_hyper_parameter_tuning_job`: create, then run."""

    def create(self):  # type: ignore[no-untyped-def]
        params = json.loads(self.body or "{}")
        result = original(self)
        emulator.run(self.sagemaker_backend.hyper_parameter_tuning_jobs[params["HyperParameterTuningJobName"]],
                     params)
        return result

    return create


_SORT_KEYS: dict[str, Callable[[dict], Any]] = {
    "Name": lambda t: t["TrainingJobName"],
    "CreationTime": lambda t: t["CreationTime"],
    "Status": lambda t: t["TrainingJobStatus"],
    "FinalObjectiveMetricValue": lambda t: (t.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get(
        "Value", -math.inf),
}


def list_trials_response(self) -> ActionResult:  # type: ignore[no-untyped-def]
    """`SageMakerResponse.list_training_jobs_for_hyper_parameter_tuning_job`, which moto lacks."""
    from moto.sagemaker.exceptions import ValidationError

    params = json.loads(self.body or "{}")
    name = params["HyperParameterTuningJobName"]
    job = self.sagemaker_backend.hyper_parameter_tuning_jobs.get(name)
    if job is None:
        raise ValidationError(message=f"Could not find hyper parameter tuning job '{name}'.")
    trials = list(getattr(job, "mdlc_trials", []))
    if params.get("StatusEquals"):
        trials = [t for t in trials if t["TrainingJobStatus"] == params["StatusEquals"]]
    trials.sort(key=_SORT_KEYS[params.get("SortBy", "Name")], reverse=params.get("SortOrder") == "Descending")
    start = int(params.get("NextToken") or 0)
    size = int(params.get("MaxResults") or 10)
    page = trials[start:start + size]
    result: dict[str, Any] = {"TrainingJobSummaries": page}
    if start + size < len(trials):
        result["NextToken"] = str(start + size)
    return ActionResult(result)


def patches(emulator: TuningEmulator) -> list[Any]:
    """The moto internals replaced for tuning jobs (see README.md). Each trial is created by the
    harness' admin and runs as the definition's RoleArn (`iam.job_role`), as SageMaker runs it."""
    from unittest import mock

    from moto.sagemaker.models import HyperParameterTuningJob
    from moto.sagemaker.responses import SageMakerResponse

    return [
        mock.patch.object(SageMakerResponse, "create_hyper_parameter_tuning_job",
                          make_create_patch(emulator, SageMakerResponse.create_hyper_parameter_tuning_job)),
        mock.patch.object(SageMakerResponse, "list_training_jobs_for_hyper_parameter_tuning_job",
                          list_trials_response, create=True),
        mock.patch.object(HyperParameterTuningJob, "describe",
                          _describe_without_empty(HyperParameterTuningJob.describe)),
    ]

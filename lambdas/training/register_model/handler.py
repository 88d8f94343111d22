"""Register a model that passed the evaluation gate, with its full lineage.

The version records: data URI and content hash, git commit, team-file hash, hyperparameters,
metrics (challenger, baseline, champion), with tuning the tuning job and every trial's values
and objective (the winner's values are the hyperparameters), the global feature importance (features by
share of mean absolute contribution, and those the model never uses) and the evaluation
report's location: whole in ``lineage.json``, and as the version's metadata in the form the
registry accepts (``meta_text``). Its approval status comes from the team file
(``evaluation.approval_status``; a retraining run with ``retraining.auto_approve`` is
approved at once).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.shared import s3uri
from lambdas.shared.aws import client
from lambdas.shared.spec import env, team_spec

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# SageMaker's limits on CustomerMetadataProperties (botocore's model of CreateModelPackage,
# CustomerMetadataMap): at most 50 entries (this handler writes at most 47); keys of 1-128
# and values of 1-256 characters, each a letter, number or space (Unicode \p{L}, \p{N},
# \p{Z}) or one of ``_ . : / = + - @``. Anything else (a comma, brackets, quotes, "…") is
# refused with a ValidationException.
MAX_KEY, MAX_META = 128, 256
META_PUNCTUATION = frozenset("_.:/=+-@")
#: What a character the registry refuses becomes (the full values are in lineage.json).
REPLACEMENT = "_"
#: Between the items of a list value (feature_importance, unused_features).
SEPARATOR = " "
TRUNCATED = "..."


def approval_status(spec: dict[str, Any], reason: str) -> str:
    if reason != "manual" and spec["retraining"].get("auto_approve"):
        return "Approved"
    return spec["evaluation"]["approval_status"]


def _allowed(char: str) -> bool:
    return char in META_PUNCTUATION or unicodedata.category(char)[0] in "LNZ"


def meta_text(value: Any, limit: int = MAX_META) -> str:
    """``value`` as a metadata string the registry accepts: refused characters become
    ``_``, and a value over ``limit`` characters ends in ``...`` ("" for no value)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, (int, float)):
        text = json.dumps(value)
    else:  # a structured hyperparameter: its JSON, with the refused characters replaced
        text = json.dumps(value, sort_keys=True, default=str)
    text = "".join(char if _allowed(char) else REPLACEMENT for char in text)
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


def meta_list(items: list[str]) -> str:
    """Items (each made valid, with no separator inside) joined by spaces; when they do not
    fit, as many as fit followed by ``+<n> more``."""
    words = [meta_text(item).replace(SEPARATOR, REPLACEMENT) for item in items]
    words = [word for word in words if word]
    text = SEPARATOR.join(words)
    kept = len(words)
    while len(text) > MAX_META:
        kept -= 1
        text = SEPARATOR.join([*words[:kept], f"+{len(words) - kept} more"])
    return text


def _number(value: str) -> Any:
    """A tuned value as the team file would write it ("5" → 5, "0.1" → 0.1, "hist" stays)."""
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def list_trials(job_name: str) -> list[dict[str, Any]]:
    """Every trial of a tuning job: its values, objective and status, in trial order."""
    trials, token = [], None
    while True:
        page = client("sagemaker").list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=job_name, MaxResults=100, SortBy="Name",
            **({"NextToken": token} if token else {}))
        for t in page["TrainingJobSummaries"]:
            metric = t.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
            trials.append({"training_job": t["TrainingJobName"], "status": t["TrainingJobStatus"],
                           "objective_status": t.get("ObjectiveStatus"), "objective": metric.get("Value"),
                           "hyperparameters": {k: _number(v) for k, v in sorted(t["TunedHyperParameters"].items())},
                           **({"failure_reason": t["FailureReason"]} if t.get("FailureReason") else {})})
        token = page.get("NextToken")
        if not token:
            return trials


def tuning_record(tuning: dict[str, Any]) -> dict[str, Any]:
    """The tuning job in the lineage: strategy, objective, every trial and the winner."""
    trials = list_trials(tuning["job_name"])
    best = next(t for t in trials if t["training_job"] == tuning["best_training_job"])
    return {"job": tuning["job_name"], "strategy": tuning.get("strategy"),
            "objective_metric": tuning["objective"]["MetricName"], "best_training_job": best["training_job"],
            "best_objective": best["objective"], "best_hyperparameters": best["hyperparameters"], "trials": trials}


def lineage(event: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    run, training, evaluation = event["run"], event["training"], event["evaluation"]
    tuning = tuning_record(event["tuning"]) if event.get("tuning") else None
    # With tuning, the model's hyperparameters are the fixed ones and the winner's tuned values.
    hyperparameters = {**spec["training"]["hyperparameters"], **(tuning["best_hyperparameters"] if tuning else {})}
    metric = spec["evaluation"]["metric"]
    return {
        "run_id": run["run_id"],
        "reason": run["reason"],
        "data_uri": run["data_uri"],
        "data_sha256": run["data"]["sha256"],
        "data_files": run["data"]["files"],
        "row_count": event.get("data_quality", {}).get("row_count"),
        "git_commit": env("GIT_COMMIT"),
        "team_file_sha256": env("TEAM_FILE_SHA256"),
        "hyperparameters": hyperparameters,
        "hyperparameters_sha256": hashlib.sha256(json.dumps(hyperparameters, sort_keys=True).encode()).hexdigest(),
        "seed": spec["training"]["seed"],
        "training_job": training["job_name"],
        "model_uri": training["model_uri"],
        "statistics_uri": run["paths"]["statistics"],
        "evaluation_report": run["paths"]["evaluation_report"],
        "metric": metric,
        "metrics": evaluation.get("metrics", {}),
        "baseline": evaluation.get("baseline", {}),
        # The champion's scores on this run's test split (none on a first run).
        "champion": (evaluation.get("champion") or {}).get("metrics") or {},
        "champion_arn": run.get("champion_arn", ""),
        # Global feature importance (ML Test Score D2): mean |contribution| share per feature.
        "feature_importance": [{"feature": f["feature"], "share": f["share"], "gain_share": f["gain_share"]}
                               for f in evaluation.get("feature_importance") or [] if isinstance(f, dict)],
        "unused_features": evaluation.get("unused_features") or [],
        "tuning": tuning,
    }


def metadata(record: dict[str, Any]) -> dict[str, str]:
    """CustomerMetadataProperties: the lineage flattened to values the registry accepts
    (see ``meta_text``); lineage.json keeps every value whole."""
    metric = record["metric"]
    props = {
        key: meta_text(record[key])
        for key in (
            "run_id", "reason", "data_uri", "data_sha256", "data_files", "row_count", "git_commit",
            "team_file_sha256", "hyperparameters_sha256", "seed", "training_job", "statistics_uri",
            "evaluation_report", "metric", "champion_arn",
        )
    }
    if record.get("tuning"):  # every trial is in lineage.json
        props["tuning_job"] = meta_text(record["tuning"]["job"])
    props["metric_value"] = meta_text(record["metrics"].get(metric))
    props["baseline_value"] = meta_text(record["baseline"].get(metric))
    if record["champion"]:
        props["champion_value"] = meta_text(record["champion"].get(metric))
    for name, value in sorted(record["hyperparameters"].items())[:25]:
        props[meta_text(f"hp.{name}", MAX_KEY)] = meta_text(value)
    props["lineage_uri"] = meta_text(record["lineage_uri"])
    # One entry each (the registry allows 50): "<feature>=<share>", largest share first.
    props["feature_importance"] = meta_list([f"{f['feature']}={f['share']:.3f}"
                                             for f in record.get("feature_importance") or []])
    props["unused_features"] = meta_list(record.get("unused_features") or [])
    # A value must have at least one character: an empty one is left out.
    return {key: value for key, value in props.items() if value}


def register(event: dict[str, Any]) -> dict[str, Any]:
    spec = team_spec()
    record = lineage(event, spec)
    artifacts = env("ARTIFACTS_BUCKET")
    record["lineage_uri"] = s3uri.uri(artifacts, f"runs/{record['run_id']}/lineage.json")
    s3uri.write_json(record["lineage_uri"], record)
    status = approval_status(spec, record["reason"])
    created = client("sagemaker").create_model_package(
        ModelPackageGroupName=env("MODEL_PACKAGE_GROUP"),
        ModelPackageDescription=f"{spec['name']} run {record['run_id']} ({record['reason']})",
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [
                {
                    "Image": env("INFERENCE_IMAGE"),
                    "ModelDataUrl": record["model_uri"],
                    "Environment": {
                        "SAGEMAKER_PROGRAM": env("INFERENCE_PROGRAM"),
                        "SAGEMAKER_SUBMIT_DIRECTORY": env("CODE_BUNDLE_URI"),
                        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                    },
                }
            ],
            "SupportedContentTypes": ["application/json", "text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": record["evaluation_report"]}
            },
            "ModelDataQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": record["statistics_uri"]}
            },
        },
        CustomerMetadataProperties=metadata(record),
    )
    arn = created["ModelPackageArn"]
    version = client("sagemaker").describe_model_package(ModelPackageName=arn).get("ModelPackageVersion")
    s3uri.write_json(
        s3uri.uri(artifacts, "runs/latest.json"),
        {
            "run_id": record["run_id"],
            "row_count": record["row_count"],
            "statistics_uri": record["statistics_uri"],
            "model_package_arn": arn,
        },
    )
    return {
        "model_package_arn": arn,
        "version": version,
        "approval_status": status,
        "lineage_uri": record["lineage_uri"],
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: register the challenger that cleared the gate."""
    result = register(event)
    metrics.add_metric(name="ModelVersionsRegistered", unit=MetricUnit.Count, value=1)
    logger.info("registered model version", extra=result)
    return result

"""Offline hyperparameter tuning: a 4-trial tuning job, 2 trials at a time, against 4 training jobs.

Both run through the offline harness as the training workflow runs them: the project's
training script (``training/train.py``) in the built-in image's runtime, through the image's
toolkit, on the same generated splits. The 4 single jobs run one after another (``4 x one
training``); the tuning job runs the same 4 trainings as trials, ``MaxParallelTrainingJobs``
= 2, and reads each trial's objective from its log. Prints a markdown table.
Run: ``python bench/bench_tuning.py [rows] [features]`` (2-core machine: ~2 minutes).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mdlc import runtimes  # noqa: E402
from mdlc.bundle import TRAINING_PROGRAM, build_bundle  # noqa: E402
from mdlc.harness import OfflineAws  # noqa: E402

BUCKET = "bench-tuning"
IMAGE = f"141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:{runtimes.default_version()}"
STATIC = {"objective": "binary:logistic", "num_round": 100, "subsample": 0.8, "colsample_bytree": 0.8,
          "tree_method": "hist", "seed": 42}
TRIALS = [{"max_depth": "4", "eta": "0.1"}, {"max_depth": "5", "eta": "0.05"},
          {"max_depth": "6", "eta": "0.2"}, {"max_depth": "3", "eta": "0.3"}]


def splits(rows: int, width: int, folder: Path) -> dict:
    """Train/validation Parquet splits with a learnable label, and the team spec the script reads."""
    rng = np.random.default_rng(0)
    names = [f"f{i:02d}" for i in range(width)]
    for split, n in (("train", rows), ("validation", rows // 5)):
        x = rng.normal(size=(n, width)).astype("float32")
        logit = x[:, 0] * 1.5 - x[:, 1] + 0.5 * x[:, 2] * x[:, 3] - 4.0
        frame = pd.DataFrame(x, columns=names)
        frame.insert(0, "label", (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64"))
        frame.insert(0, "id", np.arange(n))
        (folder / split).mkdir(parents=True)
        frame.to_parquet(folder / split / "part-00000.parquet", index=False)
    return {"name": "bench", "schema": {"label": "label", "features": [{"name": n, "type": "float"} for n in names]},
            "training": {"seed": 42, "hyperparameters": {}},
            "evaluation": {"metric": "pr_auc", "max_false_positive_rate": 0.01}}


def definition(aws: OfflineAws, folder: Path, spec: dict) -> dict:
    """The training job request both runs use (as stacks/training builds it, minus the workflow)."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": aws.region})
    for split in ("train", "validation"):
        s3.upload_file(str(folder / split / "part-00000.parquet"), BUCKET, f"splits/{split}/part-00000.parquet")
    s3.put_object(Bucket=BUCKET, Key="config/team.json", Body=json.dumps(spec))
    build_bundle(folder / "code.tar.gz")
    s3.upload_file(str(folder / "code.tar.gz"), BUCKET, "code/code.tar.gz")
    channels = [{"ChannelName": name, "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{name if name == 'config' else 'splits/' + name}/"}}}
        for name in ("train", "validation", "config")]
    return {
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File", "MetricDefinitions": [
            {"Name": "validation:pr_auc", "Regex": r"validation:pr_auc=([-+0-9.eE]+);"}]},
        "RoleArn": aws.execution_role_arn(), "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def code_hyperparameters() -> dict:
    return {"sagemaker_program": json.dumps(TRAINING_PROGRAM),
            "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/code/code.tar.gz")}


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    width = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with tempfile.TemporaryDirectory() as tmp, OfflineAws() as aws:
        request = definition(aws, Path(tmp), splits(rows, width, Path(tmp)))
        sm = aws.admin_client("sagemaker")
        singles = []
        for i, tuned in enumerate(TRIALS):
            started = time.perf_counter()
            sm.create_training_job(TrainingJobName=f"single-{i}", **request,
                                   HyperParameters={**{k: str(v) for k, v in STATIC.items()}, **tuned,
                                                    **code_hyperparameters()})
            singles.append(time.perf_counter() - started)
            assert sm.describe_training_job(TrainingJobName=f"single-{i}")["TrainingJobStatus"] == "Completed"
        ranges = {"CategoricalParameterRanges": [
            {"Name": "max_depth", "Values": sorted({t["max_depth"] for t in TRIALS})},
            {"Name": "eta", "Values": sorted({t["eta"] for t in TRIALS})}]}
        started = time.perf_counter()
        sm.create_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="bench-tuning",
            HyperParameterTuningJobConfig={
                "Strategy": "Random", "RandomSeed": 42, "TrainingJobEarlyStoppingType": "Off",
                "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:pr_auc"},
                "ResourceLimits": {"MaxNumberOfTrainingJobs": len(TRIALS), "MaxParallelTrainingJobs": 2},
                "ParameterRanges": ranges},
            TrainingJobDefinition={**request, "StaticHyperParameters": {
                **{k: str(v) for k, v in STATIC.items()}, **code_hyperparameters()}})
        tuning = time.perf_counter() - started
        described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="bench-tuning")
        assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    one = sum(singles) / len(singles)
    print(f"\n{rows:,} × {width} train rows ({rows // 5:,} validation), 100 rounds, image runtime "
          f"{runtimes.default_version()}, through the offline harness\n")
    print("| run | wall s | vs 4 × one training |\n| --- | ---: | ---: |")
    print(f"| one training job (mean of 4) | {one:.1f} | {one / sum(singles):.2f} |")
    print(f"| 4 training jobs, one after another | {sum(singles):.1f} | 1.00 |")
    print(f"| tuning job, 4 trials, 2 in parallel | {tuning:.1f} | {tuning / sum(singles):.2f} |")
    best = described["BestTrainingJob"]
    print(f"\nwinner {best['TrainingJobName']}: {best['TunedHyperParameters']}, "
          f"validation:pr_auc {best['FinalHyperParameterTuningJobObjectiveMetric']['Value']:.4f}")


if __name__ == "__main__":
    main()

"""Shared fixtures and builders for the harness tests (no tests here)."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest

from mdlc import runtimes
from mdlc.harness import OfflineAws

# The built-in image of the newest supported version: jobs and models run in its runtime.
IMAGE = f"141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:{runtimes.default_version()}"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "harness"
BUCKET = "harness-test-bucket"


@pytest.fixture
def aws():
    """A running OfflineAws with one bucket."""
    with OfflineAws() as harness:
        harness.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": harness.region}
        )
        yield harness


def tar_gz(files: dict[str, Path]) -> bytes:
    """A .tar.gz holding `files` (archive name → local file)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, path in files.items():
            archive.add(path, arcname=name)
    return buffer.getvalue()


def put(aws: OfflineAws, key: str, body: bytes | str) -> str:
    """Upload to the test bucket; returns the s3:// URI."""
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def read(aws: OfflineAws, key: str) -> bytes:
    """Body of an object in the test bucket."""
    return aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()


def machine(aws: OfflineAws, states: dict, start: str, *, kind: str = "STANDARD") -> str:
    """Create a state machine from `states`; returns its ARN."""
    definition = json.dumps({"StartAt": start, "States": states})
    return aws.client("stepfunctions").create_state_machine(
        name=f"m-{abs(hash(definition)) % 10**8}", definition=definition,
        roleArn=aws.execution_role_arn(), type=kind,
    )["stateMachineArn"]


def processing_parameters(aws: OfflineAws, *, environment: dict | None = None) -> dict[str, Any]:
    """CreateProcessingJob parameters running fixtures/harness/jobs/process/job.py."""
    code = put(aws, "code/process/job.py", (FIXTURES / "jobs" / "process" / "job.py").read_bytes())
    put(aws, "raw/dt=2024-01-01/a.csv", "h\n1\n2\n")
    put(aws, "raw/dt=2024-01-02/b.csv", "h\n3\n")
    return {
        "ProcessingJobName.$": "$.job",
        "RoleArn": aws.execution_role_arn(),
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 5}},
        # no ContainerArguments: the script's /opt/ml defaults must be mapped
        "AppSpecification": {"ImageUri": IMAGE, "ContainerEntrypoint": [
            "python3", "/opt/ml/processing/input/code/job.py"]},
        "Environment": environment or {"LABEL": "nightly"},
        "ProcessingInputs": [
            {"InputName": "code", "S3Input": {"S3Uri": code.rsplit("/", 1)[0], "S3DataType": "S3Prefix",
                                              "LocalPath": "/opt/ml/processing/input/code",
                                              "S3InputMode": "File"}},
            {"InputName": "data", "S3Input": {"S3Uri": f"s3://{BUCKET}/raw/", "S3DataType": "S3Prefix",
                                              "LocalPath": "/opt/ml/processing/input/data",
                                              "S3InputMode": "File"}},
        ],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "report", "S3Output": {
            "S3Uri": f"s3://{BUCKET}/reports", "LocalPath": "/opt/ml/processing/output/report",
            "S3UploadMode": "EndOfJob"}}]},
    }


def training_parameters(aws: OfflineAws, *, environment: dict | None = None) -> dict[str, Any]:
    """CreateTrainingJob parameters running fixtures/harness/jobs/train/train.py (script mode)."""
    source = put(aws, "code/train.tar.gz", tar_gz({"train.py": FIXTURES / "jobs" / "train" / "train.py"}))
    put(aws, "splits/train/data.csv", "id,y\na,1\nb,3\n")
    return {
        "TrainingJobName.$": "$.job",
        "RoleArn": aws.execution_role_arn(),
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": {"scale": 2, "sagemaker_program": '"train.py"',
                            "sagemaker_submit_directory": json.dumps(source)},
        "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/splits/train/"}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
        "Environment": environment or {},
    }


def serving_model(aws: OfflineAws, name: str = "model-a", mean: float = 2.0) -> str:
    """A SageMaker Model (moto) whose inference script is fixtures/harness/jobs/serve."""
    model_dir = FIXTURES / "jobs" / "serve"
    with tempfile.TemporaryDirectory() as tmp:
        model_json = Path(tmp) / "model.json"
        model_json.write_text(json.dumps({"mean": mean}))
        data = put(aws, f"models/{name}/model.tar.gz", tar_gz({"model.json": model_json}))
    code = put(aws, "code/serve.tar.gz", tar_gz({"inference.py": model_dir / "inference.py"}))
    aws.client("sagemaker").create_model(
        ModelName=name, ExecutionRoleArn=aws.execution_role_arn(),
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": data, "Environment": {
            "SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": code}},
    )
    return name


def endpoint(aws: OfflineAws, name: str, model: str, config: str | None = None) -> str:
    """An endpoint config + endpoint serving `model`."""
    config = config or f"{name}-{model}"
    sagemaker = aws.client("sagemaker")
    sagemaker.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    return config

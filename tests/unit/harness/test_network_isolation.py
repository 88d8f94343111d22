"""EnableNetworkIsolation, emulated (harness): an isolated job or model gets no network and no
credentials, and SageMaker downloads no code for it; code delivered in a channel or in the model
artifacts still runs. These test the harness's own emulation (mdlc/harness/isolation.py)."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path

from .support import (  # noqa: F401 - pytest fixture
    BUCKET,
    FIXTURES,
    IMAGE,
    aws,
    put,
    read,
    tar_gz,
    training_parameters,
)


def _train(aws, name: str, parameters: dict) -> dict:  # noqa: F811
    aws.client("sagemaker").create_training_job(TrainingJobName=name, **parameters)
    return aws.client("sagemaker").describe_training_job(TrainingJobName=name)


def _isolated_training(aws, *, code_in_channel: bool) -> dict:  # noqa: F811
    parameters = {k.removesuffix(".$"): v for k, v in training_parameters(aws).items() if k != "TrainingJobName.$"}
    parameters["EnableNetworkIsolation"] = True
    parameters["HyperParameters"]["sagemaker_region"] = json.dumps(aws.region)  # as the training stack sets it
    if code_in_channel:  # the shape the training stack synthesises: the bundle as the "code" channel
        source = json.loads(parameters["HyperParameters"]["sagemaker_submit_directory"])
        parameters["InputDataConfig"].append({"ChannelName": "code", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": source}}})
        parameters["HyperParameters"]["sagemaker_submit_directory"] = json.dumps(
            "/opt/ml/input/data/code/train.tar.gz")
    parameters["HyperParameters"] = {k: str(v) for k, v in parameters["HyperParameters"].items()}
    return parameters


def test_an_isolated_training_job_runs_code_delivered_in_a_channel(aws):  # noqa: F811
    described = _train(aws, "iso-channel", _isolated_training(aws, code_in_channel=True))

    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert described["EnableNetworkIsolation"] is True
    assert aws.jobs.records[-1].network_isolation is True
    with tarfile.open(fileobj=io.BytesIO(read(aws, "models/iso-channel/output/model.tar.gz"))) as tar:
        assert json.load(tar.extractfile("model.json")) == {"mean": 4.0, "rows": 2}


def test_an_isolated_training_job_cannot_fetch_its_submit_directory_from_s3(aws):  # noqa: F811
    """SageMaker does not download sagemaker_submit_directory; the toolkit in an isolated container
    cannot (no credentials, no network), so the job fails instead of training."""
    described = _train(aws, "iso-s3", _isolated_training(aws, code_in_channel=False))

    assert described["TrainingJobStatus"] == "Failed"
    assert "NoCredentialsError" in described["FailureReason"] or "EnableNetworkIsolation" in \
        described["FailureReason"], described["FailureReason"]


_CALLER = """
import json, socket, sys
results = {}
try:
    socket.create_connection(("s3.eu-west-1.amazonaws.com", 443), timeout=2)
    results["connect"] = "connected"
except OSError as error:
    results["connect"] = str(error)
try:
    import boto3
    boto3.client("s3", region_name="eu-west-1").list_buckets()
    results["aws"] = "answered"
except Exception as error:
    results["aws"] = type(error).__name__
open("/opt/ml/processing/output/calls.json", "w").write(json.dumps(results))
"""


def test_an_isolated_processing_job_has_no_network_and_no_credentials(aws):  # noqa: F811
    put(aws, "code/caller/job.py", _CALLER)
    aws.client("sagemaker").create_processing_job(
        ProcessingJobName="iso-proc", RoleArn=aws.execution_role_arn(),
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 5}},
        AppSpecification={"ImageUri": IMAGE, "ContainerEntrypoint": [
            "python3", "/opt/ml/processing/input/code/job.py"]},
        ProcessingInputs=[{"InputName": "code", "S3Input": {
            "S3Uri": f"s3://{BUCKET}/code/caller", "S3DataType": "S3Prefix",
            "LocalPath": "/opt/ml/processing/input/code", "S3InputMode": "File"}}],
        ProcessingOutputConfig={"Outputs": [{"OutputName": "out", "S3Output": {
            "S3Uri": f"s3://{BUCKET}/calls", "LocalPath": "/opt/ml/processing/output",
            "S3UploadMode": "EndOfJob"}}]},
        NetworkConfig={"EnableNetworkIsolation": True},
    )

    calls = json.loads(read(aws, "calls/calls.json"))

    assert calls["connect"].startswith("EnableNetworkIsolation: iso-proc has no network")
    assert calls["aws"] == "NoCredentialsError"
    assert aws.jobs.records[-1].network_isolation is True


def _model(aws, name: str, *, code_in_model: bool) -> None:  # noqa: F811
    """An isolated model of the serving fixture, its code in the artifacts or (wrongly) in S3."""
    serve = FIXTURES / "jobs" / "serve"
    with tempfile.TemporaryDirectory() as tmp:
        model_json, code = Path(tmp) / "model.json", Path(tmp) / "sourcedir.tar.gz"
        model_json.write_text(json.dumps({"mean": 3.0}))
        code.write_bytes(tar_gz({"inference.py": serve / "inference.py"}))
        files = {"model.json": model_json, **({"code/sourcedir.tar.gz": code} if code_in_model else {})}
        data = put(aws, f"models/{name}/model.tar.gz", tar_gz(files))
        submit = ("/opt/ml/model/code/sourcedir.tar.gz" if code_in_model
                  else put(aws, "code/serve.tar.gz", code.read_bytes()))
    aws.client("sagemaker").create_model(
        ModelName=name, ExecutionRoleArn=aws.execution_role_arn(), EnableNetworkIsolation=True,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": data, "Environment": {
            "SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": submit}})


def _transform(aws, name: str, model: str) -> dict:  # noqa: F811
    put(aws, f"{name}/in/rows.csv", "1,a\n2,b\n")
    sagemaker = aws.client("sagemaker")
    sagemaker.create_transform_job(
        TransformJobName=name, ModelName=model,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": f"s3://{BUCKET}/{name}/in/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/{name}/out", "AssembleWith": "Line"},
        DataProcessing={"InputFilter": "$[0]"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    return sagemaker.describe_transform_job(TransformJobName=name)


def test_an_isolated_model_serves_code_shipped_in_its_artifacts(aws):  # noqa: F811
    _model(aws, "iso-model", code_in_model=True)

    described = _transform(aws, "iso-t1", "iso-model")

    assert aws.client("sagemaker").describe_model(ModelName="iso-model")["EnableNetworkIsolation"] is True
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    assert aws.jobs.records[-1].network_isolation is True
    assert read(aws, "iso-t1/out/rows.csv.out") == b"[3.0]\n[6.0]\n"


def test_an_isolated_model_whose_code_is_in_s3_does_not_load(aws):  # noqa: F811
    _model(aws, "iso-s3-model", code_in_model=False)

    described = _transform(aws, "iso-t2", "iso-s3-model")

    assert described["TransformJobStatus"] == "Failed"
    assert "failed to load" in described["FailureReason"], described["FailureReason"]

"""SageMaker `.sync` tasks run the real job scripts under the container contract."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from mdlc.harness.transform import TransformSettings, apply_filter, join_input, transform_object

from .support import (  # noqa: F401 - pytest fixture
    BUCKET,
    IMAGE,
    aws,
    machine,
    processing_parameters,
    put,
    read,
    serving_model,
    training_parameters,
)

RETRY_THROTTLING = [{"ErrorEquals": ["SageMaker.AmazonSageMakerException"], "IntervalSeconds": 1,
                     "MaxAttempts": 2, "BackoffRate": 2}]


def _task(action: str, parameters: dict, **extra) -> dict:
    return {"Type": "Task", "Resource": f"arn:aws:states:::sagemaker:{action}.sync",
            "Parameters": parameters, "End": True, **extra}


def test_processing_job_runs_the_script_and_uploads_outputs(aws):  # noqa: F811
    arn = machine(aws, {"Process": _task("createProcessingJob", processing_parameters(aws))}, "Process")

    result = aws.run(arn, {"job": "process-1"})

    assert result.succeeded, result.cause
    assert result.output["ProcessingJobStatus"] == "Completed"  # the Describe response
    assert isinstance(result.output["CreationTime"], int)  # timestamps as Step Functions shows them
    report = json.loads(read(aws, "reports/report.json"))
    assert report == {"files": ["dt=2024-01-01/a.csv", "dt=2024-01-02/b.csv"], "lines": 5,
                      "label": "nightly"}


def test_failing_processing_script_fails_the_task_with_its_stderr(aws):  # noqa: F811
    parameters = processing_parameters(aws, environment={"FAIL_WITH": "bad input row 7"})
    arn = machine(aws, {"Process": _task("createProcessingJob", parameters)}, "Process")

    result = aws.run(arn, {"job": "process-2"})

    assert (result.status, result.error) == ("FAILED", "States.TaskFailed")
    assert "bad input row 7" in json.loads(result.cause)["FailureReason"]
    described = aws.client("sagemaker").describe_processing_job(ProcessingJobName="process-2")
    assert described["ProcessingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("AlgorithmError")


def test_training_job_writes_model_tarball_where_sagemaker_does(aws):  # noqa: F811
    arn = machine(aws, {"Train": _task("createTrainingJob", training_parameters(aws))}, "Train")

    result = aws.run(arn, {"job": "train-1"})

    assert result.succeeded, result.cause
    artifact = result.output["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{BUCKET}/models/train-1/output/model.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(read(aws, "models/train-1/output/model.tar.gz"))) as tar:
        model = json.load(tar.extractfile("model.json"))
    assert model == {"mean": 4.0, "rows": 2}  # hyperparameter scale=2 reached the script


def test_training_script_error_fails_the_job(aws):  # noqa: F811
    parameters = training_parameters(aws, environment={"FAIL_TRAINING": "1"})
    arn = machine(aws, {"Train": _task("createTrainingJob", parameters)}, "Train")

    result = aws.run(arn, {"job": "train-2"})

    assert result.error == "States.TaskFailed"
    assert "training diverged" in json.loads(result.cause)["FailureReason"]
    described = aws.client("sagemaker").describe_training_job(TrainingJobName="train-2")
    assert described["TrainingJobStatus"] == "Failed"


def test_fail_next_job_is_caught_by_the_state_machine(aws):  # noqa: F811
    aws.fail_next_job("training", reason="AlgorithmError: out of memory")
    states = {"Train": _task("createTrainingJob", training_parameters(aws), Catch=[
        {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.failure", "Next": "Notify"}]),
        "Notify": {"Type": "Pass", "End": True}}

    result = aws.run(machine(aws, states, "Train"), {"job": "train-3"})

    assert result.state_names == ["Train", "Notify"]
    assert "out of memory" in result.output["failure"]["Cause"]
    assert aws.job_records[-1].status == "Failed"


def test_throttled_create_training_job_is_retried(aws):  # noqa: F811
    aws.inject_fault("sagemaker", "CreateTrainingJob", "ThrottlingException")
    states = {"Train": _task("createTrainingJob", training_parameters(aws), Retry=RETRY_THROTTLING)}

    result = aws.run(machine(aws, states, "Train"), {"job": "train-4"})

    assert result.succeeded, result.cause
    assert aws.faults.fired == [("sagemaker", "CreateTrainingJob", "ThrottlingException")]
    failed = [e for e in result.history if e["type"] == "TaskFailed"]
    assert "Error Code: ThrottlingException" in failed[0]["taskFailedEventDetails"]["cause"]


def test_throttling_without_retry_fails_the_execution(aws):  # noqa: F811
    aws.inject_fault("sagemaker", "create_training_job", "ThrottlingException")
    states = {"Train": _task("createTrainingJob", training_parameters(aws))}

    result = aws.run(machine(aws, states, "Train"), {"job": "train-5"})

    assert result.error == "SageMaker.AmazonSageMakerException"
    assert aws.job_records == []  # the job never started


def test_request_response_model_calls_go_to_moto(aws):  # noqa: F811
    states = {"Model": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createModel",
                        "Parameters": {"ModelName": "m1", "ExecutionRoleArn": aws.execution_role_arn(),
                                       "PrimaryContainer": {"Image": IMAGE}}, "End": True}}

    result = aws.run(machine(aws, states, "Model"), {})

    assert result.output["ModelArn"].endswith(":model/m1")
    assert aws.client("sagemaker").describe_model(ModelName="m1")["ModelName"] == "m1"


def test_transform_job_joins_input_and_assembles_lines(aws):  # noqa: F811
    serving_model(aws, "scorer", mean=3.0)
    put(aws, "batch/in/day1.csv", "1,a\n2,b\n")
    aws.client("sagemaker").create_transform_job(
        TransformJobName="t1", ModelName="scorer", BatchStrategy="MultiRecord",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": f"s3://{BUCKET}/batch/in/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/batch/out", "Accept": "text/csv",
                         "AssembleWith": "Line"},
        DataProcessing={"InputFilter": "$[0]", "JoinSource": "Input", "OutputFilter": "$[1,2]"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )

    described = aws.client("sagemaker").describe_transform_job(TransformJobName="t1")

    assert described["TransformJobStatus"] == "Completed"
    assert read(aws, "batch/out/day1.csv.out") == b"a,3.0\nb,6.0\n"


class _Doubler:
    """A stand-in LoadedModel: doubles the first CSV column of each line."""

    def invoke(self, body, content_type, accept):
        lines = body.decode().splitlines()
        return "\n".join(str(2 * float(line.split(",")[0])) for line in lines).encode(), "text/csv"


@pytest.mark.parametrize(("strategy", "expected"), [("SingleRecord", b"2.04.0"),
                                                    ("MultiRecord", b"2.04.0")])
def test_transform_without_assembly_concatenates(strategy, expected):
    settings = TransformSettings.from_request({
        "BatchStrategy": strategy, "TransformOutput": {},
        "TransformInput": {"ContentType": "text/csv", "SplitType": "Line"}})

    assert transform_object(_Doubler(), b"1\n2\n", settings) == expected


def test_filters_and_join_follow_sagemaker_semantics():
    assert apply_filter("$[1:]", "id7,0.5,3") == "0.5,3"
    assert apply_filter("$[0,-1]", "id7,0.5,3") == "id7,3"
    assert apply_filter("$.features", '{"features": [1, 2]}') == "[1, 2]"
    assert json.loads(join_input('{"id": 1}', "0.9")) == {"id": 1, "SageMakerOutput": 0.9}
    with pytest.raises(ValueError, match="JSONPath subset"):
        apply_filter("$..deep", "1,2")


# ------------------------------------------------------------------ the image's runtime
def _processing_with_script(aws, script: str, *, image: str = IMAGE) -> dict:  # noqa: F811
    put(aws, "code/runtime-probe/job.py", script)
    return {
        "ProcessingJobName.$": "$.job", "RoleArn": aws.execution_role_arn(),
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 5}},
        "AppSpecification": {"ImageUri": image, "ContainerEntrypoint": [
            "python3", "/opt/ml/processing/input/code/job.py"]},
        "ProcessingInputs": [{"InputName": "code", "S3Input": {
            "S3Uri": f"s3://{BUCKET}/code/runtime-probe", "S3DataType": "S3Prefix",
            "LocalPath": "/opt/ml/processing/input/code", "S3InputMode": "File"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {
            "S3Uri": f"s3://{BUCKET}/probe", "LocalPath": "/opt/ml/processing/output",
            "S3UploadMode": "EndOfJob"}}]},
    }


_PROBE = """
import itertools, json, sys
from importlib.metadata import version
pairs = list(itertools.batched("abcd", 2))  # Python 3.12+
info = {"python": "%d.%d" % sys.version_info[:2], "xgboost": version("xgboost-cpu"),
        "pandas": version("pandas"), "executable": sys.executable}
open("/opt/ml/processing/output/info.json", "w").write(json.dumps(info))
"""


def test_a_job_runs_in_its_images_python_and_libraries_and_the_runtime_is_recorded(aws):  # noqa: F811
    """The harness runs the job with the image's Python and pinned packages, not the CDK venv's."""
    from mdlc import runtimes

    runtime = runtimes.builtin_runtime(runtimes.default_version())
    arn = machine(aws, {"P": _task("createProcessingJob", _processing_with_script(aws, _PROBE))}, "P")

    result = aws.run(arn, {"job": "probe-1"})

    assert result.succeeded, result.cause
    info = json.loads(read(aws, "probe/info.json"))
    pins = dict(line.split("#")[0].strip().split("==") for line in
                runtime.requirements[0].read_text().splitlines() if "==" in line.split("#")[0])
    assert info["python"] == runtime.python
    assert (info["xgboost"], info["pandas"]) == (pins["xgboost-cpu"], pins["pandas"])
    assert info["executable"].startswith(str(runtime.venv_dir))
    record = aws.job_records[-1]
    assert (record.image, record.runtime) == (IMAGE, runtime.describe())


def test_job_code_newer_than_the_images_python_fails_as_in_sagemaker(aws):  # noqa: F811
    """An API the image's Python lacks (copy.replace is 3.13+) fails the job at run time with
    the script's own traceback as the AlgorithmError, as SageMaker reports it."""
    script = "import copy\nfrom types import SimpleNamespace\ncopy.replace(SimpleNamespace(a=1), a=2)\n"
    arn = machine(aws, {"P": _task("createProcessingJob", _processing_with_script(aws, script))}, "P")

    result = aws.run(arn, {"job": "probe-2"})

    assert result.error == "States.TaskFailed"
    reason = json.loads(result.cause)["FailureReason"]
    assert reason.startswith("AlgorithmError")
    assert "AttributeError: module 'copy' has no attribute 'replace'" in reason


def test_an_image_without_a_runtime_fails_the_job_naming_the_supported_ones(aws):  # noqa: F811
    image = IMAGE.rsplit(":", 1)[0] + ":1.7-1"
    parameters = _processing_with_script(aws, "print('never runs')", image=image)
    arn = machine(aws, {"P": _task("createProcessingJob", parameters)}, "P")

    result = aws.run(arn, {"job": "probe-3"})

    reason = json.loads(result.cause)["FailureReason"]
    assert reason.startswith("ClientError") and "'1.7-1' is not supported" in reason
    assert IMAGE.rsplit(":", 1)[1] in reason


def test_model_servers_stop_when_the_harness_exits():
    """Each served model is a process in its runtime; leaving OfflineAws ends them."""
    from mdlc.harness import OfflineAws

    from .support import endpoint

    with OfflineAws() as harness:
        harness.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": harness.region})
        endpoint(harness, "e1", serving_model(harness, "m1"))
        answer = harness.client("sagemaker-runtime").invoke_endpoint(
            EndpointName="e1", Body=b'{"x": 2}', ContentType="application/json")
        assert json.loads(answer["Body"].read()) == [4.0]
        servers = list(harness.jobs._models._models.values())
        assert [server.process.poll() for server in servers] == [None]
    assert servers[0].process.poll() is not None


def test_a_custom_images_jobs_run_in_the_runtime_registered_for_it(aws):  # noqa: F811
    """Custom images: OfflineAws.register_runtime (LocalTeam registers the team's declared
    training.algorithm.runtime) routes the image's jobs to that runtime."""
    from mdlc import runtimes

    custom = "444455556666.dkr.ecr.eu-west-1.amazonaws.com/fraud-trainer:2.1"
    runtime = runtimes.builtin_runtime(runtimes.default_version())  # a built one stands in
    aws.register_runtime(custom, runtime)
    parameters = _processing_with_script(aws, _PROBE, image=custom)
    arn = machine(aws, {"P": _task("createProcessingJob", parameters)}, "P")

    result = aws.run(arn, {"job": "probe-4"})

    assert result.succeeded, result.cause
    assert (aws.job_records[-1].image, aws.job_records[-1].runtime) == (custom, runtime.describe())

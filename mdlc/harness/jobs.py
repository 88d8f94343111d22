"""Emulate SageMaker processing, training and transform jobs with the project's real code.

When a Create*Job request reaches moto, the harness lets moto record the job, then runs
it under SageMaker's container contract and writes the outcome (Completed, or Failed
with a FailureReason) back onto moto's job, so Describe*Job reports what happened:

Every job runs in the runtime of its image (`mdlc/runtimes.py`: the Python version and
pinned packages of the built-in image's manifest, or the team's declared custom runtime),
in the virtualenv `make` built for it, never in the CDK virtualenv:

* processing: ProcessingInputs are downloaded into a temp folder standing in for
  `/opt/ml/`; every `/opt/ml/` path in the entrypoint/arguments is rewritten to it;
  `python3` is the runtime's interpreter; outputs are uploaded on success.
* training: a SAGEMAKER_BASE_DIR laid out like `/opt/ml` is handed to the image's toolkit,
  `sagemaker_containers`' trainer, with the image's training module (script mode:
  `_runtime/image_training.py`), which `pip install`s the code and runs
  `python -m <sagemaker_program>`; `model/` is tarred to
  `<S3OutputPath>/<job>/output/model.tar.gz`.
* transform: every input object runs through the Model's model server (the image's
  serving stack in the model's runtime, see `inference.py` and `transform.py`) and
  `<key>.out` is written under the output path.

Jobs run synchronously inside the Create call: moto reports jobs finished at once anyway.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.core.utils import utcnow

from mdlc.harness import isolation, s3io
from mdlc.harness.inference import ModelCache, ModelSource
from mdlc.harness.job_process import job_environment
from mdlc.harness.transform import TransformSettings, transform_object
from mdlc.runtimes import Runtime

JOB_TYPES = ("processing", "training", "transform")
_TAIL_LINES = 8
# sagemaker_containers' `train` console script (the image's ENTRYPOINT for training)
_TRAIN_COMMAND = "from sagemaker_containers import _trainer; _trainer.train()"
RUNTIME_SCRIPTS = Path(__file__).resolve().parent / "_runtime"
_IMAGE_TRAINING_MODULE = "image_training:main"


class JobFailure(Exception):
    """The emulated job failed; the message becomes the job's FailureReason."""


@dataclass
class JobRecord:
    """What the harness did for one job (for tests and debugging)."""

    job_type: str
    name: str
    status: str
    workdir: Path
    failure_reason: str | None = None
    stdout: str = ""
    stderr: str = ""
    image: str | None = None
    runtime: str | None = None  # the runtime that ran it: Runtime.describe()
    network_isolation: bool = False  # ran without network (EnableNetworkIsolation, isolation.py)


def _tail(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-_TAIL_LINES:])[-1500:]


def _decode_hyperparameter(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value


class JobEmulator:
    """Runs jobs for moto's SageMaker backend and records the outcome on moto's job."""

    def __init__(self, s3_factory: Callable[[], Any], sagemaker_factory: Callable[[], Any],
                 workdir: Path, models: ModelCache,
                 resolve_runtime: Callable[[str | None], Runtime]) -> None:
        self._s3_factory = s3_factory
        self._sagemaker_factory = sagemaker_factory
        self._workdir = workdir
        self._models = models
        self._resolve_runtime = resolve_runtime
        self.records: list[JobRecord] = []
        self._forced: dict[str, list[str]] = defaultdict(list)

    def fail_next(self, job_type: str, reason: str) -> None:
        """Make the next job of `job_type` fail with `reason`, without running it."""
        if job_type not in JOB_TYPES:
            raise ValueError(f"job_type must be one of {JOB_TYPES}, got {job_type!r}")
        self._forced[job_type].append(reason)

    # -- entry points, called after moto has recorded the job ------------------------
    def processing(self, job: Any, params: dict) -> None:
        """Run a processing job; `job` is moto's FakeProcessingJob."""
        job.environment = params.get("Environment") or None
        self._run(job, "processing", job.processing_job_name, params, self._run_processing)

    def training(self, job: Any, params: dict) -> None:
        """Run a training job; `job` is moto's FakeTrainingJob."""
        job.environment = params.get("Environment") or None
        self._run(job, "training", job.training_job_name, params, self._run_training)

    def transform(self, job: Any, params: dict) -> None:
        """Run a transform job; `job` is moto's FakeTransformJob."""
        self._run(job, "transform", job.transform_job_name, params, self._run_transform)

    # -- shared bookkeeping ------------------------------------------------------------
    def _run(self, job: Any, job_type: str, name: str, params: dict,
             runner: Callable[[JobRecord, dict], None]) -> None:
        workdir = Path(tempfile.mkdtemp(prefix=f"{job_type}-{name}-", dir=self._workdir))
        record = JobRecord(job_type=job_type, name=name, status="Completed", workdir=workdir)
        self.records.append(record)
        try:
            if self._forced[job_type]:
                raise JobFailure(self._forced[job_type].pop(0))
            if job_type != "transform":  # a transform job runs in its Model's runtime (and isolation)
                record.image = _job_image(job_type, params)
                record.runtime = self._runtime(record.image).describe()
                record.network_isolation = isolation.job_isolated(job_type, params)
            runner(record, params)
        except JobFailure as failure:
            record.status, record.failure_reason = "Failed", str(failure)
        except Exception as error:  # noqa: BLE001 - an emulation error is a failed job
            record.status = "Failed"
            record.failure_reason = f"ClientError: {type(error).__name__}: {error}"
        _write_outcome(job, job_type, record)

    def _runtime(self, image: str | None) -> Runtime:
        try:
            return self._resolve_runtime(image)
        except Exception as error:  # noqa: BLE001 - no runtime: the job cannot start
            raise JobFailure(f"ClientError: {error}") from error

    def _subprocess(self, record: JobRecord, command: list[str], env: dict[str, str],
                    cwd: Path, timeout: float | None) -> int:
        try:
            completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True,
                                       text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as expired:
            raise JobFailure(f"MaxRuntimeExceeded: job ran longer than {timeout} s") from expired
        record.stdout, record.stderr = completed.stdout, completed.stderr
        return completed.returncode

    # -- processing ----------------------------------------------------------------------
    def _run_processing(self, record: JobRecord, params: dict) -> None:
        s3 = self._s3_factory()
        opt_ml = record.workdir / "opt_ml"

        def local(path: str) -> str:
            return path.replace("/opt/ml/", f"{opt_ml}/") if path.startswith("/opt/ml/") else path

        for processing_input in params.get("ProcessingInputs") or []:
            s3_input = _s3_input(processing_input)
            download = s3io.download_manifest if s3_input.get("S3DataType") == "ManifestFile" else s3io.download_prefix
            download(s3, s3_input["S3Uri"], Path(local(s3_input["LocalPath"])))
        outputs = (params.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        for output in outputs:
            Path(local(output["S3Output"]["LocalPath"])).mkdir(parents=True, exist_ok=True)
        _write_json(opt_ml / "config" / "processingjobconfig.json", params)
        runtime = self._runtime(record.image)
        command = self._processing_command(params.get("AppSpecification") or {}, opt_ml,
                                           str(runtime.require_built()))
        env = job_environment(opt_ml, params.get("Environment"), runtime,
                              **isolation.environment(record.name, record.network_isolation))
        if self._subprocess(record, command, env, opt_ml, _max_runtime(params)) != 0:
            raise JobFailure(f"AlgorithmError: {_tail(record.stderr) or 'non-zero exit code'}")
        for output in outputs:
            s3_output = output["S3Output"]
            s3io.upload_folder(s3, Path(local(s3_output["LocalPath"])), s3_output["S3Uri"])

    @staticmethod
    def _processing_command(app: dict, opt_ml: Path, python: str) -> list[str]:
        command = list(app.get("ContainerEntrypoint") or []) + list(app.get("ContainerArguments") or [])
        if not app.get("ContainerEntrypoint"):
            raise JobFailure(
                "ClientError: the harness runs processing jobs from AppSpecification.ContainerEntrypoint; "
                f"image {app.get('ImageUri')!r} has none"
            )
        command = [part.replace("/opt/ml/", f"{opt_ml}/") for part in command]
        if Path(command[0]).name in ("python", "python3"):
            command[0] = python
        return command

    # -- training ------------------------------------------------------------------------
    def _run_training(self, record: JobRecord, params: dict) -> None:
        s3 = self._s3_factory()
        base = record.workdir / "opt_ml"
        hyperparameters = self._training_hyperparameters(s3, record.workdir, params)
        self._lay_out_training(s3, base, params, hyperparameters)
        runtime = self._runtime(record.image)
        env = job_environment(base, params.get("Environment"), runtime, (RUNTIME_SCRIPTS,),
                              SAGEMAKER_BASE_DIR=str(base), TRAINING_JOB_NAME=params["TrainingJobName"],
                              SAGEMAKER_TRAINING_MODULE=_IMAGE_TRAINING_MODULE,
                              **isolation.environment(record.name, record.network_isolation))
        code = self._subprocess(record, [str(runtime.require_built()), "-c", _TRAIN_COMMAND], env,
                                record.workdir, _max_runtime(params))
        failure_file = base / "output" / "failure"
        if code != 0 or failure_file.exists():
            reported = failure_file.read_text() if failure_file.exists() else ""
            raise JobFailure(f"AlgorithmError: {_tail(reported + chr(10) + record.stderr)}")
        self._upload_training_outputs(s3, base, params)

    @staticmethod
    def _training_hyperparameters(s3: Any, workdir: Path, params: dict) -> dict[str, str]:
        hyperparameters = dict(params.get("HyperParameters") or {})
        if not _decode_hyperparameter(hyperparameters.get("sagemaker_program")):
            raise JobFailure(
                "ClientError: the harness emulates script-mode training only; "
                "HyperParameters has no sagemaker_program"
            )
        submit = _decode_hyperparameter(hyperparameters.get("sagemaker_submit_directory"))
        if submit and submit.startswith("s3://") and not isolation.job_isolated("training", params):
            # The toolkit downloads it with the job's role: the harness does, as that role.
            local = s3io.download_object(s3, submit, workdir / "sourcedir.tar.gz")
            hyperparameters["sagemaker_submit_directory"] = json.dumps(str(local))
        elif submit:
            # A file of a channel (the isolated shape) as laid out below; an S3 URI of an isolated
            # job is left to the toolkit, which cannot download it there (no network, no credentials).
            hyperparameters["sagemaker_submit_directory"] = json.dumps(
                isolation.container_path(submit, workdir / "opt_ml"))
        return hyperparameters

    @staticmethod
    def _lay_out_training(s3: Any, base: Path, params: dict, hyperparameters: dict) -> None:
        channels: dict[str, dict] = {}
        for channel in params.get("InputDataConfig") or []:
            source = (channel.get("DataSource") or {}).get("S3DataSource")
            if source is None:
                raise JobFailure(f"ClientError: channel {channel['ChannelName']} has no S3DataSource")
            s3io.download_prefix(s3, source["S3Uri"], base / "input" / "data" / channel["ChannelName"])
            channels[channel["ChannelName"]] = {
                "ContentType": channel.get("ContentType", ""),
                "TrainingInputMode": channel.get("InputMode", "File"),
                "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
                "RecordWrapperType": channel.get("RecordWrapperType", "None"),
            }
        config = base / "input" / "config"
        _write_json(config / "hyperparameters.json", hyperparameters)
        _write_json(config / "inputdataconfig.json", channels)
        _write_json(config / "resourceconfig.json", {
            "current_host": "localhost", "hosts": ["localhost"], "network_interface_name": "eth0",
        })
        (base / "model").mkdir(parents=True, exist_ok=True)
        (base / "output" / "data").mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _upload_training_outputs(s3: Any, base: Path, params: dict) -> None:
        prefix = f"{params['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{params['TrainingJobName']}/output"
        archive = s3io.tar_folder(base / "model", base / "model.tar.gz")
        bucket, key = s3io.split_uri(f"{prefix}/model.tar.gz")
        s3.upload_file(str(archive), bucket, key)
        if any((base / "output" / "data").iterdir()):
            archive = s3io.tar_folder(base / "output" / "data", base / "output.tar.gz")
            bucket, key = s3io.split_uri(f"{prefix}/output.tar.gz")
            s3.upload_file(str(archive), bucket, key)

    # -- transform -----------------------------------------------------------------------
    def _run_transform(self, record: JobRecord, params: dict) -> None:
        s3 = self._s3_factory()
        described = self._sagemaker_factory().describe_model(ModelName=params["ModelName"])
        model = self._models.get(ModelSource.from_describe(described))
        record.image, record.runtime = model.source.image, model.runtime.describe()
        record.network_isolation = model.source.network_isolation
        settings = TransformSettings.from_request(params)
        source = params["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        out_bucket, out_prefix = s3io.split_uri(params["TransformOutput"]["S3OutputPath"])
        for key, relative in s3io.list_objects(s3, source):
            bucket, _ = s3io.split_uri(source)
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            try:
                result = transform_object(model, body, settings)
            except Exception as error:  # noqa: BLE001 - the model's code failed
                raise JobFailure(f"AlgorithmError: {key}: {type(error).__name__}: {error}") from error
            out_key = f"{out_prefix.rstrip('/')}/{relative}.out".lstrip("/")
            s3.put_object(Bucket=out_bucket, Key=out_key, Body=result)


def _job_image(job_type: str, params: dict) -> str | None:
    if job_type == "processing":
        return (params.get("AppSpecification") or {}).get("ImageUri")
    return (params.get("AlgorithmSpecification") or {}).get("TrainingImage")


def _s3_input(processing_input: dict) -> dict:
    s3_input = processing_input.get("S3Input")
    if s3_input is None:
        raise JobFailure(f"ClientError: input {processing_input.get('InputName')} has no S3Input "
                         "(DatasetDefinition inputs are not emulated)")
    if s3_input.get("S3DataType", "S3Prefix") not in ("S3Prefix", "ManifestFile"):
        raise JobFailure(f"ClientError: input {processing_input.get('InputName')}: only S3Prefix "
                         "and ManifestFile inputs are emulated")
    return s3_input


def _max_runtime(params: dict) -> float | None:
    return (params.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def _write_outcome(job: Any, job_type: str, record: JobRecord) -> None:
    """Record status and failure on moto's job object so Describe*Job reports them."""
    now = utcnow()
    job.last_modified_time = now
    job.failure_reason = record.failure_reason
    if job_type == "processing":
        job.processing_job_status = record.status
        job.processing_end_time = now
        job.exit_message = record.failure_reason
    elif job_type == "training":
        job.training_job_status = record.status
        job.secondary_status = record.status
        job.training_end_time = now
    else:
        job.transform_job_status = record.status
        job.transform_end_time = now


def cleanup(workdir: Path) -> None:
    """Remove the harness' temp folder."""
    shutil.rmtree(workdir, ignore_errors=True)


def make_create_patch(kind: str, emulator: JobEmulator, original: Callable) -> Callable:
    """Replacement for `SageMakerResponse.create_<kind>_job`: create in moto, then run."""
    runner = getattr(emulator, kind)
    collection = f"{kind}_jobs"
    name_param = {"processing": "ProcessingJobName", "training": "TrainingJobName",
                  "transform": "TransformJobName"}[kind]

    def create(self):  # type: ignore[no-untyped-def]
        params = json.loads(self.body or "{}")
        result = original(self)
        runner(getattr(self.sagemaker_backend, collection)[params[name_param]], params)
        return result

    return create

"""Running the job scripts as SageMaker runs them: from the extracted job-code bundle, in
/opt/ml-like folders, as subprocesses of the image's runtime (`mdlc/runtimes.py`: its Python
and pinned libraries, never the CDK virtualenv's), processing through the job's own
entrypoint, training through the image's toolkit (sagemaker-containers' trainer)."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from mdlc import bundle, runtimes
from mdlc.contract import MODELS_DIR, load_team, runtime_spec
from mdlc.harness import jobs as harness_jobs
from stacks.common.sagemaker_jobs import CODE_DIR, job_entrypoint

REPO = Path(__file__).resolve().parents[3]
RUNTIME = runtimes.runtime_for_algorithm(load_team(MODELS_DIR / "fraud-detection.yaml").training.algorithm)
PY = str(RUNTIME.require_built())  # the image's Python, not the CDK virtualenv's
SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))


def write_spec(folder: Path, spec: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "team.json").write_text(json.dumps(spec))
    return folder


def run_processing(code: Path, job: str, args: list[str], env: dict[str, str] | None = None):
    """The processing job's own entrypoint on the code input (the bundle), then ``<args>``."""
    code_dir = code / "processing" / "input" / "code"
    command = [part.replace(CODE_DIR, str(code_dir)) for part in job_entrypoint(f"{job}/job.py")]
    result = subprocess.run([PY, *command[1:], *args], capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, cwd=code_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def run_data_quality(code: Path, root: Path, data: Path, spec_dir: Path, baseline: Path | None,
                 previous: str = "", drift_accepted: str = "") -> dict[str, Any]:
    run_processing(code, "data_quality", [
        "--data", str(data), "--config", str(spec_dir),
        "--baseline", str(baseline or root / "no-baseline"),
        "--report-dir", str(root / "report"), "--statistics-dir", str(root / "baseline")],
        env={"PREVIOUS_ROW_COUNT": previous, "DRIFT_ACCEPTED": drift_accepted})
    return json.loads((root / "report" / "report.json").read_text())


def train_with_toolkit(base: Path, code: Path, channels: dict[str, Path],
                       hps: dict[str, Any] | None = None) -> Path:
    """A script-mode training job run by the image's toolkit, laid out like /opt/ml."""
    config = base / "input" / "config"
    config.mkdir(parents=True)
    data = base / "input" / "data"
    for name, src in channels.items():
        (data / name).mkdir(parents=True)
        for f in src.iterdir():
            (data / name / f.name).write_bytes(f.read_bytes())
    hyper = {"sagemaker_program": bundle.TRAINING_PROGRAM,
             "sagemaker_submit_directory": str(code / "job-code.tar.gz"), **(hps or {})}
    (config / "hyperparameters.json").write_text(json.dumps({k: json.dumps(v)
                                                             for k, v in hyper.items()}))
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "localhost", "hosts": ["localhost"]}))
    (config / "inputdataconfig.json").write_text(
        json.dumps({n: {"TrainingInputMode": "File"} for n in channels}))
    env = harness_jobs.job_environment(base, {}, RUNTIME, (harness_jobs.RUNTIME_SCRIPTS,),
                                       SAGEMAKER_BASE_DIR=str(base),
                                       SAGEMAKER_TRAINING_MODULE="image_training:main")
    result = subprocess.run([PY, "-c", harness_jobs._TRAIN_COMMAND], capture_output=True,
                            text=True, env=env, cwd=base)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return base / "model"


def model_tar(model_dir: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest / "model.tar.gz", "w:gz") as tar:
        for f in sorted(model_dir.iterdir()):
            tar.add(f, arcname=f.name)
    return dest

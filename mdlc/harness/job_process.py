"""The process environment of an emulated SageMaker job or model server: a clean,
container-like environment in the image's runtime (used by jobs.py and inference.py)."""

from __future__ import annotations

import os
from pathlib import Path

from mdlc.runtimes import Runtime

_SHIM_DIR = Path(__file__).resolve().parent / "_opt_ml"
_HOST_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT", "USER")


def job_environment(opt_ml: Path, job_env: dict | None, runtime: Runtime | None = None,
                    python_path: tuple[Path, ...] = (), **extra: str) -> dict[str, str]:
    """Subprocess environment of a job in `runtime`: a clean container-like environment.

    Only basic host variables are kept (not the CDK virtualenv's, nor moto's or the
    handlers'), then the job's `Environment`, then `extra`. The runtime's `bin/` leads PATH.
    `_opt_ml/sitecustomize.py` (on PYTHONPATH) remaps `/opt/ml/...` literals in the job's
    Python processes to `opt_ml`, as SageMaker's mount of the job folder would. pip runs
    offline (no index, no build isolation) and installs into `pip-target` below `opt_ml`,
    so the toolkit's `pip install .` of the job's code never touches the shared virtualenv.
    """
    base = {name: os.environ[name] for name in _HOST_VARIABLES if name in os.environ}
    if runtime is not None:
        base["PATH"] = os.pathsep.join([str(runtime.venv_dir / "bin"), base.get("PATH", "")])
    target = opt_ml / "pip-target"
    target.mkdir(parents=True, exist_ok=True)
    paths = [str(_SHIM_DIR), *(str(p) for p in python_path), str(target)]
    return {**base, **(job_env or {}), **extra,
            "PYTHONPATH": os.pathsep.join(paths), "MDLC_HARNESS_OPT_ML": str(opt_ml),
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
            "PIP_TARGET": str(target), "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_WARN_SCRIPT_LOCATION": "1",
            # No credentials, never the developer's: the harness acts for the job's role itself.
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_CONFIG_FILE": os.devnull}

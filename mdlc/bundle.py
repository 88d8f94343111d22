"""The job-code bundle: one deterministic tarball holding every SageMaker job script.

Layout (paths inside the tarball)::

    jobkit.py                 sagemaker_jobs/jobkit.py
    data_quality/job.py       sagemaker_jobs/data_quality/job.py
    features/job.py, training/train.py, evaluation/job.py, inference/inference.py
    mdlc/__init__.py, mdlc/features/*.py, mdlc/policy.py

Processing jobs extract it to ``/opt/ml/processing/input/code/`` and run ``<job>/job.py``;
training uses it as ``sagemaker_submit_directory`` with ``sagemaker_program`` =
``train.py`` (:data:`TRAINING_PROGRAM`, which runs ``training/train.py``: the image's toolkit
runs the program as ``python -m train``); the model's serving program is
``serve.py`` (:data:`INFERENCE_PROGRAM`), which re-exports ``inference/inference.py``. Entries are sorted, owned by
root, mode 0644/0755, mtime 0, and the gzip header has mtime 0 and no name, so the same
sources always give the same sha256 (stable CDK asset hashes).

The bundle root is the scripts' one import root (``import jobkit``, ``from mdlc import
features``, ``from mdlc import policy``, ``from data_quality import job``); no script
touches ``sys.path``. Whatever runs a script puts the root on the path: the processing entrypoint
(:func:`stacks.common.sagemaker_jobs.job_entrypoint`), the image's training toolkit
(sagemaker-containers ``pip install``s the code dir and runs ``python -m train``), its serving
toolkit (installs the code dir and imports ``serve``); from the repository, :data:`JOBS_DIR`
and :func:`script_environment` do the same.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

from mdlc import shipping

REPO_ROOT = Path(__file__).resolve().parent.parent
JOBS_DIR = REPO_ROOT / "sagemaker_jobs"  # the bundle root, as laid out in the repository
TRAINING_PROGRAM = "train.py"  # runs training/train.py; `python -m` needs a root module
INFERENCE_PROGRAM = "serve.py"  # re-exports inference/inference.py at the root
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo"}
#: The project modules the job scripts import (the feature module and the decision policy),
#: relative to ``mdlc/``; a folder ships its .py files. Defined in mdlc/shipping.py.
SHIPPED_MDLC = tuple(path.removeprefix("mdlc/") for path in shipping.SAGEMAKER if path.startswith("mdlc/"))


def script_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` plus ``env`` for running a job script straight from the repository:
    the bundle's import root (``sagemaker_jobs/``, and the repository for ``mdlc/``) first on
    ``PYTHONPATH``, as SageMaker's entrypoints have it."""
    merged = {**os.environ, **(env or {})}
    path = [str(JOBS_DIR), str(REPO_ROOT), merged.get("PYTHONPATH", "")]
    merged["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    return merged


def bundle_files(repo_root: str | Path = REPO_ROOT) -> list[tuple[str, Path]]:
    """(name in the tarball, source path) for every file shipped, sorted by name."""
    root = Path(repo_root)
    jobs = root / "sagemaker_jobs"
    if not jobs.is_dir():
        raise FileNotFoundError(f"{jobs} not found; expected the repository's job scripts there")
    entries = [
        (path.relative_to(jobs).as_posix(), path)
        for path in jobs.rglob("*")
        if path.is_file() and not (SKIP_PARTS & set(path.parts)) and path.suffix not in SKIP_SUFFIXES
    ]
    for name in SHIPPED_MDLC:
        path = root / "mdlc" / name
        files = sorted(path.glob("*.py")) if path.is_dir() else [path]
        entries += [(f"mdlc/{f.relative_to(root / 'mdlc').as_posix()}", f) for f in files]
    return sorted(entries)


def build_bundle(output_path: str | Path, repo_root: str | Path = REPO_ROOT) -> str:
    """Write the job-code tarball (.tar.gz) to ``output_path``; return its sha256 (hex)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in bundle_files(repo_root):
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uid, info.gid = len(data), 0, 0, 0
            info.uname = info.gname = "root"
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as gz:
        gz.write(raw.getvalue())
    out = Path(output_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(compressed.getvalue())
    return hashlib.sha256(compressed.getvalue()).hexdigest()


if __name__ == "__main__":  # pragma: no cover - convenience: python -m mdlc.bundle out.tar.gz
    import sys

    print(build_bundle(sys.argv[1] if len(sys.argv) > 1 else "build/job-code.tar.gz"))

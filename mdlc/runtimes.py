"""Job runtimes: the Python and libraries of the image each SageMaker job deploys to.

A runtime manifest (`runtimes/<framework>-<version>/runtime.toml` plus its requirements
files) records what one built-in image runs, with where each figure comes from. A team
with a custom image declares its runtime in its team file (`training.algorithm.runtime`).
`make` builds one virtualenv per runtime in use (`python -m mdlc.runtime_build build`, under
`.venv-jobs/`) with an interpreter of the image's Python version, and the offline harness
runs every job and the endpoint of that image in it (`mdlc/harness/jobs.py`).

This module is the one place that knows which image versions exist: the team contract's
default and its validation, the stacks' image URIs and the harness all read it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIMES_DIR = REPO_ROOT / "runtimes"
VENVS_DIR = Path(os.environ.get("MDLC_JOB_VENVS") or REPO_ROOT / ".venv-jobs")
_STAMP = ".mdlc-runtime.json"
_IMAGE_TAG = re.compile(r"/sagemaker-(?P<framework>[a-z0-9-]+):(?P<version>[0-9]+\.[0-9]+-[0-9]+)$")


class RuntimeUnavailable(Exception):
    """A runtime that cannot be resolved or built; the message says what to do."""


@dataclass(frozen=True)
class Runtime:
    """The Python version and pinned packages one image runs (a manifest or a team's declaration)."""

    name: str
    python: str
    requirements: tuple[Path, ...]
    nodeps_requirements: tuple[Path, ...] = ()
    patches: tuple[tuple[str, str, str], ...] = ()
    framework: str | None = None
    version: str | None = None
    training_toolkit: str = "sagemaker-containers"
    serving_toolkit: str = "sagemaker-containers"
    manifest: Path | None = None
    sources: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def venv_dir(self) -> Path:
        """Where `make` builds this runtime's virtualenv."""
        return VENVS_DIR / self.name

    @property
    def python_path(self) -> Path:
        """The virtualenv's interpreter (exists once built)."""
        return self.venv_dir / "bin" / "python"

    @property
    def fingerprint(self) -> str:
        """Hash of everything the virtualenv is built from: a change means a rebuild."""
        digest = hashlib.sha256(self.python.encode())
        for path in (*self.requirements, *self.nodeps_requirements):
            digest.update(path.name.encode() + path.read_bytes())
        digest.update(json.dumps(self.patches).encode())
        return digest.hexdigest()

    def is_built(self) -> bool:
        """True when the virtualenv exists and was built from the current manifest."""
        stamp = self.venv_dir / _STAMP
        if not (stamp.is_file() and self.python_path.exists()):
            return False
        return json.loads(stamp.read_text()).get("fingerprint") == self.fingerprint

    def require_built(self) -> Path:
        """The interpreter, or an error saying how to build it."""
        if not self.is_built():
            raise RuntimeUnavailable(
                f"the job runtime {self.name} (Python {self.python}) is not built or is out of "
                f"date at {self.venv_dir}; run `make install` (or `python -m mdlc.runtime_build build`)"
            )
        return self.python_path

    def describe(self) -> str:
        """One line: name and Python version (recorded on each job the harness runs)."""
        return f"{self.name} (Python {self.python})"


# ---------------------------------------------------------------------------- built-in images
def _load_manifest(folder: Path) -> Runtime:
    data = tomllib.loads((folder / "runtime.toml").read_text())
    nodeps = folder / "requirements-nodeps.txt"
    return Runtime(
        name=folder.name,
        python=str(data["python"]),
        requirements=(folder / "requirements.txt",),
        nodeps_requirements=(nodeps,) if nodeps.is_file() else (),
        patches=tuple((p["file"], p["replace"], p["with"]) for p in data.get("patches", [])),
        framework=data["framework"],
        version=data["version"],
        training_toolkit=data.get("training_toolkit", "sagemaker-containers"),
        serving_toolkit=data.get("serving_toolkit", "sagemaker-containers"),
        manifest=folder / "runtime.toml",
    )


@cache
def lambda_runtime() -> Runtime:
    """The Python the stacks declare for every Lambda function, and its test virtualenv."""
    folder = RUNTIMES_DIR / "lambda-python"
    data = tomllib.loads((folder / "runtime.toml").read_text())
    python = str(data["python"])
    return Runtime(name=f"lambda-python{python}", python=python,
                   requirements=(folder / "requirements.txt",), manifest=folder / "runtime.toml")


@cache
def builtin_runtimes(framework: str = "xgboost") -> dict[str, Runtime]:
    """Supported versions of a built-in image → their runtime (one manifest folder each)."""
    found = {}
    for folder in sorted(RUNTIMES_DIR.glob(f"{framework}-*")):
        if (folder / "runtime.toml").is_file():
            runtime = _load_manifest(folder)
            found[runtime.version or ""] = runtime
    return found


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.split(r"[.-]", version))


def supported_versions(framework: str = "xgboost") -> list[str]:
    """Image versions the project can run offline, oldest first."""
    return sorted(builtin_runtimes(framework), key=_version_key)


def default_version(framework: str = "xgboost") -> str:
    """The newest supported version: the default of `training.algorithm.version`."""
    versions = supported_versions(framework)
    if not versions:
        raise RuntimeUnavailable(f"no runtime manifests for {framework} under {RUNTIMES_DIR}")
    return versions[-1]


def builtin_runtime(version: str, framework: str = "xgboost") -> Runtime:
    """The runtime of a built-in image version, or an error naming the supported ones."""
    runtimes = builtin_runtimes(framework)
    if version not in runtimes:
        raise RuntimeUnavailable(
            f"{framework} image version {version!r} is not supported: the project runs its jobs "
            f"offline in each supported image's runtime; supported: {', '.join(supported_versions(framework))} "
            f"(manifests in runtimes/)"
        )
    return runtimes[version]


def oldest_python() -> str:
    """The oldest Python among the supported images: job code must run on it."""
    versions = {r.python for fw in ("xgboost",) for r in builtin_runtimes(fw).values()}
    return min(versions, key=_version_key)


def custom_runtime(python: str, requirements: str | Path, repo_root: Path = REPO_ROOT) -> Runtime:
    """The runtime a team declares for its custom image (Python version + requirements file)."""
    path = (repo_root / requirements).resolve()
    if not path.is_file():
        raise RuntimeUnavailable(f"runtime requirements file {requirements} not found (looked at {path})")
    digest = hashlib.sha256(python.encode() + path.read_bytes()).hexdigest()[:10]
    return Runtime(name=f"custom-py{python}-{digest}", python=python, requirements=(path,))


def runtime_for_algorithm(algorithm: Any, repo_root: Path = REPO_ROOT) -> Runtime:
    """The runtime of a team's `training.algorithm` (built-in or custom)."""
    if getattr(algorithm, "image_uri", None):
        return custom_runtime(algorithm.runtime.python, algorithm.runtime.requirements, repo_root)
    return builtin_runtime(algorithm.version, algorithm.builtin)


def builtin_runtime_for_image(image_uri: str) -> Runtime | None:
    """The runtime of a built-in image URI (`…/sagemaker-xgboost:<version>`), else None."""
    match = _IMAGE_TAG.search(image_uri or "")
    if not match:
        return None
    return builtin_runtime(match["version"], match["framework"])


# ---------------------------------------------------------------------------- interpreters
def _interpreter_version(path: Path) -> str | None:
    try:
        out = subprocess.run([str(path), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def find_interpreter(version: str) -> Path:
    """A CPython `version` interpreter: on PATH, in a pyenv root, or one `uv` manages."""
    candidates: list[Path] = []
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(Path(on_path))
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")]
    for root in filter(None, roots):
        for folder in sorted(Path(root, "versions").glob(f"{version}.*"), key=lambda p: p.name, reverse=True):
            candidates.append(folder / "bin" / f"python{version}")
    uv = shutil.which("uv")
    if uv:
        found = subprocess.run([uv, "python", "find", version], capture_output=True, text=True, check=False)
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(Path(found.stdout.strip()))
    for candidate in candidates:
        if candidate.exists() and _interpreter_version(candidate) == version:
            return candidate
    raise RuntimeUnavailable(
        f"no Python {version} interpreter found (looked for python{version} on PATH, in "
        f"$PYENV_ROOT/versions/{version}.* and ~/.pyenv/versions/{version}.*, and asked `uv python find`). "
        f"Install one, e.g. `pyenv install {version}` or `pip install uv && uv python install {version}`, "
        "then run `make install` again"
    )


# ---------------------------------------------------------------------------- building
def _pip(python: Path, *args: str) -> None:
    command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise RuntimeUnavailable(f"`{' '.join(command)}` failed:\n{tail}")


def _site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def build(runtime: Runtime, log: Any = print) -> float:
    """Build (or rebuild) the runtime's virtualenv; returns the seconds it took (0 if current)."""
    if runtime.is_built():
        return 0.0
    started = time.monotonic()
    interpreter = find_interpreter(runtime.python)
    log(f"building job runtime {runtime.describe()} in {runtime.venv_dir} with {interpreter}")
    shutil.rmtree(runtime.venv_dir, ignore_errors=True)
    runtime.venv_dir.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(interpreter), "-m", "venv", str(runtime.venv_dir)], check=True)
    python = runtime.python_path
    for requirements in runtime.requirements:
        _pip(python, "-r", str(requirements))
    for requirements in runtime.nodeps_requirements:
        _pip(python, "--no-deps", "-r", str(requirements))
    site = _site_packages(python)
    for relative, old, new in runtime.patches:
        target = site / relative
        text = target.read_text()
        if old not in text:
            raise RuntimeUnavailable(f"patch of {target}: {old!r} not found")
        target.write_text(text.replace(old, new))
    seconds = time.monotonic() - started
    (runtime.venv_dir / _STAMP).write_text(json.dumps(
        {"fingerprint": runtime.fingerprint, "python": runtime.python, "build_seconds": round(seconds, 1)}))
    log(f"built {runtime.name} in {seconds:.0f} s")
    return seconds

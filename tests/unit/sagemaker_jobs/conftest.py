"""Fixtures of the job-script tests: the bundle as a processing job's code input, and one
raw data → features → training → packaged model run per session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from mdlc import bundle
from mdlc import synthetic as sy
from tests.unit.sagemaker_jobs.support import SPEC, model_tar, run_processing, train_with_toolkit, write_spec


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    return SPEC


@pytest.fixture(scope="session")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The job-code bundle, built and extracted like a processing job's code input."""
    root = tmp_path_factory.mktemp("code")
    archive = root / "job-code.tar.gz"
    bundle.build_bundle(archive)
    code_dir = root / "processing" / "input" / "code"
    code_dir.mkdir(parents=True)
    shutil.copy2(archive, code_dir / archive.name)  # the entrypoint unpacks it in place
    return root


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory, spec, code) -> dict[str, Path]:
    """Raw data → feature job → training (toolkit) → packaged model, once per session."""
    root = tmp_path_factory.mktemp("run")
    raw = sy.generate(n_customers=800, days=60, seed=11)
    sy.write_partitions(raw, root / "raw")
    spec_dir = write_spec(root / "config", spec)
    run_processing(code, "features", ["--data", str(root / "raw"), "--config", str(spec_dir),
                                      "--splits-dir", str(root / "splits"),
                                      "--online-dir", str(root / "online")])
    channels = {"train": root / "splits" / "train", "validation": root / "splits" / "validation",
                "config": spec_dir}
    model_dir = train_with_toolkit(root / "ml1", code, channels)
    return {"root": root, "raw": root / "raw", "config": spec_dir, "splits": root / "splits",
            "online": root / "online", "model_dir": model_dir, "channels": channels,
            "model": model_tar(model_dir, root / "model")}


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    """A config folder holding the example team's spec, as the jobs' config input."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "team.json").write_text(json.dumps(SPEC))
    return tmp_path / "config"


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp

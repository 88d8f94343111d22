"""Every requirements file pins every line exactly, and `make upgrade` refreshes pins without
touching anything else (scripts/upgrade_pins.py; the product's build, not the harness)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FILES = sorted([*REPO.glob("requirements*.txt"), *REPO.glob("runtimes/*/requirements*.txt")])


def _script():
    spec = importlib.util.spec_from_file_location("upgrade_pins", REPO / "scripts" / "upgrade_pins.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins(path: Path) -> dict[str, str]:
    script = _script()
    return {script.canonical(m["name"]): m["version"] for line in path.read_text().splitlines()
            if (m := script.PIN.match(line.strip()))}


@pytest.mark.parametrize("path", FILES, ids=[str(f.relative_to(REPO)) for f in FILES])
def test_every_requirement_line_is_an_exact_pin(path):
    """A range lets a fresh install differ from what CI tested (boto3 floated under moto's pin)."""
    assert _script().pinned(path.read_text(), path.name)


def test_a_range_is_refused_naming_the_line():
    with pytest.raises(ValueError, match=r"x:2: 'ruff>=0.8' is not an exact pin"):
        _script().pinned("moto[all]==5.2.5\nruff>=0.8\n", "x")


def test_boto3_and_botocore_are_pinned_together_and_alike_for_the_cdk_and_the_lambda_runtime():
    cdk, handlers = _pins(REPO / "requirements.txt"), _pins(REPO / "runtimes" / "lambda-python" / "requirements.txt")

    for pins in (cdk, handlers):
        assert {"boto3", "botocore"} <= set(pins)
    assert (cdk["boto3"], cdk["botocore"]) == (handlers["boto3"], handlers["botocore"])


def test_repinning_changes_only_the_versions():
    text = ("# CDK app\naws-cdk-lib==2.275.0\nmoto[all]==5.2.5\n"
            "pyarrow==22.0.0  # the model splits are Parquet\n\nPyYAML==6.0.3\n")

    updated = _script().repin(text, {"aws-cdk-lib": "2.300.1", "moto": "5.3.0", "pyarrow": "23.0.0",
                                     "pyyaml": "6.0.3"})

    assert updated == ("# CDK app\naws-cdk-lib==2.300.1\nmoto[all]==5.3.0\n"
                       "pyarrow==23.0.0  # the model splits are Parquet\n\nPyYAML==6.0.3\n")

"""Job runtimes (mdlc/runtimes.py, runtimes/): the manifests, the virtualenvs `make` builds
from them, and the static check that job code fits the oldest image Python. These check the
product's runtime description and build, not the harness."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib

import pytest

from mdlc import runtime_build, runtimes, shipping
from mdlc.contract import REPO_ROOT, TeamFileError, parse_team

PINNED = ("numpy", "pandas", "scipy", "scikit-learn", "xgboost-cpu", "pyarrow")
TOOLKITS = ("sagemaker-containers", "sagemaker-inference")


def _pins(runtime: runtimes.Runtime) -> dict[str, str]:
    pins = {}
    for path in (*runtime.requirements, *runtime.nodeps_requirements):
        for line in path.read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line)
            if match:
                pins[match[1].lower().replace("_", "-")] = match[2]
    return pins


@pytest.mark.parametrize("version", runtimes.supported_versions())
def test_each_manifest_pins_python_libraries_and_toolkits_with_sources(version):
    runtime = runtimes.builtin_runtime(version)
    pins = _pins(runtime)
    assert re.fullmatch(r"3\.[0-9]+", runtime.python)
    for name in (*PINNED, *TOOLKITS):
        assert name in pins, f"{runtime.manifest}: {name} is not pinned exactly"
    manifest_text = runtime.manifest.read_text()
    assert "aws/sagemaker-xgboost-container" in manifest_text  # where the figures come from


def test_the_built_runtime_is_what_the_manifest_says():
    """The virtualenv `make` built runs the manifest's Python with its exact packages."""
    runtime = runtimes.builtin_runtime(runtimes.default_version())
    python = runtime.require_built()
    pins = _pins(runtime)
    probe = ("import json, sys; from importlib.metadata import version; "
             f"names = {list(pins)!r}; "
             "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], "
             "'packages': {n: version(n) for n in names}}))")
    found = json.loads(subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                                      check=True).stdout)
    assert found["python"] == runtime.python
    assert found["packages"] == pins


def test_an_unsupported_image_version_is_rejected_naming_the_supported_ones():
    text = (REPO_ROOT / "models" / "fraud-detection.yaml").read_text()
    text = re.sub(r"algorithm: \{builtin: xgboost\}", 'algorithm: {builtin: xgboost, version: "1.7-1"}', text)
    with pytest.raises(TeamFileError) as caught:
        parse_team(text)
    message = str(caught.value)
    assert "'1.7-1' is not supported" in message
    for version in runtimes.supported_versions():
        assert version in message


def test_the_default_is_the_newest_supported_version():
    from mdlc.contract import BuiltinAlgorithm

    assert BuiltinAlgorithm().version == runtimes.supported_versions()[-1] == runtimes.default_version()


def test_a_missing_interpreter_says_how_to_get_one():
    with pytest.raises(runtimes.RuntimeUnavailable) as caught:
        runtimes.find_interpreter("3.99")
    assert "pyenv install 3.99" in str(caught.value)
    assert "uv python install 3.99" in str(caught.value)


def test_ruff_targets_the_oldest_image_python_for_job_code():
    """pyproject's per-folder target-version of job code follows the manifests."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    targets = config["tool"]["ruff"]["per-file-target-version"]
    oldest = "py" + runtimes.oldest_python().replace(".", "")
    for path in shipping.IMAGE_PYTHON:  # what ships to the images (mdlc/shipping.py)
        key = path if path.endswith(".py") else f"{path}/**"
        assert targets.get(key) == oldest, f"pyproject.toml: {key} = {oldest!r} is missing"


def test_vermin_rejects_job_code_newer_than_the_oldest_image_python(tmp_path):
    """The static check `make test` runs bites: an API newer than the image's Python fails it."""
    script = tmp_path / "job.py"
    script.write_text("import copy\n\n\ndef main(record):\n    return copy.replace(record, x=1)\n")
    command = [str(REPO_ROOT / ".venv" / "bin" / "vermin"), "--no-tips", "--violations",
               f"-t={runtimes.oldest_python()}-", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "copy.replace" in result.stdout
    clean = subprocess.run([*command[:-1], str(REPO_ROOT / "sagemaker_jobs")],
                           capture_output=True, text=True, check=False)
    assert clean.returncode == 0, clean.stdout


def test_the_handler_unit_tests_pass_on_the_lambda_runtimes_python():
    """Every handler unit test (tests/unit/lambdas/, against moto, and the decision-request
    tests) runs on the Python the stacks declare for every function; the offline workflows
    still call handlers in-process on the CDK virtualenv's Python (mdlc/harness/README.md)."""
    runtime = runtimes.lambda_runtime()
    result = subprocess.run(
        [str(runtime.require_built()), "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "tests/unit/lambdas", "tests/unit/lambdas/shared/test_decision_logic.py"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_a_custom_image_team_declares_its_runtime_and_make_builds_it(tmp_path):
    text = (REPO_ROOT / "models" / "fraud-detection.yaml").read_text()
    requirements = tmp_path / "trainer-requirements.txt"
    requirements.write_text("numpy==2.1.0\n")
    custom = ('algorithm: {image_uri: "444455556666.dkr.ecr.eu-west-1.amazonaws.com/t:1", '
              f'runtime: {{python: "3.11", requirements: "{requirements}"}}}}')
    team_file = tmp_path / "fraud-detection.yaml"
    team_file.write_text(text.replace("algorithm: {builtin: xgboost}", custom))

    [runtime] = runtime_build.runtimes_in_use([team_file])

    assert runtime.python == "3.11" and runtime.requirements == (requirements,)
    assert runtime.name.startswith("custom-py3.11-") and not runtime.is_built()
    with pytest.raises(runtimes.RuntimeUnavailable, match="make install"):
        runtime.require_built()
    without = text.replace("algorithm: {builtin: xgboost}",
                           'algorithm: {image_uri: "444455556666.dkr.ecr.eu-west-1.amazonaws.com/t:1"}')
    with pytest.raises(TeamFileError, match="runtime"):
        parse_team(without)

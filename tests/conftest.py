"""Session fixtures: synthesise once per test session (CDK synth costs seconds).

The session's assembly holds every team in ``models/`` *and* a generated second team unlike
the example (``tests/second_team.py``: batch-only, other columns, no ``environments``), so
every test over "all templates" (cfn-lint, cdk-nag, ASL, retries, logging) also covers a team
that is not the example, and adding a team to ``models/`` cannot break the suite unnoticed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Imported first: it makes every botocore session created afterwards check its requests as the
# AWS service does (mdlc/harness/validation.py), also in tests that use moto's mock_aws directly.
import mdlc.harness  # noqa: F401
from mdlc.contract import team_files
from mdlc.local.team import LOCAL_ACCOUNT
from tests.second_team import write_second_team
from tests.shared import SHARED_DIR_ENV, once_per_run
from tests.synth import Assembly, synth

#: What the CDK CLI would hand a team without ``environments`` (moto's account, so the
#: offline harness can run the same synthesised templates).
CLI_ACCOUNT, CLI_REGION = LOCAL_ACCOUNT, "eu-west-1"


#: The longest modules, longest first (durations of a `make test` run): they start first, so
#: with xdist workers no worker is left running one of them after the others have finished.
#: `make test` keeps this order (`--no-loadscope-reorder`; xdist would otherwise start the
#: modules with the most tests first, and these single long tests last). A module not named
#: here keeps its collection order after them.
FIRST = (
    "tests/integration/test_lifecycle.py",
    "tests/integration/test_realtime_team_lifecycle.py",
    "tests/integration/test_backtest_exactness.py",
    "tests/integration/test_shadow_challenger.py",
    "tests/unit/mdlc/test_runtimes.py",
    "tests/integration/test_realtime_workflow.py",
    "tests/unit/mdlc/test_feature_module.py",
    "tests/integration/test_realtime_deployment.py",
    "tests/integration/test_training_tuning_workflow.py",
    "tests/integration/test_training_workflow.py",
    "tests/integration/test_monitoring_workflow.py",
    "tests/infrastructure/test_team_isolation.py",
)


def pytest_configure(config: pytest.Config) -> None:
    """In a pytest-xdist worker: the folder the run's workers share (the controller's base
    temp folder, parent of each worker's), where tests/shared.py keeps what one worker
    builds for all (the session's assembly, the trained example model)."""
    if hasattr(config, "workerinput") and config.option.basetemp:
        os.environ[SHARED_DIR_ENV] = str(Path(config.option.basetemp).parent / "shared")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.nodeid.split("::", 1)[0]
        return FIRST.index(module) if module in FIRST else len(FIRST)

    items.sort(key=rank)  # stable: the rest keep their order


@pytest.fixture(scope="session")
def team_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of models/ plus the generated second team."""
    models = tmp_path_factory.mktemp("models")
    for path in team_files():
        shutil.copy(path, models / path.name)
    write_second_team(models)
    return models


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory, team_dir: Path) -> Assembly:
    """Every team of ``team_dir``, synthesised with cdk-nag, as `cdk synth` would, and with
    CDK's built-in CloudFormation validation (which fails the synth on a finding).

    Synthesised once per run (tests/shared.py): under xdist the first worker synthesises and
    the others read the same cloud assembly (``team_dir`` is the same files in each)."""
    def make(folder: Path | None) -> Assembly:
        return synth((folder or tmp_path_factory.mktemp("assembly")) / "cdk.out", models_dir=team_dir,
                     default_account=CLI_ACCOUNT, default_region=CLI_REGION, validate=True)

    return once_per_run("assembly", make)

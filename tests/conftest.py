"""Session fixtures: synthesise once per test session (CDK synth costs seconds).

The session's assembly holds every team in ``models/`` *and* a generated second team unlike
the example (``tests/second_team.py``: batch-only, other columns, no ``environments``), so
every test over "all templates" (cfn-lint, cdk-nag, ASL, retries, logging) also covers a team
that is not the example, and adding a team to ``models/`` cannot break the suite unnoticed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# Imported first: it makes every botocore session created afterwards check its requests as the
# AWS service does (mdlc/harness/validation.py), also in tests that use moto's mock_aws directly.
import mdlc.harness  # noqa: F401
from mdlc.contract import team_files
from mdlc.local.team import LOCAL_ACCOUNT
from tests.second_team import write_second_team
from tests.synth import Assembly, synth

#: What the CDK CLI would hand a team without ``environments`` (moto's account, so the
#: offline harness can run the same synthesised templates).
CLI_ACCOUNT, CLI_REGION = LOCAL_ACCOUNT, "eu-west-1"


#: The longest module starts first: with xdist workers (`make test`), none waits for it
#: at the end.
FIRST = ("tests/integration/test_lifecycle.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(FIRST))  # stable: the rest keep their order


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
    CDK's built-in CloudFormation validation (which fails the synth on a finding)."""
    return synth(tmp_path_factory.mktemp("cdk.out"), models_dir=team_dir,
                 default_account=CLI_ACCOUNT, default_region=CLI_REGION, validate=True)

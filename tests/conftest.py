"""Session fixtures: synthesise once per test session (CDK synth costs seconds)."""

from __future__ import annotations

import pytest

from tests.synth import Assembly, synth


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    """Every team in models/, synthesised with cdk-nag, as `cdk synth` would."""
    return synth(tmp_path_factory.mktemp("cdk.out"))

"""Fixtures of the handler tests: one handler, its sample ``event.json``, and moto.

``tests/unit/lambdas/<stage>/test_<function>.py`` tests ``lambdas/<stage>/<function>/``:
the ``handler`` fixture imports that module and ``event`` loads the ``event.json`` beside
it (the event the workflow hands the function). ``aws`` starts moto with the buckets and
environment the stack gives every function, so nothing reaches AWS.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from moto import mock_aws

from lambdas.shared.aws import client, reset_clients
from mdlc.harness.lambdas import LambdaContext
from tests.unit.lambdas.support import (
    ACCOUNT,
    DATA_ENV,
    IDEMPOTENCY_TABLE,
    REGION,
    SPEC,
    TEAM,
    handler_dir,
)


@pytest.fixture(scope="session")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "team.json"
    path.write_text(json.dumps(SPEC))
    return path


@pytest.fixture
def event(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The sample event beside the handler under test."""
    return json.loads((handler_dir(request) / "event.json").read_text())


@pytest.fixture
def context(request: pytest.FixtureRequest) -> LambdaContext:
    name = f"{TEAM}-{handler_dir(request).name}"
    return LambdaContext(function_name=name, memory_limit_in_mb=512, timeout_seconds=60,
                         invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, spec_file: Path):
    """moto with the team's buckets and the environment every stage function gets."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "MDLC_TEAM": TEAM,
        "MDLC_TEAM_SPEC_FILE": str(spec_file), "POWERTOOLS_METRICS_NAMESPACE": f"MDLC/{TEAM}",
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE, **DATA_ENV,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        reset_clients()
        s3 = client("s3")
        for name in DATA_ENV.values():
            if name.startswith(f"{TEAM}-") and not name.endswith("-models"):
                s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield
        reset_clients()


@pytest.fixture
def handler(request: pytest.FixtureRequest, aws) -> ModuleType:
    """The handler module under test, imported inside moto with the stack's environment."""
    folder = handler_dir(request)
    name = f"lambdas.{folder.parent.name}.{folder.name}.handler"
    # A cold start: the module's Logger and Metrics read this environment (a test run earlier
    # in the same process may have imported it under another one).
    module = sys.modules.get(name)
    return importlib.reload(module) if module else importlib.import_module(name)

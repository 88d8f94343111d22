"""Constants and helpers of the handler tests (fixtures are in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdas.shared.aws import client
from mdlc import names
from mdlc.contract import MODELS_DIR, REPO_ROOT, load_team, runtime_spec

TEAM = "fraud-detection"
ACCOUNT, REGION = "123456789012", "eu-west-1"
SPEC = runtime_spec(load_team(MODELS_DIR / f"{TEAM}.yaml"))
# Powertools Idempotency binds its table when perform_action is imported: one name for all.
IDEMPOTENCY_TABLE = "unit-test-idempotency"


def bucket(purpose: str) -> str:
    """The data plane's bucket name for ``purpose`` (stacks/data_plane.py)."""
    return names.bucket_name(TEAM, purpose, ACCOUNT, REGION)


DATA_ENV = {
    "RAW_BUCKET": bucket("raw"),
    "FEATURES_BUCKET": bucket("features"),
    "ARTIFACTS_BUCKET": bucket("artifacts"),
    "CAPTURE_BUCKET": bucket("capture"),
    "REPORTS_BUCKET": bucket("reports"),
    "MODEL_PACKAGE_GROUP": names.model_package_group(TEAM),
}


def handler_dir(request: pytest.FixtureRequest) -> Path:
    """``lambdas/<stage>/<function>/`` of ``tests/unit/lambdas/<stage>/test_<function>.py``."""
    test_file = Path(request.module.__file__)
    name = test_file.stem.removeprefix("test_")
    return REPO_ROOT / "lambdas" / test_file.parent.name / name


def put_json(uri: str, value: Any) -> None:
    bucket_name, key = uri[5:].split("/", 1)
    client("s3").put_object(Bucket=bucket_name, Key=key, Body=json.dumps(value).encode())


def read_json(uri: str) -> Any:
    bucket_name, key = uri[5:].split("/", 1)
    return json.loads(client("s3").get_object(Bucket=bucket_name, Key=key)["Body"].read())


def approved_model(run_id: str, *, created_by: str = "unit test") -> dict[str, str]:
    """Register an Approved version in the team's group, as the training workflow does."""
    sm = client("sagemaker")
    group = DATA_ENV["MODEL_PACKAGE_GROUP"]
    try:
        sm.create_model_package_group(ModelPackageGroupName=group)
    except sm.exceptions.ClientError:
        pass  # the group exists already
    statistics = f"s3://{bucket('artifacts')}/runs/{run_id}/data-quality/baseline/statistics.json"
    model_uri = f"s3://{bucket('artifacts')}/runs/{run_id}/model/output/model.tar.gz"
    arn = sm.create_model_package(
        ModelPackageGroupName=group, ModelPackageDescription=created_by, ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "xgboost:1.7-1", "ModelDataUrl": model_uri,
                            "Environment": {"SAGEMAKER_PROGRAM": "serve.py"}}],
            "SupportedContentTypes": ["application/json"], "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties={"run_id": run_id, "statistics_uri": statistics},
    )["ModelPackageArn"]
    return {"arn": arn, "statistics_uri": statistics, "model_uri": model_uri}

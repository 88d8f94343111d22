"""register_model: a model package version with its lineage, approval from the team file."""

from __future__ import annotations

import pytest

from lambdas.shared.aws import client
from tests.unit.lambdas.support import DATA_ENV, SPEC, read_json


@pytest.fixture
def registry(aws, monkeypatch):
    client("sagemaker").create_model_package_group(ModelPackageGroupName=DATA_ENV["MODEL_PACKAGE_GROUP"])
    for key, value in {"GIT_COMMIT": "0123abc", "TEAM_FILE_SHA256": "f" * 64, "INFERENCE_IMAGE": "xgboost:1.7-1",
                       "INFERENCE_PROGRAM": "serve.py", "CODE_BUNDLE_URI": "s3://assets/job-code.tar.gz"}.items():
        monkeypatch.setenv(key, value)


def test_the_version_records_lineage_and_the_teams_approval_status(handler, event, context, registry):
    result = handler.handler(event, context)

    assert result["version"] == 1
    assert result["approval_status"] == SPEC["evaluation"]["approval_status"]
    package = client("sagemaker").describe_model_package(ModelPackageName=result["model_package_arn"])
    meta = package["CustomerMetadataProperties"]
    assert meta["run_id"] == event["run"]["run_id"] and meta["git_commit"] == "0123abc"
    assert meta["metric_value"] == "0.6116" and meta["data_sha256"] == event["run"]["data"]["sha256"]
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == event["training"]["model_uri"]
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "serve.py"
    lineage = read_json(result["lineage_uri"])
    assert lineage["row_count"] == 36567 and lineage["champion"] == {}
    latest = read_json(f"s3://{DATA_ENV['ARTIFACTS_BUCKET']}/runs/latest.json")
    assert latest["model_package_arn"] == result["model_package_arn"] and latest["row_count"] == 36567


def test_a_retrained_model_is_approved_when_the_team_auto_approves(handler):
    spec = {**SPEC, "retraining": {**SPEC["retraining"], "auto_approve": True}}
    assert handler.approval_status(spec, "drift:endpoint_feature_psi") == "Approved"
    assert handler.approval_status(spec, "manual") == SPEC["evaluation"]["approval_status"]

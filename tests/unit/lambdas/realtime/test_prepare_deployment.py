"""prepare_deployment: an approval event resolved into the container and names to deploy."""

from __future__ import annotations

import json

import pytest

from lambdas.shared.aws import client
from tests.unit.lambdas.support import approved_model

PARAMETER = "/mdlc/fraud-detection/realtime/deployed-model"


@pytest.fixture
def deployment(aws, monkeypatch) -> dict:
    monkeypatch.setenv("ENDPOINT_NAME", "fraud-detection--endpoint")
    monkeypatch.setenv("DEPLOYED_PARAMETER", PARAMETER)
    return approved_model("20260301T020000-3f9a1c")


def approval(event: dict, arn: str) -> dict:
    return {**event, "input": {**event["input"], "detail": {**event["input"]["detail"], "ModelPackageArn": arn}}}


def test_a_first_approval_creates_the_endpoint(handler, event, context, deployment):
    result = handler.handler(approval(event, deployment["arn"]), context)

    assert result["model_package_arn"] == deployment["arn"] and result["version"] == 1
    assert result["model_name"].startswith("fraud-detection--v1-") and result["endpoint_exists"] is False
    assert result["container"]["ModelDataUrl"] == deployment["model_uri"]
    assert result["container"]["Environment"]["OMP_NUM_THREADS"] == "1"
    assert (result["already_deployed"], result["poll_seconds"], result["reason"]) == (False, 30, "approved")


def test_a_package_of_another_group_is_refused(handler, event, context, deployment):
    client("sagemaker").create_model_package_group(ModelPackageGroupName="other-team-models")
    other = client("sagemaker").create_model_package(
        ModelPackageGroupName="other-team-models", ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": "x", "ModelDataUrl": "s3://b/m.tar.gz"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]
    with pytest.raises(handler.NotDeployable, match="expected 'fraud-detection--models'"):
        handler.handler(approval(event, other), context)


def test_a_manual_input_is_checked_field_by_field(handler, context, deployment):
    with pytest.raises(handler.NotDeployable, match=r"poll_seconds: got 0; expected .* \[1, 300\]"):
        handler.handler({"input": {"model_package_arn": deployment["arn"], "poll_seconds": 0},
                         "execution": "manual"}, context)
    client("ssm").put_parameter(Name=PARAMETER, Type="String",
                                Value=json.dumps({"model_package_arn": deployment["arn"]}))
    result = handler.handler({"input": {"model_package_arn": deployment["arn"]}, "execution": "m"}, context)
    assert result["reason"] == "manual" and result["previous_model_package_arn"] == deployment["arn"]

"""register_model: a model package version with its lineage, approval from the team file."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.exceptions import ClientError

from lambdas.shared.aws import client
from mdlc.harness import validation
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


# Hyperparameters as a team file may write them: lists, nested brackets, commas, quotes, empty.
ODD_HYPERPARAMETERS = {
    **SPEC["training"]["hyperparameters"],
    "eval_metric": ["aucpr", "logloss"],
    "interaction_constraints": "[[0, 1], [2, 3]]",
    "monotone_constraints": {"amount": 1, "age_days": -1},
    "objective": "binary:logistic",
    "scale_pos_weight": 12.5,
    "notes": "",
    "tree_method": "hist" + "x" * 300,
}


def _realistic_evaluation(event: dict) -> dict:
    """The event of a team with many features (long, non-ASCII and odd names), some unused."""
    features = [f"merchant_category_rolling_{window}_day_fraud_rate_by_country" for window in range(1, 31)]
    features += ["montant (€)", "país, región", "ratio%/día", "naïve_score"]
    shares = [1 / len(features)] * len(features)
    importance = [{"feature": name, "share": share, "gain_share": share, "used_in_splits": i % 3 != 0}
                  for i, (name, share) in enumerate(zip(features, shares, strict=True))]
    run = {**event["run"], "data_uri": "s3://fraud-detection-raw-123456789012-eu-west-1/raw/q=1,2 & more/"}
    return {**event, "run": run, "evaluation": {
        **event["evaluation"], "feature_importance": importance,
        "unused_features": [f["feature"] for f in importance if not f["used_in_splits"]],
        "champion": {"metrics": {"pr_auc": 0.5}}}}


def _create_model_package_violations(properties: dict[str, str]) -> list[str]:
    """What SageMaker's CreateModelPackage refuses in `properties` (botocore's service model)."""
    model = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateModelPackage")
    return validation.violations(model, {"ModelPackageGroupName": "g", "CustomerMetadataProperties": properties})


def test_metadata_of_a_realistic_evaluation_is_accepted_by_the_registry(handler, event, context, registry,
                                                                         monkeypatch, tmp_path):
    """Product: every CustomerMetadataProperties value passes the API's pattern and lengths
    (commas, "…" and refused characters failed the first real registration), and the whole
    lineage stays in lineage.json."""
    spec_file = tmp_path / "team.json"
    spec_file.write_text(json.dumps({**SPEC, "training": {**SPEC["training"],
                                                          "hyperparameters": ODD_HYPERPARAMETERS}}))
    monkeypatch.setenv("MDLC_TEAM_SPEC_FILE", str(spec_file))
    realistic = _realistic_evaluation(event)

    record = handler.lineage(realistic, handler.team_spec())
    record["lineage_uri"] = "s3://bucket/runs/r/lineage.json"
    properties = handler.metadata(record)

    assert _create_model_package_violations(properties) == []
    assert len(properties) <= 50
    shares = properties["feature_importance"].split(" ")
    assert shares[0] == "merchant_category_rolling_1_day_fraud_rate_by_country=0.029"
    # Truncated at a feature, saying how many are left out.
    assert shares[-1] == "more" and len(shares[:-2]) + int(shares[-2].removeprefix("+")) == 34
    assert properties["unused_features"].startswith("merchant_category_rolling_1_day_fraud_rate_by_country ")
    assert properties["hp.objective"] == "binary:logistic"
    assert properties["hp.interaction_constraints"] == "__0_ 1__ _2_ 3__"
    assert properties["hp.tree_method"].endswith("...") and len(properties["hp.tree_method"]) == 256
    assert "hp.notes" not in properties  # a value must have a character: empty ones are left out

    # Registered through the offline API, which checks the request as SageMaker does.
    result = handler.handler(realistic, context)

    lineage = read_json(result["lineage_uri"])
    assert lineage["data_uri"] == realistic["run"]["data_uri"]
    assert lineage["hyperparameters"] == ODD_HYPERPARAMETERS
    assert [f["feature"] for f in lineage["feature_importance"]][-4:] == ["montant (€)", "país, región",
                                                                          "ratio%/día", "naïve_score"]


def test_a_refused_metadata_value_fails_registration_with_sagemakers_error(registry):
    """Harness emulation: moto stores any metadata; offline, CreateModelPackage refuses a value
    outside the API's pattern with SageMaker's ValidationException text."""
    with pytest.raises(ClientError) as refused:
        client("sagemaker").create_model_package(
            ModelPackageGroupName=DATA_ENV["MODEL_PACKAGE_GROUP"],
            CustomerMetadataProperties={"feature_importance": "amount:0.412,age:0.201"})

    error = refused.value.response["Error"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        "1 validation error detected: Value '{feature_importance=amount:0.412,age:0.201}' at "
        "'customerMetadataProperties' failed to satisfy constraint: Map value must satisfy constraint: "
        "[Member must have length less than or equal to 256, Member must have length greater than or equal to 1, "
        r"Member must satisfy regular expression pattern: ([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}]")

"""publish_batch_results: the scored parts under the results prefix, then the manifest."""

from __future__ import annotations

import pytest

from lambdas.shared.aws import client
from mdlc import policy
from tests.unit.lambdas.support import SPEC, read_json


def put_output(event: dict, text: str) -> None:
    bucket_name, prefix = event["run"]["paths"]["staging"][5:].split("/", 1)
    client("s3").put_object(Bucket=bucket_name, Key=f"{prefix}/records.csv.out", Body=text.encode())


def test_parts_then_the_manifest_are_written(handler, event, context):
    put_output(event, "T-1,0.1\nT-2,0.2\nT-3,0.63\n")

    result = handler.handler(event, context)

    run = event["run"]
    assert result == {"manifest_uri": run["paths"]["manifest"], "results_uri": run["paths"]["results"],
                      "rows": 3, "parts": 1}
    manifest = read_json(run["paths"]["manifest"])
    assert manifest["rows"] == 3 and manifest["model_package_arn"] == run["model"]["arn"]
    # the policy these scores would be decided by, beside the model version (mdlc.policy)
    assert manifest["policy_version"] == policy.policy_version(SPEC, run["model"]["version"])
    bucket_name, key = run["paths"]["results"][5:].split("/", 1)
    part = client("s3").get_object(Bucket=bucket_name, Key=manifest["parts"][0]["key"])["Body"].read().decode()
    assert key in manifest["parts"][0]["key"] and part == "transaction_id,score\nT-1,0.1\nT-2,0.2\nT-3,0.63\n"


def test_output_that_changed_since_validation_publishes_no_manifest(handler, event, context):
    put_output(event, "T-1,0.1\n")
    with pytest.raises(RuntimeError, match="read 1 rows while publishing; validation counted 3"):
        handler.handler(event, context)
    bucket_name, key = event["run"]["paths"]["manifest"][5:].split("/", 1)
    assert "Contents" not in client("s3").list_objects_v2(Bucket=bucket_name, Prefix=key)

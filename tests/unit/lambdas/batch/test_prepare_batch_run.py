"""prepare_batch_run: the newest input partition, the Approved model, names and paths."""

from __future__ import annotations

import pytest

from lambdas.shared.aws import client
from tests.unit.lambdas.support import SPEC, approved_model, bucket


def put_input(day: str) -> None:
    key = f"{SPEC['batch']['input_prefix']}dt={day}/part-0.csv"
    client("s3").put_object(Bucket=bucket("raw"), Key=key, Body=b"transaction_id,amount\nT-1,5.0\n")


def test_the_scheduled_run_scores_the_newest_partition_with_the_approved_model(handler, event, context):
    put_input("2026-03-01")
    put_input("2026-03-02")
    model = approved_model("20260301T020000-3f9a1c")

    run = handler.handler(event, context)

    assert run["input_uri"].endswith("dt=2026-03-02/") and run["input_files"] == 1
    assert run["model"]["arn"] == model["arn"] and run["model"]["run_id"] == "20260301T020000-3f9a1c"
    assert run["baseline_uri"] == model["statistics_uri"].rsplit("/", 1)[0] + "/"
    assert run["online_features_uri"].endswith("/runs/20260301T020000-3f9a1c/online/")
    assert run["paths"]["manifest"] == run["paths"]["results"] + "_manifest.json"
    assert run["paths"]["results"].startswith(f"s3://{bucket('reports')}/{SPEC['batch']['output_prefix']}")


def test_without_an_approved_model_nothing_is_scored(handler, event, context):
    put_input("2026-03-02")
    with pytest.raises(Exception, match="has no Approved version"):
        handler.handler(event, context)


def test_without_input_the_error_names_where_it_looked(handler, event, context):
    with pytest.raises(handler.NoBatchInputError, match=f"s3://{bucket('raw')}/{SPEC['batch']['input_prefix']}"):
        handler.handler(event, context)

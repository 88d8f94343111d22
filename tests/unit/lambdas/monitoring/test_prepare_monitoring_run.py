"""prepare_monitoring_run: the champion, its baselines and what was served in the window.

Window semantics against months of data: tests/unit/lambdas/monitoring/test_monitoring_window.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambdas.shared.aws import client
from tests.unit.lambdas.support import SPEC, approved_model, bucket, put_json, read_json


def listed(uri: str) -> list[str]:
    """The object keys a SageMaker manifest input lists (the empty-input marker left out)."""
    return [k for k in read_json(uri)[1:] if not k.endswith("none/NONE")]


def test_inputs_point_at_the_champion_and_the_latest_batch_run_in_the_window(handler, event, context):
    model = approved_model("20260301T020000-3f9a1c")
    started = datetime.now(UTC) - timedelta(minutes=10)  # batch run folders are named by their start
    run_id = f"{started:%Y%m%dT%H%M%S}-7b21e4"
    results = f"s3://{bucket('reports')}/{SPEC['batch']['output_prefix']}{run_id}/"
    batch_input = f"s3://{bucket('raw')}/{SPEC['batch']['input_prefix']}dt=2026-03-02/"
    put_json(results + "_manifest.json", {"run_id": run_id, "input_uri": batch_input,
                                          "published_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()})
    put_json(results + "part-00000.csv", "")
    put_json(batch_input + "part-0.csv", "")
    labels = f"s3://{bucket('raw')}/{SPEC['data']['ground_truth_prefix']}dt={datetime.now(UTC):%Y-%m-%d}/part-0.csv"
    put_json(labels, "")

    run = handler.handler(event, context)

    inputs = run["inputs"]
    assert run["model"]["arn"] == model["arn"] and inputs["model"] == model["model_uri"]
    assert inputs["baseline"] == model["statistics_uri"].rsplit("/", 1)[0] + "/"
    assert inputs["reference"] == f"s3://{bucket('features')}/runs/20260301T020000-3f9a1c/splits/test/"
    assert run["batch_run_id"] == run_id
    assert sorted(listed(inputs["batch"])) == sorted(results.split("/", 3)[3] + f for f in ("_manifest.json",
                                                                                             "part-00000.csv"))
    assert listed(inputs["batch_input"]) == [batch_input.split("/", 3)[3] + "part-0.csv"]
    assert listed(inputs["ground_truth"]) == [labels.split("/", 3)[3]]
    assert run["window"]["advances_cursor"] and run["read"]["ground_truth"]["objects"] == 1
    assert run["job_name"] == f"fraud-detection--mon-{run['run_id']}"


def test_a_batch_run_older_than_the_window_is_left_out(handler, event, context):
    approved_model("20260301T020000-3f9a1c")
    old = f"s3://{bucket('reports')}/{SPEC['batch']['output_prefix']}20200101T000000-000000/_manifest.json"
    put_json(old, {"run_id": "old", "input_uri": "s3://in/", "published_at": "2020-01-01T00:00:00+00:00"})

    run = handler.handler(event, context)

    assert run["batch_run_id"] == "" and listed(run["inputs"]["batch"]) == []
    [marker] = read_json(run["inputs"]["batch"])[1:]  # SageMaker needs an object: the empty marker
    client("s3").head_object(Bucket=bucket("artifacts"), Key=marker)


def test_without_an_approved_model_there_is_nothing_to_monitor(handler, event, context):
    with pytest.raises(Exception, match="has no Approved version"):
        handler.handler(event, context)


def test_a_batch_only_team_without_a_capture_bucket_reads_no_capture(handler, event, context, monkeypatch):
    """A team with realtime.enabled false gets no capture bucket (and no CAPTURE_BUCKET)."""
    approved_model("20260301T020000-3f9a1c")
    monkeypatch.delenv("CAPTURE_BUCKET")

    run = handler.handler(event, context)

    assert listed(run["inputs"]["capture"]) == [] and run["read"]["capture"]["objects"] == 0

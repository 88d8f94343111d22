"""prepare_monitoring_run: the champion, its baselines and what was served in the window."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lambdas.shared.aws import client
from tests.unit.lambdas.support import SPEC, approved_model, bucket, put_json


def test_inputs_point_at_the_champion_and_the_latest_batch_run_in_the_window(handler, event, context):
    model = approved_model("20260301T020000-3f9a1c")
    results = f"s3://{bucket('reports')}/{SPEC['batch']['output_prefix']}20260302T030000-7b21e4/"
    put_json(results + "_manifest.json", {"run_id": "20260302T030000-7b21e4", "input_uri": "s3://in/dt=2026-03-02/",
                                          "published_at": datetime.now(UTC).isoformat()})

    run = handler.handler(event, context)

    inputs = run["inputs"]
    assert run["model"]["arn"] == model["arn"] and inputs["model"] == model["model_uri"]
    assert inputs["baseline"] == model["statistics_uri"].rsplit("/", 1)[0] + "/"
    assert inputs["reference"] == f"s3://{bucket('features')}/runs/20260301T020000-3f9a1c/splits/test/"
    assert inputs["batch"] == results and run["batch_run_id"] == "20260302T030000-7b21e4"
    assert inputs["ground_truth"] == f"s3://{bucket('raw')}/{SPEC['data']['ground_truth_prefix']}"
    assert run["job_name"] == f"fraud-detection-mon-{run['run_id']}"


def test_a_batch_run_older_than_the_window_is_left_out(handler, event, context):
    approved_model("20260301T020000-3f9a1c")
    old = f"s3://{bucket('reports')}/{SPEC['batch']['output_prefix']}20200101T000000-000000/_manifest.json"
    put_json(old, {"run_id": "old", "input_uri": "s3://in/", "published_at": "2020-01-01T00:00:00+00:00"})

    run = handler.handler(event, context)

    assert run["batch_run_id"] == "" and run["inputs"]["batch"].endswith("/none/")
    marker = run["inputs"]["batch"][5:].split("/", 1)[1] + "NONE"
    client("s3").head_object(Bucket=bucket("artifacts"), Key=marker)


def test_without_an_approved_model_there_is_nothing_to_monitor(handler, event, context):
    with pytest.raises(Exception, match="has no Approved version"):
        handler.handler(event, context)


def test_a_batch_only_team_without_a_capture_bucket_reads_no_capture(handler, event, context, monkeypatch):
    """A team with realtime.enabled false gets no capture bucket (and no CAPTURE_BUCKET)."""
    approved_model("20260301T020000-3f9a1c")
    monkeypatch.delenv("CAPTURE_BUCKET")

    run = handler.handler(event, context)

    assert run["inputs"]["capture"].endswith("/none/")

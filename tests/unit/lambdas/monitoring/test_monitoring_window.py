"""Monitoring windows: each run reads only its window's capture, batch runs and labels.

Product code (``lambdas/monitoring/prepare_monitoring_run``, ``lambdas/monitoring/publish_monitoring_metrics``)
against moto's S3, with months of retained capture around the window.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from lambdas.monitoring.prepare_monitoring_run import handler as prepare
from lambdas.monitoring.publish_monitoring_metrics import handler as publish
from lambdas.shared.aws import reset_clients
from mdlc.contract import MODELS_DIR, load_team, runtime_spec
from mdlc.harness import s3io
from stacks.realtime.names import endpoint_name

TEAM = load_team(MODELS_DIR / "fraud-detection.yaml")
DEFAULT_SPEC = runtime_spec(TEAM)
# The window tests below look at the run's own window; the skew window (a day back by
# default) has its own tests at the end.
SPEC = {**DEFAULT_SPEC, "monitoring": {**DEFAULT_SPEC["monitoring"], "feature_skew_delay_hours": 0}}
NOW = datetime(2026, 6, 10, 12, 30, tzinfo=UTC)
BUCKETS = {"CAPTURE_BUCKET": "cap", "REPORTS_BUCKET": "rep", "RAW_BUCKET": "raw", "ARTIFACTS_BUCKET": "art"}
ENDPOINT = endpoint_name(TEAM.name)


@pytest.fixture()
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name, bucket in BUCKETS.items():
        monkeypatch.setenv(name, bucket)
    with mock_aws():
        reset_clients()
        client = boto3.client("s3", region_name="eu-west-1")
        for bucket in BUCKETS.values():
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client
    reset_clients()


def retain(s3, days: int, end: datetime = NOW) -> None:
    """``days`` of hourly capture, a daily batch run and a daily label file up to ``end``."""
    hour = end.replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    while hour < end:
        key = f"datacapture/{ENDPOINT}/AllTraffic/{hour:%Y/%m/%d/%H}/{hour:%M}-00-000-x.jsonl"
        s3.put_object(Bucket="cap", Key=key, Body=b"x" * 100)
        if hour.hour == 6:
            run = f"{hour:%Y%m%dT%H%M%S}-abcdef"
            folder = f"{TEAM.batch.output_prefix}{run}/"
            s3.put_object(Bucket="rep", Key=f"{folder}part-00000.csv", Body=b"id,score\n")
            s3.put_object(Bucket="rep", Key=f"{folder}_manifest.json", Body=json.dumps({
                "run_id": run, "published_at": (hour + timedelta(minutes=20)).isoformat(),
                "input_uri": f"s3://raw/{TEAM.batch.input_prefix}dt={hour:%Y-%m-%d}/"}).encode())
            s3.put_object(Bucket="raw", Key=f"{TEAM.batch.input_prefix}dt={hour:%Y-%m-%d}/part-0.csv", Body=b"a\n")
            s3.put_object(Bucket="raw", Key=f"{TEAM.data.ground_truth_prefix}dt={hour:%Y-%m-%d}/part-0.csv",
                          Body=b"transaction_id,is_fraud\n")
        hour += timedelta(hours=1)


def manifest(s3, uri: str) -> list[str]:
    bucket, key = s3io.split_uri(uri)
    return [k for k in json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())[1:]
            if not k.endswith("none/NONE")]  # the marker of an empty input


def plan(s3, request: dict, spec: dict = SPEC, now: datetime = NOW) -> tuple[dict, dict, dict]:
    window = prepare.plan_window(request, prepare.read_cursor("art"), now, spec)
    uris, read = prepare.window_inputs(spec, window, "monitoring/run-1/")
    return window, {name: manifest(s3, uri) for name, uri in uris.items()}, read


def test_a_run_reads_the_hours_batch_runs_and_labels_of_its_window_only(s3):
    retain(s3, days=30)
    s3.put_object(Bucket="art", Key="monitoring/cursor.json",
                  Body=json.dumps({"window_end": (NOW - timedelta(hours=1)).isoformat()}).encode())

    window, listed, read = plan(s3, {"reason": "schedule"})

    assert window["start"] == (NOW - timedelta(hours=1)).isoformat() and window["end"] == NOW.isoformat()
    # the window's hours and an hour either side (13:00 does not exist yet): 10:00 … 12:00
    assert sorted({k.split("/")[-2] for k in listed["capture"]}) == ["10", "11", "12"]
    assert all("/2026/06/10/" in k for k in listed["capture"])
    assert listed["batch"] == [] and listed["batch_input"] == []  # today's batch published at 06:20
    assert listed["ground_truth"] == [f"{TEAM.data.ground_truth_prefix}dt=2026-06-10/part-0.csv"]
    assert read["capture"] == {"objects": 3, "bytes": 300}


def test_what_a_run_reads_does_not_grow_with_retention(s3):
    retain(s3, days=3)
    s3.put_object(Bucket="art", Key="monitoring/cursor.json",
                  Body=json.dumps({"window_end": (NOW - timedelta(hours=8)).isoformat()}).encode())
    _, short, short_read = plan(s3, {})
    retain(s3, days=90, end=NOW - timedelta(days=3))  # 87 more days of older capture

    _, long, long_read = plan(s3, {})

    assert long == short and long_read == short_read
    assert short["batch"] and short["batch_input"]  # the 06:20 batch run of today is in the window


def test_a_missed_run_is_caught_up_by_the_next_and_publishing_moves_the_cursor(s3):
    retain(s3, days=2)
    s3.put_object(Bucket="art", Key="monitoring/cursor.json",
                  Body=json.dumps({"window_end": (NOW - timedelta(hours=5)).isoformat()}).encode())

    window, listed, _ = plan(s3, {})  # the runs of the last four hours failed or never ran
    end = publish.advance_cursor(window, "run-1", NOW)

    assert window["start"] == (NOW - timedelta(hours=5)).isoformat() and window["caught_up"]
    assert len(listed["capture"]) == 7  # 06:00 … 12:00
    assert end == NOW.isoformat() == prepare.read_cursor("art").isoformat()
    assert publish.advance_cursor({**window, "end": (NOW - timedelta(hours=2)).isoformat()}, "old", NOW) \
        == NOW.isoformat()  # a late, older run never moves it back


def test_a_long_backlog_is_worked_off_in_bounded_windows(s3):
    retain(s3, days=20)
    s3.put_object(Bucket="art", Key="monitoring/cursor.json",
                  Body=json.dumps({"window_end": (NOW - timedelta(days=16)).isoformat()}).encode())

    window, listed, _ = plan(s3, {})

    assert prepare.parse_time(window["end"], "end") - prepare.parse_time(window["start"], "start") \
        == prepare.MAX_WINDOW
    assert not window["caught_up"] and window["behind_hours"] == 9 * 24
    assert len(listed["capture"]) == 7 * 24 + 3  # and an hour either side


def test_a_first_run_looks_back_and_a_manual_window_leaves_the_cursor_alone(s3):
    retain(s3, days=2)

    first, _, _ = plan(s3, {"lookback_hours": 6})
    manual, listed, _ = plan(s3, {"since": (NOW - timedelta(days=1, hours=8)).isoformat(),
                                  "until": (NOW - timedelta(days=1)).isoformat()})

    assert first["start"] == (NOW - timedelta(hours=6)).isoformat() and first["advances_cursor"]
    assert not manual["advances_cursor"] and publish.advance_cursor(manual, "m", NOW) is None
    assert all("/2026/06/09/" in k for k in listed["capture"]) and len(listed["capture"]) == 11
    assert [k.split("/")[-2] for k in listed["batch"] if k.endswith("_manifest.json")] == ["20260609T060000-abcdef"]
    with pytest.raises(ValueError, match="`since`/`until`"):
        plan(s3, {"since": NOW.isoformat(), "until": (NOW - timedelta(hours=1)).isoformat()})


def test_label_delay_judges_the_predictions_whose_labels_have_arrived(s3):
    retain(s3, days=10)
    spec = {**SPEC, "monitoring": {**SPEC["monitoring"], "label_delay_hours": 72}}
    s3.put_object(Bucket="art", Key="monitoring/cursor.json",
                  Body=json.dumps({"window_end": (NOW - timedelta(hours=1)).isoformat()}).encode())

    window, listed, _ = plan(s3, {}, spec=spec)

    assert window["quality_end"] == (NOW - timedelta(hours=72)).isoformat()
    days = sorted({k.split("/")[5] for k in listed["capture"]})
    assert days == ["07", "10"]  # the window's hours today and the quality window's three days ago
    assert len(listed["ground_truth"]) == 4  # labels that arrived from 06-07 to 06-10
    assert [k.split("/")[-2] for k in listed["batch"] if k.endswith("_manifest.json")] == []


def test_skew_reads_the_decisions_a_day_back_and_the_newest_raw_partition(s3):
    retain(s3, days=3)
    for day in ("2026-06-01", "2026-06-09"):  # raw exports; the newest holds the whole history
        s3.put_object(Bucket="raw", Key=f"{TEAM.data.raw_prefix}dt={day}/part-0.csv", Body=b"transaction_id\n")
    s3.put_object(Bucket="art", Key="monitoring/cursor.json",
                  Body=json.dumps({"window_end": (NOW - timedelta(hours=1)).isoformat()}).encode())

    window, listed, read = plan(s3, {}, spec=DEFAULT_SPEC)

    assert DEFAULT_SPEC["monitoring"]["feature_skew_delay_hours"] == 24
    assert window["skew_end"] == (NOW - timedelta(hours=24)).isoformat()
    hours = sorted({"/".join(k.split("/")[-5:-1]) for k in listed["capture"]})
    assert hours == ["2026/06/09/10", "2026/06/09/11", "2026/06/09/12", "2026/06/09/13",
                     "2026/06/10/10", "2026/06/10/11", "2026/06/10/12"]
    assert listed["raw"] == [f"{TEAM.data.raw_prefix}dt=2026-06-09/part-0.csv"]
    assert read["raw"]["objects"] == 1


def test_skew_reads_no_raw_data_without_decisions_to_check_and_the_input_can_set_the_delay(s3):
    s3.put_object(Bucket="raw", Key=f"{TEAM.data.raw_prefix}dt=2026-06-09/part-0.csv", Body=b"transaction_id\n")

    window, listed, read = plan(s3, {"lookback_hours": 2}, spec=DEFAULT_SPEC)  # nothing captured
    assert listed["raw"] == [] and read["raw"] == {"objects": 0, "bytes": 0}

    retain(s3, days=1)
    window, listed, _ = plan(s3, {"lookback_hours": 2, "skew_delay_hours": 0}, spec=DEFAULT_SPEC)
    assert window["skew_start"] == window["start"] and listed["raw"]
    with pytest.raises(ValueError, match="`skew_delay_hours`"):
        plan(s3, {"skew_delay_hours": "a day"}, spec=DEFAULT_SPEC)

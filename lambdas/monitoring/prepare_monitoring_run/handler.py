"""Prepare a monitoring run: the champion, its baselines, and exactly what its window holds.

Input (the execution input): ``{"since"?: ISO-8601, "until"?: ISO-8601, "lookback_hours"?: int,
"skew_delay_hours"?: int, "reason"?}``.

The window. A run without ``since`` (the schedule's) continues where the last completed
run stopped: ``[cursor, now)``, the cursor being ``monitoring/cursor.json`` in the artifacts
bucket, which the workflow moves forward only after the run succeeded, so a failed or
missed run is caught up by the next one, not skipped. A window is at most
``MAX_WINDOW`` long (a longer backlog is worked off by the following runs) and never
starts before the capture retention. The first run looks back ``lookback_hours`` (24).
A run with ``since`` measures ``[since, until or now)`` and leaves the cursor alone.

What it reads (one SageMaker manifest per job input, listing only these objects):
- capture: the endpoint's data-capture hour folders overlapping the window (and the
  quality window), from the hour before its start to the hour after its end (a file is
  filed under one hour and can hold events of the next or previous one; the job keeps
  exactly the events of the window by their inference time);
- batch: the parts and manifests of batch runs published in the window (or the quality
  window), and the inputs of those published in the window;
- ground truth: the ``dt=YYYY-MM-DD/`` partitions (by arrival day) from the quality
  window's start to the window's end. The quality window is the window shifted back by
  ``monitoring.label_delay_hours``: its predictions' labels have arrived by now;
- raw: for the skew check, the newest ``dt=`` partition of the raw prefix (the history the
  point-in-time features are recomputed from), only when the endpoint captured decisions in
  the skew window: the window shifted back by ``monitoring.feature_skew_delay_hours`` (or
  the input's ``skew_delay_hours``), whose events have reached the raw data by now.
- the shadow challenger's decision pairs (``shadow/dt=YYYY-MM-DD/`` in the capture bucket) of
  the days from the quality window's start to the window's end, listed in the capture
  manifest (a processing job takes at most 10 inputs); the capture of the endpoint's
  ``Shadow`` variant is never read as live traffic.
Listing cost and bytes read depend on the window, not on how much capture is retained.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from botocore.exceptions import ClientError

from lambdas.shared import s3uri
from lambdas.shared.aws import client
from lambdas.shared.registry import latest_approved
from lambdas.shared.runs import run_id_for
from lambdas.shared.spec import env, team_spec
from mdlc import names

logger = Logger()
tracer = Tracer()

CURSOR_KEY = "monitoring/cursor.json"
CAPTURE_PREFIX = "datacapture/"  # the endpoint config's DestinationS3Uri (stacks/realtime/deployment.py)
# The shadow challenger's variant and decision pairs (stacks/realtime/names.py): its capture is
# not the live traffic, so drift and skew never read it; its pairs are compared with live.
SHADOW_VARIANT, SHADOW_PREFIX = "Shadow", "shadow/"
MAX_WINDOW = timedelta(days=7)
DEFAULT_LOOKBACK_HOURS = 24
# A batch run's folder is named by its start; one published in the window started at most
# this long before it (the batch workflow's timeout is shorter).
BATCH_START_LOOKBACK = timedelta(days=2)
STAMP = "%Y%m%dT%H%M%S"


def parse_time(value: str, field: str) -> datetime:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"input field `{field}`: got {value!r}; expected an ISO-8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def read_cursor(bucket: str) -> datetime | None:
    """End of the last window a completed run covered, or None before the first run."""
    try:
        body = client("s3").get_object(Bucket=bucket, Key=CURSOR_KEY)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    return parse_time(json.loads(body)["window_end"], CURSOR_KEY)


def plan_window(request: dict[str, Any], cursor: datetime | None, now: datetime,
                spec: dict[str, Any]) -> dict[str, Any]:
    """The run's window, its quality window and whether completing it moves the cursor."""
    retention_start = now - timedelta(days=int(spec["data"]["capture_retention_days"]))
    if request.get("since"):
        start = parse_time(request["since"], "since")
        end = parse_time(request["until"], "until") if request.get("until") else now
        if end <= start:
            raise ValueError(f"input fields `since`/`until`: {start.isoformat()} is not before {end.isoformat()}")
        start = max(start, retention_start)  # older capture has expired
        advances = False
    else:
        lookback = timedelta(hours=int(request.get("lookback_hours") or DEFAULT_LOOKBACK_HOURS))
        start = max(cursor or now - lookback, retention_start)
        end = max(min(now, start + MAX_WINDOW), start)
        advances = True
    # Whole seconds, like capture times: the job and this plan place every event and every
    # batch publication in the same window, and consecutive windows meet exactly.
    start, end = start.replace(microsecond=0), end.replace(microsecond=0)
    delay = timedelta(hours=int(spec["monitoring"].get("label_delay_hours") or 0))
    skew_hours = request.get("skew_delay_hours")
    if skew_hours is None:
        skew_hours = spec["monitoring"].get("feature_skew_delay_hours", 24)
    if isinstance(skew_hours, bool) or not isinstance(skew_hours, int) or skew_hours < 0:
        raise ValueError(f"input field `skew_delay_hours`: got {skew_hours!r}; expected a whole number of hours >= 0")
    skew = timedelta(hours=skew_hours)
    return {
        "start": start.isoformat(), "end": end.isoformat(),
        "quality_start": (start - delay).isoformat(), "quality_end": (end - delay).isoformat(),
        "label_delay_hours": int(delay.total_seconds() // 3600),
        "skew_start": (start - skew).isoformat(), "skew_end": (end - skew).isoformat(),
        "skew_delay_hours": skew_hours,
        "advances_cursor": advances,
        "caught_up": now - end < timedelta(minutes=1),
        "behind_hours": round((now - end).total_seconds() / 3600, 2),
        "missed_hours": round((start - cursor).total_seconds() / 3600, 2) if cursor and start > cursor else 0.0,
    }


# --------------------------------------------------------------------------- listings
def _list(bucket: str, prefix: str, **kwargs: Any) -> list[dict[str, Any]]:
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **kwargs)
    return [o for page in pages for o in page.get("Contents", []) if not o["Key"].endswith("/")]


def _hours(start: datetime, end: datetime) -> list[datetime]:
    """Every hour folder that can hold an event of [start, end), one hour either side."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    out = []
    while hour < end + timedelta(hours=1):
        out.append(hour)
        hour += timedelta(hours=1)
    return out


def span_hours(spans: list[tuple[datetime, datetime]]) -> set[datetime]:
    """The hour folders that can hold an event of the spans."""
    return {h for start, end in spans if end > start for h in _hours(start, end)}


def capture_objects(bucket: str, endpoint: str, hours: set[datetime]) -> dict[datetime, list[dict[str, Any]]]:
    """Capture files of each hour folder, for every variant of the endpoint."""
    base = f"{CAPTURE_PREFIX}{endpoint}/"
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base, Delimiter="/")
    variants = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])
                if p["Prefix"] != f"{base}{SHADOW_VARIANT}/"]
    return {h: [o for variant in variants for o in _list(bucket, f"{variant}{h:%Y/%m/%d/%H}/")] for h in sorted(hours)}


def batch_runs(bucket: str, prefix: str, earliest: datetime) -> list[dict[str, Any]]:
    """Manifests of the batch runs started since ``earliest`` (run folders sort by start)."""
    after = f"{prefix}{(earliest - BATCH_START_LOOKBACK):{STAMP}}"
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/",
                                                                   StartAfter=after)
    runs = []
    for folder in (p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])):
        try:
            manifest = s3uri.read_json(s3uri.uri(bucket, f"{folder}_manifest.json"))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                continue  # still running, or failed: nothing published
            raise
        manifest["folder"] = folder
        runs.append(manifest)
    return runs


def _within(value: str, start: str, end: str) -> bool:
    when = parse_time(value, "published_at")
    return parse_time(start, "start") <= when < parse_time(end, "end")


def label_objects(bucket: str, prefix: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Ground-truth files of the arrival days from ``start`` to ``end``."""
    day, out = start.astimezone(UTC).date(), []
    while day <= end.astimezone(UTC).date():
        out += _list(bucket, f"{prefix}dt={day:%Y-%m-%d}/")
        day += timedelta(days=1)
    return out


def shadow_objects(bucket: str | None, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Shadow decision pairs of the days from ``start`` to ``end`` (filed by decision day)."""
    if not bucket:
        return []
    day, out = start.astimezone(UTC).date(), []
    while day <= end.astimezone(UTC).date():
        out += _list(bucket, f"{SHADOW_PREFIX}dt={day:%Y-%m-%d}/")
        day += timedelta(days=1)
    return out


def raw_snapshot(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The CSV objects of the newest raw partition (none yet: nothing to recompute from)."""
    partition = s3uri.newest_partition(env("RAW_BUCKET"), spec["data"]["raw_prefix"])
    return [o for o in _list(*s3uri.split(partition)) if o["Key"].endswith(".csv")] if partition else []


# -------------------------------------------------------------------------- manifests
def write_manifest(run_prefix: str, name: str, bucket: str, keys: list[str]) -> str:
    """A SageMaker manifest of ``keys`` in ``bucket`` (or of the empty marker when none)."""
    artifacts = env("ARTIFACTS_BUCKET")
    if not keys:  # SageMaker fails an input with no object; the job ignores the marker
        bucket, keys = artifacts, [f"{run_prefix}none/NONE"]
        client("s3").put_object(Bucket=artifacts, Key=keys[0], Body=b"")
    location = s3uri.uri(artifacts, f"{run_prefix}inputs/{name}.manifest")
    body = json.dumps([{"prefix": f"s3://{bucket}/"}, *sorted(keys)]).encode()
    client("s3").put_object(Bucket=artifacts, Key=location.split("/", 3)[3], Body=body,
                            ContentType="application/json")
    return location


def window_inputs(spec: dict[str, Any], window: dict[str, Any], run_prefix: str) -> tuple[dict[str, str], dict]:
    """(manifest URI per job input, what each holds: objects and bytes)."""
    t = {k: parse_time(window[k], k) for k in ("start", "end", "quality_start", "quality_end", "skew_start",
                                               "skew_end")}
    hours = span_hours([(t["start"], t["end"]), (t["quality_start"], t["quality_end"])])
    skew_hours = span_hours([(t["skew_start"], t["skew_end"])])
    capture_bucket = os.environ.get("CAPTURE_BUCKET")  # a batch-only team has no endpoint and no capture
    endpoint = names.endpoint_name(spec["name"])
    by_hour = capture_objects(capture_bucket, endpoint, hours | skew_hours) if capture_bucket else {}
    capture = [o for objects in by_hour.values() for o in objects]
    raw = raw_snapshot(spec) if any(by_hour.get(h) for h in skew_hours) else []
    runs = batch_runs(env("REPORTS_BUCKET"), spec["batch"]["output_prefix"], min(t["start"], t["quality_start"]))
    drift_runs = [r for r in runs if _within(r["published_at"], window["start"], window["end"])]
    quality_runs = [r for r in runs if _within(r["published_at"], window["quality_start"], window["quality_end"])]
    scored = list({r["run_id"]: r for r in drift_runs + quality_runs}.values())
    batch = [o for r in scored for o in _list(env("REPORTS_BUCKET"), r["folder"])
             if o["Key"].rsplit("/", 1)[-1].startswith("part-") or o["Key"].endswith("/_manifest.json")]
    batch_inputs = [o for r in drift_runs for o in s3uri.list_objects(r["input_uri"])]
    labels = label_objects(env("RAW_BUCKET"), spec["data"]["ground_truth_prefix"], t["quality_start"], t["end"])
    pairs = shadow_objects(capture_bucket, min(t["start"], t["quality_start"]), t["end"])
    input_buckets = {s3uri.split(r["input_uri"])[0] for r in drift_runs}
    if len(input_buckets) > 1:
        raise ValueError(f"batch inputs of one window in several buckets ({sorted(input_buckets)}); expected one")
    uris = {
        # The shadow pairs share the capture bucket and its input (SageMaker takes at most 10
        # processing inputs): the job finds them under capture/shadow/ and reads them apart.
        "capture": write_manifest(run_prefix, "capture", capture_bucket or "",
                                  [o["Key"] for o in capture + pairs]),
        "batch": write_manifest(run_prefix, "batch", env("REPORTS_BUCKET"), [o["Key"] for o in batch]),
        "batch_input": write_manifest(run_prefix, "batch_input", next(iter(input_buckets), env("RAW_BUCKET")),
                                      [o["Key"] for o in batch_inputs]),
        "ground_truth": write_manifest(run_prefix, "ground_truth", env("RAW_BUCKET"), [o["Key"] for o in labels]),
        "raw": write_manifest(run_prefix, "raw", env("RAW_BUCKET"), [o["Key"] for o in raw]),
    }
    read = {
        "capture": {"objects": len(capture), "bytes": sum(o["Size"] for o in capture)},
        "batch": {"runs": sorted(r["run_id"] for r in scored), "objects": len(batch),
                  "bytes": sum(o["Size"] for o in batch)},
        "batch_input": {"objects": len(batch_inputs), "bytes": sum(o["Size"] for o in batch_inputs)},
        "ground_truth": {"objects": len(labels), "bytes": sum(o["Size"] for o in labels)},
        "raw": {"objects": len(raw), "bytes": sum(o["Size"] for o in raw)},
        "shadow": {"objects": len(pairs), "bytes": sum(o["Size"] for o in pairs)},
    }
    return uris, read


def prepare(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    spec = team_spec()
    team = spec["name"]
    request = event.get("input") or {}
    run_id = run_id_for(event["execution"], now)
    run_prefix = f"monitoring/{run_id}/"
    art = lambda key: s3uri.uri(env("ARTIFACTS_BUCKET"), f"{run_prefix}{key}")  # noqa: E731
    none = art("none/")
    client("s3").put_object(Bucket=env("ARTIFACTS_BUCKET"), Key=f"{run_prefix}none/NONE", Body=b"")
    model = latest_approved(env("MODEL_PACKAGE_GROUP"))
    window = plan_window(request, read_cursor(env("ARTIFACTS_BUCKET")), now, spec)
    uris, read = window_inputs(spec, window, run_prefix)
    result = {
        "run_id": run_id,
        "team": team,
        "reason": str(request.get("reason") or "manual")[:200],
        "window": window,
        "window_start": window["start"],
        "read": read,
        "model": model,
        "job_name": names.monitoring_job_name(team, run_id),
        "inputs": {
            "baseline": model["statistics_uri"].rsplit("/", 1)[0] + "/" if model["statistics_uri"] else none,
            "reference": s3uri.uri(env("FEATURES_BUCKET"), f"runs/{model['run_id']}/splits/test/")
            if model["run_id"] else none,
            "model": model["model_uri"],
            **uris,
        },
        "batch_run_id": ",".join(read["batch"]["runs"]),
        "paths": {"report_dir": art("report"), "report": art("report/report.json")},
    }
    logger.info("prepared monitoring run", extra={"run_id": run_id, "window": window, "read": read,
                                                  "model": model["arn"]})
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: resolve the window and inputs of one monitoring run."""
    return prepare(event, datetime.now(UTC))

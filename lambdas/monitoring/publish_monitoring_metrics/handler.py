"""Publish a monitoring report as CloudWatch metrics, where the team's alarms watch them.

Namespace ``MDLC/<team>``: ``MaxFeaturePSI``, ``PredictionPSI``, ``MonitoredRecords`` and
``FeaturePSI`` (per ``Feature``) with dimension ``Source`` = endpoint | batch;
``Precision``, ``Recall``, ``PRAUC``, ``LabelledPredictions`` (closed loop), and
``ModelAgeDays`` of the Approved model; training/serving skew: ``FeatureSkew`` (per
``Feature``), ``MaxFeatureSkew``, ``SkewCheckedDecisions`` and ``SkewUnmatchedDecisions``; with a shadow challenger
(``realtime.shadow``), live against shadow: ``ShadowComparedDecisions``, ``ShadowFlipRate``,
``ShadowErrorRate``, ``ShadowDecisionPairs`` (per ``Live`` × ``Shadow`` decision: the flip
matrix), ``ShadowLabelledDecisions``, ``Challenger*`` (per ``Side`` = live | shadow:
precision, recall, PR-AUC, amount saved and its share, legitimate declined rate) and
``ShadowAdvantage`` (shadow minus live on ``compare_metric``: the promote alarm's metric).
Returns what the workflow reports on.

Then, for a run that continues the schedule's windows, it moves the window cursor
(``monitoring/cursor.json`` in the artifacts bucket) to the end of the window the run
covered: only a run whose numbers are out moves it, so a failed run's window is measured
again by the next run. The cursor never moves backwards.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from botocore.exceptions import ClientError

from lambdas.shared import s3uri
from lambdas.shared.aws import client
from lambdas.shared.spec import env, team_spec

logger = Logger()
tracer = Tracer()

NAMESPACE = "MDLC/{team}"
CURSOR_KEY = "monitoring/cursor.json"


def metric_data(report: dict[str, Any], age_days: float, now: datetime) -> list[dict[str, Any]]:
    """CloudWatch datums for every number the report has (None values are left out)."""
    data: list[dict[str, Any]] = []

    def put(name: str, value: Any, unit: str = "None", **dims: str) -> None:
        if value is None:
            return
        data.append({"MetricName": name, "Value": float(value), "Unit": unit, "Timestamp": now,
                     "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]})

    for source in ("endpoint", "batch"):
        s = report[source]
        put("MonitoredRecords", s.get("records"), "Count", Source=source)
        put("MaxFeaturePSI", s.get("max_feature_psi"), Source=source)
        put("PredictionPSI", s.get("prediction_psi"), Source=source)
        for feature, value in sorted((s.get("feature_psi") or {}).items()):
            put("FeaturePSI", value, Source=source, Feature=feature)
    skew = report.get("skew") or {}
    put("SkewCheckedDecisions", skew.get("checked"), "Count")
    put("SkewUnmatchedDecisions", skew.get("unmatched"), "Count")
    put("MaxFeatureSkew", skew.get("max_feature_skew"))
    for feature, value in sorted((skew.get("feature_skew") or {}).items()):
        put("FeatureSkew", value, Feature=feature)
    q = report["quality"]
    put("LabelledPredictions", q.get("labelled"), "Count")
    put("Precision", q.get("precision"))
    put("Recall", q.get("recall"))
    put("PRAUC", q.get("pr_auc"))
    put("ModelAgeDays", age_days)
    put("MonitoringViolations", len(report.get("violations", [])), "Count")
    shadow_metrics(report.get("shadow") or {}, put)
    return data


#: Live and shadow quality on the same labelled requests: metric → report key (dimension Side).
CHALLENGER_METRICS = {"ChallengerPrecision": "precision", "ChallengerRecall": "recall",
                      "ChallengerPRAUC": "pr_auc", "ChallengerAmountSavedShare": "amount_saved_share",
                      "ChallengerAmountSaved": "amount_saved", "ChallengerLegitDeclinedRate": "legit_declined_rate"}


def shadow_metrics(shadow: dict[str, Any], put: Any) -> None:
    """The shadow challenger's comparison (sagemaker_jobs/monitoring/shadow.py), when there is one."""
    if not shadow.get("configured"):
        return
    put("ShadowComparedDecisions", shadow.get("decisions"), "Count")
    put("ShadowFlipRate", shadow.get("flip_rate"))
    put("ShadowErrorRate", shadow.get("error_rate"))
    for live, row in sorted((shadow.get("flip_matrix") or {}).items()):
        for decided, count in sorted(row.items()):
            put("ShadowDecisionPairs", count, "Count", Live=live, Shadow=decided)
    put("ShadowLabelledDecisions", shadow.get("labelled"), "Count")
    for side in ("live", "shadow"):
        for name, key in CHALLENGER_METRICS.items():
            put(name, (shadow.get(side) or {}).get(key), Side=side)
    put("ShadowAdvantage", shadow.get("advantage"))


def model_age_days(created: str, now: datetime) -> float:
    when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((now - when).total_seconds() / 86400, 0.0)


def advance_cursor(window: dict[str, Any], run_id: str, now: datetime) -> str | None:
    """Move the cursor to the window's end (never backwards); returns the cursor's end."""
    if not window.get("advances_cursor"):
        return None
    s3, bucket = client("s3"), env("ARTIFACTS_BUCKET")
    try:
        current = json.loads(s3.get_object(Bucket=bucket, Key=CURSOR_KEY)["Body"].read())["window_end"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
        current = None
    end = window["end"]
    if current and datetime.fromisoformat(current) >= datetime.fromisoformat(end):
        return current
    body = {"window_start": window["start"], "window_end": end, "run_id": run_id, "updated_at": now.isoformat()}
    s3.put_object(Bucket=bucket, Key=CURSOR_KEY, Body=json.dumps(body).encode(), ContentType="application/json")
    return end


def publish(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    spec = team_spec()
    report = s3uri.read_json(event["report_uri"])
    age = model_age_days(event["model"]["created"], now)
    data = metric_data(report, age, now)
    cloudwatch = client("cloudwatch")
    for i in range(0, len(data), 20):
        cloudwatch.put_metric_data(Namespace=NAMESPACE.format(team=spec["name"]), MetricData=data[i:i + 20])
    violations = report.get("violations", [])
    return {
        "passed": not violations,
        "violations": [v["message"] for v in violations][:20],
        "reasons_text": "; ".join(v["message"] for v in violations)[:1000],
        "endpoint": {
            k: report["endpoint"].get(k) for k in ("records", "max_feature_psi", "max_feature", "prediction_psi")
        },
        "batch": {k: report["batch"].get(k) for k in ("records", "max_feature_psi", "max_feature", "prediction_psi")},
        "quality": {k: report["quality"].get(k) for k in ("labelled", "precision", "recall", "pr_auc")},
        "skew": {k: (report.get("skew") or {}).get(k)
                 for k in ("checked", "unmatched", "mismatched", "max_feature_skew", "max_skew_feature")},
        "shadow": {k: (report.get("shadow") or {}).get(k)
                   for k in ("configured", "decisions", "flip_rate", "error_rate", "labelled", "advantage", "better")},
        "model_age_days": round(age, 3),
        "metrics_published": len(data),
        "window": report.get("window"),
        "cursor": advance_cursor(event.get("window") or {}, event.get("run_id", ""), now),
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task: ``{"report_uri", "model"}`` → the numbers published."""
    result = publish(event, datetime.now(UTC))
    logger.info(
        "published monitoring metrics", extra={"passed": result["passed"], "count": result["metrics_published"]}
    )
    return result

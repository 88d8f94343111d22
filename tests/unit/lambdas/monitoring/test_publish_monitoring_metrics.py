"""publish_monitoring_metrics: the report's numbers as CloudWatch metrics in MDLC/<team>."""

from __future__ import annotations

from lambdas.shared.aws import client
from tests.unit.lambdas.support import bucket, put_json, read_json

REPORT = {
    "endpoint": {"records": 500, "max_feature_psi": 0.41, "max_feature": "country", "prediction_psi": 0.08,
                 "feature_psi": {"amount": 0.02, "country": 0.41}},
    "batch": {"records": 0, "max_feature_psi": None, "max_feature": None, "prediction_psi": None},
    "quality": {"labelled": 120, "precision": 0.33, "recall": 0.71, "pr_auc": 0.58},
    "skew": {"decisions": 41, "checked": 40, "unmatched": 1, "mismatched": 2, "max_feature_skew": 0.05,
             "max_skew_feature": "txn_count_30d", "feature_skew": {"amount": 0.0, "txn_count_30d": 0.05}},
    "violations": [{"message": "endpoint feature country: PSI 0.4100 above 0.2500"}],
}


def test_every_number_is_published_and_the_violations_come_back(handler, event, context):
    put_json(event["report_uri"], REPORT)

    result = handler.handler(event, context)

    assert not result["passed"] and result["reasons_text"] == "endpoint feature country: PSI 0.4100 above 0.2500"
    assert result["endpoint"]["max_feature_psi"] == 0.41 and result["model_age_days"] > 0
    metrics = client("cloudwatch").list_metrics(Namespace="MDLC/fraud-detection")["Metrics"]
    names = {(m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in metrics}
    assert ("MaxFeaturePSI", (("Source", "endpoint"),)) in names
    assert ("FeaturePSI", (("Source", "endpoint"), ("Feature", "country"))) in names
    assert ("MaxFeaturePSI", (("Source", "batch"),)) not in names  # nothing scored: no datum
    assert {"Precision", "Recall", "PRAUC", "ModelAgeDays"} <= {m["MetricName"] for m in metrics}
    assert ("FeatureSkew", (("Feature", "txn_count_30d"),)) in names and ("MaxFeatureSkew", ()) in names
    assert {"SkewCheckedDecisions", "SkewUnmatchedDecisions"} <= {m["MetricName"] for m in metrics}
    assert result["skew"]["max_skew_feature"] == "txn_count_30d" and result["skew"]["unmatched"] == 1
    assert result["metrics_published"] == len(metrics)


def test_a_published_run_moves_the_window_cursor_forward_only(handler, event, context):
    put_json(event["report_uri"], REPORT)

    result = handler.handler(event, context)
    older = {**event, "window": {**event["window"], "end": "2026-03-02T02:00:00+00:00"}}
    handler.handler(older, context)  # a late run of an older window
    manual = {**event, "window": {**event["window"], "end": "2026-03-02T09:00:00+00:00", "advances_cursor": False}}
    handler.handler(manual, context)  # a window asked for by hand

    assert result["cursor"] == event["window"]["end"]
    cursor = read_json(f"s3://{bucket('artifacts')}/monitoring/cursor.json")
    assert cursor["window_end"] == event["window"]["end"] and cursor["run_id"] == event["run_id"]

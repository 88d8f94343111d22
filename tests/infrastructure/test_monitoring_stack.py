"""CDK assertions on the example team's monitoring stack: alarms and dashboard (product: the synthesised templates)."""

from __future__ import annotations

import json

from tests.infrastructure.stack_support import TEAM, resources


def test_alarms_use_the_team_thresholds_and_page_the_alerts_topic(assembly):
    alarms = {a["Properties"]["AlarmName"]: a["Properties"]
              for a in resources(assembly, "monitoring", "AWS::CloudWatch::Alarm")}
    m = TEAM.monitoring
    expected = {
        "fraud-detection--endpoint-feature-drift": ("MaxFeaturePSI", m.max_feature_psi, "GreaterThanThreshold"),
        "fraud-detection--batch-feature-drift": ("MaxFeaturePSI", m.max_feature_psi, "GreaterThanThreshold"),
        "fraud-detection--endpoint-prediction-drift": ("PredictionPSI", m.max_prediction_psi, "GreaterThanThreshold"),
        "fraud-detection--precision-low": ("Precision", m.min_precision, "LessThanThreshold"),
        "fraud-detection--recall-low": ("Recall", m.min_recall, "LessThanThreshold"),
        "fraud-detection--pr-auc-low": ("PRAUC", m.min_pr_auc, "LessThanThreshold"),
        "fraud-detection--model-stale": ("ModelAgeDays", m.max_model_age_days, "GreaterThanThreshold"),
        "fraud-detection--feature-skew": ("MaxFeatureSkew", m.max_feature_skew, "GreaterThanThreshold"),
    }
    for name, (metric, threshold, op) in expected.items():
        a = alarms[name]
        assert (a["MetricName"], a["Threshold"], a["ComparisonOperator"]) == (metric, threshold, op), name
        assert a["Namespace"] == "MDLC/fraud-detection" and a["TreatMissingData"] == "notBreaching"
        assert "AlertsTopic" in json.dumps(a["AlarmActions"])


def test_dashboard_shows_serving_decisions_drift_quality_workflows_and_age(assembly):
    [dashboard] = resources(assembly, "monitoring", "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for shown in ("ModelLatency", "Invocation5XXErrors", "Decisions", "MaxFeaturePSI", "PredictionPSI",
                  "Precision", "PRAUC", "ExecutionsFailed", "fraud-detection--training", "ModelAgeDays",
                  "MaxFeatureSkew", "FeatureSkew"):
        assert shown in body, shown
    assert dashboard["Properties"]["DashboardName"] == "fraud-detection--mdlc"

"""Monitoring and the shadow challenger (product): the shadow variant's capture is never read as
live traffic, the pairs of the window's days are, and the comparison becomes metrics."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

from lambdas.shared.aws import client
from tests.unit.lambdas.support import bucket


def _module(name: str):
    return importlib.import_module(f"lambdas.monitoring.{name}.handler")


def test_capture_of_the_shadow_variant_is_left_out_and_shadow_pairs_of_the_days_are_listed(aws):
    prepare = _module("prepare_monitoring_run")
    s3, cap = client("s3"), bucket("capture")
    hour = datetime(2026, 3, 2, 12, tzinfo=UTC)
    folder = "datacapture/fraud-detection--endpoint/{}/2026/03/02/12/a.jsonl"
    for variant in ("AllTraffic", "Shadow"):
        s3.put_object(Bucket=cap, Key=folder.format(variant), Body=b"{}")
    for day in ("2026-02-28", "2026-03-01", "2026-03-02", "2026-03-04"):
        s3.put_object(Bucket=cap, Key=f"shadow/dt={day}/1.jsonl", Body=b"{}")

    captured = prepare.capture_objects(cap, "fraud-detection--endpoint", {hour})
    pairs = prepare.shadow_objects(cap, datetime(2026, 3, 1, 6, tzinfo=UTC), datetime(2026, 3, 2, 6, tzinfo=UTC))

    assert [o["Key"] for o in captured[hour]] == [folder.format("AllTraffic")]
    assert [o["Key"] for o in pairs] == ["shadow/dt=2026-03-01/1.jsonl", "shadow/dt=2026-03-02/1.jsonl"]
    assert prepare.shadow_objects(None, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)) == []


REPORT = {"endpoint": {}, "batch": {}, "quality": {}, "skew": {}, "violations": [],
          "shadow": {"configured": True, "decisions": 40, "flip_rate": 0.1, "error_rate": 0.0,
                     "flip_matrix": {"APPROVE": {"APPROVE": 30, "REVIEW": 2, "DECLINE": 2},
                                     "REVIEW": {"APPROVE": 0, "REVIEW": 4, "DECLINE": 0},
                                     "DECLINE": {"APPROVE": 0, "REVIEW": 0, "DECLINE": 2}},
                     "labelled": 40, "advantage": 0.4, "better": True,
                     "live": {"precision": 1.0, "recall": 0.5, "pr_auc": 0.9, "amount_saved": 150.0,
                              "amount_saved_share": 0.27, "legit_declined_rate": 0.0},
                     "shadow": {"precision": 1.0, "recall": 0.9, "pr_auc": 0.9, "amount_saved": 450.0,
                                "amount_saved_share": 0.82, "legit_declined_rate": 0.0}}}


def test_the_comparison_is_published_per_side_with_the_flip_matrix_and_the_advantage(aws):
    publish = _module("publish_monitoring_metrics")

    data = publish.metric_data(REPORT, 3.0, datetime(2026, 3, 3, tzinfo=UTC))

    by = {(d["MetricName"], tuple((x["Name"], x["Value"]) for x in d["Dimensions"])): d["Value"] for d in data}
    assert by[("ShadowAdvantage", ())] == 0.4 and by[("ShadowFlipRate", ())] == 0.1
    assert by[("ChallengerRecall", (("Side", "live"),))] == 0.5
    assert by[("ChallengerRecall", (("Side", "shadow"),))] == 0.9
    assert by[("ChallengerAmountSaved", (("Side", "shadow"),))] == 450.0
    assert by[("ShadowDecisionPairs", (("Live", "APPROVE"), ("Shadow", "DECLINE")))] == 2
    assert sum(1 for name, _ in by if name == "ShadowDecisionPairs") == 9


def test_a_team_without_a_shadow_publishes_no_shadow_metric(aws):
    publish = _module("publish_monitoring_metrics")

    data = publish.metric_data({**REPORT, "shadow": {"configured": False}}, 3.0, datetime(2026, 3, 3, tzinfo=UTC))

    assert not [d for d in data if d["MetricName"].startswith(("Shadow", "Challenger"))]

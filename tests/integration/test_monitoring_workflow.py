"""The monitoring workflow that deploys, executed offline, with the team's alarms.

Served traffic is captured in SageMaker's data-capture format; batch results come from the
real batch workflow; labels arrive later in the ground-truth prefix. The monitor's numbers
go to CloudWatch, the alarms are evaluated on them, and a retraining starts only when an
alarm says so.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pandas as pd
import pytest

from mdlc import synthetic
from tests.integration.stage_support import (
    TRAIN_DAY,
    ensure_endpoint,
    executions,
    put_batch_input,
    put_ground_truth,
    scoring_frame,
    serve_and_capture,
    trained_team,
)

pytestmark = pytest.mark.slow
ENDPOINT = "fraud-detection--endpoint"


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    # Traffic is served and captured: the team has an endpoint (a batch-only team gets no
    # capture bucket and no endpoint alarms).
    with trained_team(tmp_path_factory.mktemp("monitoring"), **{"realtime.enabled": True}) as t:
        ensure_endpoint(t, ENDPOINT)
        yield t


def settle() -> None:
    """Let the current second pass: a window ends before the second it ends in (whole
    seconds, like capture times), and the next window has the rest."""
    time.sleep(1.1)


def report(team, result) -> dict:
    uri = result.output["run"]["paths"]["report"]
    bucket, key = uri[5:].split("/", 1)
    return json.loads(team.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def alarm_states(team) -> dict[str, str]:
    alarms = team.client("cloudwatch").describe_alarms(AlarmNamePrefix="fraud-detection--")["MetricAlarms"]
    return {a["AlarmName"]: a["StateValue"] for a in alarms}


def test_no_drift_means_no_alarm_and_no_retraining(team):
    since = datetime.now(UTC).isoformat()
    served = scoring_frame(seed=21)
    serve_and_capture(team, served, ENDPOINT)
    batch_input = scoring_frame(seed=22)
    assert team.run("batch", {"input_prefix": put_batch_input(team, batch_input, "2026-03-02")}).succeeded
    trainings = len(executions(team, "training"))
    settle()

    result = team.run("monitoring", {"since": since})

    assert result.succeeded, result.cause
    assert result.state_names[-1] == "Healthy", result.output["monitoring"]
    r = report(team, result)
    assert r["endpoint"]["records"] == len(served) and r["batch"]["records"] == len(batch_input)
    assert r["endpoint"]["max_feature_psi"] < 0.1 and r["batch"]["max_feature_psi"] < 0.1
    assert r["endpoint"]["prediction_psi"] < 0.2
    metrics = team.client("cloudwatch").list_metrics(Namespace="MDLC/fraud-detection")["Metrics"]
    assert {"MaxFeaturePSI", "PredictionPSI", "ModelAgeDays", "FeaturePSI"} <= {m["MetricName"] for m in metrics}
    changes = team.signals.evaluate_alarms()
    for event in changes:
        team.signals.deliver(event)
    assert set(alarm_states(team).values()) == {"OK"}
    assert len(executions(team, "training")) == trainings


def test_drifted_traffic_is_found_and_named(team):
    since = datetime.now(UTC).isoformat()
    serve_and_capture(team, scoring_frame(seed=23, drift=1.0), ENDPOINT)
    settle()

    result = team.run("monitoring", {"since": since})

    assert result.succeeded and result.state_names[-1] == "Issues found"
    r = report(team, result)
    drift = r["endpoint"]
    assert drift["max_feature_psi"] > 0.2
    assert {"amount", "channel", "country"} & {f for f, v in drift["feature_psi"].items() if v > 0.2}
    assert any(v["check"] == "feature_drift" and v["source"] == "endpoint" for v in r["violations"])
    [change] = [
        c for c in team.signals.evaluate_alarms() if c["detail"]["alarmName"].endswith("endpoint-feature-drift")
    ]
    assert change["detail"]["state"]["value"] == "ALARM"
    team.client("cloudwatch").set_alarm_state(AlarmName=change["detail"]["alarmName"], StateValue="OK",
                                              StateReason="test: reset for the next case")


def test_ground_truth_showing_a_quality_drop_raises_the_closed_loop_alarms(team):
    # Labels arrive for the records scored in batch: the model's ranking no longer matches
    # them (a new fraud pattern it never saw), so precision, recall and PR-AUC collapse.
    since = datetime.now(UTC).isoformat()
    scored = scoring_frame(seed=24)
    assert team.run("batch", {"input_prefix": put_batch_input(team, scored, "2026-03-03")}).succeeded
    labels = scored[["transaction_id"]].copy()
    labels["is_fraud"] = (scored["is_fraud"] == 0) & (scored.index % 50 == 0)  # the flagged ones were not fraud
    labels["is_fraud"] = labels["is_fraud"].astype(int)
    put_ground_truth(team, labels)  # arriving today
    settle()

    result = team.run("monitoring", {"since": since})

    assert result.succeeded, result.cause
    r = report(team, result)
    quality = r["quality"]
    assert quality["labelled"] == len(scored), (r, result.output["run"]["read"], result.output["run"]["window"])
    assert quality["pr_auc"] < team.team.monitoring.min_pr_auc
    assert quality["recall"] < team.team.monitoring.min_recall
    changed = {c["detail"]["alarmName"]: c["detail"]["state"]["value"] for c in team.signals.evaluate_alarms()}
    assert changed.get("fraud-detection--pr-auc-low") == "ALARM"
    assert changed.get("fraud-detection--recall-low") == "ALARM"


def test_scheduled_runs_continue_where_the_last_one_stopped(team):
    # The schedule's runs carry no `since`: each reads from the end of the last completed
    # window, so what was served in between is measured exactly once.
    first = team.run("monitoring", {"reason": "schedule"})
    assert first.succeeded, first.cause
    served = scoring_frame(seed=25)
    serve_and_capture(team, served, ENDPOINT)
    settle()

    second = team.run("monitoring", {"reason": "schedule"})

    assert second.succeeded, second.cause
    w1, w2 = first.output["run"]["window"], second.output["run"]["window"]
    assert w1["advances_cursor"] and w2["start"] == w1["end"] < w2["end"]
    r = report(team, second)
    assert r["endpoint"]["records"] == len(served), (w1, w2, second.output["run"]["read"], r["window"])
    assert r["window"]["start"].startswith(w2["start"][:19])
    assert second.output["monitoring"]["cursor"] == w2["end"]
    # its capture input listed only the hour folders of its window
    read = second.output["run"]["read"]["capture"]
    assert 0 < read["objects"] <= len(served)


def test_features_served_from_a_stale_snapshot_are_caught_as_skew_and_do_not_retrain(team):
    # These decisions were served the training run's online snapshot (how serving worked
    # before the feature stream): each customer's transactions since the snapshot are
    # missing from its features. The day's raw export holds the history and the served
    # transactions; the monitor recomputes each decision's features point-in-time from it.
    since = datetime.now(UTC).isoformat()
    served = scoring_frame(seed=26)
    serve_and_capture(team, served, ENDPOINT)
    history = synthetic.generate(n_customers=300, days=40, seed=1)  # the training partition
    assert TRAIN_DAY < "2026-03-09"
    team.put_raw(pd.concat([history, served], ignore_index=True), "2026-03-09")
    trainings = len(executions(team, "training"))
    settle()

    # The export is in at once here: the run checks its own window (on AWS, by default, the
    # window a day back: monitoring.feature_skew_delay_hours).
    result = team.run("monitoring", {"since": since, "skew_delay_hours": 0})

    assert result.succeeded, result.cause
    assert result.state_names[-1] == "Issues found"
    skew = report(team, result)["skew"]
    assert skew["checked"] == len(served) and skew["unmatched"] == 0
    assert skew["feature_skew"]["txn_count_30d"] > 0.2 and skew["feature_skew"]["account_tenure_days"] > 0.2
    assert skew["feature_skew"]["amount"] == 0.0 and skew["feature_skew"]["channel"] == 0.0
    assert result.output["monitoring"]["skew"]["mismatched"] == skew["mismatched"] > 0
    assert result.output["run"]["read"]["raw"]["objects"] == 1  # the newest export only
    changes = team.signals.evaluate_alarms()
    assert {c["detail"]["alarmName"]: c["detail"]["state"]["value"] for c in changes}.get(
        "fraud-detection--feature-skew") == "ALARM"
    for event in changes:
        team.signals.deliver(event)
    assert len(executions(team, "training")) == trainings  # a serving fault: a new model would not fix it

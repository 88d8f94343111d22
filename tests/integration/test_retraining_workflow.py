"""Retraining closes the loop offline: drift injected by the synthetic generator → the
monitoring workflow measures it → the drift alarm fires → EventBridge delivers the alarm to
the retraining guard → exactly one training run starts, however often it is triggered, and
the run records why it started."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from mdlc import synthetic
from tests.integration.stage_support import (
    ensure_endpoint,
    executions,
    scoring_frame,
    serve_and_capture,
    trained_team,
    wait_for,
)

pytestmark = pytest.mark.slow
ENDPOINT = "fraud-detection--endpoint"


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    # The gate is not under test here (test_training_workflow covers it): any challenger
    # that clears the threshold registers, so the retrained version is predictable.
    # The endpoint's drift alarm retrains: the team has an endpoint (realtime.enabled).
    overrides = {"retraining.auto_approve": True, "evaluation.champion_tolerance": 1.0, "realtime.enabled": True}
    with trained_team(tmp_path_factory.mktemp("retraining"), **overrides) as t:
        ensure_endpoint(t, ENDPOINT)
        yield t


def lock(team) -> dict:
    item = team.client("dynamodb").get_item(TableName="fraud-detection--retraining-lock",
                                            Key={"team": {"S": "fraud-detection"}}).get("Item", {})
    return {k: next(iter(v.values())) for k, v in item.items()}


def test_drift_alarm_starts_exactly_one_retraining_even_when_delivered_five_times(team):
    # New labelled data has landed (what the retrained model will learn from).
    team.put_raw(synthetic.generate(n_customers=300, days=40, seed=1, drift=0.4, start="2026-01-15"), "2026-03-20")
    since = datetime.now(UTC).isoformat()
    serve_and_capture(team, scoring_frame(seed=31, drift=1.0), ENDPOINT)
    time.sleep(1.1)  # a window ends before the second it ends in (whole seconds, like capture times)
    assert team.run("monitoring", {"since": since}).succeeded
    [alarm] = [e for e in team.signals.evaluate_alarms() if e["detail"]["state"]["value"] == "ALARM"
               and e["detail"]["alarmName"] == "fraud-detection--endpoint-feature-drift"]
    before = len(executions(team, "training"))

    with ThreadPoolExecutor(max_workers=5) as pool:  # EventBridge delivers at least once
        answers = [a for batch in pool.map(lambda _: team.signals.deliver(alarm), range(5)) for a in batch]

    started = [a["result"] for a in answers if a["result"]["started"]]
    assert len(answers) == 5 and len(started) == 1
    assert all(a["result"]["reason"] == "drift:endpoint_feature_psi" for a in answers)
    runs = executions(team, "training")
    assert len(runs) == before + 1
    assert int(lock(team)["coalesced"]) == 4
    described = team.client("stepfunctions").describe_execution(executionArn=started[0]["execution_arn"])
    assert json.loads(described["input"])["reason"] == "drift:endpoint_feature_psi"

    done = wait_for(team, started[0]["execution_arn"])

    assert done["status"] == "SUCCEEDED", done.get("cause")
    newest = team.model_packages()[-1]
    assert newest["ModelPackageVersion"] == 2
    assert "drift:endpoint_feature_psi" in newest["ModelPackageDescription"]  # lineage records why
    assert newest["ModelApprovalStatus"] == "Approved"  # retraining.auto_approve: true in this team file


def test_after_the_run_ends_the_next_trigger_starts_a_new_one_with_its_own_reason(team):
    [answer] = team.signals.fire_schedule("fraud-detection--retraining-schedule")

    assert answer["result"]["started"] and answer["result"]["reason"] == "schedule"
    manual = team.client("lambda").invoke(
        FunctionName=answer["target"], Payload=json.dumps({"reason": "manual"}).encode())
    assert json.loads(manual["Payload"].read())["started"] is False  # coalesced into the scheduled run
    assert wait_for(team, answer["result"]["execution_arn"])["status"] in ("SUCCEEDED", "FAILED")


def test_an_alarm_returning_to_ok_starts_nothing(team):
    event = {"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
             "detail": {"alarmName": "fraud-detection--endpoint-feature-drift", "state": {"value": "OK"}}}
    before = len(executions(team, "training"))

    assert team.signals.deliver(event) == []  # the rule only matches ALARM

    assert len(executions(team, "training")) == before

"""The pipeline's staging smoke test (scripts/smoke_test.py) against moto and a stubbed API."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from mdlc import synthetic_team
from mdlc.contract import MODELS_DIR, REPO_ROOT, load_team, runtime_spec

spec = importlib.util.spec_from_file_location("smoke_test", REPO_ROOT / "scripts" / "smoke_test.py")
smoke = importlib.util.module_from_spec(spec)
sys.modules["smoke_test"] = smoke
spec.loader.exec_module(smoke)

TEAM = load_team(MODELS_DIR / "fraud-detection.yaml")
REGION = "eu-west-1"
PASS_MACHINE = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
FAIL_MACHINE = {
    "StartAt": "Boom",
    "States": {"Boom": {"Type": "Fail", "Error": "GateFailed", "Cause": "pr_auc 0.1 < 0.3"}},
}


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket="raw", CreateBucketConfiguration={"LocationConstraint": REGION})
        yield boto3.Session(region_name=REGION)


def brief_sleep(seconds: float) -> None:
    """The smoke test's poll interval, shortened: moto runs the execution in a thread, which
    needs real time to finish between polls."""
    time.sleep(0.05)


def machine(session, definition: dict) -> str:
    sfn = session.client("stepfunctions")
    return sfn.create_state_machine(
        name="fraud-detection-training", definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]


class StubApi:
    def __init__(self, status=200, body=None):
        self.requests = []
        self.status, self.body = status, body

    def __call__(self, request):
        self.requests.append(request)
        record = json.loads(request.data)
        body = self.body if self.body is not None else {"decision": "DECLINE", "id": record["transaction_id"]}
        return self.status, json.dumps(body).encode()


def env(**values):
    return {"TARGET_REGION": REGION, "RAW_BUCKET": "raw", "SMOKE_SAMPLE_ROWS": "1500", **values}


def test_training_runs_on_an_uploaded_sample_and_the_known_record_is_declined(aws):
    arn = machine(aws, PASS_MACHINE)
    api = StubApi()
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/decisions"

    outcomes = smoke.run(TEAM, env(TRAINING_STATE_MACHINE_ARN=arn, DECISION_API_URL=url), aws,
                         send=api, sleep=brief_sleep)

    assert [(o.step, o.status) for o in outcomes] == [("training", "passed"), ("decision", "passed")]
    assert "SUCCEEDED" in outcomes[0].detail and "DECLINE" in outcomes[1].detail
    # The sample sits below the team's raw prefix and the execution was told where.
    s3 = aws.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="raw")["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("raw/transactions/smoke-test/")
    header, *rows = s3.get_object(Bucket="raw", Key=keys[0])["Body"].read().decode().splitlines()
    assert header.split(",") == synthetic_team.raw_columns(runtime_spec(TEAM))  # the team's raw columns
    assert {"transaction_id", "customer_id", "event_time", "card_id", "is_fraud"} <= set(header.split(","))
    assert len(rows) > 1000
    execution = aws.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"][0]
    given = json.loads(aws.client("stepfunctions").describe_execution(
        executionArn=execution["executionArn"])["input"])
    assert given["data_prefix"] == f"s3://raw/{keys[0].rsplit('/', 1)[0]}/"
    # The API call is a SigV4-signed POST of a deny-listed customer.
    request = api.requests[0]
    assert request.get_method() == "POST" and request.full_url == url
    auth = request.headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=") and "/eu-west-1/execute-api/aws4_request" in auth
    assert json.loads(request.data)["customer_id"] == "C-BLOCKED-0001"


def test_a_failed_training_execution_fails_the_smoke_test_with_its_cause(aws):
    arn = machine(aws, FAIL_MACHINE)
    with pytest.raises(smoke.SmokeTestFailure, match=r"ended FAILED: GateFailed pr_auc 0.1 < 0.3"):
        smoke.run(TEAM, env(TRAINING_STATE_MACHINE_ARN=arn), aws, sleep=brief_sleep)


def test_wrong_decision_for_the_known_record_fails(aws):
    api = StubApi(body={"decision": "APPROVE"})
    with pytest.raises(smoke.SmokeTestFailure, match=r"decided 'APPROVE' for the known record; expected 'DECLINE'"):
        smoke.run(TEAM, env(DECISION_API_URL="https://x.execute-api.eu-west-1.amazonaws.com/p/"), aws, send=api)


def test_http_error_from_the_api_fails_with_the_status(aws):
    api = StubApi(status=403, body={"message": "Missing Authentication Token"})
    with pytest.raises(smoke.SmokeTestFailure, match=r"HTTP 403"):
        smoke.run(TEAM, env(DECISION_API_URL="https://x.execute-api.eu-west-1.amazonaws.com/p/"), aws, send=api)


def test_missing_outputs_are_skipped_with_a_clear_message(aws):
    outcomes = smoke.run(TEAM, env(), aws)
    assert [(o.step, o.status) for o in outcomes] == [("training", "skipped"), ("decision", "skipped")]
    assert "TrainingStateMachineArn" in outcomes[0].detail
    assert "DecisionApiUrl" in outcomes[1].detail


def test_a_training_execution_that_never_ends_times_out():
    class Slow:
        def start_execution(self, **kw):
            return {"executionArn": "arn:aws:states:eu-west-1:1:execution:m:e"}

        def describe_execution(self, **kw):
            return {"status": "RUNNING"}

    class S3:
        def put_object(self, **kw):
            pass

    with pytest.raises(smoke.SmokeTestFailure, match=r"still RUNNING after 120 s"):
        smoke.run_training(TEAM, sfn=Slow(), s3=S3(), state_machine_arn="m", raw_bucket="raw", rows=1500,
                           timeout_s=120, poll_s=60, sleep=brief_sleep, now=datetime(2026, 1, 1, tzinfo=UTC))


def test_main_assumes_the_role_and_prints_each_outcome(aws, monkeypatch, capsys):
    for key, value in env(SMOKE_ROLE_ARN="arn:aws:iam::222222222222:role/fraud-detection-smoke-test").items():
        monkeypatch.setenv(key, value)
    assert smoke.main(["--team-file", str(MODELS_DIR / "fraud-detection.yaml")]) == 0
    out = capsys.readouterr().out
    assert "training: skipped" in out and "decision: skipped" in out

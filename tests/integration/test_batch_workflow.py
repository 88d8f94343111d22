"""The batch scoring workflow that deploys, executed offline: Approved model → input data
quality → features → transform (.sync, real inference script) → validation → published
results with a manifest and a BatchScored event. Nothing partial is ever published."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.integration.conftest import AlertInbox
from tests.integration.stage_support import put_batch_input, scoring_frame, trained_team

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    with trained_team(tmp_path_factory.mktemp("batch")) as t:
        yield t


@pytest.fixture(scope="module")
def inbox(team):
    return AlertInbox(team)


@pytest.fixture(scope="module")
def scored_events(team):
    """A queue receiving the team's MDLC events from the default bus (what a consumer does)."""
    sqs, events = team.client("sqs"), team.client("events")
    url = sqs.create_queue(QueueName="batch-consumer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="consumer", EventPattern=json.dumps({"source": ["mdlc.fraud-detection"]}))
    events.put_targets(Rule="consumer", Targets=[{"Id": "q", "Arn": arn}])
    return sqs, url


def published(team) -> list[str]:
    listed = team.client("s3").list_objects_v2(Bucket=team.bucket("rep"), Prefix=team.team.batch.output_prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def read_csv(team, key: str) -> pd.DataFrame:
    import io

    body = team.client("s3").get_object(Bucket=team.bucket("rep"), Key=key)["Body"].read()
    return pd.read_csv(io.BytesIO(body), dtype={"transaction_id": str})


def test_clean_input_is_scored_validated_and_published_with_a_manifest_and_event(team, inbox, scored_events):
    frame = scoring_frame(seed=11)
    uri = put_batch_input(team, frame, "2026-03-02")

    result = team.run("batch", {"input_prefix": uri})

    assert result.succeeded, result.cause
    assert result.state_names.index("Batch transform") < result.state_names.index("Validate output") \
        < result.state_names.index("Publish results")
    keys = published(team)
    manifest_key = next(k for k in keys if k.endswith("_manifest.json"))
    manifest = json.loads(team.client("s3").get_object(Bucket=team.bucket("rep"), Key=manifest_key)["Body"].read())
    assert manifest["rows"] == len(frame)
    assert manifest["model_version"] == 1 and manifest["input_uri"] == uri
    scores = pd.concat([read_csv(team, p["key"]) for p in manifest["parts"]])
    assert sorted(scores["transaction_id"]) == sorted(frame["transaction_id"])  # every id joined to its score
    assert scores["score"].between(0, 1).all() and scores["score"].notna().all()
    # the model still ranks: the known frauds of this synthetic day score higher on average
    joined = scores.merge(frame[["transaction_id", "is_fraud"]], on="transaction_id")
    assert joined.loc[joined.is_fraud == 1, "score"].mean() > 3 * joined.loc[joined.is_fraud == 0, "score"].mean()
    sqs, url = scored_events
    bodies = [
        json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ]
    scored = [b for b in bodies if b["detail-type"] == "BatchScored"]
    assert scored and scored[0]["detail"]["rows"] == len(frame)
    assert scored[0]["detail"]["manifest_uri"].endswith(manifest_key)
    assert any(m.get("outcome") == "BatchScored" for m in inbox.drain())


def test_corrupt_input_stops_at_data_quality_and_publishes_nothing(team, inbox):
    before = published(team)
    uri = put_batch_input(team, scoring_frame(seed=12, corrupt=0.05), "2026-03-03")

    result = team.run("batch", {"input_prefix": uri})

    assert result.status == "FAILED" and result.error == "DataQualityFailed"
    assert "Batch transform" not in result.state_names
    assert "amount" in result.cause and "merchant_category" in result.cause  # names what is wrong
    assert published(team) == before
    alerts = inbox.drain()
    assert any(a.get("outcome") == "DataQualityFailed" for a in alerts)


def test_a_failed_transform_fails_loudly_and_publishes_nothing(team, inbox):
    before = published(team)
    uri = put_batch_input(team, scoring_frame(seed=13), "2026-03-04")
    team.aws.fail_next_job("transform", "ClientError: injected instance failure")

    result = team.run("batch", {"input_prefix": uri})

    assert result.status == "FAILED" and result.error == "BatchWorkflowFailed"
    assert "Validate output" not in result.state_names
    assert published(team) == before
    assert any(a.get("outcome") == "BatchWorkflowFailed" for a in inbox.drain())


def test_scheduled_rule_scores_the_newest_partition(team):
    put_batch_input(team, scoring_frame(seed=14), "2026-03-05")
    before = len([k for k in published(team) if k.endswith("_manifest.json")])

    [answer] = team.signals.fire_schedule("fraud-detection--batch-schedule")

    from tests.integration.stage_support import wait_for

    done = wait_for(team, answer["result"]["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    manifests = [k for k in published(team) if k.endswith("_manifest.json")]
    assert len(manifests) == before + 1
    newest = json.loads(
        team.client("s3").get_object(Bucket=team.bucket("rep"), Key=sorted(manifests)[-1])["Body"].read()
    )
    assert newest["input_uri"].endswith("dt=2026-03-05/") and newest["reason"] == "schedule"


def _revoke(team, workflow: str, action: str) -> list[tuple[str, str, str]]:
    """Take `action` out of the workflow role's inline policies; returns what to put back."""
    iam = team.aws.admin_client("iam")
    role_arn = team.client("stepfunctions").describe_state_machine(
        stateMachineArn=team.state_machine_arn(workflow))["roleArn"]
    role = role_arn.rsplit("/", 1)[-1]
    saved = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        saved.append((role, name, json.dumps(document)))
        document["Statement"] = [s for s in document["Statement"]
                                 if action not in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    return saved


def test_without_its_put_events_grant_the_run_fails_at_the_event_with_access_denied(team, inbox):
    # The first-deploy failure, reproduced: the grant the batch role lacked on AWS.
    uri = put_batch_input(team, scoring_frame(seed=15), "2026-03-06")
    saved = _revoke(team, "batch", "events:PutEvents")
    try:
        result = team.run("batch", {"input_prefix": uri})
    finally:
        for role, name, document in saved:
            team.aws.admin_client("iam").put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=document)

    assert result.status == "FAILED" and result.error == "BatchWorkflowFailed"
    assert "AccessDeniedException" in result.cause and "events:PutEvents" in result.cause
    names = result.state_names
    assert "Publish results" in names and "Publish BatchScored event" in names and "Notify scored" not in names
    assert any(a.get("outcome") == "BatchWorkflowFailed" for a in inbox.drain())

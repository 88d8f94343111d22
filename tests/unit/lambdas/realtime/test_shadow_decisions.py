"""shadow_decisions: every new live decision decided again as the challenger, recorded beside it.

Product tests of the handler (against moto for S3): the candidate policy and the shadow model
decide, the live decision is copied unchanged, a broken challenger is a recorded result and
never an exception, and only new decisions (stream INSERTs) are shadowed.
"""

from __future__ import annotations

import json

import pytest

from lambdas.shared.aws import client
from tests.unit.lambdas.support import DATA_ENV, SPEC

STRICT = {"score_bands": {"approve_below": 0.00001, "decline_at_or_above": 0.5}}


@pytest.fixture
def shadow_team(tmp_path, monkeypatch, aws, handler):
    """The example team with a shadow challenger: model version 2 and a stricter policy."""
    spec = {**SPEC, "realtime": {**SPEC["realtime"], "shadow": {
        "model_version": 2, "decision_rules": STRICT, "fallback_decision": "DECLINE",
        "compare_metric": "pr_auc", "promote_margin": 0.02, "min_labelled": 200}}}
    path = tmp_path / "team.json"
    path.write_text(json.dumps(spec))
    monkeypatch.setenv("MDLC_TEAM_SPEC_FILE", str(path))
    for name, value in {"SHADOW_BUCKET": DATA_ENV["CAPTURE_BUCKET"], "ENDPOINT_NAME": "fraud-detection--endpoint",
                        "SHADOW_VARIANT": "Shadow"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handler, "_log", None)
    monkeypatch.setattr(handler, "_model", None)
    return spec


def live(event) -> dict:
    return handler_live(event["Records"][0])


def handler_live(record) -> dict:
    image = record["dynamodb"]["NewImage"]
    return {"request": json.loads(image["request"]["S"]), "response": json.loads(image["response"]["S"]),
            "features": json.loads(image["features"]["S"])}


def test_the_candidate_policy_decides_the_shadow_models_score_and_the_live_decision_is_kept(handler, event,
                                                                                             shadow_team):
    seen = []

    def model(features, inference_id):
        seen.append((features, inference_id))
        return 0.2, "challenger-v2"

    shadow = handler.decide_shadow(live(event), shadow_team, model)
    line = handler.pair(live(event), shadow, shadow_team)

    assert seen == [(live(event)["features"], "T-000042")]  # the exact input the live model saw
    assert (shadow["decision"], shadow["score"], shadow["model_version"]) == ("REVIEW", 0.2, "challenger-v2")
    assert shadow["error"] is None and shadow["policy_version"].endswith("/challenger-v2")
    assert shadow["policy_version"].split("/")[0] != line["live"]["policy_version"].split("/")[0]
    assert line["live"]["decision"] == "APPROVE" and line["live"]["score"] == 0.00004
    assert line["amount"] == 42.5 and line["transaction_id"] == "T-000042"


def test_a_shadow_model_that_fails_gives_the_candidates_fallback_with_the_error_never_an_exception(
        handler, event, shadow_team):
    def broken(features, inference_id):
        raise RuntimeError("container crashed")

    shadow = handler.decide_shadow(live(event), shadow_team, broken)

    assert shadow["decision"] == "DECLINE" and shadow["score"] is None  # shadow.fallback_decision
    assert shadow["error"] == "RuntimeError: container crashed" and shadow["decided_by"] == "fallback"


def test_without_a_shadow_model_the_candidate_policy_decides_the_live_score(handler, event, shadow_team):
    policy_only = {**shadow_team, "realtime": {**shadow_team["realtime"], "shadow": {
        **shadow_team["realtime"]["shadow"], "model_version": None,
        "decision_rules": {"score_bands": {"approve_below": 0.00001, "decline_at_or_above": 0.00002}}}}}

    shadow = handler.decide_shadow(live(event), policy_only, None)

    assert (shadow["decision"], shadow["score"]) == ("DECLINE", 0.00004)
    assert shadow["model_version"] == live(event)["response"]["model_version"]


def test_the_handler_writes_the_pairs_of_a_batch_per_day_and_ignores_modified_items(handler, event, context,
                                                                                      shadow_team, monkeypatch):
    monkeypatch.setattr(handler.ShadowModel, "__call__", lambda self, features, inference_id: (0.99, "v2"))
    record = event["Records"][0]
    modified = {**record, "eventName": "MODIFY"}

    result = handler.handler({"Records": [record, modified]}, context)

    assert result == {"shadow_decisions": 1}
    bucket = DATA_ENV["CAPTURE_BUCKET"]
    [key] = [o["Key"] for o in client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert key == f"shadow/dt=2026-03-01/{record['dynamodb']['SequenceNumber']}.jsonl"
    [line] = [json.loads(t) for t in client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()]
    assert (line["live"]["decision"], line["shadow"]["decision"], line["shadow"]["score"]) == ("APPROVE", "DECLINE",
                                                                                              0.99)


def test_a_live_decision_recorded_without_its_model_input_is_a_shadow_error(handler, event, shadow_team):
    decision = live(event)
    decision["features"] = None

    shadow = handler.decide_shadow(decision, shadow_team, lambda features, inference_id: (0.99, "v2"))

    assert shadow["score"] is None and shadow["error"] == "no model input recorded with the live decision"


def test_the_shadow_variant_is_sent_the_challengers_policy_hash_for_its_capture(handler, shadow_team, monkeypatch):
    """Product: the shadow variant's data capture groups by the challenger's policy, not the live one."""
    import io

    import botocore.client

    from mdlc import policy

    sent = []

    def record(self, operation, params):
        sent.append((operation, params))
        return {"Body": io.BytesIO(json.dumps({"model_version": "v2", "predictions": [{"score": 0.4}]}).encode())}

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    model, _ = handler._adapters(shadow_team)
    assert model(json.loads(json.dumps({"amount": 1.0})), "T-1") == (0.4, "v2")

    [(operation, params)] = sent
    body = json.loads(params["Body"])
    assert operation == "InvokeEndpoint" and params["TargetVariant"] == "Shadow"
    assert body == {"instances": [{"amount": 1.0}],
                    "policy_hash": policy.policy_hash(handler.shadow_spec(shadow_team))}
    assert body["policy_hash"] != policy.policy_hash(shadow_team)  # the candidate's rules, not the live ones

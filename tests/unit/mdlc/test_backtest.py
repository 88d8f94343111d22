"""mdlc backtest: replay point in time, compare two policies, guardrails, the command (product tests).

A small XGBoost model is trained here on point-in-time features of generated history (the
model layout the training job writes), so the command runs end to end in seconds; the
scoring runs in the model's job runtime as in production.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from mdlc import backtest as bt
from mdlc import backtest_inputs as inputs
from mdlc import backtest_report as rep
from mdlc import policy, synthetic_team
from mdlc.cli import main
from mdlc.contract import MODELS_DIR, REPO_ROOT, TeamFileError, load_team, runtime_spec
from tests.unit.mdlc.backtest_support import small_model

TEAM_FILE = MODELS_DIR / "fraud-detection.yaml"
SPEC = runtime_spec(load_team(TEAM_FILE))


@pytest.fixture(scope="module")
def history():
    frame, _ = synthetic_team.for_team(SPEC, n_entities=60, days=20, seed=3)
    return frame


@pytest.fixture(scope="module")
def model(tmp_path_factory, history) -> Path:
    return small_model(history, tmp_path_factory.mktemp("model"))


def test_each_request_sees_only_its_entitys_earlier_records(history):
    run = bt.replay(history, SPEC)
    entity = SPEC["schema"]["entity_key"]
    first = {}
    for request, features in zip(run.requests, run.features, strict=True):
        first.setdefault(request[entity], features)

    assert len(run.requests) == len(history) and run.days >= 19
    assert all(f["unknown_entity"] for f in first.values())  # nothing before an entity's first record
    assert not all(f["unknown_entity"] for f in run.features)


def test_records_the_api_would_refuse_and_unlabelled_records_are_counted_not_replayed(history):
    bad = history.copy()
    amount, label = SPEC["schema"]["amount_column"], SPEC["schema"]["label"]
    bad.loc[0, amount] = -5.0  # below the schema's min: a 400 from the API
    bad[label] = bad[label].astype(float)
    bad.loc[1, label] = np.nan

    run = bt.replay(bad, SPEC)

    assert run.rejected == {amount: 1} and run.unlabelled == 1 and len(run.requests) == len(history) - 2


def test_history_without_the_key_columns_is_refused_naming_them(history):
    with pytest.raises(bt.BacktestError, match="transaction_id"):
        bt.replay(history.drop(columns=["transaction_id"]), SPEC)


def test_flip_matrix_counts_each_change_and_the_fraud_among_them():
    current, candidate, labels = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 2, 1, 2]), np.array([0, 1, 1, 0, 1])

    matrix = rep.flips(current, candidate, labels)

    assert matrix["APPROVE"]["REVIEW"] == {"count": 1, "fraud": 1}
    assert matrix["REVIEW"]["DECLINE"] == {"count": 1, "fraud": 1}
    assert matrix["DECLINE"]["DECLINE"] == {"count": 1, "fraud": 1} and matrix["DECLINE"]["APPROVE"]["count"] == 0


def test_a_broken_guardrail_is_named_with_its_figures():
    report = {"guardrails": {"max_legit_decline_increase": 0.001, "max_review_rate": 0.5, "min_fraud_caught": 0.9},
              "current": {"legit_declined_rate": 0.002, "review_rate": 0.1, "fraud_caught_share": 0.95},
              "candidate": {"legit_declined_rate": 0.006, "review_rate": 0.1, "fraud_caught_share": 0.8}}

    broken = rep.broken_guardrails(report)

    assert broken == ["max_legit_decline_increase: legitimate declined rises by 0.40%; expected at most 0.10%",
                      "min_fraud_caught: fraud caught is 80.00%; expected at least 90.00%"]


def test_a_candidate_policy_is_validated_as_part_of_the_team_file(tmp_path):
    bare = tmp_path / "bare.yaml"
    bare.write_text("score_bands: {approve_below: 0.1, decline_at_or_above: 0.5}\n")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("decision_rules:\n  score_bands: {approve_below: 0.1, decline_at_or_above: 0.5}\n"
                     "  hard_rules: [{name: r, field: no_such_field, op: gt, value: 1, decision: DECLINE}]\n")

    team = inputs.candidate_team(TEAM_FILE, bare)

    assert team.decision_rules.score_bands.decline_at_or_above == 0.5 and team.name == "fraud-detection"
    assert not inputs.same_policy(team, load_team(TEAM_FILE))
    with pytest.raises(TeamFileError, match="no_such_field"):
        inputs.candidate_team(TEAM_FILE, wrong)


def test_the_command_compares_a_stricter_policy_and_writes_the_report(tmp_path, model):
    strict = tmp_path / "strict.yaml"
    strict.write_text("decision_rules:\n  score_bands: {approve_below: 0.05, decline_at_or_above: 0.3}\n"
                      "  guardrails: {max_review_rate: 0.0001}\n")
    out = tmp_path / "report.json"

    result = CliRunner().invoke(main, ["backtest", "--model", "fraud-detection", "--policy", str(strict),
                                       "--current-model", str(model), "--entities", "60", "--days", "20",
                                       "--json", str(out), "--enforce-guardrails"])

    report = json.loads(out.read_text())
    assert result.exit_code == 3, result.output
    assert "decisions that change" in result.output and "BROKEN max_review_rate" in result.output
    assert report["current"]["model_version"] == report["candidate"]["model_version"] == "unit-v1"
    assert report["current"]["policy_version"] != report["candidate"]["policy_version"]
    assert report["candidate"]["decline_rate"] >= report["current"]["decline_rate"]
    assert report["changed"] == sum(c["count"] for a, row in report["flips"].items() for b, c in row.items()
                                    if a != b) > 0


def test_the_command_refuses_a_policy_file_without_decision_rules(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("realtime: {fallback_decision: DECLINE}\n")

    result = CliRunner().invoke(main, ["backtest", "--model", "fraud-detection", "--policy", str(empty)])

    assert result.exit_code == 1 and "no decision_rules found" in result.output


def test_diff_of_a_policy_change_names_the_new_policy_version_and_shows_the_backtest_summary(tmp_path, model):
    team = yaml.safe_load(TEAM_FILE.read_text())
    team["decision_rules"]["score_bands"] = {"approve_below": 0.05, "decline_at_or_above": 0.3}
    changed = tmp_path / "fraud-detection.yaml"
    changed.write_text(yaml.safe_dump(team))
    before, after = policy.policy_hash(SPEC), policy.policy_hash(runtime_spec(load_team(changed)))

    plain = CliRunner().invoke(main, ["diff", str(TEAM_FILE), str(changed)])
    tested = CliRunner().invoke(main, ["diff", str(TEAM_FILE), str(changed), "--backtest", "--current-model",
                                       str(model)])

    assert plain.exit_code == 0 and f"Decision policy: {before} → {after}" in plain.output
    assert "backtest on" not in plain.output
    assert tested.exit_code == 0, tested.output
    assert "backtest on" in tested.output and "decisions that change" in tested.output


def test_the_command_refuses_a_since_that_is_no_time_and_two_candidate_models(tmp_path, model):
    bad_time = CliRunner().invoke(main, ["backtest", "--model", "fraud-detection", "--policy",
                                         str(REPO_ROOT / "examples" / "stricter-policy.yaml"), "--since", "yesterday"])
    two = CliRunner().invoke(main, ["backtest", "--model", "fraud-detection", "--candidate-model", str(model),
                                    "--model-version", "3"])

    assert bad_time.exit_code == 1 and "'yesterday' is not a time; expected ISO-8601" in bad_time.output
    assert two.exit_code == 1 and "give the candidate model once" in two.output


def test_a_registry_version_is_read_from_the_stage_account(tmp_path, model, monkeypatch):
    """--model-version: the version's model.tar.gz from the team's model package group (moto)."""
    import boto3
    from moto import mock_aws

    from mdlc.backtest_sources import registry_model
    from mdlc.names import model_package_group

    team = load_team(TEAM_FILE)
    env = team.environments["dev"]
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "MOTO_ACCOUNT_ID": env.account}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=env.region)
        s3.create_bucket(Bucket="models", CreateBucketConfiguration={"LocationConstraint": env.region})
        s3.put_object(Bucket="models", Key="v1/model.tar.gz", Body=model.read_bytes())
        sm = boto3.client("sagemaker", region_name=env.region)
        group = model_package_group(team.name)
        sm.create_model_package_group(ModelPackageGroupName=group)
        sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification={
            "Containers": [{"Image": "x", "ModelDataUrl": "s3://models/v1/model.tar.gz"}],
            "SupportedContentTypes": ["application/json"], "SupportedResponseMIMETypes": ["application/json"]})

        got = registry_model(team, "dev", "1", tmp_path)

        with pytest.raises(bt.BacktestError, match="--stage 'nowhere' is not in the team file's environments"):
            registry_model(team, "nowhere", "1", tmp_path)
    assert got.read_bytes() == model.read_bytes()


def test_the_command_takes_the_current_policy_from_one_place():
    result = CliRunner().invoke(main, ["backtest", "--model", "fraud-detection", "--baseline-ref", "HEAD~1",
                                       "--baseline-deployed", "production"])

    assert result.exit_code == 1
    assert "give the current policy once: --baseline-ref REV or --baseline-deployed STAGE" in result.output

"""The training workflow of a team with training.tuning, executed offline end to end (product:
the deployed workflow, its real trials, registration and evaluation report).

A test-only variant of the example team (4 trials, 2 in parallel, and decision_rules.costs):
tuning is not in models/, so the lifecycle test keeps its run time (docs/performance.md)."""

from __future__ import annotations

import json

import pytest

from mdlc import synthetic
from mdlc.commands.training import cost_band_lines, tuning_lines
from mdlc.local import LocalTeam
from tests.integration.conftest import team_variant_dir

pytestmark = pytest.mark.slow

TUNING = {"max_jobs": 4, "max_parallel_jobs": 2, "strategy": "Bayesian",
          "ranges": {"max_depth": {"type": "integer", "min": 3, "max": 6},
                     "eta": {"type": "continuous", "min": 0.05, "max": 0.3, "scaling": "Logarithmic"},
                     "min_child_weight": {"type": "continuous", "min": 1, "max": 10}}}
COSTS = {"fraud_loss_share": 0.9, "review_cost": 4, "decline_cost": 15, "review_capacity_per_day": 500,
         "transactions_per_day": 20000}


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    models = team_variant_dir(tmp_path_factory.mktemp("tuned"),
                              **{"training.tuning": TUNING, "decision_rules.costs": COSTS})
    with LocalTeam("fraud-detection", models_dir=models, workdir=tmp_path_factory.mktemp("local")) as t:
        yield t


@pytest.fixture(scope="module")
def prefix(team):
    return team.put_raw(synthetic.generate(n_customers=400, days=45, seed=1), "2026-03-01")


@pytest.fixture(scope="module")
def first(team, prefix):
    result = team.train(prefix)
    assert result.succeeded, result.cause
    return result


def lineage(team, result) -> dict:
    bucket, key = result.output["registered"]["lineage_uri"][5:].split("/", 1)
    return json.loads(team.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_tuning_run_registers_the_winner_with_every_trial(team, first):
    """Done-when of issue 26: 4 trials offline; the best trial's model is the one evaluated
    and registered, and the version's lineage holds the tuning job, every trial's values and
    objective, and the winner (whose values are the registered hyperparameters)."""
    assert "Tune hyperparameters" in first.state_names and "Train model" not in first.state_names
    record = lineage(team, first)
    tuning = record["tuning"]
    assert tuning["job"] == first.output["tuning"]["job_name"] and tuning["objective_metric"] == "validation:pr_auc"
    trials = tuning["trials"]
    assert len(trials) == 4 and all(t["status"] == "Completed" for t in trials)
    for t in trials:
        hp = t["hyperparameters"]
        assert 3 <= hp["max_depth"] <= 6 and 0.05 <= hp["eta"] <= 0.3 and 1 <= hp["min_child_weight"] <= 10
        assert 0 < t["objective"] <= 1
    best = max(trials, key=lambda t: t["objective"])
    assert tuning["best_training_job"] == best["training_job"] == record["training_job"]
    # the gate evaluated, and the registry serves, the winner's model
    assert first.output["training"]["model_uri"] == record["model_uri"]
    assert record["model_uri"].endswith(f"/{best['training_job']}/output/model.tar.gz")
    assert record["hyperparameters"]["max_depth"] == best["hyperparameters"]["max_depth"]
    assert record["hyperparameters"]["num_round"] == team.team.training.hyperparameters["num_round"]  # fixed, not tuned
    meta = team.model_packages()[-1]["CustomerMetadataProperties"]
    assert meta["tuning_job"] == tuning["job"]
    assert meta["hp.max_depth"] == str(best["hyperparameters"]["max_depth"])


def test_the_tuning_calls_are_authorised_by_the_synthesised_policies(team, first):
    """The tuning job, its managed rule and the trial listing were evaluated against the
    templates' roles, and nothing was refused."""
    decisions = team.aws.iam.decisions
    allowed = {d.action for d in decisions if d.allowed}
    assert {"sagemaker:CreateHyperParameterTuningJob", "sagemaker:DescribeHyperParameterTuningJob",
            "sagemaker:ListTrainingJobsForHyperParameterTuningJob", "events:PutRule"} <= allowed
    assert [d for d in decisions if not d.allowed] == []


def test_mdlc_local_train_prints_the_trials_and_the_winner(team, first):
    """The table `mdlc local train` prints: one row per trial with its values and objective,
    the winner marked, then the team's bands against the suggested ones."""
    lines = tuning_lines(team, first.output)
    rows = [line for line in lines if line.split(" ")[0] in {"001", "002", "003", "004"}]
    assert len(rows) == 4 and sum("<- best" in row for row in rows) == 1
    assert lines[-1].startswith(f"winner: {first.output['tuning']['best_training_job']}")
    text = "\n".join(cost_band_lines(first.output["evaluation"]["cost_bands"]))
    assert "team 0.3/0.85" in text and "suggested " in text and "suggested only" in text


def test_suggested_bands_cost_no_more_than_the_teams_within_capacity(first):
    """Done-when of issue 26 on the workflow's own report: the suggestion never costs more than
    the team's bands on the test split, fits the review capacity, and is not applied."""
    report = first.output["evaluation"]["cost_bands"]
    team_bands, suggested = report["team"], report["suggested"]
    assert (team_bands["approve_below"], team_bands["decline_at_or_above"]) == (0.3, 0.85)
    assert team_bands["within_capacity"]
    assert suggested["expected_cost"] <= team_bands["expected_cost"]
    assert suggested["reviews_per_day"] <= COSTS["review_capacity_per_day"]


def test_the_same_data_and_seed_pick_the_same_winner(team, prefix, first):
    """Done-when of issue 26: a second run on the same data tunes to the same winner (same
    trial, values and objective), so a tuned model is reproducible."""
    second = team.train(prefix)

    assert second.succeeded, second.cause
    a, b = lineage(team, first)["tuning"], lineage(team, second)["tuning"]
    assert a["job"] != b["job"]
    assert [t["hyperparameters"] for t in a["trials"]] == [t["hyperparameters"] for t in b["trials"]]
    assert a["best_hyperparameters"] == b["best_hyperparameters"]
    assert a["best_objective"] == b["best_objective"]
    assert a["best_training_job"].rsplit("-", 2)[-2] == b["best_training_job"].rsplit("-", 2)[-2]

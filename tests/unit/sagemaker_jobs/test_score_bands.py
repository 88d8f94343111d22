"""The evaluation report's score-band table and global feature importance (product: the evaluation job)."""

from __future__ import annotations

import copy
import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from mdlc.contract import MODELS_DIR, REPO_ROOT, load_team, runtime_spec

sys.path.insert(0, str(REPO_ROOT / "sagemaker_jobs"))
_spec = importlib.util.spec_from_file_location("evaluation_job_bands", REPO_ROOT / "sagemaker_jobs/evaluation/job.py")
job = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(job)

SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))
Y = np.array([1, 1, 0, 0, 0], dtype=float)
P = np.array([0.9, 0.5, 0.1, 0.6, 0.95])
AMOUNT = np.array([100.0, 50.0, 10.0, 20.0, 30.0])


def test_the_team_bands_give_rates_fraud_caught_and_amount_saved():
    out = job.band_outcomes(Y, P, AMOUNT, 0.3, 0.85)

    assert (out["approve_rate"], out["review_rate"], out["decline_rate"]) == (0.2, 0.4, 0.4)
    assert out["fraud_caught_share"] == 1.0 and out["fraud_declined_share"] == 0.5
    assert out["legit_declined_rate"] == pytest.approx(1 / 3) and out["legit_reviewed_rate"] == pytest.approx(1 / 3)
    assert (out["fraud_amount"], out["amount_saved"], out["amount_declined"]) == (150.0, 150.0, 100.0)


def test_the_report_has_the_team_bands_and_a_threshold_grid_with_amounts_from_the_schema():
    test = pd.DataFrame({"amount": AMOUNT})

    table = job.score_bands(test, Y, P, SPEC)

    assert table["amount_column"] == "amount" and table["note"] is None
    assert table["team"]["approve_below"] == 0.30 and table["team"]["decline_at_or_above"] == 0.85
    thresholds = [row["approve_below"] for row in table["grid"]]
    assert thresholds == list(job.THRESHOLD_GRID)
    caught = [row["fraud_caught_share"] for row in table["grid"]]
    assert caught == sorted(caught, reverse=True)  # a higher threshold never catches more
    assert all(row["review_rate"] == 0 for row in table["grid"])  # a single threshold: no review band


@pytest.mark.parametrize("amount_column", [None, "txn_value"])
def test_a_team_without_an_amount_in_the_test_split_gets_counts_only(amount_column):
    team = copy.deepcopy(SPEC)
    team["schema"]["amount_column"] = amount_column

    table = job.score_bands(pd.DataFrame({"amount": AMOUNT}), Y, P, team)

    assert table["amount_column"] is None and "counts only" in table["note"]
    assert "amount_saved" not in table["team"] and table["team"]["fraud_caught_share"] == 1.0


def test_feature_importance_ranks_the_feature_that_drives_the_label_and_names_unused_ones():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"signal": rng.normal(size=2000), "noise": rng.normal(size=2000), "constant": 1.0})
    label = (frame["signal"] > 1).astype(int)
    names = ["signal", "noise", "constant"]
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "seed": 1},
                        xgb.DMatrix(frame[names].to_numpy("float32"), label=label, feature_names=names), 20)

    rows = job.feature_importance(booster, frame, names)

    assert [r["feature"] for r in rows][0] == "signal" and rows[0]["share"] > 0.8
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert next(r for r in rows if r["feature"] == "constant")["used_in_splits"] is False


def test_a_team_without_decision_rules_gets_the_threshold_grid_only():
    """A batch-only team (no `decision_rules`) still gets the grid to pick its cut-off from."""
    from mdlc.commands.training import score_band_lines

    team = copy.deepcopy(SPEC)
    team["decision_rules"] = None

    table = job.score_bands(pd.DataFrame({"amount": AMOUNT}), Y, P, team)

    assert table["team"] is None and len(table["grid"]) == len(job.THRESHOLD_GRID)
    printed = "\n".join(score_band_lines(table))
    assert "single threshold" in printed and "team " not in printed

"""Cost-based score bands (sagemaker_jobs/evaluation/costs.py): the product's suggestion beside
the team's bands, on a labelled split with amounts."""

from __future__ import annotations

import numpy as np
import pytest
from evaluation import costs as C

from mdlc import policy

TEAM = {"approve_below": 0.3, "decline_at_or_above": 0.85}


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(11)
    n = 20_000
    y = (rng.random(n) < 0.03).astype(float)
    p = np.clip(np.where(y == 1, rng.beta(5, 2, n), rng.beta(1.2, 8, n)), 0, 1)
    amount = np.round(rng.lognormal(4, 1, n), 2)
    return y, p, amount


def spec_with(**costs):
    base = {"fraud_loss_share": 0.9, "review_cost": 4.0, "decline_cost": 15.0,
            "review_capacity_per_day": 12_000, "transactions_per_day": 100_000}
    return {"decision_rules": {"score_bands": TEAM, "costs": {**base, **costs}}}


def test_suggested_bands_cost_no_more_than_the_teams_and_fit_capacity(split):
    """Done-when of issue 26: on the test split the suggestion is never dearer than the team's
    bands (which fit the capacity here) and its reviews a day stay within the capacity."""
    y, p, amount = split
    report = C.suggest(y, p, amount, spec_with())
    team, suggested = report["team"], report["suggested"]
    assert team["within_capacity"]
    assert suggested["expected_cost"] <= team["expected_cost"]
    assert suggested["reviews_per_day"] <= 12_000
    assert report["saving"] == pytest.approx(team["expected_cost"] - suggested["expected_cost"])
    assert suggested["expected_cost"] < team["expected_cost"]  # these costs do reward other bands


def test_costs_are_those_of_the_policy_module(split):
    """The reported cost is recomputed from mdlc.policy's decisions under the bands, by hand."""
    y, p, amount = split
    costs = spec_with()["decision_rules"]["costs"]
    s = C.suggest(y, p, amount, spec_with())["suggested"]
    codes = policy.band_codes(p, s)
    by_hand = (0.9 * amount[(y == 1) & (codes == 0)].sum() + 4.0 * (codes == 1).sum()
               + 15.0 * ((y == 0) & (codes == 2)).sum())
    assert s["expected_cost"] == pytest.approx(by_hand)
    assert C.band_cost(y, p, amount, s, costs)["reviews"] == int((codes == 1).sum())


def test_no_pair_of_candidate_thresholds_is_cheaper_within_capacity(split):
    """Brute force over a coarse grid: nothing within capacity beats the suggestion."""
    y, p, amount = split
    spec = spec_with(review_capacity_per_day=1500)
    costs = spec["decision_rules"]["costs"]
    s = C.suggest(y, p, amount, spec)["suggested"]
    grid = np.linspace(0, 1, 41)
    for a in grid:
        for d in grid[grid >= a]:
            other = C.band_cost(y, p, amount, {"approve_below": a, "decline_at_or_above": d}, costs)
            if other["within_capacity"]:
                assert s["expected_cost"] <= other["expected_cost"] + 1e-6


def test_team_bands_over_capacity_are_named_and_the_suggestion_fits(split):
    """With room for 20 reviews a day the team's bands overflow: the report says so and the
    suggestion still respects the capacity."""
    y, p, amount = split
    report = C.suggest(y, p, amount, spec_with(review_capacity_per_day=20))
    assert not report["team"]["within_capacity"]
    assert "over the capacity of 20" in report["note"]
    assert report["suggested"]["reviews_per_day"] <= 20


def test_no_review_capacity_suggests_bands_without_a_review_band(split):
    """Capacity 0: approve/decline only, at one threshold."""
    y, p, amount = split
    s = C.suggest(y, p, amount, spec_with(review_capacity_per_day=0))["suggested"]
    assert s["reviews"] == 0


def test_without_costs_there_is_no_suggestion(split):
    """A team without decision_rules.costs gets no cost_bands section (None)."""
    y, p, amount = split
    assert C.suggest(y, p, amount, {"decision_rules": {"score_bands": TEAM}}) is None
    assert C.suggest(y, p, amount, {}) is None


def test_the_evaluation_job_reports_cost_bands_beside_the_teams(pipeline, code, tmp_path, spec):
    """The evaluation job, run as the processing job runs it (the image's runtime), adds
    cost_bands with costs in the spec: the team's own bands priced, and a suggestion no dearer
    and within capacity; without costs it reports none."""
    import copy

    from tests.unit.sagemaker_jobs.support import write_spec
    from tests.unit.sagemaker_jobs.test_evaluation_job import evaluate

    priced = copy.deepcopy(spec)
    priced["decision_rules"]["costs"] = spec_with(review_capacity_per_day=300,
                                                  transactions_per_day=20_000)["decision_rules"]["costs"]
    result = evaluate(code, pipeline, tmp_path / "priced", write_spec(tmp_path / "c", priced))
    report = result["cost_bands"]
    bands = spec["decision_rules"]["score_bands"]
    assert (report["team"]["approve_below"], report["team"]["decline_at_or_above"]) == (
        bands["approve_below"], bands["decline_at_or_above"])
    assert report["suggested"]["expected_cost"] <= report["team"]["expected_cost"]
    assert report["suggested"]["reviews_per_day"] <= 300
    assert report["rows"] == result["score_bands"]["rows"]
    plain = evaluate(code, pipeline, tmp_path / "plain", write_spec(tmp_path / "p", spec))
    assert plain["cost_bands"] is None

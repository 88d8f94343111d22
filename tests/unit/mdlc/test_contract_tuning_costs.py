"""training.tuning and decision_rules.costs in the team contract (product: what `mdlc validate`
and the synth accept and refuse, each refusal naming the field and what was expected)."""

from __future__ import annotations

import copy

import pytest
import yaml

from mdlc.contract import MODELS_DIR, TeamFileError, parse_team

EXAMPLE = yaml.safe_load((MODELS_DIR / "fraud-detection.yaml").read_text())
TUNING = {"max_jobs": 8, "max_parallel_jobs": 2, "strategy": "Bayesian",
          "ranges": {"max_depth": {"type": "integer", "min": 3, "max": 8},
                     "eta": {"type": "continuous", "min": 0.02, "max": 0.3, "scaling": "Logarithmic"},
                     "min_child_weight": {"type": "continuous", "min": 1, "max": 20}}}
COSTS = {"fraud_loss_share": 0.9, "review_cost": 4, "decline_cost": 15, "review_capacity_per_day": 500,
         "transactions_per_day": 20000}


def team(tuning=None, costs=None, **changes) -> str:
    data = copy.deepcopy(EXAMPLE)
    if tuning is not None:
        data["training"]["tuning"] = tuning
    if costs is not None:
        data["decision_rules"]["costs"] = costs
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    return yaml.safe_dump(data, sort_keys=False)


def test_the_issues_example_tuning_and_costs_are_valid():
    """The issue's training.tuning and a costs section validate on the example team."""
    config = parse_team(team(TUNING, COSTS))
    assert config.training.tuning.ranges["eta"].scaling == "Logarithmic"
    assert config.decision_rules.costs.review_capacity_per_day == 500


def with_range(name, spec):
    return {**TUNING, "ranges": {name: spec}}


@pytest.mark.parametrize("tuning, expected", [
    (with_range("max_dept", {"type": "integer", "min": 3, "max": 8}),
     r"training.tuning.ranges.max_dept.*'max_dept' is not a tunable XGBoost hyperparameter; expected one of"),
    (with_range("max_depth", {"type": "continuous", "min": 3, "max": 8}),
     r"training.tuning.ranges.max_depth.type.*max_depth is integer in XGBoost, got continuous"),
    (with_range("eta", {"type": "continuous", "min": 0.1, "max": 1.5}),
     r"training.tuning.ranges.eta.*eta accepts \[0, 1\], got 0.1..1.5"),
    (with_range("subsample", {"type": "continuous", "min": 0, "max": 1}),
     r"subsample accepts \(0, 1\], got 0..1"),
    (with_range("eta", {"type": "continuous", "min": 0, "max": 0.3, "scaling": "Logarithmic"}),
     r"Logarithmic scaling needs min > 0, got 0"),
    (with_range("max_depth", {"type": "integer", "min": 3.5, "max": 8}), r"an integer range needs whole numbers"),
    (with_range("max_depth", {"type": "integer", "min": 8, "max": 3}), r"must be greater than min \(8\), got 3"),
    (with_range("tree_method", {"type": "categorical", "values": ["hist", "gpu"]}),
     r"\['gpu'\] are not values of tree_method"),
    (with_range("seed", {"type": "integer", "min": 1, "max": 9}), r"'seed' is fixed by the contract"),
    (with_range("objective", {"type": "categorical", "values": ["binary:logistic"]}), r"'objective' is fixed"),
    ({**TUNING, "max_parallel_jobs": 9}, r"max_parallel_jobs.*9 exceeds max_jobs \(8\)"),
    ({**TUNING, "strategy": "Grid"}, r"training.tuning.strategy"),
    ({**TUNING, "ranges": {}}, r"training.tuning.ranges"),
])
def test_ranges_are_checked_against_xgboosts_hyperparameters(tuning, expected):
    """A wrong name, type, bound, scaling or budget is refused naming the range and what XGBoost accepts."""
    with pytest.raises(TeamFileError, match=expected):
        parse_team(team(tuning))


def test_a_custom_image_tunes_its_own_hyperparameters_by_name_only():
    """A custom script's hyperparameters are its own: any name but the fixed ones."""
    custom = {"image_uri": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/fraud:1",
              "runtime": {"python": "3.12", "requirements": "runtimes/xgboost-3.2-0.txt"}}
    config = parse_team(team(with_range("learning_rate_decay", {"type": "continuous", "min": 0, "max": 5}),
                             **{"training.algorithm": custom}))
    assert "learning_rate_decay" in config.training.tuning.ranges


def test_a_team_name_too_long_for_a_tuning_jobs_name_is_refused():
    """SageMaker names a tuning job in 32 characters; <team>--<6+ hex> must fit."""
    long_name = "fraud-detection-emea-cards"  # 26 characters
    with pytest.raises(TeamFileError, match=r"training.tuning.*too long for a tuning job.*at most 24 characters"):
        parse_team(team(TUNING, name=long_name), path=f"{long_name}.yaml")


def test_costs_need_the_amount_as_a_model_input():
    """Fraud losses are priced by each transaction's amount, which must be in the test split."""
    features = [dict(f, model_input=False) if f["name"] == "amount" else f for f in EXAMPLE["schema"]["features"]]
    with pytest.raises(TeamFileError, match=r"decision_rules.costs.*'amount'.*is not a model input"):
        parse_team(team(costs=COSTS, **{"schema.features": features}))
    with pytest.raises(TeamFileError, match=r"decision_rules.costs.fraud_loss_share"):
        parse_team(team(costs={**COSTS, "fraud_loss_share": 1.5}))

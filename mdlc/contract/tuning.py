"""Hyperparameter tuning (``training.tuning``): a SageMaker tuning job's search space and budget.

The ranges are checked against the hyperparameters the algorithm accepts: for the built-in
XGBoost script, each tunable name with its type and the bounds XGBoost itself enforces
(``XGBOOST_TUNABLE``); for a custom image, names only (the image's script knows its own).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mdlc.contract.base import Problems, Strict

Scaling = Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"]
INF = float("inf")

#: Tunable hyperparameters of the XGBoost training script: type and the closed/open bounds
#: XGBoost accepts (https://xgboost.readthedocs.io/en/stable/parameter.html); ``values`` for
#: categorical ones. Objective, eval_metric and seed are fixed by the contract, not tuned.
XGBOOST_TUNABLE: dict[str, dict[str, Any]] = {
    "num_round": {"type": "integer", "min": 1, "max": 10_000},
    "max_depth": {"type": "integer", "min": 0, "max": 64},
    "max_leaves": {"type": "integer", "min": 0, "max": 1 << 16},
    "max_bin": {"type": "integer", "min": 2, "max": 1024},
    "early_stopping_rounds": {"type": "integer", "min": 1, "max": 1000},
    "eta": {"type": "continuous", "min": 0.0, "max": 1.0},
    "gamma": {"type": "continuous", "min": 0.0, "max": INF},
    "min_child_weight": {"type": "continuous", "min": 0.0, "max": INF},
    "max_delta_step": {"type": "continuous", "min": 0.0, "max": INF},
    "subsample": {"type": "continuous", "min": 0.0, "max": 1.0, "open_min": True},
    "colsample_bytree": {"type": "continuous", "min": 0.0, "max": 1.0, "open_min": True},
    "colsample_bylevel": {"type": "continuous", "min": 0.0, "max": 1.0, "open_min": True},
    "colsample_bynode": {"type": "continuous", "min": 0.0, "max": 1.0, "open_min": True},
    "lambda": {"type": "continuous", "min": 0.0, "max": INF},
    "alpha": {"type": "continuous", "min": 0.0, "max": INF},
    "scale_pos_weight": {"type": "continuous", "min": 0.0, "max": INF},
    "tree_method": {"type": "categorical", "values": ["auto", "exact", "approx", "hist"]},
    "grow_policy": {"type": "categorical", "values": ["depthwise", "lossguide"]},
}
#: Never tuned: fixed by the contract (probability scores, reproducibility) or by SageMaker.
NOT_TUNABLE = ("objective", "eval_metric", "seed", "tracker_port")
#: SageMaker's limits (CreateHyperParameterTuningJob): jobs per tuning job, parallel jobs,
#: tuned hyperparameters, values of a categorical range.
MAX_JOBS, MAX_PARALLEL, MAX_RANGES, MAX_CATEGORIES = 500, 100, 30, 30


class TuningRange(Strict):
    type: Literal["integer", "continuous", "categorical"] = Field(
        description="integer and continuous take min/max (and scaling); categorical takes values.")
    min: float | None = Field(default=None, description="Lowest value tried (integer/continuous).")
    max: float | None = Field(default=None, description="Highest value tried (integer/continuous).")
    values: list[str | int | float] | None = Field(
        default=None, description=f"The values tried (categorical; at most {MAX_CATEGORIES}).")
    scaling: Scaling = Field(
        default="Auto", description="How the tuner samples the range: Logarithmic needs min > 0; "
        "ReverseLogarithmic (continuous only) needs 0 <= min < max < 1.")

    @model_validator(mode="after")
    def _shape(self) -> TuningRange:
        problems: list[tuple[tuple[Any, ...], str]] = []
        if self.type == "categorical":
            if self.min is not None or self.max is not None:
                problems.append((("min",), "a categorical range takes values, not min/max"))
            if not self.values or len(self.values) > MAX_CATEGORIES:
                problems.append((("values",), f"expected 1 to {MAX_CATEGORIES} values, e.g. values: [hist, approx]"))
            elif len({str(v) for v in self.values}) != len(self.values):
                problems.append((("values",), "values repeat; list each value once"))
            if self.scaling != "Auto":
                problems.append((("scaling",), "a categorical range has no scaling"))
        else:
            if self.values is not None:
                problems.append((("values",), f"an {self.type} range takes min and max, not values"))
            if self.min is None or self.max is None:
                problems.append((("min" if self.min is None else "max",),
                                 "missing; e.g. {type: integer, min: 3, max: 8}"))
            else:
                problems += self._bounds()
        if problems:
            raise Problems(problems)
        return self

    def _bounds(self) -> list[tuple[tuple[Any, ...], str]]:
        assert self.min is not None and self.max is not None
        problems: list[tuple[tuple[Any, ...], str]] = []
        if self.type == "integer" and (self.min != int(self.min) or self.max != int(self.max)):
            problems.append((("min",), f"an integer range needs whole numbers, got {self.min:g}..{self.max:g}"))
        if self.min >= self.max:
            problems.append((("max",), f"must be greater than min ({self.min:g}), got {self.max:g}"))
        if self.scaling == "Logarithmic" and self.min <= 0:
            problems.append((("scaling",), f"Logarithmic scaling needs min > 0, got {self.min:g}"))
        if self.scaling == "ReverseLogarithmic" and (self.type != "continuous" or not 0 <= self.min < self.max < 1):
            problems.append((("scaling",), "ReverseLogarithmic applies to continuous ranges within [0, 1)"))
        return problems


class Tuning(Strict):
    max_jobs: int = Field(default=8, ge=1, le=MAX_JOBS, description="Training jobs the tuning job runs in all.")
    max_parallel_jobs: int = Field(default=2, ge=1, le=MAX_PARALLEL,
                                   description="Training jobs running at the same time (at most max_jobs).")
    strategy: Literal["Bayesian", "Random", "Hyperband"] = Field(
        default="Bayesian", description="SageMaker's search strategy.")
    ranges: dict[str, TuningRange] = Field(
        min_length=1, max_length=MAX_RANGES,
        description="Hyperparameter name → the range searched. The objective is evaluation.metric on "
        "the validation channel; the best trial's model goes to the evaluation gate.")

    @model_validator(mode="after")
    def _parallel(self) -> Tuning:
        if self.max_parallel_jobs > self.max_jobs:
            raise Problems([(("max_parallel_jobs",),
                             f"{self.max_parallel_jobs} exceeds max_jobs ({self.max_jobs}); expected at most that")])
        return self


def range_problems(ranges: dict[str, TuningRange], builtin: bool) -> list[tuple[tuple[Any, ...], str]]:
    """Each range against the algorithm's hyperparameters: names, then (built-in) types and bounds."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    for name, rng in ranges.items():
        at = ("ranges", name)
        if name in NOT_TUNABLE or name.startswith("sagemaker_"):
            problems.append((at, f"{name!r} is fixed by the contract and cannot be tuned"))
            continue
        if not builtin:
            continue
        known = XGBOOST_TUNABLE.get(name)
        if known is None:
            problems.append((at, f"{name!r} is not a tunable XGBoost hyperparameter; expected one of "
                                 f"{', '.join(sorted(XGBOOST_TUNABLE))}"))
        elif known["type"] != rng.type:
            problems.append((at + ("type",), f"{name} is {known['type']} in XGBoost, got {rng.type}"))
        elif rng.type == "categorical":
            unknown = [v for v in rng.values or [] if v not in known["values"]]
            if unknown:
                problems.append((at + ("values",), f"{unknown} are not values of {name}; expected some of "
                                                   f"{known['values']}"))
        else:
            problems += _within(at, name, rng, known)
    return problems


def _within(at: tuple[Any, ...], name: str, rng: TuningRange, known: dict[str, Any]) -> list:
    assert rng.min is not None and rng.max is not None
    low, high = known["min"], known["max"]
    below = rng.min <= low if known.get("open_min") else rng.min < low
    if below or rng.max > high:
        lower = f"({low:g}" if known.get("open_min") else f"[{low:g}"
        return [(at, f"{name} accepts {lower}, {high:g}], got {rng.min:g}..{rng.max:g}")]
    return []

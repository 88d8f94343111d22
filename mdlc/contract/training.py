"""Training: the algorithm (built-in or custom), data quality and the evaluation gate."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    model_validator,
)

from mdlc import runtimes
from mdlc.contract.base import IMAGE_PATTERN, INSTANCE_PATTERN, Problems, Strict
from mdlc.contract.tuning import Tuning, range_problems

# ------------------------------------------------------------------------------ training
PROBABILITY_OBJECTIVES = ("binary:logistic", "reg:logistic")


class BuiltinAlgorithm(Strict):
    builtin: Literal["xgboost"] = Field(
        default="xgboost", description="SageMaker built-in framework container, in script mode."
    )
    version: str = Field(
        default_factory=lambda: runtimes.default_version("xgboost"),
        pattern=r"^[0-9]+\.[0-9]+-[0-9]+$",
        description="Container version of the built-in image; every job and the endpoint use it. "
        "Only versions with a runtime manifest in runtimes/ (the newest is the default) are "
        "supported: the offline tests run the jobs in that image's Python and libraries.",
        json_schema_extra={"enum": runtimes.supported_versions("xgboost"),
                           "default": runtimes.default_version("xgboost")},
    )

    @model_validator(mode="after")
    def _supported(self) -> BuiltinAlgorithm:
        if self.version not in runtimes.supported_versions(self.builtin):
            raise ValueError(
                f"{self.builtin} image version {self.version!r} is not supported; supported: "
                f"{', '.join(runtimes.supported_versions(self.builtin))} (their runtimes are "
                "described in runtimes/ and every job is tested offline in them)"
            )
        return self


class CustomRuntime(Strict):
    python: str = Field(
        pattern=r"^3\.[0-9]+$", description="Python version of the custom image (e.g. '3.12')."
    )
    requirements: str = Field(
        description="requirements.txt (relative to the repo) pinning the image's Python packages; "
        "the offline tests build a virtualenv from it and run the team's jobs in it."
    )


class CustomAlgorithm(Strict):
    image_uri: str = Field(pattern=IMAGE_PATTERN, description="ECR image of the custom container.")
    entry_point: str = Field(
        default="train.py", description="Script run by the container, relative to `source_dir`."
    )
    source_dir: str | None = Field(
        default=None,
        description="Folder (relative to the repo) shipped as the job's code; defaults to "
        "`sagemaker_jobs/training`.",
    )
    runtime: CustomRuntime = Field(
        description="The image's Python version and packages, so its jobs run offline as in AWS."
    )


class Training(Strict):
    algorithm: BuiltinAlgorithm | CustomAlgorithm = Field(
        default_factory=BuiltinAlgorithm,
        description="`{builtin: xgboost, version}` or `{image_uri, entry_point}` for a custom image.",
    )
    hyperparameters: dict[str, int | float | str | bool] = Field(
        default_factory=dict, description="Passed to the training script as hyperparameters."
    )
    instance_type: str = Field(default="ml.m5.xlarge", pattern=INSTANCE_PATTERN)
    instance_count: int = Field(
        default=1, ge=1, le=20, description="More than one runs distributed XGBoost."
    )
    volume_gb: int = Field(default=30, ge=1, le=16384)
    max_runtime_minutes: int = Field(default=120, ge=5, le=7200)
    use_spot: bool = Field(default=True, description="Managed spot training.")
    max_wait_minutes: int | None = Field(
        default=None,
        ge=5,
        description="Spot: total wait incl. interruptions (≥ max_runtime_minutes). Defaults to 2×.",
    )
    seed: int = Field(default=42, ge=0, description="Fixed seed: same data and code → same model.")
    validation_fraction: float = Field(default=0.15, gt=0, lt=0.5)
    test_fraction: float = Field(default=0.15, gt=0, lt=0.5)
    processing_instance_type: str = Field(
        default="ml.m5.xlarge",
        pattern=INSTANCE_PATTERN,
        description="Instance of the data quality, feature and evaluation jobs.",
    )
    tuning: Tuning | None = Field(
        default=None,
        description="Run a SageMaker hyperparameter tuning job instead of one training job: `hyperparameters` "
        "are the fixed ones, `tuning.ranges` the searched ones; the best trial goes to the gate.",
    )

    @model_validator(mode="before")
    @classmethod
    def _probability_objective(cls, data: Any) -> Any:
        """The built-in XGBoost script must output probabilities: batch validation, the score
        bands and monitoring all read scores in [0, 1]. Without an objective XGBoost would
        regress (scores outside [0, 1]), so binary:logistic is the default."""
        if not isinstance(data, dict) or "image_uri" in (data.get("algorithm") or {}):
            return data
        hyper = data.get("hyperparameters")
        if hyper is None or (isinstance(hyper, dict) and "objective" not in hyper):
            data = {**data, "hyperparameters": {"objective": "binary:logistic", **(hyper or {})}}
        return data

    @model_validator(mode="after")
    def _objective(self) -> Training:
        objective = self.hyperparameters.get("objective")
        if isinstance(self.algorithm, BuiltinAlgorithm) and objective not in PROBABILITY_OBJECTIVES:
            raise Problems([(("hyperparameters", "objective"),
                             f"got {objective!r}; the model's scores must be probabilities in [0, 1]; expected "
                             "objective: binary:logistic (or leave it out)")])
        return self

    @model_validator(mode="after")
    def _tuning_ranges(self) -> Training:
        if self.tuning is not None:
            problems = range_problems(self.tuning.ranges, isinstance(self.algorithm, BuiltinAlgorithm))
            if problems:
                raise Problems([(("tuning",) + loc, message) for loc, message in problems])
        return self

    @model_validator(mode="after")
    def _spot(self) -> Training:
        if self.max_wait_minutes is not None:
            if not self.use_spot:
                raise ValueError("max_wait_minutes applies only with use_spot: true")
            if self.max_wait_minutes < self.max_runtime_minutes:
                raise ValueError(
                    f"max_wait_minutes ({self.max_wait_minutes}) must be at least "
                    f"max_runtime_minutes ({self.max_runtime_minutes})"
                )
        return self

    @property
    def spot_wait_minutes(self) -> int:
        return self.max_wait_minutes or 2 * self.max_runtime_minutes


class DataQuality(Strict):
    max_missing_rate: float = Field(
        default=0.01, ge=0, le=1, description="Largest share of nulls in a non-nullable column."
    )
    max_out_of_range_rate: float = Field(
        default=0.001, ge=0, le=1, description="Largest share of values outside range/categories."
    )
    max_row_count_change: float = Field(
        default=0.5,
        gt=0,
        description="Largest relative change in row count versus the previous run (0.5 = ±50%).",
    )
    min_rows: int = Field(default=1000, ge=1, description="Fewer rows fail the gate.")
    max_psi: float = Field(
        default=0.25,
        gt=0,
        description="Population stability index per feature versus the champion's baseline.",
    )


class Evaluation(Strict):
    metric: Literal["pr_auc", "roc_auc", "recall_at_fpr"] = Field(
        default="pr_auc", description="Metric the gate compares."
    )
    threshold: float = Field(ge=0, le=1, description="Minimum value of `metric` to register.")
    champion_tolerance: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="A challenger may be worse than the champion by at most this much.",
    )
    max_false_positive_rate: float = Field(
        default=0.01, gt=0, lt=1, description="Operating point of `recall_at_fpr`."
    )
    slices: list[str] = Field(
        default_factory=list, description="Category features whose values are scored separately."
    )
    min_slice_rows: int = Field(default=200, ge=1, description="Smaller slices are reported, not gated.")
    slice_threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Minimum `metric` on every slice with at least `min_slice_rows` rows and "
        "5 positives; none reports slices without gating on them.",
    )
    approval_status: Literal["PendingManualApproval", "Approved"] = Field(
        default="PendingManualApproval",
        description="Status of a newly registered version. `Approved` deploys it at once.",
    )



"""The team contract: one YAML file per model team, validated by one pydantic model.

Everything a model team may change lives in ``models/<team>.yaml`` and is described here;
every other value in the templates is derived from it. Each field carries a description,
which ``mdlc schema`` publishes as JSON Schema so that editors complete and check the file.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

TEAM_NAME_PATTERN = r"^[a-z][a-z0-9-]{2,28}[a-z0-9]$"
ACCOUNT_PATTERN = r"^[0-9]{12}$"
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"
SCHEDULE_PATTERN = r"^(rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$"
INSTANCE_PATTERN = r"^ml\.[a-z0-9]+\.[0-9]*[a-z]+$"
IMAGE_PATTERN = r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[\w.-]+|@sha256:[a-f0-9]{64})$"
IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"

Decision = Literal["APPROVE", "REVIEW", "DECLINE"]


class Strict(BaseModel):
    """Base of every section: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- who and where
class Owner(Strict):
    team: str = Field(min_length=2, description="Name of the team that owns the model.")
    email: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Address of the owning team; receives the owner's copy of every alert.",
    )
    alert_email: str | None = Field(
        default=None,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Address subscribed to the alerts topic (on-call list). Defaults to `email`.",
    )


class Environment(Strict):
    account: str = Field(pattern=ACCOUNT_PATTERN, description="12-digit AWS account id.")
    region: str = Field(pattern=REGION_PATTERN, description="AWS region, e.g. eu-west-1.")


# ---------------------------------------------------------------------------------- data
class DataLocations(Strict):
    raw_prefix: str = Field(
        default="raw/transactions/",
        pattern=r"^[a-z0-9_\-/]+/$",
        description=(
            "Prefix in the team's raw bucket under which raw records land, one partition per "
            "day named `dt=YYYY-MM-DD/`. The training workflow reads the latest partition "
            "unless its execution input names one."
        ),
    )
    ground_truth_prefix: str = Field(
        default="ground-truth/",
        pattern=r"^[a-z0-9_\-/]+/$",
        description=(
            "Prefix in the raw bucket where labels arrive later (e.g. chargebacks), keyed by the "
            "record id; the closed-loop monitor joins them with captured predictions."
        ),
    )
    raw_retention_days: int = Field(
        default=730, ge=30, le=3650, description="Days raw data is kept before expiry."
    )
    capture_retention_days: int = Field(
        default=90, ge=7, le=3650, description="Days endpoint data capture is kept."
    )
    noncurrent_version_days: int = Field(
        default=30, ge=1, le=365, description="Days older object versions are kept."
    )


FeatureType = Literal["float", "int", "bool", "category", "timestamp", "string"]
AggregateFn = Literal["count", "sum", "mean", "max", "first_seen_days", "mode"]
DeriveOp = Literal["ratio", "difference", "not_equal", "hour_of_day", "day_of_week", "log1p"]


class Aggregate(Strict):
    fn: AggregateFn = Field(
        description=(
            "Aggregation over the entity's history: count, sum, mean, max of `column`; "
            "`first_seen_days` = days since the entity's earliest `column` value; `mode` = the "
            "most frequent value."
        )
    )
    column: str = Field(description="Raw column aggregated.")
    window_days: int | None = Field(
        default=None, ge=1, le=3650, description="Look-back window; none means all history."
    )


class Derive(Strict):
    op: DeriveOp = Field(description="Per-record transformation computed by the feature module.")
    args: list[str] = Field(min_length=1, max_length=2, description="Input feature or column names.")


class Feature(Strict):
    name: str = Field(pattern=IDENTIFIER, description="Column name, snake_case.")
    type: FeatureType = Field(description="Value type checked by data quality and serving.")
    source: Literal["record", "online", "derived"] = Field(
        default="record",
        description=(
            "`record`: present in each raw record and in each decision request. `online`: an "
            "aggregate over the entity's history, computed by feature engineering and served "
            "from the DynamoDB feature table under `schema.entity_key`. `derived`: computed "
            "per record by the shared feature module from other features."
        ),
    )
    description: str = Field(default="", description="What the feature means, for reviewers.")
    min: float | None = Field(default=None, description="Smallest allowed value (numeric types).")
    max: float | None = Field(default=None, description="Largest allowed value (numeric types).")
    categories: list[str] | None = Field(
        default=None, min_length=1, description="Allowed values (type `category`)."
    )
    nullable: bool = Field(default=False, description="Whether a missing value is allowed.")
    model_input: bool = Field(
        default=True, description="Whether the model sees it (false: used only to derive others)."
    )
    aggregate: Aggregate | None = Field(default=None, description="Required when source is online.")
    derive: Derive | None = Field(default=None, description="Required when source is derived.")
    default: float | str | None = Field(
        default=None,
        description="Value served for an entity with no online features yet (online features).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Feature:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        numeric = self.type in ("float", "int")
        if (self.min is not None or self.max is not None) and not numeric:
            raise ValueError(f"min/max apply to float or int features, not type {self.type!r}")
        if self.type == "category" and not self.categories:
            raise ValueError("a category feature needs `categories` (the allowed values)")
        if self.categories and self.type != "category":
            raise ValueError(f"`categories` apply to type 'category', not {self.type!r}")
        if self.source == "online" and self.aggregate is None:
            raise ValueError("an online feature needs `aggregate` (how it is computed from history)")
        if self.source != "online" and self.aggregate is not None:
            raise ValueError("`aggregate` is only for features with source 'online'")
        if self.source == "derived" and self.derive is None:
            raise ValueError("a derived feature needs `derive` (op and args)")
        if self.source != "derived" and self.derive is not None:
            raise ValueError("`derive` is only for features with source 'derived'")
        return self


class Schema(Strict):
    id_column: str = Field(
        default="transaction_id", pattern=IDENTIFIER, description="Unique id of a record."
    )
    entity_key: str = Field(
        default="customer_id",
        pattern=IDENTIFIER,
        description="Partition key of the DynamoDB online feature table (e.g. customer id).",
    )
    timestamp_column: str = Field(
        default="event_time", pattern=IDENTIFIER, description="ISO-8601 event time of a record."
    )
    label: str = Field(default="is_fraud", pattern=IDENTIFIER, description="Binary target (0/1).")
    features: list[Feature] = Field(
        min_length=1, description="Every column and feature, in model input order."
    )
    amount_column: str | None = Field(
        default=None,
        pattern=IDENTIFIER,
        description="The record feature holding the money at stake (e.g. `amount`); the "
        "evaluation report's score-band table then shows the amount caught per band. None: "
        "counts only.",
    )

    @model_validator(mode="after")
    def _amount_column(self) -> Schema:
        if self.amount_column is None:
            return self
        numeric = [f.name for f in self.features if f.source == "record" and f.type in ("float", "int")]
        if self.amount_column not in numeric:
            raise ValueError(
                f"amount_column: {self.amount_column!r} is not a numeric record feature "
                f"(numeric record features: {', '.join(numeric) or 'none'})"
            )
        return self

    @model_validator(mode="after")
    def _references(self) -> Schema:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feature names must be unique; repeated: {', '.join(dupes)}")
        reserved = {self.id_column, self.entity_key, self.timestamp_column, self.label}
        clash = sorted(reserved & set(names))
        if clash:
            raise ValueError(
                f"features {clash} clash with the key columns (id, entity, timestamp, label); "
                "key columns are implied and must not be listed as features"
            )
        record_cols = {f.name for f in self.features if f.source == "record"} | reserved
        known = set(record_cols)
        for f in self.features:
            refs = []
            if f.aggregate:
                refs = [f.aggregate.column]
                allowed = record_cols
            elif f.derive:
                refs = f.derive.args
                allowed = known
            else:
                allowed = known
            for ref in refs:
                if ref not in allowed:
                    raise ValueError(
                        f"feature {f.name!r} refers to {ref!r}, which is not a record column or an "
                        f"earlier feature (known: {', '.join(sorted(allowed))})"
                    )
            known.add(f.name)
        if not any(f.model_input for f in self.features):
            raise ValueError("at least one feature must be a model input")
        return self

    def feature(self, name: str) -> Feature:
        return next(f for f in self.features if f.name == name)

    @property
    def model_features(self) -> list[Feature]:
        return [f for f in self.features if f.model_input]

    @property
    def record_features(self) -> list[Feature]:
        return [f for f in self.features if f.source == "record"]

    @property
    def online_features(self) -> list[Feature]:
        return [f for f in self.features if f.source == "online"]


# ------------------------------------------------------------------------------ training
class BuiltinAlgorithm(Strict):
    builtin: Literal["xgboost"] = Field(
        default="xgboost", description="SageMaker built-in framework container, in script mode."
    )
    version: str = Field(
        default="1.7-1", pattern=r"^[0-9]+\.[0-9]+-[0-9]+$", description="Container version."
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


# ----------------------------------------------------------------------------- inference
class Batch(Strict):
    schedule: str | None = Field(
        default=None,
        pattern=SCHEDULE_PATTERN,
        description="EventBridge schedule of batch scoring; none runs it only by hand.",
    )
    input_prefix: str = Field(default="batch/input/", pattern=r"^[a-z0-9_\-/]+/$")
    output_prefix: str = Field(default="batch/results/", pattern=r"^[a-z0-9_\-/]+/$")
    content_type: Literal["text/csv", "application/jsonlines"] = "text/csv"
    instance_type: str = Field(default="ml.m5.xlarge", pattern=INSTANCE_PATTERN)
    instance_count: int = Field(default=1, ge=1, le=100)
    max_payload_mb: int = Field(default=6, ge=1, le=100)
    reason_codes: int = Field(
        default=0,
        ge=0,
        le=20,
        description="Reason codes per scored row in the batch output (feature, value, signed "
        "contribution of the top N features); 0 writes scores only.",
    )


class Canary(Strict):
    percent: int = Field(default=10, ge=1, le=50, description="Share of capacity shifted first.")
    bake_minutes: int = Field(default=10, ge=1, le=60, description="Wait before the rest shifts.")


class Serverless(Strict):
    memory_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = 2048
    max_concurrency: int = Field(default=5, ge=1, le=200)


class Realtime(Strict):
    enabled: bool = Field(default=True, description="Deploy an endpoint and the decision API.")
    instance_type: str = Field(default="ml.m5.large", pattern=INSTANCE_PATTERN)
    min_capacity: int = Field(default=1, ge=1, le=100)
    max_capacity: int = Field(default=4, ge=1, le=100)
    target_invocations_per_instance: int = Field(default=1000, ge=1)
    canary: Canary = Field(default_factory=Canary)
    serverless: Serverless | None = Field(
        default=None, description="Set for a serverless endpoint (no canary, no autoscaling)."
    )
    data_capture_percent: int = Field(default=20, ge=0, le=100)
    latency_alarm_ms: int = Field(default=100, ge=1)
    fallback_decision: Decision = Field(
        default="REVIEW", description="Decision when the model cannot answer."
    )
    reason_codes: int = Field(
        default=3,
        ge=0,
        le=20,
        description="Reason codes returned and recorded with every decision: the top N "
        "features by absolute contribution to the score (XGBoost `pred_contribs`).",
    )
    reason_method: Literal["approx", "exact"] = Field(
        default="approx",
        description="`approx`: XGBoost's path attribution (`approx_contribs`, the cost of one "
        "predict); `exact`: TreeSHAP (several times the cost of predict).",
    )
    api_rate_limit: int = Field(default=200, ge=1, description="Requests per second, steady.")
    api_burst_limit: int = Field(default=400, ge=1)

    @model_validator(mode="after")
    def _capacity(self) -> Realtime:
        if self.min_capacity > self.max_capacity:
            raise ValueError(
                f"min_capacity ({self.min_capacity}) must not exceed max_capacity "
                f"({self.max_capacity})"
            )
        return self


# ---------------------------------------------------------------------------- monitoring
class Monitoring(Strict):
    schedule: str = Field(default="rate(1 hour)", pattern=SCHEDULE_PATTERN)
    max_feature_psi: float = Field(default=0.2, gt=0, description="Input drift alarm threshold.")
    max_prediction_psi: float = Field(default=0.2, gt=0, description="Score drift alarm.")
    min_precision: float = Field(default=0.2, ge=0, le=1, description="Closed-loop alarm.")
    min_recall: float = Field(default=0.4, ge=0, le=1, description="Closed-loop alarm.")
    min_pr_auc: float = Field(default=0.3, ge=0, le=1, description="Closed-loop alarm.")
    max_model_age_days: int = Field(default=45, ge=1, description="Staleness alarm.")


class Retraining(Strict):
    schedule: str | None = Field(
        default=None, pattern=SCHEDULE_PATTERN, description="Periodic retraining; none = off."
    )
    on_drift: bool = Field(default=True, description="Retrain when the drift alarm fires.")
    on_quality_drop: bool = Field(default=True, description="Retrain on the closed-loop alarm.")
    auto_approve: bool = Field(
        default=False, description="Approve a retrained model that passes the gate, unattended."
    )


# ------------------------------------------------------------------------------ decisions
class ScoreBands(Strict):
    approve_below: float = Field(ge=0, le=1, description="Scores below this APPROVE.")
    decline_at_or_above: float = Field(
        ge=0, le=1, description="Scores at or above this DECLINE; between the two: REVIEW."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ScoreBands:
        if self.approve_below > self.decline_at_or_above:
            raise ValueError(
                f"approve_below ({self.approve_below}) must not exceed decline_at_or_above "
                f"({self.decline_at_or_above})"
            )
        return self


class HardRule(Strict):
    name: str = Field(pattern=IDENTIFIER, description="Reported as the reason.")
    field: str = Field(description="Request field or feature the rule reads.")
    op: Literal["gt", "ge", "lt", "le", "eq", "ne", "in", "not_in"]
    value: float | str | list[str] | list[float]
    decision: Decision


class DecisionRules(Strict):
    score_bands: ScoreBands
    hard_rules: list[HardRule] = Field(
        default_factory=list, description="Checked after the score; the strictest decision wins."
    )
    allow_list: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Field → values always approved (unless denied), e.g. trusted customers.",
    )
    deny_list: dict[str, list[str]] = Field(
        default_factory=dict, description="Field → values always declined."
    )


class Pipeline(Strict):
    connection_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[a-f0-9-]+$",
        description="CodeConnections connection to GitHub, Bitbucket or GitLab (the default source).",
    )
    repository: str = Field(
        default="example-org/mdlc-templates",
        pattern=r"^[\w.-]+/[\w.-]+$",
        description="owner/name of the repository the connection reads.",
    )
    branch: str = Field(default="main")
    codecommit_repository: str | None = Field(
        default=None, description="Use a CodeCommit repository instead (closed to new customers)."
    )


Tags = Annotated[dict[str, str], Field(default_factory=dict)]


class TeamConfig(Strict):
    """A model team's whole MDLC, as one file."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"title": "MDLC team file", "$id": "mdlc-team.schema.json"},
    )

    name: str = Field(
        pattern=TEAM_NAME_PATTERN,
        description="Team/model name: lowercase, digits, hyphens; prefixes every stack and resource.",
    )
    description: str = Field(default="", description="One line on what the model decides.")
    owner: Owner
    environments: dict[str, Environment] = Field(
        default_factory=dict,
        description="Account and region per stage (e.g. dev, staging, production). Optional: "
        "without an entry, CDK_DEFAULT_ACCOUNT/REGION are used.",
    )
    data: DataLocations = Field(default_factory=DataLocations)
    schema_: Schema = Field(alias="schema", description="The feature schema.")
    data_quality: DataQuality = Field(default_factory=DataQuality)
    training: Training = Field(default_factory=Training)
    evaluation: Evaluation
    batch: Batch = Field(default_factory=Batch)
    realtime: Realtime = Field(default_factory=Realtime)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    retraining: Retraining = Field(default_factory=Retraining)
    decision_rules: DecisionRules
    pipeline: Pipeline = Field(default_factory=Pipeline)
    tags: Tags

    @field_validator("environments")
    @classmethod
    def _stage_names(cls, value: dict[str, Environment]) -> dict[str, Environment]:
        for stage in value:
            if not re.match(r"^[a-z][a-z0-9-]{0,19}$", stage):
                raise ValueError(f"stage name {stage!r} must be lowercase letters, digits, hyphens")
        return value

    @model_validator(mode="after")
    def _cross_section(self) -> TeamConfig:
        names = {f.name: f for f in self.schema_.features}
        for s in self.evaluation.slices:
            if s not in names or names[s].type != "category":
                cats = sorted(n for n, f in names.items() if f.type == "category")
                raise ValueError(
                    f"evaluation.slices: {s!r} is not a category feature (category features: "
                    f"{', '.join(cats) or 'none'})"
                )
        known = set(names) | {self.schema_.entity_key, self.schema_.id_column, "score"}
        for i, rule in enumerate(self.decision_rules.hard_rules):
            if rule.field not in known:
                raise ValueError(
                    f"decision_rules.hard_rules.{i}.field: {rule.field!r} is not a feature, key or "
                    "'score'"
                )
        return self

    @property
    def schema(self) -> Schema:  # type: ignore[override]
        return self.schema_


# --------------------------------------------------------------------------- loading
class TeamFileError(ValueError):
    """A team file that cannot be used, with one line per problem naming file and field."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(
            f"{self.path}: {len(problems)} problem(s) in the team file\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Line (1-based) of the deepest YAML node that ``loc`` reaches."""
    line = None
    for key in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            node = node.value[key] if key < len(node.value) else None
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def _describe(error: dict[str, Any], root: yaml.Node | None) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
    path = ".".join(str(p) for p in loc) or "(top level)"
    line = _line_of(root, loc)
    where = f"line {line}, " if line else ""
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{where}field `{path}`: missing; expected it to be set"
    if error["type"] == "extra_forbidden":
        return f"{where}field `{path}`: unknown field (check the spelling; see `mdlc schema`)"
    given = error.get("input")
    if isinstance(given, dict | list):
        given_txt = "a mapping" if isinstance(given, dict) else "a list"
    else:
        given_txt = repr(given)
    return f"{where}field `{path}`: got {given_txt}; expected: {msg}"


def parse_team(text: str, path: Path | str = "<team file>") -> TeamConfig:
    """Validate a team file's text; raise TeamFileError naming every problem."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise TeamFileError(path, [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    if not isinstance(data, dict):
        raise TeamFileError(path, [f"expected a mapping of settings at the top, got {type(data).__name__}"])
    try:
        return TeamConfig.model_validate(data)
    except ValidationError as exc:
        raise TeamFileError(path, [_describe(e, root) for e in exc.errors()]) from None


def load_team(path: Path | str) -> TeamConfig:
    """Read and validate ``models/<team>.yaml``; the file name must match the team name."""
    path = Path(path)
    if not path.is_file():
        raise TeamFileError(path, ["file not found; expected a YAML team file (see models/)"])
    team = parse_team(path.read_text(encoding="utf-8"), path)
    if path.stem != team.name:
        raise TeamFileError(
            path, [f"field `name`: got {team.name!r}; expected the file name {path.stem!r}"]
        )
    return team


def team_file_hash(path: Path | str) -> str:
    """sha256 of the team file, recorded in model lineage."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"


def team_files(models_dir: Path = MODELS_DIR) -> list[Path]:
    return sorted(models_dir.glob("*.yaml"))


def json_schema() -> dict[str, Any]:
    return TeamConfig.model_json_schema(by_alias=True)


def runtime_spec(team: TeamConfig) -> dict[str, Any]:
    """The JSON-serialisable team spec handed to job scripts and Lambda handlers."""
    return team.model_dump(mode="json", by_alias=True)

"""The team contract: one YAML file per model team, validated by one pydantic model.

Everything a model team may change lives in ``models/<team>.yaml`` and is described here;
every other value in the templates is derived from it. Each field carries a description,
which ``mdlc schema`` publishes as JSON Schema so that editors complete and check the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mdlc import names as resource_names
from mdlc import pan, runtimes

TEAM_NAME_PATTERN = r"^[a-z][a-z0-9-]{2,28}[a-z0-9]$"
ACCOUNT_PATTERN = r"^[0-9]{12}$"
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"
# Only a coarse shape for editors (JSON Schema); the full grammar is `check_schedule`.
SCHEDULE_PATTERN = r"^(rate|cron)\(.+\)$"
INSTANCE_PATTERN = r"^ml\.[a-z0-9]+\.[0-9]*[a-z]+$"
IMAGE_PATTERN = r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[\w.-]+|@sha256:[a-f0-9]{64})$"
IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"

Decision = Literal["APPROVE", "REVIEW", "DECLINE"]

#: What a person should write where a pattern did not match (never the regex itself).
PATTERN_EXAMPLES = {
    TEAM_NAME_PATTERN: "4-30 lowercase letters, digits or hyphens starting with a letter, e.g. merchant-chargeback",
    ACCOUNT_PATTERN: "a 12-digit AWS account id in quotes, e.g. \"111111111111\"",
    REGION_PATTERN: "an AWS region, e.g. eu-west-1 or us-east-2",
    INSTANCE_PATTERN: "a SageMaker instance type, e.g. ml.m5.xlarge",
    IMAGE_PATTERN: "an ECR image URI with a tag or digest, "
    "e.g. 111111111111.dkr.ecr.eu-west-1.amazonaws.com/my-model:1.0",
    IDENTIFIER: "a snake_case name starting with a letter, e.g. merchant_id",
    r"^[a-z0-9_\-/]+/$": "an S3 prefix of lowercase letters, digits, _ - / ending in /, e.g. raw/settlements/",
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$": "an e-mail address, e.g. team@example.com",
    r"^[0-9]+\.[0-9]+-[0-9]+$": "a container version, e.g. 1.7-1",
    r"^[\w.-]+/[\w.-]+$": "owner/name of a repository, e.g. example-org/mdlc-templates",
    r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[a-f0-9-]+$":
        "a CodeConnections ARN, e.g. arn:aws:codeconnections:eu-west-1:111111111111:connection/0c5b7f2e-…",
    SCHEDULE_PATTERN: "rate(1 day), rate(6 hours) or cron(0 3 * * ? *)",
}

SCHEDULE_EXAMPLE = (
    "an EventBridge schedule, e.g. rate(1 day), rate(6 hours) or cron(0 3 * * ? *) "
    "(cron has 6 fields: minutes hours day-of-month month day-of-week year, and one of "
    "day-of-month / day-of-week is ?)"
)
_CRON_FIELD = {
    # field: (allowed characters besides digits and , - * /, smallest, largest value)
    "minutes": ("", 0, 59),
    "hours": ("", 0, 23),
    "day-of-month": ("?LW", 1, 31),
    "month": ("JANFEBMRPYULGSOCTNVD", 1, 12),
    "day-of-week": ("?L#SUNMOTEWDHFRIA", 1, 7),
    "year": ("", 1970, 2199),
}


def check_schedule(value: str) -> str:
    """Raise ValueError unless ``value`` is an EventBridge ``rate()`` or 6-field ``cron()``.

    EventBridge's grammar: ``rate(1 minute|hour|day)`` (singular for 1) or
    ``rate(N minutes|hours|days)`` with N > 1; ``cron(min hour dom month dow year)`` where
    exactly one of day-of-month and day-of-week is ``?``.
    """
    rate = re.fullmatch(r"rate\((\d+) ([a-z]+)\)", value)
    if rate:
        n, unit = int(rate.group(1)), rate.group(2)
        if n < 1:
            raise ValueError(f"a rate needs a positive number; expected {SCHEDULE_EXAMPLE}")
        singular, plural = unit.rstrip("s"), unit.rstrip("s") + "s"
        if singular not in ("minute", "hour", "day"):
            raise ValueError(f"rate unit {unit!r} is not minute(s), hour(s) or day(s); expected {SCHEDULE_EXAMPLE}")
        wanted = singular if n == 1 else plural
        if unit != wanted:
            raise ValueError(f"EventBridge wants rate({n} {wanted}), not rate({n} {unit})")
        return value
    cron = re.fullmatch(r"cron\((.*)\)", value)
    if not cron:
        raise ValueError(f"not a rate() or cron() expression; expected {SCHEDULE_EXAMPLE}")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ValueError(f"cron() has {len(fields)} field(s), EventBridge needs 6; expected {SCHEDULE_EXAMPLE}")
    for text, (name, (letters, lo, hi)) in zip(fields, _CRON_FIELD.items(), strict=True):
        if any(c not in "0123456789,-*/" + letters for c in text.upper()):
            raise ValueError(f"cron() {name} field {text!r} has characters EventBridge does not accept; "
                             f"expected {SCHEDULE_EXAMPLE}")
        for number in re.findall(r"\d+", text.split("#")[0].split("/")[0]):
            if not lo <= int(number) <= hi:
                raise ValueError(f"cron() {name} field {text!r}: {number} is outside {lo}-{hi}")
    dom, dow = fields[2], fields[4]
    if (dom == "?") == (dow == "?"):
        raise ValueError(f"cron() needs ? in exactly one of day-of-month ({dom!r}) and day-of-week ({dow!r}); "
                         "e.g. cron(0 3 * * ? *)")
    return value


Schedule = Annotated[
    str,
    AfterValidator(check_schedule),
    Field(json_schema_extra={"pattern": SCHEDULE_PATTERN, "examples": ["rate(1 day)", "cron(0 3 * * ? *)"]}),
]


class Problems(ValueError):
    """Problems found by a cross-field check, each at its own field path (relative to the
    model that raised it), so the error names the offending line, not the section's."""

    def __init__(self, problems: list[tuple[tuple[Any, ...], str]]):
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))


def _raise_problems(problems: list[tuple[tuple[Any, ...], str]]) -> None:
    if problems:
        raise Problems(problems)


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


#: The partition the stacks are written and tested for: ARNs in state machine definitions and
#: cdk-nag acknowledgments, and the Powertools layer's public parameter, are those of `aws`.
SUPPORTED_PARTITION = "aws"


@cache
def image_regions() -> frozenset[str] | None:
    """Regions where every supported built-in image version is published, for training and for
    serving, read from sagemaker-core's image config (the data its ``image_uris.retrieve``
    reads, without importing the SDK). None where sagemaker-core is not installed (the Lambda
    runtime's test virtualenv; the synth's virtualenv always has it)."""
    spec = find_spec("sagemaker")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    configs = [Path(loc) / "core" / "image_uri_config" / "xgboost.json" for loc in locations]
    config = next((c for c in configs if c.is_file()), None)
    if config is None:
        return None
    data = json.loads(config.read_text())
    regions: set[str] | None = None
    for version in runtimes.supported_versions("xgboost"):
        for scope in ("training", "inference"):
            published = set((data[scope]["versions"].get(version) or {}).get("registries") or {})
            regions = published if regions is None else regions & published
    return frozenset(regions or ())


@cache
def _botocore_session() -> Any:
    import botocore.session  # imported on first use: most callers never validate a region

    return botocore.session.get_session()


@cache
def partition_of(region: str) -> str | None:
    """The AWS partition of ``region`` (botocore's partition data), None for a region it does not know."""
    from botocore.exceptions import UnknownRegionError

    try:
        return _botocore_session().get_partition_for_region(region)
    except UnknownRegionError:
        return None


@cache
def supported_regions() -> tuple[str, ...]:
    """Regions a team may deploy to: the built-in images exist there, in the supported partition."""
    images = image_regions()
    if images is None:
        images = frozenset(_botocore_session().get_available_regions("sagemaker", SUPPORTED_PARTITION))
    return tuple(sorted(r for r in images if partition_of(r) == SUPPORTED_PARTITION))


def region_problem(region: str) -> str | None:
    """Why ``region`` cannot be deployed to, with the supported list; None when it can."""
    supported = supported_regions()
    if region in supported:
        return None
    partition = partition_of(region)
    if partition is None:
        why = "not a region AWS's endpoint data (botocore) knows"
    elif partition != SUPPORTED_PARTITION:
        why = (f"a region of the {partition} partition; the stacks are written for the {SUPPORTED_PARTITION} "
               "partition (state machine and acknowledgment ARNs, the Powertools layer's public parameter)")
    else:
        versions = ", ".join(runtimes.supported_versions("xgboost"))
        why = (f"SageMaker's built-in xgboost image {versions} is not published there (sagemaker-core's "
               "image config), so no job or endpoint could run")
    return f"{region}: {why}; expected one of: {', '.join(supported)}"


def _supported_region(value: str) -> str:
    problem = region_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


class Environment(Strict):
    account: str = Field(pattern=ACCOUNT_PATTERN, description="12-digit AWS account id.")
    region: Annotated[str, AfterValidator(_supported_region)] = Field(
        pattern=REGION_PATTERN,
        description="AWS region, e.g. eu-west-1: one where SageMaker's built-in images of the supported "
        "versions are published, in the aws partition (`mdlc schema` does not list them; a wrong one "
        "is refused with the list).")


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


#: Number of arguments of each derive op (the feature module's ``derive_value``).
DERIVE_ARITY = {"ratio": 2, "difference": 2, "not_equal": 2, "hour_of_day": 1, "day_of_week": 1, "log1p": 1}
#: Ops that read numbers, and ops that read a time.
NUMERIC_OPS = ("ratio", "difference", "log1p")
TIME_OPS = ("hour_of_day", "day_of_week")


class Derive(Strict):
    op: DeriveOp = Field(description="Per-record transformation computed by the feature module.")
    args: list[str] = Field(
        min_length=1,
        max_length=2,
        description="Input feature or column names: two for ratio, difference and not_equal "
        "(a/b, a-b, a≠b), one for hour_of_day, day_of_week (a time) and log1p.",
    )

    @model_validator(mode="after")
    def _arity(self) -> Derive:
        want = DERIVE_ARITY[self.op]
        if len(self.args) != want:
            first = self.args[0]
            example = f"[{first}]" if want == 1 else f"[{first}, <a second feature>]"
            raise Problems([(("args",), f"op {self.op!r} takes {want} argument(s), got {len(self.args)} "
                                        f"({self.args}); expected e.g. args: {example}")])
        return self


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
    def _no_card_numbers(self) -> Schema:
        """No column is a card number (PAN): serving records and returns every id and feature."""
        problems: list[tuple[tuple[Any, ...], str]] = []
        why = ("names a card number (PAN); expected a column that is not cardholder data: keep PANs in the card "
               "vault and use its token or a surrogate key (e.g. card_token, customer_id)")
        for field in ("id_column", "entity_key", "timestamp_column", "label"):
            if pan.pan_name(getattr(self, field)):
                problems.append(((field,), f"{getattr(self, field)!r} {why}"))
        for i, feature in enumerate(self.features):
            if pan.pan_name(feature.name):
                problems.append((("features", i, "name"), f"{feature.name!r} {why}"))
            if pan.pan_text(feature.description):
                problems.append((("features", i, "description"), f"the description {why}"))
            for j, category in enumerate(feature.categories or []):
                if pan.looks_like_pan(category):
                    problems.append((("features", i, "categories", j), "looks like a card number; expected "
                                     "a category label that is not a PAN"))
        _raise_problems(problems)
        return self

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
        problems: list[tuple[tuple[Any, ...], str]] = []
        names = [f.name for f in self.features]
        reserved = {self.id_column, self.entity_key, self.timestamp_column, self.label}
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                problems.append((("features", i, "name"), f"feature {name!r} is listed twice; names must be unique"))
            elif name in reserved:
                problems.append((("features", i, "name"), f"{name!r} is a key column (id, entity, timestamp or "
                                 "label); key columns are implied and must not be listed as features"))
            seen.add(name)
        keys = [self.id_column, self.entity_key, self.timestamp_column, self.label]
        if len(set(keys)) != len(keys):
            problems.append(((), f"id_column, entity_key, timestamp_column and label must be four different "
                              f"columns, got {keys}"))
        record_cols = {f.name for f in self.features if f.source == "record"} | reserved
        types = {f.name: f.type for f in self.features} | {
            self.id_column: "string", self.entity_key: "string", self.timestamp_column: "timestamp", self.label: "int"}
        known = set(record_cols)
        for i, f in enumerate(self.features):
            if f.aggregate:
                problems += self._aggregate_problems(i, f, record_cols, types)
            elif f.derive:
                for j, ref in enumerate(f.derive.args):
                    where = ("features", i, "derive", "args", j)
                    if ref not in known:
                        problems.append((where, f"feature {f.name!r} refers to {ref!r}, which is not a record "
                                                f"column or an earlier feature (known: {', '.join(sorted(known))})"))
                    elif f.derive.op in NUMERIC_OPS and types[ref] not in ("float", "int", "bool"):
                        problems.append((where, f"op {f.derive.op!r} needs numbers; {ref!r} is {types[ref]}"))
                    elif f.derive.op in TIME_OPS and types[ref] != "timestamp":
                        problems.append((where, f"op {f.derive.op!r} needs a time; {ref!r} is {types[ref]} "
                                                f"(e.g. args: [{self.timestamp_column}])"))
            known.add(f.name)
        if not any(f.model_input for f in self.features):
            problems.append((("features",), "at least one feature must be a model input"))
        _raise_problems(problems)
        return self

    @staticmethod
    def _aggregate_problems(i: int, f: Feature, record_cols: set[str], types: dict[str, str]) -> list:
        assert f.aggregate is not None
        agg, where = f.aggregate, ("features", i, "aggregate", "column")
        if agg.column not in record_cols:
            return [(where, f"feature {f.name!r} aggregates {agg.column!r}, which is not a record column "
                            f"(record columns: {', '.join(sorted(record_cols))})")]
        kind = types[agg.column]
        if agg.fn in ("sum", "mean", "max") and kind not in ("float", "int", "bool"):
            return [(where, f"{agg.fn} needs a numeric column; {agg.column!r} is {kind}")]
        if agg.fn == "first_seen_days" and kind != "timestamp":
            return [(where, f"first_seen_days needs a time column; {agg.column!r} is {kind}")]
        if agg.fn == "mode" and f.type not in ("string", "category"):
            return [(("features", i, "type"), f"a mode aggregate is a value of {agg.column!r}; expected type "
                                              f"string or category, got {f.type}")]
        return []

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
    schedule: Schedule | None = Field(
        default=None,
        description="EventBridge schedule of batch scoring; none runs it only by hand.",
    )
    input_prefix: str = Field(default="batch/input/", pattern=r"^[a-z0-9_\-/]+/$")
    output_prefix: str = Field(default="batch/results/", pattern=r"^[a-z0-9_\-/]+/$")
    content_type: Literal["text/csv", "application/jsonlines"] = Field(
        default="text/csv",
        description="Format of the records the Transform job scores and returns (the input files "
        "are raw CSV records either way).",
    )
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
    min_rows: int = Field(
        default=1,
        ge=1,
        description="Fewer input rows fail the batch input's data-quality check (the batch's own "
        "minimum, independent of the training `data_quality.min_rows`). Missing-value, "
        "out-of-range limits are those of `data_quality`.",
    )
    max_psi: float | None = Field(
        default=None,
        gt=0,
        description="Largest PSI of a feature of the batch input versus the model's training "
        "baseline before the batch is stopped. None (the default) scores a drifted batch and "
        "leaves drift to monitoring (its alarms can retrain): a batch is scored even when the "
        "population moves.",
    )


class Canary(Strict):
    percent: int = Field(default=10, ge=1, le=50, description="Share of capacity shifted first.")
    bake_minutes: int = Field(default=10, ge=1, le=60, description="Wait before the rest shifts.")


class Serverless(Strict):
    memory_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = 2048
    max_concurrency: int = Field(default=5, ge=1, le=200)


ROLE_OR_ACCOUNT_PATTERN = r"^([0-9]{12}|arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512})$"
WEB_ACL_PATTERN = r"^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/[A-Za-z0-9_-]{1,128}/[a-f0-9-]{36}$"
PATTERN_EXAMPLES[ROLE_OR_ACCOUNT_PATTERN] = ("a 12-digit account id in quotes or an IAM role ARN, e.g. "
                                             "\"444444444444\" or arn:aws:iam::444444444444:role/payments-gateway")
PATTERN_EXAMPLES[WEB_ACL_PATTERN] = ("a regional WAFv2 web ACL ARN, e.g. arn:aws:wafv2:eu-west-1:333333333333:"
                                     "regional/webacl/payments/a1b2c3d4-5678-90ab-cdef-111111111111")


class RealtimeApi(Strict):
    """Who may call the decision API, and the web ACL in front of it."""

    allowed_principals: list[Annotated[str, Field(pattern=ROLE_OR_ACCOUNT_PATTERN)]] = Field(
        default_factory=list,
        max_length=50,
        description="The callers the API's resource policy admits: IAM role ARNs of the team's clients "
        "(e.g. the payment gateway's role) and/or 12-digit account ids (any principal of that account "
        "with an IAM allow). Every other caller is denied, even one of the same account. Empty (the "
        "default): principals of the stage's own account only.",
    )
    waf_acl_arn: str | dict[str, str] | None = Field(
        default=None,
        description="A regional AWS WAFv2 web ACL associated with the API's stage: one ARN, or stage → "
        "ARN (a web ACL belongs to one account and region, so a team deploying to several accounts "
        "names one per stage). None: no WAF association (a Firewall Manager policy may still add one).",
    )

    @field_validator("waf_acl_arn")
    @classmethod
    def _web_acl(cls, value: str | dict[str, str] | None) -> str | dict[str, str] | None:
        arns = value.values() if isinstance(value, dict) else [value] if value else []
        for arn in arns:
            if not re.match(WEB_ACL_PATTERN, arn):
                raise ValueError(f"got {arn!r}; expected {PATTERN_EXAMPLES[WEB_ACL_PATTERN]}")
        return value

    def web_acl_for(self, stage: str) -> str | None:
        """The web ACL of ``stage``'s API, if any."""
        if isinstance(self.waf_acl_arn, dict):
            return self.waf_acl_arn.get(stage)
        return self.waf_acl_arn


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
        "predict); `exact`: TreeSHAP (about twice the cost of a predict).",
    )
    api: RealtimeApi = Field(default_factory=RealtimeApi)
    api_rate_limit: int = Field(default=200, ge=1, description="Requests per second, steady.")
    api_burst_limit: int = Field(default=400, ge=1)
    decision_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=900,
        description="Opt-in reserved concurrency of each of the 3 decision-path Lambdas (collect "
        "features, rules, action); none (the default) reserves nothing. A reservation is taken "
        "from the account's Lambda concurrency quota, of which Lambda keeps 100 unreserved (all "
        "of it when the quota is 100 or less, as in new accounts, whose quota is often 10): the "
        "reservations of every team in an account must fit the quota given to `cdk synth -c "
        "lambda_concurrency_quota=N` (default 1000) less 100, or the synth refuses them.",
    )

    @model_validator(mode="after")
    def _capacity(self) -> Realtime:
        if self.min_capacity > self.max_capacity:
            raise ValueError(
                f"min_capacity ({self.min_capacity}) must not exceed max_capacity "
                f"({self.max_capacity})"
            )
        return self

    @property
    def reserved_concurrency(self) -> int:
        """Concurrent executions the team's decision path reserves in its account (0: none)."""
        if not self.enabled or self.decision_concurrency is None:
            return 0
        return DECISION_PATH_FUNCTIONS * self.decision_concurrency


#: The decision-path functions that reserve `realtime.decision_concurrency` each.
DECISION_PATH_FUNCTIONS = 3
#: Lambda's default ConcurrentExecutions quota per account and region.
DEFAULT_LAMBDA_CONCURRENCY_QUOTA = 1000
#: What Lambda keeps unreserved: "You can reserve up to the Unreserved account concurrency
#: value minus 100" (docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html);
#: an account whose quota is 100 or less (new accounts: 10 or 50) can reserve nothing, and
#: Lambda names its quota as the minimum ("...below its minimum value of [10]").
LAMBDA_UNRESERVED_MINIMUM = 100


def unreserved_minimum(quota: int) -> int:
    """The concurrency Lambda refuses to let reservations take from an account of ``quota``."""
    return min(LAMBDA_UNRESERVED_MINIMUM, quota)


# ---------------------------------------------------------------------------- monitoring
class Monitoring(Strict):
    schedule: Schedule = Field(default="rate(1 hour)", description="EventBridge schedule of the monitoring workflow.")
    max_feature_psi: float = Field(default=0.2, gt=0, description="Input drift alarm threshold.")
    max_prediction_psi: float = Field(default=0.2, gt=0, description="Score drift alarm.")
    min_precision: float = Field(default=0.2, ge=0, le=1, description="Closed-loop alarm.")
    min_recall: float = Field(default=0.4, ge=0, le=1, description="Closed-loop alarm.")
    min_pr_auc: float = Field(default=0.3, ge=0, le=1, description="Closed-loop alarm.")
    max_model_age_days: int = Field(default=45, ge=1, description="Staleness alarm.")
    label_delay_hours: int = Field(
        default=0,
        ge=0,
        le=24 * 180,
        description="Hours after a prediction until its ground-truth label has arrived. Each run "
        "measures quality on the predictions of its window shifted back by this much, with the "
        "labels that arrived since (`dt=` partitions of the ground-truth prefix, by arrival day).",
    )
    score_threshold: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Scores at or above this count as predicted positives for the closed-loop "
        "precision and recall (e.g. the score from which a case is reviewed).",
    )
    max_feature_skew: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Training/serving skew alarm: the largest share of served decisions whose "
        "feature value differs from the point-in-time value recomputed from the raw data for the "
        "same event (`FeatureSkew`, per feature). Serving and training share one feature "
        "definition, so any skew is a serving fault (a lagging feature stream, a stale online "
        "table); it alarms but never retrains.",
    )
    feature_skew_delay_hours: int = Field(
        default=24,
        ge=0,
        le=24 * 30,
        description="Hours after a decision until its event is in the newest raw partition (the "
        "team's raw export). Each run checks skew on the decisions of its window shifted back by "
        "this much; decisions whose events are not in the raw data yet are counted as unmatched.",
    )


class Retraining(Strict):
    schedule: Schedule | None = Field(default=None, description="Periodic retraining; none = off.")
    on_drift: bool = Field(
        default=True, description="Retrain when an input or score drift alarm fires."
    )
    on_quality_drop: bool = Field(
        default=True, description="Retrain when a closed-loop quality alarm fires."
    )
    on_staleness: bool = Field(
        default=True,
        description="Retrain when the Approved model is older than "
        "`monitoring.max_model_age_days`.",
    )
    auto_approve: bool = Field(
        default=False, description="Approve a retrained model that passes the gate, unattended."
    )


class Streaming(Strict):
    allowed_lateness_minutes: int = Field(
        default=60, ge=0, le=7 * 24 * 60,
        description="An event up to this much older than its entity's newest event still "
        "counts in the right windows; an older one is counted in `LateEventsDropped` and "
        "logged, not applied. The online table keeps each entity's events for the longest "
        "window plus this.",
    )
    batch_size: int = Field(default=100, ge=1, le=10000,
                            description="Stream records per consumer Lambda invocation.")
    max_batching_window_seconds: int = Field(
        default=1, ge=0, le=300,
        description="How long the event source mapping gathers records before invoking.")
    retry_attempts: int = Field(
        default=5, ge=0, le=10000,
        description="Retries of a failing batch (bisected) before it goes to the dead-letter queue.")
    max_lag_seconds: int = Field(
        default=60, ge=1, description="Freshness alarm: event → feature lag above this.")
    reconciliation_schedule: str = Field(
        default="rate(1 day)", pattern=SCHEDULE_PATTERN,
        description="Schedule of the backfill/reconciliation workflow.")
    max_mismatch_rate: float = Field(
        default=0.001, ge=0, le=1,
        description="Alarm when more than this share of entities differ from the recomputation.")


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

    @model_validator(mode="after")
    def _no_card_numbers(self) -> DecisionRules:
        """Listed ids are never card numbers: the team file is in a repository, not in the card vault."""
        problems: list[tuple[tuple[Any, ...], str]] = []
        for section in ("allow_list", "deny_list"):
            for field, values in getattr(self, section).items():
                problems += [((section, field, i), f"looks like a card number (PAN); expected {pan.PAN_EXPECTED}")
                             for i, value in enumerate(values) if pan.looks_like_pan(value)]
        for i, rule in enumerate(self.hard_rules):
            values = rule.value if isinstance(rule.value, list) else [rule.value]
            if any(isinstance(v, str) and pan.looks_like_pan(v) for v in values):
                problems.append((("hard_rules", i, "value"), f"holds a card number (PAN); expected {pan.PAN_EXPECTED}"))
        _raise_problems(problems)
        return self


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
    bootstrap_qualifier: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]{1,10}$",
        description="CDK bootstrap qualifier of the team's own bootstrap (`mdlc bootstrap`); default: "
                    "`m` + 9 hex digits of the SHA-256 of the team name. Set it only for an account "
                    "bootstrapped before under another qualifier.",
    )


#: AWS's tag limits (Tagging AWS resources: "Tag naming limits and requirements"): 50 tags per
#: resource, of which the stacks set 2 (``mdlc:team``, ``mdlc:stage``) and CloudFormation 3
#: (``aws:cloudformation:*``, not counted by AWS but kept clear here).
MAX_TEAM_TAGS = 40
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
#: Prefixes reserved: ``aws:`` by AWS (in any case), ``mdlc:`` by the project (the tags that say
#: which team and stage own a resource must not be overridden by a team file).
RESERVED_TAG_PREFIXES = ("aws:", "mdlc:")


def _tag_text_problem(text: str, limit: int, what: str) -> str | None:
    if len(text) > limit:
        return f"{what} of {len(text)} characters; expected at most {limit}"
    bad = sorted({c for c in text if unicodedata.category(c)[0] not in "LZN" and c not in "_.:/=+-@"})
    if bad:
        return (f"{what} with the character(s) {''.join(bad)!r}; expected letters, digits, spaces "
                "and _ . : / = + - @ only (AWS's tag character set)")
    return None


def check_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags AWS accepts on every resource and that leave the project's own tags alone."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    if len(tags) > MAX_TEAM_TAGS:
        problems.append(((), f"{len(tags)} tags; expected at most {MAX_TEAM_TAGS} (AWS allows 50 per resource, "
                         "and the stacks add their own)"))
    for key, value in tags.items():
        if not key:
            problems.append(((key,), "an empty tag key; expected 1-128 characters"))
        elif key.lower().startswith(RESERVED_TAG_PREFIXES):
            prefix = next(p for p in RESERVED_TAG_PREFIXES if key.lower().startswith(p))
            owner = "AWS" if prefix == "aws:" else "the project (team and stage of every resource)"
            problems.append(((key,), f"tag key {key!r} starts with {prefix!r}, reserved by {owner}; "
                             "expected a key of your own, e.g. cost-center"))
        else:
            why = _tag_text_problem(key, TAG_KEY_MAX, "a key")
            if why:
                problems.append(((key,), why))
        why = _tag_text_problem(value, TAG_VALUE_MAX, "a value")
        if why:
            problems.append(((key,), why))
    _raise_problems(problems)
    return tags


Tags = Annotated[
    dict[str, str],
    AfterValidator(check_tags),
    Field(default_factory=dict, description="Tags on every resource and stack of the team: at most 40, keys "
          "1-128 and values 0-256 letters, digits, spaces and _ . : / = + - @; keys starting aws: or mdlc: are "
          "reserved."),
]


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
        "without an entry for the stage, `cdk synth -c account=... -c region=...` decides, then "
        "the CDK CLI's own environment (profile, AWS_REGION), with a warning.",
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
    streaming: Streaming = Field(
        default_factory=Streaming,
        description="The feature pipeline: stream consumer, lateness, freshness and "
        "reconciliation of the online feature table.")
    decision_rules: DecisionRules | None = Field(
        default=None,
        description="How a real-time score becomes a decision. Required when realtime.enabled is "
        "true; a batch-only team leaves it out (batch publishes scores, not decisions).",
    )
    pipeline: Pipeline = Field(default_factory=Pipeline)
    tags: Tags

    @field_validator("name")
    @classmethod
    def _team_name(cls, value: str) -> str:
        problems = resource_names.team_name_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _bucket_names(self) -> TeamConfig:
        """Every bucket the data stack names for a stage's account and region is one S3 accepts."""
        problems = []
        for stage, env in self.environments.items():
            for abbr in resource_names.BUCKETS:
                bucket = resource_names.bucket_name(self.name, abbr, env.account, env.region)
                why = resource_names.bucket_name_problems(bucket)
                if why:
                    room = len(self.name) - len(bucket) + 63
                    problems.append((("environments", stage, "region"),
                                     f"the {abbr} bucket would be named {bucket!r}, which {'; '.join(why)}; "
                                     f"expected a team name of at most {room} characters with region {env.region}"))
                    break
        _raise_problems(problems)
        return self

    @model_validator(mode="after")
    def _web_acl_environments(self) -> TeamConfig:
        """A web ACL is associated only in its own account and region (WAF refuses others)."""
        acl = self.realtime.api.waf_acl_arn
        if acl is None:
            return self
        problems = []
        pairs = acl.items() if isinstance(acl, dict) else [(stage, acl) for stage in self.environments]
        for stage, arn in pairs:
            _, _, _, region, account, _ = arn.split(":", 5)
            env = self.environments.get(stage)
            loc = ("realtime", "api", "waf_acl_arn") + ((stage,) if isinstance(acl, dict) else ())
            if isinstance(acl, dict) and self.environments and env is None:
                problems.append((loc, f"stage {stage!r} is not in environments ({', '.join(self.environments)})"))
            elif env is not None and (env.account, env.region) != (account, region):
                problems.append((loc, f"the web ACL is in account {account}, region {region}, but stage {stage!r} "
                                 f"deploys to {env.account}, {env.region}; expected a web ACL of that account "
                                 "and region" + ("" if isinstance(acl, dict) else
                                                 " (name one per stage: waf_acl_arn: {<stage>: <arn>})")))
        _raise_problems(problems)
        return self

    @field_validator("environments")
    @classmethod
    def _stage_names(cls, value: dict[str, Environment]) -> dict[str, Environment]:
        for stage in value:
            if not re.match(r"^[a-z][a-z0-9-]{0,19}$", stage):
                raise ValueError(f"stage name {stage!r} must be lowercase letters, digits, hyphens")
        return value

    @model_validator(mode="after")
    def _cross_section(self) -> TeamConfig:
        problems: list[tuple[tuple[Any, ...], str]] = []
        schema = self.schema_
        names = {f.name: f for f in schema.features}
        inputs = {f.name for f in schema.model_features}
        for i, s in enumerate(self.evaluation.slices):
            if s not in names or names[s].type != "category" or s not in inputs:
                usable = sorted(n for n in inputs if names[n].type == "category")
                why = ("not a feature" if s not in names else f"a {names[s].type} feature" if names[s].type
                       != "category" else "not a model input (the test split holds model inputs only)")
                problems.append((("evaluation", "slices", i), f"{s!r} is {why}; expected a category model "
                                 f"input ({', '.join(usable) or 'none in this schema'})"))
        if self.realtime.enabled and self.decision_rules is None:
            problems.append((("decision_rules",), "missing; a team with realtime.enabled needs score_bands, "
                             "e.g. decision_rules: {score_bands: {approve_below: 0.3, decline_at_or_above: 0.85}}"))
        if self.decision_rules is not None:
            problems += self._rule_problems(self.decision_rules, names, inputs)
        _raise_problems(problems)
        return self

    def _rule_problems(self, rules: DecisionRules, names: dict[str, Feature], inputs: set[str]) -> list:
        """Hard rules and lists read the request or the model's features, nothing else."""
        schema = self.schema_
        readable = ({f.name for f in schema.record_features} | inputs
                    | {schema.entity_key, schema.id_column, schema.timestamp_column, "score"})
        hint = ", ".join(sorted(readable))
        problems = []
        for i, rule in enumerate(rules.hard_rules):
            if rule.field not in readable:
                why = "not a model input" if rule.field in names else "not a field"
                problems.append((("decision_rules", "hard_rules", i, "field"),
                                 f"{rule.field!r} is {why}, so the rule could never fire; expected a request "
                                 f"field, model input or 'score' ({hint})"))
            elif rule.op in ("in", "not_in") and not isinstance(rule.value, list):
                problems.append((("decision_rules", "hard_rules", i, "value"),
                                 f"op {rule.op!r} needs a list, e.g. value: [gaming, digital_goods]"))
            elif rule.op not in ("in", "not_in") and isinstance(rule.value, list):
                problems.append((("decision_rules", "hard_rules", i, "value"),
                                 f"op {rule.op!r} compares with one value, got a list; use op: in"))
            elif rule.op in ("gt", "ge", "lt", "le") and isinstance(rule.value, str):
                problems.append((("decision_rules", "hard_rules", i, "value"),
                                 f"op {rule.op!r} compares numbers, got {rule.value!r}; e.g. value: 10000"))
        for section in ("allow_list", "deny_list"):
            for key in getattr(rules, section):
                if key not in readable:
                    problems.append((("decision_rules", section, key),
                                     f"{key!r} is not a request field or model input; expected one of {hint}"))
        return problems

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


_NOTHING = object()


def _describe(error: dict[str, Any], root: yaml.Node | None) -> list[str]:
    """One line per problem: line, field path, what was given, what was expected."""
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, Problems):
        # A cross-field check: each problem at its own path below the model that raised it.
        return [_line(root, (*loc, *sub), msg) for sub, msg in cause.problems]
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return [_line(root, loc, "missing; expected it to be set")]
    if error["type"] == "extra_forbidden":
        return [_line(root, loc, "unknown field (check the spelling; see `mdlc schema`)")]
    if error["type"] == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        msg = PATTERN_EXAMPLES.get(pattern, "a value in the documented format (see `mdlc schema`)")
    return [_line(root, loc, msg, error.get("input"))]


def _line(root: yaml.Node | None, loc: tuple[Any, ...], msg: str, given: Any = _NOTHING) -> str:
    path = ".".join(str(p) for p in loc) or "(top level)"
    line = _line_of(root, loc)
    where = f"line {line}, " if line else ""
    if given is _NOTHING:
        return f"{where}field `{path}`: {msg}"
    if isinstance(given, dict | list):
        given_txt = "a mapping" if isinstance(given, dict) else "a list"
    else:
        given_txt = repr(given)
    if "expected" in msg:  # the message already says what was expected (cross-field checks, schedules)
        return f"{where}field `{path}`: got {given_txt}; {msg}"
    return f"{where}field `{path}`: got {given_txt}; expected: {msg}"


#: A team file is configuration, not a data set: far above any real one (the example is 5 KB).
MAX_TEAM_FILE_BYTES = 256 * 1024
#: Entries of any one list or mapping (deny/allow lists, categories, features, hard rules).
MAX_COLLECTION_ITEMS = 1000
#: Nesting of lists and mappings; the deepest real path (a hard rule's list value) is 5.
MAX_NESTING = 20
#: Characters of any one value (a description, a category, a list entry).
MAX_SCALAR_CHARS = 4096
#: Numbers in a team file are limits, rates and thresholds: far below this. It also keeps out
#: CDK's number tokens (doubles near -1.9e289) and Python's 4300-digit int conversion limit.
MAX_NUMBER = 10**15
#: Strings CDK or CloudFormation would interpret instead of passing on as data: CDK's encoded
#: string and list tokens (an unknown one fails every team's synth, as `cdk synth` resolves
#: the whole app) and CloudFormation dynamic references (resolved from SSM/Secrets Manager at
#: deploy time).
CODE_LIKE = re.compile(r"\$\{Token\[|#\{Token\[|\{\{resolve:", re.IGNORECASE)
_LARGE_LIST_HINT = ("; a longer list is data, not configuration: keep it in a DynamoDB table or S3 object "
                    "the rules read, not in the team file")


def _scan_yaml(text: str) -> list[str]:
    """Problems of a team file as data, found on the YAML event stream before anything is built.

    The event parser is iterative, so a 50,000-deep nesting is stopped at ``MAX_NESTING``
    (the recursive composer and pydantic would end in RecursionError, and PyYAML's scanner
    is quadratic in flow depth); integers are checked before Python converts them.
    """
    resolver = yaml.resolver.Resolver()
    problems: list[str] = []
    stack: list[_Open] = []

    def where(event: yaml.Event, *extra: Any, depth: int | None = None) -> str:
        loc = [entry.at for entry in stack[:depth] if entry.at is not None] + list(extra)
        return f"line {event.start_mark.line + 1}, field `{'.'.join(map(str, loc)) or '(top level)'}`"

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if len(problems) >= MAX_LISTED_PROBLEMS:
            break
        if isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
            if stack and stack[-1].mapping:
                stack[-1].expecting_key = True
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        top = stack[-1] if stack else None
        is_key = top is not None and top.mapping and top.expecting_key
        if top is not None and (is_key or not top.mapping):
            top.count += 1
            if top.count == MAX_COLLECTION_ITEMS + 1:
                kind = "entries" if top.mapping else "items"
                problems.append(f"{where(event, depth=len(stack) - 1)}: more than {MAX_COLLECTION_ITEMS} {kind}; "
                                f"expected at most {MAX_COLLECTION_ITEMS}" + _LARGE_LIST_HINT)
            if not top.mapping:
                top.at = top.count - 1
        if is_key:
            assert top is not None
            top.expecting_key = False
            if not isinstance(event, yaml.ScalarEvent):
                problems.append(f"{where(event, depth=len(stack) - 1)}: a list, mapping or alias used as a key; "
                                "expected a plain name")
                top.at = "?"
            else:
                top.at = event.value
                problems += _scalar_problems(event, resolver, where(event))
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append(_Open(isinstance(event, yaml.MappingStartEvent)))
            continue
        if top is not None and top.mapping:
            top.expecting_key = True
        if isinstance(event, yaml.AliasEvent):
            problems.append(f"{where(event)}: an alias (*{event.anchor}); expected the value written out "
                            "(a team file is plain data: anchors and aliases are not accepted)")
        elif isinstance(event, yaml.ScalarEvent):
            problems += _scalar_problems(event, resolver, where(event))
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_NESTING:
                problems.append(f"{where(event)}: lists and mappings nested more than {MAX_NESTING} deep; "
                                "expected the team file's documented structure (see `mdlc schema`)")
                break
            stack.append(_Open(isinstance(event, yaml.MappingStartEvent)))
    return problems


class _Open:
    """A list or mapping being read: where the reader is in it, and how many entries it has."""

    def __init__(self, mapping: bool) -> None:
        self.mapping = mapping
        self.at: Any = None
        self.expecting_key = True
        self.count = 0


MAX_LISTED_PROBLEMS = 20


def _scalar_problems(event: yaml.ScalarEvent, resolver: yaml.resolver.Resolver, where: str) -> list[str]:
    value = event.value
    if event.tag is None and event.implicit[0]:
        tag = resolver.resolve(yaml.ScalarNode, value, (True, False))
        digits = sum(c.isalnum() for c in value)  # decimal, or 0x/0o/0b digits
        if tag == "tag:yaml.org,2002:int" and pan.looks_like_pan(value):
            return [f"{where}: looks like a card number (PAN); expected {pan.PAN_EXPECTED}"]
        if tag == "tag:yaml.org,2002:int" and digits > 15:
            return [f"{where}: an integer of {digits} digits; expected a number below {MAX_NUMBER:.0e}"]
        if tag == "tag:yaml.org,2002:float":
            text = value.replace("_", "").lower()
            number = (0.0 if ":" in text  # YAML 1.1 sexagesimal: small by construction
                      else math.inf if text.lstrip("+-") in (".inf", ".nan") else float(text))
            if not math.isfinite(number) or abs(number) >= MAX_NUMBER:
                return [f"{where}: got {value[:40]}; expected a finite number below {MAX_NUMBER:.0e}"]
    if len(value) > MAX_SCALAR_CHARS:
        return [f"{where}: a value of {len(value)} characters; expected at most {MAX_SCALAR_CHARS}"]
    if CODE_LIKE.search(value):
        return [f"{where}: got {value[:60]!r}, which CDK or CloudFormation would interpret as a reference "
                "(a CDK token ${Token[...]}/#{Token[...]} or a {{resolve:...}} dynamic reference); "
                "expected a plain value: a team file is data, never code"]
    return []


def parse_team(text: str, path: Path | str = "<team file>") -> TeamConfig:
    """Validate a team file's text; raise TeamFileError naming every problem."""
    size = len(text.encode("utf-8"))
    if size > MAX_TEAM_FILE_BYTES:
        raise TeamFileError(path, [f"the file has {size} bytes; expected at most {MAX_TEAM_FILE_BYTES}"
                                   + _LARGE_LIST_HINT])
    try:
        problems = _scan_yaml(text)
    except yaml.YAMLError:
        problems = []  # reported with its line by the full parse below
    if problems:
        raise TeamFileError(path, problems)
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
        raise TeamFileError(path, [line for e in exc.errors() for line in _describe(e, root)]) from None


def load_team(path: Path | str) -> TeamConfig:
    """Read and validate ``models/<team>.yaml``; the file name must match the team name."""
    path = Path(path)
    if not path.is_file():
        raise TeamFileError(path, ["file not found; expected a YAML team file (see models/)"])
    size = path.stat().st_size
    if size > MAX_TEAM_FILE_BYTES:  # before reading it: a team file is never this large
        raise TeamFileError(path, [f"the file has {size} bytes; expected at most {MAX_TEAM_FILE_BYTES}"
                                   + _LARGE_LIST_HINT])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TeamFileError(path, [f"byte {exc.start} is not UTF-8; expected a UTF-8 text file"]) from None
    team = parse_team(text, path)
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

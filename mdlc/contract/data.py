"""The team's data: locations, the record schema, features (columns, online aggregates, derived)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    model_validator,
)

from mdlc import features as F
from mdlc import pan
from mdlc.contract.base import IDENTIFIER, Problems, Strict, _raise_problems


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
AggregateFn = Literal[tuple(F.AGGREGATES)]  # type: ignore[valid-type]  # the feature module's table
DeriveOp = Literal[tuple(F.DERIVES)]  # type: ignore[valid-type]


class Aggregate(Strict):
    fn: AggregateFn = Field(
        description="Aggregation over the history of the key value: "
        + "; ".join(f"`{name}` = {op.doc}" for name, op in F.AGGREGATES.items()) + "."
    )
    column: str = Field(description="Raw column aggregated.")
    key: str | None = Field(
        default=None, pattern=IDENTIFIER,
        description="Record column the aggregate is grouped by (e.g. card_id, device_id, ip); default "
        "`schema.entity_key`. Serving reads every key's online item of a request in one batched read.",
    )
    window: str | None = Field(
        default=None, pattern=F.WINDOW_PATTERN,
        description=f"Look-back window as a duration: minutes, hours or days (`10m`, `1h`, `36h`, `7d`), "
        f"from 1m to {F.MAX_WINDOW_DAYS}d. The online item of a key value holds its events of the longest "
        "window of that key plus the allowed lateness, within DynamoDB's 400 KB item limit (the stream "
        "consumer reports the largest item and alarms at 75%). None (and no window_days): all history.",
    )
    window_days: int | None = Field(
        default=None, ge=1, le=F.MAX_WINDOW_DAYS, description="Look-back window in days (the older spelling "
        "of `window: <n>d`); none means all history."
    )

    @model_validator(mode="after")
    def _window(self) -> Aggregate:
        if self.window is not None and self.window_days is not None:
            raise Problems([(("window",), f"give either window ({self.window!r}) or window_days "
                                          f"({self.window_days}), not both")])
        if self.window is not None:
            try:
                F.parse_window(self.window)
            except ValueError as exc:
                raise Problems([(("window",), str(exc))]) from None
        if F.AGGREGATES[self.fn].needs_window and self.window is None and self.window_days is None:
            raise Problems([(("fn",), f"{self.fn} needs a window (its exact state over all history has no "
                                      "bound); expected e.g. window: 1h")])
        return self

    @property
    def windowed(self) -> bool:
        return self.window is not None or self.window_days is not None


#: Number of arguments of each derive op, and the ops that read numbers or a time (the table).
DERIVE_ARITY = {name: op.arity for name, op in F.DERIVES.items()}
NUMERIC_OPS = tuple(name for name, op in F.DERIVES.items() if op.reads == "number")
TIME_OPS = tuple(name for name, op in F.DERIVES.items() if op.reads == "time")


class Derive(Strict):
    op: DeriveOp = Field(description="Per-record transformation computed by the feature module.")
    args: list[str] = Field(
        min_length=1,
        max_length=2,
        description="Input feature or column names: "
        + "; ".join(f"`{name}` takes {op.arity} ({op.doc})" for name, op in F.DERIVES.items()) + ".",
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
            "from the DynamoDB feature table under its `aggregate.key` value. `derived`: computed "
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
        description="Value of an online feature whenever its window holds no value: an empty window or "
        "a key value never seen (the same rule in training, the stream, serving, backfill, batch and "
        "monitoring). Without one the feature must be `nullable`.",
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

    def _aggregate_problems(self, i: int, f: Feature, record_cols: set[str], types: dict[str, str]) -> list:
        """What the aggregate table (``mdlc.features.AGGREGATES``) says about this aggregate."""
        assert f.aggregate is not None
        agg, where = f.aggregate, ("features", i, "aggregate", "column")
        op = F.AGGREGATES[agg.fn]
        problems = []
        if agg.column not in record_cols:
            return [(where, f"feature {f.name!r} aggregates {agg.column!r}, which is not a record column "
                            f"(record columns: {', '.join(sorted(record_cols))})")]
        kind = types[agg.column]
        if kind not in F.KIND_TYPES[op.kind]:
            want = {"number": "a numeric", "time": "a time"}.get(op.kind, "a")
            problems.append((where, f"{agg.fn} needs {want} column; {agg.column!r} is {kind}"))
        if f.type not in op.types:
            problems.append((("features", i, "type"), f"a {agg.fn} aggregate of {agg.column!r} is a "
                             f"{' or '.join(op.types)} value; got type {f.type}"))
        if agg.key is not None and agg.key != self.entity_key:
            if agg.key not in record_cols:
                problems.append((("features", i, "aggregate", "key"),
                                 f"key {agg.key!r} is not a record column (record columns: "
                                 f"{', '.join(sorted(record_cols))})"))
            elif types[agg.key] not in ("string", "category", "int"):
                problems.append((("features", i, "aggregate", "key"),
                                 f"key {agg.key!r} is {types[agg.key]}; expected a string, category or int "
                                 "column whose values identify a card, device, merchant, ..."))
        if f.default is None and not f.nullable:
            what = "its window holds no value" if agg.windowed else "the key value has no history yet"
            problems.append((("features", i), f"online feature {f.name!r} has no value when {what}; give it a "
                             "`default` (e.g. default: 0 for a count) or `nullable: true`"))
        return problems

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



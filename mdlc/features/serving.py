"""The serving path: one request dict plus the online items of its keys → model features."""

from __future__ import annotations

import math
from typing import Any

from mdlc.features.ops import derive_value
from mdlc.features.state import (
    EntityState,
    aggregate_keys,
    finish_value,
    online_aggregates,
    record_item_keys,
)
from mdlc.features.values import (
    FeatureError,
    cast,
    check_value,
    encode_value,
    feature_map,
    features,
    is_missing,
    lateness_us,
    model_columns,
    parse_time,
    time_us,
    to_number,
)

STATE_ATTRIBUTE = "state"


def check_record(record: dict[str, Any], spec: dict[str, Any]) -> None:
    """Raise FeatureError naming the first request field that does not fit the schema."""
    if not isinstance(record, dict):
        raise FeatureError("(record)", f"expected a JSON object, got {type(record).__name__}")
    for f in features(spec):
        if f.get("source", "record") == "record":
            check_value(f, record.get(f["name"]))


def derive_record(record: dict[str, Any], online: dict[str, Any] | None, spec: dict[str, Any]) -> dict[str, Any]:
    """The model-input features of one request, given the entity key's online item.

    ``online`` is the DynamoDB item of the request's ``schema.entity_key`` value (a state
    written by the stream consumer or the backfill, a flat item of feature values, or None
    when unknown). The aggregates of other keys are then unknown: serving with several keys
    calls :func:`derive_record_items` with every key's item.
    """
    return derive_record_items(record, {spec["schema"]["entity_key"]: online}, spec)


def derive_record_items(record: dict[str, Any], items: dict[str, dict[str, Any] | None],
                        spec: dict[str, Any]) -> dict[str, Any]:
    """The model-input features of one request, given the online item of each key column
    (``items[key]``: the item, or None / absent when that key value is unknown).

    Aggregates are computed as of the record's time from the events strictly before it; the
    empty-window rule gives each empty window the feature's default. Returns model column →
    encoded value (None for missing) plus ``unknown_entity`` (the entity key's item is
    absent). Raises FeatureError on a bad field.
    """
    check_record(record, spec)
    values: dict[str, Any] = dict(record)
    raw, unknown = online_values(record, items, spec)
    for f in features(spec):
        name, source = f["name"], f.get("source", "record")
        if source == "online":
            value = finish_value(f, raw.get(name))
            values[name] = value if f["type"] in ("string", "category") else cast(f, to_number(value))
        elif source == "derived":
            args = [_arg(values, a, spec) for a in f["derive"]["args"]]
            values[name] = cast(f, derive_value(f["derive"]["op"], args))
    fmap = feature_map(spec)
    out: dict[str, Any] = {c: encode_value(fmap[c], values[c]) for c in model_columns(spec)}
    out["unknown_entity"] = unknown
    return out


def online_values(record: dict[str, Any], items: dict[str, dict[str, Any] | None],
                  spec: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Raw online values (None for an empty window or an unknown key value) from each key's
    item, and whether the entity key's item is unknown."""
    entity = spec["schema"]["entity_key"]
    names = {key: [a["name"] for a in online_aggregates(spec) if a["key"] == key] for key in aggregate_keys(spec)}
    out: dict[str, Any] = {}
    unknown = items.get(entity) is None
    for key, item in items.items():
        if item is None or key not in names:
            continue
        if STATE_ATTRIBUTE in item:
            got = features_from_item(item, record, spec)
            if got is not None:
                out.update(got)
        else:  # a flat item of feature values (an older layout, or a test's fixed values)
            out.update({n: item.get(n) for n in names[key]})
    return out, unknown


def features_from_item(item: dict[str, Any], record: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any] | None:
    """The raw online values of an online-table state item as of the record's timestamp."""
    ts_col = spec["schema"]["timestamp_column"]
    stamp = record.get(ts_col)
    if is_missing(stamp):
        raise FeatureError(ts_col, "missing; online features are computed as of the record's time")
    try:
        as_of = time_us(stamp)
    except ValueError as exc:
        raise FeatureError(ts_col, str(exc)) from None
    state = EntityState.from_json(str(item[STATE_ATTRIBUTE]), spec, lateness_us(spec))
    return state.features_at(as_of)


def request_item_keys(record: dict[str, Any], spec: dict[str, Any]) -> dict[str, str]:
    """Key column → online-table key to read for a request (keys the request lacks are left out)."""
    return {k: v for k, v in record_item_keys(record, spec).items() if v is not None}


def _arg(values: dict[str, Any], name: str, spec: dict[str, Any]) -> Any:
    if name not in values:
        raise FeatureError(name, "missing; a derived feature needs it in the request")
    value = values[name]
    if name == spec["schema"]["timestamp_column"] and not is_missing(value):
        try:
            parse_time(value)
        except ValueError as exc:
            raise FeatureError(name, str(exc)) from None
    return value


def to_model_row(features_: dict[str, Any], spec: dict[str, Any]) -> list[float]:
    """Encoded model features (from :func:`derive_record`) as floats in model column order."""
    row = []
    for name in model_columns(spec):
        if name not in features_:
            raise FeatureError(name, "missing from the feature dict")
        value = features_[name]
        row.append(math.nan if value is None else float(value))
    return row

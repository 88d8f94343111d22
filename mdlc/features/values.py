"""Spec helpers and scalar values: reading the spec, checking, parsing and encoding one value.

Only the standard library: a Lambda imports this in a few milliseconds.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

NS_PER_DAY = 86_400 * 10**9
#: Microseconds per day: event times are integer microseconds since the epoch (UTC).
US_PER_DAY = 86_400 * 10**6
NUMERIC_TYPES = ("float", "int")
#: Keys a caller may send next to the model features (ignored by the model).
PASSTHROUGH_KEYS = ("unknown_entity",)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FeatureError(ValueError):
    """A value that does not fit the schema; ``field`` names the offending feature."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"field {field!r}: {message}")


def show(value: Any) -> str:
    """A value as a person reads it in an error message: ``nan``, ``12.5``, ``'GB'`` (numpy
    and pandas scalars as the Python value they hold, not ``np.float64(nan)``)."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, Decimal):
        return str(value)
    return repr(value)
# ----------------------------------------------------------------------- spec helpers
def features(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """All features of the spec, in spec order."""
    return list(spec["schema"]["features"])


def feature_map(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Feature name → feature dict."""
    return {f["name"]: f for f in features(spec)}


def model_columns(spec: dict[str, Any]) -> list[str]:
    """Names of the model-input features, in model column order (spec order)."""
    return [f["name"] for f in features(spec) if f.get("model_input", True)]


def record_columns(spec: dict[str, Any]) -> list[str]:
    """Names of the features present in every raw record and every request."""
    return [f["name"] for f in features(spec) if f.get("source", "record") == "record"]


def online_columns(spec: dict[str, Any]) -> list[str]:
    """Names of the online (entity-history) features, as stored in the online table."""
    return [f["name"] for f in features(spec) if f.get("source") == "online"]


def key_columns(spec: dict[str, Any]) -> dict[str, str]:
    """The schema's key column names: id, entity, timestamp and label."""
    s = spec["schema"]
    return {
        "id": s["id_column"],
        "entity": s["entity_key"],
        "timestamp": s["timestamp_column"],
        "label": s["label"],
    }


# --------------------------------------------------------------------- scalar helpers
def is_missing(value: Any) -> bool:
    """True for None, NaN and the empty string (how CSV and JSON spell 'no value')."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value == ""


def parse_time(value: Any) -> datetime:
    """An ISO-8601 string (or datetime) as an aware UTC datetime; naive means UTC."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected an ISO-8601 time, got {show(value)}") from None
    else:
        raise ValueError(f"expected an ISO-8601 time string, got {type(value).__name__} {show(value)}")
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def to_number(value: Any) -> float | None:
    """A number (incl. DynamoDB's Decimal and numeric strings) as float; missing → None."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        return float(value)
    raise ValueError(f"expected a number, got {type(value).__name__} {show(value)}")


def encode_value(feature: dict[str, Any], value: Any) -> float | int | None:
    """A feature value as the model sees it: category → index, bool → 0/1, missing → None.

    Unknown categories encode as None (data quality counts them; serving rejects them
    earlier with :func:`check_value`).
    """
    if is_missing(value):
        return None
    ftype = feature["type"]
    if ftype == "category":
        cats = feature["categories"]
        return cats.index(value) if value in cats else None
    if ftype == "bool":
        return int(to_bool(value))
    if ftype == "int":
        return int(to_number(value))
    if ftype == "float":
        return to_number(value)
    raise ValueError(f"feature {feature['name']!r} of type {ftype!r} is not a model input type")


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise ValueError(f"expected a bool (true/false/0/1), got {show(value)}")


def check_value(feature: dict[str, Any], value: Any) -> None:
    """Raise FeatureError unless ``value`` fits the feature's type, range and categories."""
    name, ftype = feature["name"], feature["type"]
    if is_missing(value):
        if not feature.get("nullable", False):
            raise FeatureError(name, f"missing; expected a {ftype} value")
        return
    if ftype == "category":
        if not isinstance(value, str) or value not in feature["categories"]:
            raise FeatureError(name, f"got {show(value)}; expected one of {feature['categories']}")
    elif ftype in NUMERIC_TYPES:
        _check_number(feature, value)
    elif ftype == "bool":
        try:
            to_bool(value)
        except ValueError as exc:
            raise FeatureError(name, str(exc)) from None
    elif ftype == "timestamp":
        try:
            parse_time(value)
        except ValueError as exc:
            raise FeatureError(name, str(exc)) from None
    elif ftype == "string" and not isinstance(value, str):
        raise FeatureError(name, f"got {type(value).__name__} {show(value)}; expected a string")


def _check_number(feature: dict[str, Any], value: Any) -> None:
    name, ftype = feature["name"], feature["type"]
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise FeatureError(name, f"got {type(value).__name__} {show(value)}; expected a {ftype}")
    number = float(value)
    if math.isinf(number):
        raise FeatureError(name, f"got {show(value)}; expected a finite {ftype}")
    if ftype == "int" and not number.is_integer():
        raise FeatureError(name, f"got {show(value)}; expected a whole number")
    lo, hi = feature.get("min"), feature.get("max")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise FeatureError(name, f"got {show(value)}; expected a value in [{lo}, {hi}]")


def cast(feature: dict[str, Any], value: Any) -> Any:
    """Give a computed value the feature's declared type (int/bool features as int)."""
    if value is None or feature["type"] not in ("int", "bool"):
        return value
    return int(value)


# ------------------------------------------------------------------------------ time
def time_us(value: Any) -> int:
    """An ISO-8601 time (or datetime) as integer microseconds since the epoch, UTC."""
    dt = parse_time(value)
    return (dt - _EPOCH) // timedelta(microseconds=1)


def iso_from_us(value: int) -> str:
    """Integer microseconds since the epoch as an ISO-8601 UTC string."""
    return (_EPOCH + timedelta(microseconds=value)).isoformat()


def normalise(kind: str, value: Any) -> Any:
    """A raw column value as events store it; None when missing or unusable.

    ``time`` → integer µs, ``number`` → float (non-numeric or non-finite → None),
    ``text`` → str (whole floats written without ``.0``, so CSV and JSON agree), ``numtext``
    → a number column's value as canonical text (``40``, ``12.5``: JSON's 40.0 and CSV's
    "40.0" are one value for count, count_distinct and mode).
    """
    if is_missing(value):
        return None
    if kind == "time":
        try:
            return time_us(value)
        except ValueError:
            return None
    if kind == "number":
        try:
            number = to_number(value)
        except (ValueError, TypeError):
            return None
        return number if number is not None and math.isfinite(number) else None
    if kind == "numtext":  # a number column read as text (count, count_distinct, mode): one spelling
        number = normalise("number", value)
        return None if number is None else str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)



def parse_times_ns(series: Any) -> Any:
    """A column of ISO-8601 strings as int64 UTC nanoseconds (NaT → INT64 min)."""
    import pandas as pd

    parsed = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
    return parsed.astype("datetime64[ns, UTC]").to_numpy(dtype="datetime64[ns]").view("int64")


def now_iso() -> str:
    """Current UTC time as ISO-8601 (for callers that score 'now')."""
    return datetime.now(UTC).isoformat()


def shift_iso(value: Any, seconds: float) -> str:
    """An ISO-8601 time moved by ``seconds`` (as-of times just after the last record)."""
    return (parse_time(value) + timedelta(seconds=seconds)).isoformat()


def lateness_us(spec: dict[str, Any]) -> int:
    """The team's allowed lateness (``streaming.allowed_lateness_minutes``) in µs."""
    minutes = (spec.get("streaming") or {}).get("allowed_lateness_minutes", 60)
    return int(minutes) * 60 * 10**6

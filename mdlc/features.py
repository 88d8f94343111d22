"""The one feature module: every feature is computed here, for training and for serving.

Two callers, one set of semantics:

* training (the feature job) works on whole pandas frames: :func:`point_in_time_features`
  gives, for every transaction, the online aggregates over that entity's *strictly earlier*
  transactions, then the derived features; :func:`online_features_frame` gives the online
  aggregates of every entity as of one time (the rows loaded into the DynamoDB table).
* serving (a Lambda) works on one request dict: :func:`derive_record` combines the request
  with the entity's online item and computes the derived features in pure Python.

Both paths share :func:`_aggregate_at` (aggregates) and :func:`derive_value` (derived ops),
so a feature has exactly one definition. Only the standard library is imported at module
level; numpy and pandas are imported inside the frame functions, so a Lambda imports this
module in a few milliseconds. Everything works on the *spec* dict
(``mdlc.contract.runtime_spec``), never on pydantic objects.

Semantics (the same on both paths):

* timestamps are ISO-8601; a time without an offset is UTC; ``hour_of_day`` and
  ``day_of_week`` (Monday = 0) are taken in UTC.
* an online aggregate as of time ``T`` covers the entity's records with
  ``T - window_days <= time < T`` (all earlier records when there is no window).
* an entity with no record before ``T`` is *unknown*: every online feature takes its
  ``default`` (None when it has none). A known entity with no record in a window gets
  ``count``/``sum`` 0 and ``mean``/``max``/``mode``/``first_seen_days`` None.
* ``mode`` ties go to the smallest value; ``first_seen_days`` is fractional days.
* derived ops: ``ratio`` a/b (None if either is missing or b is 0), ``difference`` a-b,
  ``not_equal`` 1/0 (0 when either side is missing), ``log1p`` (None below -1).
* encoding for the model: category → index in its ``categories`` list, bool → 0/1,
  missing or unknown → None (NaN in a model row).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

NS_PER_DAY = 86_400 * 10**9
NUMERIC_TYPES = ("float", "int")
#: Keys a caller may send next to the model features (ignored by the model).
PASSTHROUGH_KEYS = ("unknown_entity",)


class FeatureError(ValueError):
    """A value that does not fit the schema; ``field`` names the offending feature."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"field {field!r}: {message}")


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
            raise ValueError(f"expected an ISO-8601 time, got {value!r}") from None
    else:
        raise ValueError(f"expected an ISO-8601 time string, got {type(value).__name__} {value!r}")
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
    raise ValueError(f"expected a number, got {type(value).__name__} {value!r}")


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
        return int(_to_bool(value))
    if ftype == "int":
        return int(to_number(value))
    if ftype == "float":
        return to_number(value)
    raise ValueError(f"feature {feature['name']!r} of type {ftype!r} is not a model input type")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise ValueError(f"expected a bool (true/false/0/1), got {value!r}")


def check_value(feature: dict[str, Any], value: Any) -> None:
    """Raise FeatureError unless ``value`` fits the feature's type, range and categories."""
    name, ftype = feature["name"], feature["type"]
    if is_missing(value):
        if not feature.get("nullable", False):
            raise FeatureError(name, f"missing; expected a {ftype} value")
        return
    if ftype == "category":
        if not isinstance(value, str) or value not in feature["categories"]:
            raise FeatureError(name, f"got {value!r}; expected one of {feature['categories']}")
    elif ftype in NUMERIC_TYPES:
        _check_number(feature, value)
    elif ftype == "bool":
        try:
            _to_bool(value)
        except ValueError as exc:
            raise FeatureError(name, str(exc)) from None
    elif ftype == "timestamp":
        try:
            parse_time(value)
        except ValueError as exc:
            raise FeatureError(name, str(exc)) from None
    elif ftype == "string" and not isinstance(value, str):
        raise FeatureError(name, f"got {type(value).__name__} {value!r}; expected a string")


def _check_number(feature: dict[str, Any], value: Any) -> None:
    name, ftype = feature["name"], feature["type"]
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise FeatureError(name, f"got {type(value).__name__} {value!r}; expected a {ftype}")
    number = float(value)
    if math.isinf(number):
        raise FeatureError(name, f"got {value!r}; expected a finite {ftype}")
    if ftype == "int" and not number.is_integer():
        raise FeatureError(name, f"got {value!r}; expected a whole number")
    lo, hi = feature.get("min"), feature.get("max")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise FeatureError(name, f"got {value!r}; expected a value in [{lo}, {hi}]")


# ---------------------------------------------------------------------- derived ops
def derive_value(op: str, args: list[Any]) -> float | int | None:
    """One derived op on already-resolved argument values (the single definition)."""
    if op == "not_equal":
        a, b = args
        return 0 if is_missing(a) or is_missing(b) else int(a != b)
    if op in ("hour_of_day", "day_of_week"):
        if is_missing(args[0]):
            return None
        dt = parse_time(args[0])
        return dt.hour if op == "hour_of_day" else dt.weekday()
    values = [to_number(a) for a in args]
    if any(v is None for v in values):
        return None
    if op == "ratio":
        return None if values[1] == 0 else values[0] / values[1]
    if op == "difference":
        return values[0] - values[1]
    if op == "log1p":
        return None if values[0] < -1 else math.log1p(values[0])
    raise ValueError(f"unknown derive op {op!r}; expected ratio, difference, not_equal, "
                     "hour_of_day, day_of_week or log1p")


def _cast(feature: dict[str, Any], value: Any) -> Any:
    """Give a computed value the feature's declared type (int/bool features as int)."""
    if value is None or feature["type"] not in ("int", "bool"):
        return value
    return int(value)


# ----------------------------------------------------------------------- serving path
def online_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """Online feature values served for an unknown entity (each feature's ``default``)."""
    return {f["name"]: _cast(f, f.get("default")) for f in features(spec) if f.get("source") == "online"}


def check_record(record: dict[str, Any], spec: dict[str, Any]) -> None:
    """Raise FeatureError naming the first request field that does not fit the schema."""
    if not isinstance(record, dict):
        raise FeatureError("(record)", f"expected a JSON object, got {type(record).__name__}")
    for f in features(spec):
        if f.get("source", "record") == "record":
            check_value(f, record.get(f["name"]))


def derive_record(
    record: dict[str, Any], online: dict[str, Any] | None, spec: dict[str, Any]
) -> dict[str, Any]:
    """The model-input features of one request, given the entity's online item.

    ``record`` holds the record features (and the timestamp column when a derived feature
    needs it); ``online`` is the DynamoDB item (Decimals allowed) or None for an unknown
    entity, which gets the online features' defaults. Returns model column → encoded value
    (None for missing) plus ``unknown_entity`` (bool). Raises FeatureError on a bad field.
    """
    check_record(record, spec)
    values: dict[str, Any] = dict(record)
    unknown = online is None
    item = online_defaults(spec) if unknown else online
    for f in features(spec):
        name, source = f["name"], f.get("source", "record")
        if source == "online":
            raw = item.get(name)
            values[name] = raw if f["type"] in ("string", "category") else _cast(f, to_number(raw))
        elif source == "derived":
            args = [_arg(values, a, spec) for a in f["derive"]["args"]]
            values[name] = _cast(f, derive_value(f["derive"]["op"], args))
    fmap = feature_map(spec)
    out: dict[str, Any] = {c: encode_value(fmap[c], values[c]) for c in model_columns(spec)}
    out["unknown_entity"] = unknown
    return out


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


# ------------------------------------------------------------------------ frame path
def parse_times_ns(series: Any) -> Any:
    """A column of ISO-8601 strings as int64 UTC nanoseconds (NaT → INT64 min)."""
    import pandas as pd

    parsed = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
    return parsed.astype("datetime64[ns, UTC]").to_numpy(dtype="datetime64[ns]").view("int64")


def _sparse_table(values: Any, reducer: Any) -> list[Any]:
    """Level k holds reducer over [i, i + 2**k): range queries in O(1)."""
    table = [values]
    span = 1
    while span * 2 <= len(values):
        prev = table[-1]
        table.append(reducer(prev[:-span], prev[span:]))
        span *= 2
    return table


def _range_reduce(table: list[Any], lo: Any, hi: Any, reducer: Any, empty: float) -> Any:
    """reducer over [lo, hi) per query; ``empty`` where the range is empty."""
    import numpy as np

    length = hi - lo
    out = np.full(len(lo), empty, dtype="float64")
    ok = length > 0
    if not ok.any():
        return out
    k = np.floor(np.log2(length[ok])).astype("int64")
    lo_ok, hi_ok = lo[ok], hi[ok]
    res = np.empty(len(lo_ok), dtype="float64")
    for level in np.unique(k):
        sel = k == level
        tab = table[level]
        res[sel] = reducer(tab[lo_ok[sel]], tab[hi_ok[sel] - (1 << int(level))])
    out[ok] = res
    return out


class _History:
    """An entity's records sorted by (entity, time), ready for as-of range queries."""

    def __init__(self, entity_codes: Any, times: Any, frame: Any):
        import numpy as np

        order = np.lexsort((times, entity_codes))
        self.codes = entity_codes[order]
        self.times = times[order]
        self.frame = frame.iloc[order].reset_index(drop=True)

    def positions(self, codes: Any, times: Any) -> Any:
        """Per query: number of history rows with (code, time) lexicographically < query."""
        import numpy as np

        n_hist, n_q = len(self.codes), len(codes)
        all_codes = np.concatenate([self.codes, codes])
        all_times = np.concatenate([self.times, times])
        is_hist = np.concatenate([np.ones(n_hist, "int8"), np.zeros(n_q, "int8")])
        # queries sort before history rows of equal time, so equal times are excluded.
        order = np.lexsort((is_hist, all_times, all_codes))
        before = np.cumsum(is_hist[order]) - is_hist[order]
        pos = np.empty(n_hist + n_q, dtype="int64")
        pos[order] = before
        return pos[n_hist:]

    def group_start(self, codes: Any) -> Any:
        import numpy as np

        return np.searchsorted(self.codes, codes, side="left")


def _aggregate_at(history: _History, codes: Any, times: Any, spec: dict[str, Any]) -> Any:
    """Online features as of each query (entity code, time ns): the single aggregate code."""
    import pandas as pd

    start = history.group_start(codes)
    hi = history.positions(codes, times)
    known = hi > start
    out = pd.DataFrame(index=range(len(codes)))
    for f in features(spec):
        if f.get("source") != "online":
            continue
        agg = f["aggregate"]
        window = agg.get("window_days")
        lo = start if window is None else history.positions(codes, times - window * NS_PER_DAY)
        values = _aggregate_column(history, agg, start, lo, hi, times)
        out[f["name"]] = _finish_online(f, values, known)
    return out


def _aggregate_column(history: _History, agg: dict[str, Any], start: Any, lo: Any, hi: Any,
                      times: Any) -> Any:
    import numpy as np
    import pandas as pd

    fn, column = agg["fn"], agg["column"]
    raw = history.frame[column]
    if fn == "mode":
        return _range_mode(raw, history, start, lo, hi)
    if fn == "first_seen_days":
        ts = parse_times_ns(raw).astype("float64")
        ts[ts == float(np.iinfo("int64").min)] = np.inf
        first = _range_reduce(_sparse_table(ts, np.minimum), lo, hi, np.minimum, np.inf)
        with np.errstate(invalid="ignore"):
            days = (times.astype("float64") - first) / NS_PER_DAY
        return np.where(np.isfinite(first), days, np.nan)
    nums = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64")
    present = ~np.isnan(nums)
    if fn == "max":
        filled = np.where(present, nums, -np.inf)
        res = _range_reduce(_sparse_table(filled, np.maximum), lo, hi, np.maximum, -np.inf)
        return np.where(np.isfinite(res), res, np.nan)
    count = _range_sum(present.astype("float64"), history, start, lo, hi)
    if fn == "count":
        return count
    total = _range_sum(np.where(present, nums, 0.0), history, start, lo, hi)
    if fn == "sum":
        return total
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1), np.nan)


def _range_sum(values: Any, history: _History, start: Any, lo: Any, hi: Any) -> Any:
    """Sum over [lo, hi) from running sums restarted per entity (no drift across entities)."""
    import numpy as np
    import pandas as pd

    running = pd.Series(values).groupby(history.codes).cumsum().to_numpy(dtype="float64")
    running = np.concatenate([running, [0.0]])  # index -1 → 0 for empty ranges
    upper = np.where(hi > start, running[hi - 1], 0.0)
    lower = np.where(lo > start, running[lo - 1], 0.0)
    return np.where(hi > lo, upper - lower, 0.0)


def _range_mode(raw: Any, history: _History, start: Any, lo: Any, hi: Any) -> Any:
    """Most frequent non-missing value in [lo, hi); ties → smallest value; empty → None."""
    import numpy as np
    import pandas as pd

    labels = raw.astype("string")
    valid = labels.notna() & (labels != "")
    uniques = sorted(labels[valid].unique())
    result = np.full(len(lo), None, dtype=object)
    if not uniques:
        return result
    codes = pd.Categorical(labels.where(valid), categories=uniques).codes
    best = np.full(len(lo), -1.0)
    for k, _ in enumerate(uniques):
        counts = _range_sum((codes == k).astype("float64"), history, start, lo, hi)
        better = counts > best
        best = np.where(better, counts, best)
        result = np.where(better & (counts > 0), uniques[k], result)
    return result


def _finish_online(feature: dict[str, Any], values: Any, known: Any) -> Any:
    """Unknown entities get the default; counts become ints; types follow the schema."""
    import numpy as np
    import pandas as pd

    default = feature.get("default")
    if feature["type"] in ("string", "category"):
        arr = np.where(known, values, default)
        return pd.Series(arr, dtype=object).where(pd.notna(arr), None)
    arr = np.asarray(values, dtype="float64")
    arr = np.where(known, arr, np.nan if default is None else float(default))
    if feature["type"] in ("int", "bool"):
        return pd.Series(np.round(arr)).astype("Int64")
    return arr


def _entity_codes(*series: Any) -> list[Any]:
    """Integer codes for entity ids, shared across several columns."""
    import numpy as np
    import pandas as pd

    joined = pd.concat([s.astype("string") for s in series], ignore_index=True)
    codes, _ = pd.factorize(joined)
    out, offset = [], 0
    for s in series:
        out.append(np.asarray(codes[offset: offset + len(s)], dtype="int64"))
        offset += len(s)
    return out


def _valid_history(df: Any, spec: dict[str, Any]) -> Any:
    """Rows usable as history: an entity and a parseable timestamp."""
    keys = key_columns(spec)
    times = parse_times_ns(df[keys["timestamp"]])
    ok = (times != _NAT) & df[keys["entity"]].notna()
    return df.loc[ok].reset_index(drop=True), times[ok.to_numpy()]


_NAT = -(2**63)


def online_features_frame(transactions_df: Any, spec: dict[str, Any], as_of: Any) -> Any:
    """The online features of every entity seen before ``as_of``: one row per entity.

    Columns: the entity key, then every ``source: online`` feature. ``as_of`` is an
    ISO-8601 string or datetime; only records strictly earlier than it count. Entities
    with no earlier record are left out (serving then uses the defaults).
    """
    import numpy as np
    import pandas as pd

    entity = key_columns(spec)["entity"]
    hist_df, times = _valid_history(transactions_df, spec)
    as_of_ns = int(pd.Timestamp(parse_time(as_of)).value)
    entities = pd.Series(hist_df.loc[times < as_of_ns, entity].unique(), dtype=object)
    entities = entities.sort_values(ignore_index=True)
    hist_codes, query_codes = _entity_codes(hist_df[entity], entities)
    history = _History(hist_codes, times, hist_df)
    query_times = np.full(len(entities), as_of_ns, dtype="int64")
    out = _aggregate_at(history, query_codes, query_times, spec)
    out.insert(0, entity, entities.to_numpy())
    return out


def point_in_time_features(df: Any, spec: dict[str, Any]) -> Any:
    """Training features without leakage: for each record, the online aggregates over its
    entity's strictly earlier records in the window, then the derived features.

    Returns a copy of ``df`` (same row order and index) with every online and derived
    feature added as raw (unencoded) values. Rows without a parseable timestamp or entity
    get unknown-entity defaults.
    """
    import numpy as np

    keys = key_columns(spec)
    out = df.copy()
    hist_df, hist_times = _valid_history(df, spec)
    times = parse_times_ns(df[keys["timestamp"]])
    hist_codes, query_codes = _entity_codes(hist_df[keys["entity"]], df[keys["entity"]])
    history = _History(hist_codes, hist_times, hist_df)
    query_times = np.where(times == _NAT, np.iinfo("int64").min + 1, times)
    online = _aggregate_at(history, query_codes, query_times, spec)
    online.index = out.index
    for name in online.columns:
        out[name] = online[name]
    return derive_frame(out, spec)


def derive_frame(df: Any, spec: dict[str, Any]) -> Any:
    """Add every derived feature to a frame holding record, timestamp and online columns.

    Uses :func:`derive_value` row by row on Python values, so the result is bit-for-bit
    what :func:`derive_record` computes for the same inputs.
    """
    import pandas as pd

    out = df.copy()
    for f in features(spec):
        if f.get("source") != "derived":
            continue
        op, args = f["derive"]["op"], f["derive"]["args"]
        columns = [_python_values(out[a]) for a in args]
        values = [derive_value(op, list(vals)) for vals in zip(*columns, strict=True)]
        values = [_cast(f, v) for v in values]
        dtype = "Int64" if f["type"] in ("int", "bool") else "float64"
        out[f["name"]] = pd.Series(values, index=out.index, dtype=dtype)
    return out


def _python_values(series: Any) -> list[Any]:
    """A column as Python scalars with None for missing (NaN, NA, empty string)."""
    values = series.astype(object).where(series.notna(), None).tolist()
    return [None if is_missing(v) else v for v in values]


def encode_frame(df: Any, spec: dict[str, Any]) -> Any:
    """The model columns of a feature frame, encoded as in :func:`encode_value` (float64)."""
    import numpy as np
    import pandas as pd

    fmap = feature_map(spec)
    out = pd.DataFrame(index=df.index)
    for name in model_columns(spec):
        f, col = fmap[name], df[name]
        if f["type"] == "category":
            codes = pd.Categorical(col.astype("string"), categories=f["categories"]).codes
            out[name] = np.where(codes >= 0, codes, np.nan)
        elif f["type"] == "bool":
            out[name] = [np.nan if (v := encode_value(f, x)) is None else float(v)
                         for x in _python_values(col)]
        else:
            out[name] = pd.to_numeric(col, errors="coerce").astype("float64")
    return out


def now_iso() -> str:
    """Current UTC time as ISO-8601 (for callers that score 'now')."""
    return datetime.now(UTC).isoformat()


def shift_iso(value: Any, seconds: float) -> str:
    """An ISO-8601 time moved by ``seconds`` (as-of times just after the last record)."""
    return (parse_time(value) + timedelta(seconds=seconds)).isoformat()

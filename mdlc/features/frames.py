"""The frame path (training, batch, monitoring): whole pandas frames, the same definitions.

numpy and pandas are imported inside the functions, so a Lambda importing the package never
loads them.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from mdlc.features.ops import aggregate_value, compact_into, derive_value, empty_prior
from mdlc.features.state import (
    EntityState,
    aggregate_columns,
    aggregate_keys,
    finish_value,
    item_key,
    online_aggregates,
    states_from_records,
)
from mdlc.features.values import (
    cast,
    encode_value,
    feature_map,
    features,
    is_missing,
    key_columns,
    model_columns,
    normalise,
    time_us,
)

Event = tuple[str, int, list[Any]]


def _key_events(df: Any, spec: dict[str, Any], key: str) -> list[tuple[str, Event]]:
    """``(key value, (id, t, values))`` of every usable record for ``key``'s aggregates,
    sorted by (t, id); records without a value of the key or a time are left out."""
    keys = key_columns(spec)
    columns = aggregate_columns(spec, key)
    values = [normalise("text", v) for v in _python_values(df[key])]
    ids = _python_values(df[keys["id"]]) if keys["id"] in df.columns else list(range(len(df)))
    times = [normalise("time", v) for v in _python_values(df[keys["timestamp"]])]
    cols = [[normalise(kind, v) for v in _python_values(df[c])] for c, kind in columns]
    out = []
    for i, (value, t) in enumerate(zip(values, times, strict=True)):
        if value is not None and t is not None:
            out.append((value, (str(ids[i]), t, [c[i] for c in cols])))
    out.sort(key=lambda e: (e[1][1], e[1][0]))
    return out


def _group_at(df: Any, spec: dict[str, Any], key: str, queries: list[tuple[str | None, int | None]]
              ) -> list[dict[str, Any] | None]:
    """Raw aggregates of ``key``'s features for each query ``(key value, as-of µs)`` from the
    frame's records strictly before it (None: no earlier record of that value): a running
    compacted state for the unbounded aggregates and a window slice for the others, both
    through :func:`aggregate_value`."""
    aggs = [a for a in online_aggregates(spec) if a["key"] == key]
    index = {c: i for i, (c, _) in enumerate(aggregate_columns(spec, key))}
    history: dict[str, list[tuple[int, list[Any]]]] = {}
    for value, (_, t, vals) in _key_events(df, spec, key):
        history.setdefault(value, []).append((t, vals))
    by_value: dict[str, list[int]] = {}
    for qi, (value, t) in enumerate(queries):
        if value is not None and t is not None:
            by_value.setdefault(value, []).append(qi)
    results: list[dict[str, Any] | None] = [None] * len(queries)
    for value, qis in by_value.items():
        events = history.get(value, [])
        times = [t for t, _ in events]
        priors = {a["name"]: empty_prior() for a in aggs if a["window_us"] is None}
        folded = 0
        for qi in sorted(qis, key=lambda q: queries[q][1]):
            t_q = queries[qi][1]
            hi = bisect_left(times, t_q)
            for a in aggs:  # the running state of the unbounded aggregates
                if a["window_us"] is None:
                    col = index[a["column"]]
                    compact_into(priors[a["name"]], a["fn"],
                                 [v for _, vals in events[folded:hi] if (v := vals[col]) is not None])
            folded = max(folded, hi)
            if hi == 0:
                continue
            out = {}
            for a in aggs:
                col = index[a["column"]]
                if a["window_us"] is None:
                    out[a["name"]] = aggregate_value(a["fn"], [], t_q, priors[a["name"]])
                else:
                    lo = bisect_left(times, t_q - a["window_us"])
                    out[a["name"]] = aggregate_value(a["fn"], [v for _, vals in events[lo:hi]
                                                               if (v := vals[col]) is not None], t_q)
            results[qi] = out
    return results


def _online_frame(spec: dict[str, Any], raw: dict[str, list[Any]], n: int) -> Any:
    """Online feature columns from raw values (None: empty or unknown), the empty-window
    rule applied and typed per schema."""
    import pandas as pd

    frame = pd.DataFrame(index=range(n))
    for f in features(spec):
        if f.get("source") == "online":
            frame[f["name"]] = _online_column(f, raw[f["name"]])
    return frame


def _online_column(feature: dict[str, Any], values: list[Any]) -> Any:
    import numpy as np
    import pandas as pd

    filled = [finish_value(feature, v) for v in values]
    if feature["type"] in ("string", "category"):
        return pd.Series([None if is_missing(v) else v for v in filled], dtype=object)
    arr = np.array([np.nan if v is None else float(v) for v in filled], dtype="float64")
    if feature["type"] in ("int", "bool"):
        return pd.Series(np.round(arr)).astype("Int64")
    return arr


def _raw_online(df: Any, spec: dict[str, Any], key_values: dict[str, list[Any]], times: list[int | None]
                ) -> dict[str, list[Any]]:
    """Feature name → raw value per query row, every key column's aggregates."""
    raw: dict[str, list[Any]] = {a["name"]: [None] * len(times) for a in online_aggregates(spec)}
    for key in aggregate_keys(spec):
        results = _group_at(df, spec, key, list(zip(key_values[key], times, strict=True)))
        for i, r in enumerate(results):
            if r is not None:
                for name, value in r.items():
                    raw[name][i] = value
    return raw


def online_features_frame(transactions_df: Any, spec: dict[str, Any], as_of: Any) -> Any:
    """The online features of every key value seen before ``as_of``: one row per online-table
    item (the batch job's snapshot).

    Columns: the entity key (holding the item key: the entity's value, or
    ``<key column>#<value>`` for another key), then every ``source: online`` feature (a row
    holds its own key's features, the others empty). Only records strictly earlier than
    ``as_of`` count; key values with no earlier record are left out (scoring then applies
    the defaults).
    """
    import pandas as pd

    t_q = time_us(as_of)
    items: list[str] = []
    raw: dict[str, list[Any]] = {a["name"]: [] for a in online_aggregates(spec)}
    for key in aggregate_keys(spec):
        seen = sorted({value for value, (_, t, _) in _key_events(transactions_df, spec, key) if t < t_q})
        results = _group_at(transactions_df, spec, key, [(value, t_q) for value in seen])
        items += [item_key(spec, key, value) for value in seen]
        for name in raw:
            raw[name] += [(r or {}).get(name) for r in results]
    out = _online_frame(spec, raw, len(items))
    out.insert(0, key_columns(spec)["entity"], pd.Series(items, dtype=object))
    return out


def join_online(chunk: Any, online: Any, spec: dict[str, Any]) -> Any:
    """``chunk`` with every online feature looked up in a snapshot from
    :func:`online_features_frame` (indexed by item key) for each of its key columns; a key value
    the snapshot lacks, or an empty window, gets the feature's default."""
    out = chunk.copy()
    n = len(out)
    raw: dict[str, list[Any]] = {a["name"]: [None] * n for a in online_aggregates(spec)}
    lookup = online.to_dict("index") if len(online) else {}
    for key in aggregate_keys(spec):
        names = [a["name"] for a in online_aggregates(spec) if a["key"] == key]
        for i, value in enumerate(_python_values(out[key])):
            row = lookup.get(item_key(spec, key, normalise("text", value))) if value is not None else None
            if row is not None:
                for name in names:
                    raw[name][i] = None if is_missing(row.get(name)) else row.get(name)
    online_cols = _online_frame(spec, raw, n)
    online_cols.index = out.index
    for name in online_cols.columns:
        out[name] = online_cols[name]
    return out


def point_in_time_features(df: Any, spec: dict[str, Any], rows: Any = None) -> Any:
    """Training features without leakage: for each record, each key's aggregates over that key
    value's strictly earlier records in the window, then the derived features.

    Returns a copy of ``df`` (same row order and index) with every online and derived feature
    added as raw (unencoded) values. Rows without a parseable timestamp or a key value get
    that key's defaults. ``rows`` (positions) limits the result to those records; their
    history is still every record of ``df`` (the monitor's skew check).
    """
    keys = key_columns(spec)
    out = df.copy() if rows is None else df.iloc[list(rows)].copy()
    times = [normalise("time", v) for v in _python_values(out[keys["timestamp"]])]
    key_values = {key: [normalise("text", v) for v in _python_values(out[key])] for key in aggregate_keys(spec)}
    online = _online_frame(spec, _raw_online(df, spec, key_values, times), len(out))
    online.index = out.index
    for name in online.columns:
        out[name] = online[name]
    return derive_frame(out, spec)


def states_from_frame(df: Any, spec: dict[str, Any]) -> dict[str, EntityState]:
    """Every item's state after all records of a frame (the backfill's recomputation)."""
    return states_from_records(df.astype(object).where(df.notna(), None).to_dict("records"), spec)


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
        values = [cast(f, v) for v in values]
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



"""The one feature module: every feature is computed here, for training and for serving.

Two callers, one set of semantics:

* training (the feature job) works on whole pandas frames: :func:`point_in_time_features`
  gives, for every transaction, the online aggregates over that entity's *strictly earlier*
  transactions, then the derived features; :func:`online_features_frame` gives the online
  aggregates of every entity as of one time (the batch job's snapshot).
* serving (a Lambda) works on one request dict: :func:`derive_record` combines the request
  with the entity's online item and computes the derived features in pure Python.
* the stream consumer keeps each entity's history as an :class:`EntityState` (the events
  within the longest window plus the allowed lateness, and an exact compacted state of
  older events); serving computes the aggregates from it as of the request's time.

Every path computes every aggregate through :func:`aggregate_value` (the one definition of
count, sum, mean, max, first_seen_days and mode) and every derived feature through
:func:`derive_value`, so a feature has exactly one definition and the stream, a backfill
and training agree bit for bit. Only the standard library is imported at module
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
* ``count`` counts non-missing values; ``sum``/``mean``/``max`` read numbers (a value that
  is not a number counts as missing); sums are exact (``math.fsum``), so the result does
  not depend on the order records arrive in.
* ``mode`` ties go to the smallest value (as text); ``first_seen_days`` is fractional days
  from integer microseconds.
* derived ops: ``ratio`` a/b (None if either is missing or b is 0), ``difference`` a-b,
  ``not_equal`` 1/0 (0 when either side is missing), ``log1p`` (None below -1).
* encoding for the model: category → index in its ``categories`` list, bool → 0/1,
  missing or unknown → None (NaN in a model row).
"""

from __future__ import annotations

import hashlib
import json
import math
from bisect import bisect_left
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
            to_bool(value)
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

    ``record`` holds the record features and the timestamp column; ``online`` is the
    DynamoDB item: an entity state written by the stream consumer (the aggregates are
    then computed as of the record's time, from the events strictly before it), a flat
    item of feature values (Decimals allowed), or None for an unknown entity, which gets
    the online features' defaults. Returns model column → encoded value
    (None for missing) plus ``unknown_entity`` (bool). Raises FeatureError on a bad field.
    """
    check_record(record, spec)
    values: dict[str, Any] = dict(record)
    if online is not None and STATE_ATTRIBUTE in online:
        online = features_from_item(online, record, spec)
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


STATE_ATTRIBUTE = "state"


def features_from_item(item: dict[str, Any], record: dict[str, Any],
                       spec: dict[str, Any]) -> dict[str, Any] | None:
    """The raw online features of an online-table item as of the record's timestamp."""
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


# ------------------------------------------------------------ the aggregate definitions
#: Microseconds per day: event times are integer microseconds since the epoch (UTC).
US_PER_DAY = 86_400 * 10**6
TIME_FNS = ("first_seen_days",)
NUMBER_FNS = ("sum", "mean", "max")


def time_us(value: Any) -> int:
    """An ISO-8601 time (or datetime) as integer microseconds since the epoch, UTC."""
    dt = parse_time(value)
    return (dt - _EPOCH) // timedelta(microseconds=1)


def iso_from_us(value: int) -> str:
    """Integer microseconds since the epoch as an ISO-8601 UTC string."""
    return (_EPOCH + timedelta(microseconds=value)).isoformat()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def online_aggregates(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """``{name, fn, column, window_us}`` of every online feature, in spec order."""
    out = []
    for f in features(spec):
        if f.get("source") == "online":
            agg = f["aggregate"]
            window = agg.get("window_days")
            out.append({"name": f["name"], "fn": agg["fn"], "column": agg["column"],
                        "window_us": None if window is None else window * US_PER_DAY})
    return out


def aggregate_columns(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """The raw columns an event must carry, each with how it is normalised: ``time``
    (integer µs), ``number`` (float) or ``text`` (str). One column may feed several
    aggregates; the strictest kind wins (time, then number)."""
    kinds: dict[str, str] = {}
    for agg in online_aggregates(spec):
        kind = "time" if agg["fn"] in TIME_FNS else "number" if agg["fn"] in NUMBER_FNS else "text"
        previous = kinds.get(agg["column"])
        if previous is None or _KIND_RANK[kind] < _KIND_RANK[previous]:
            kinds[agg["column"]] = kind
    return list(kinds.items())


_KIND_RANK = {"time": 0, "number": 1, "text": 2}


def normalise(kind: str, value: Any) -> Any:
    """A raw column value as events store it; None when missing or unusable.

    ``time`` → integer µs, ``number`` → float (non-numeric or non-finite → None),
    ``text`` → str (whole floats written without ``.0``, so CSV and JSON agree).
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
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _grow_partials(partials: list[float], x: float) -> None:
    """Add ``x`` to a list of non-overlapping floats whose exact sum is the running total
    (Shewchuk's algorithm, as in ``math.fsum``): a compact, exact, mergeable sum."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


def empty_prior() -> dict[str, Any]:
    """The compacted state of no values (see :func:`compact_into`)."""
    return {"n": 0, "partials": [], "max": None, "min": None, "counts": {}}


def compact_into(prior: dict[str, Any], fn: str, values: list[Any]) -> None:
    """Fold non-missing values into a compacted state, exactly: count, exact sum partials,
    max, min and value counts (only what ``fn`` needs is kept)."""
    if not values:
        return
    prior["n"] += len(values)
    if fn in ("sum", "mean"):
        for v in values:
            _grow_partials(prior["partials"], v)
    elif fn == "max":
        prior["max"] = max(values if prior["max"] is None else [*values, prior["max"]])
    elif fn == "first_seen_days":
        prior["min"] = min(values if prior["min"] is None else [*values, prior["min"]])
    elif fn == "mode":
        counts = prior["counts"]
        for v in values:
            counts[v] = counts.get(v, 0) + 1


def aggregate_value(fn: str, values: list[Any], as_of_us: int,
                    prior: dict[str, Any] | None = None) -> Any:
    """THE definition of every aggregate, used by training, the stream consumer, serving,
    reconciliation and monitoring alike.

    ``values`` are the non-missing normalised values of the records in the window
    (``as_of - window <= t < as_of``); ``prior`` optionally holds older records compacted
    by :func:`compact_into`. Exact and independent of record order: sums are correctly
    rounded (``math.fsum`` over exact partials), so the stream, a replay or a backfill
    give bit-for-bit the value training computed. An empty window gives ``count``/``sum``
    0 and None otherwise.
    """
    p = prior or _EMPTY
    n = p["n"] + len(values)
    if fn == "count":
        return n
    if fn == "sum":
        return math.fsum([*p["partials"], *values]) if n else 0.0
    if n == 0:
        return None
    if fn == "mean":
        return math.fsum([*p["partials"], *values]) / n
    if fn == "max":
        return max(values if p["max"] is None else [*values, p["max"]])
    if fn == "first_seen_days":
        first = min(values if p["min"] is None else [*values, p["min"]])
        return (as_of_us - first) / US_PER_DAY
    if fn == "mode":
        counts = dict(p["counts"])
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        top = max(counts.values())
        return min(v for v, c in counts.items() if c == top)
    raise ValueError(f"unknown aggregate {fn!r}; expected count, sum, mean, max, "
                     "first_seen_days or mode")


_EMPTY = empty_prior()


def finish_online(spec: dict[str, Any], values: dict[str, Any] | None) -> dict[str, Any]:
    """Online feature values typed as the schema says; None (unknown entity) → defaults."""
    if values is None:
        return online_defaults(spec)
    return {f["name"]: _cast(f, values[f["name"]]) for f in features(spec) if f.get("source") == "online"}


# -------------------------------------------------------------------- entity state
class LateEvent(ValueError):
    """An event older than the entity's newest event by more than the allowed lateness."""


class EntityState:
    """One entity's history in the form the online table keeps it: the events within the
    longest window plus the allowed lateness, and an exact compacted state of older events
    for the aggregates without a window. One DynamoDB item; its size is bounded by the
    schema's windows (events per entity in ``max window + lateness``).

    ``features_at(T)`` is exact (equal to the point-in-time computation from all records)
    for every ``T >= newest - lateness``: events older than that can only matter to
    windows ending before it.
    """

    VERSION = 1

    def __init__(self, spec: dict[str, Any], lateness_us: int) -> None:
        self.spec = spec
        self.aggs = online_aggregates(spec)
        self.columns = aggregate_columns(spec)
        self.lateness_us = lateness_us
        windows = [a["window_us"] for a in self.aggs if a["window_us"] is not None]
        self.retention_us = (max(windows) if windows else 0) + lateness_us
        self.events: dict[str, tuple[int, list[Any]]] = {}
        self.prior: dict[str, dict[str, Any]] = {
            a["name"]: empty_prior() for a in self.aggs if a["window_us"] is None}
        self.compacted = 0
        self.newest_us: int | None = None
        self._oldest_us: int | None = None  # of the held events: compaction only when needed

    # -- events -------------------------------------------------------------------
    def event_from_record(self, record: dict[str, Any]) -> tuple[str, int, list[Any]]:
        """``(id, time µs, normalised column values)`` of a raw record; ValueError names
        the missing key column."""
        keys = key_columns(self.spec)
        event_id = record.get(keys["id"])
        if is_missing(event_id):
            raise ValueError(f"event without {keys['id']!r}")
        stamp = record.get(keys["timestamp"])
        if is_missing(stamp):
            raise ValueError(f"event {event_id!r} without {keys['timestamp']!r}")
        t = time_us(stamp)
        return str(event_id), t, [normalise(kind, record.get(col)) for col, kind in self.columns]

    def add(self, event_id: str, t: int, values: list[Any]) -> bool:
        """Add one event; False for a replay (its id is already held). Raises LateEvent
        when ``t`` is older than the newest event by more than the allowed lateness."""
        if event_id in self.events:
            return False
        if self.newest_us is not None and t < self.newest_us - self.lateness_us:
            raise LateEvent(f"event {event_id!r} at {iso_from_us(t)} is older than the entity's "
                            f"newest event ({iso_from_us(self.newest_us)}) by more than the "
                            f"allowed lateness of {self.lateness_us / 60e6:g} minutes")
        self.events[event_id] = (t, values)
        self.newest_us = t if self.newest_us is None else max(self.newest_us, t)
        self._oldest_us = t if self._oldest_us is None else min(self._oldest_us, t)
        self._compact()
        return True

    def _compact(self) -> None:
        """Fold events older than ``newest - retention`` into the compacted state."""
        assert self.newest_us is not None
        horizon = self.newest_us - self.retention_us
        if self._oldest_us is not None and self._oldest_us >= horizon:
            return  # nothing to fold (the common case: no scan of the held events)
        old = [eid for eid, (t, _) in self.events.items() if t < horizon]
        self._oldest_us = min((t for eid, (t, _) in self.events.items() if t >= horizon), default=None)
        if not old:
            return
        for a in self.aggs:
            if a["window_us"] is None:
                col = self._col(a["column"])
                compact_into(self.prior[a["name"]], a["fn"],
                             [v for eid in old if (v := self.events[eid][1][col]) is not None])
        for eid in old:
            del self.events[eid]
        self.compacted += len(old)

    def _col(self, column: str) -> int:
        return next(i for i, (c, _) in enumerate(self.columns) if c == column)

    # -- features -----------------------------------------------------------------
    def features_at(self, as_of: Any) -> dict[str, Any] | None:
        """Raw online feature values as of ``as_of`` (ISO string, datetime or µs), from the
        records strictly before it; None when the entity has no record before it."""
        t_q = as_of if isinstance(as_of, int) else time_us(as_of)
        earlier = sorted((t, vals) for t, vals in self.events.values() if t < t_q)
        if not earlier and self.compacted == 0:
            return None
        times = [t for t, _ in earlier]
        out = {}
        for a in self.aggs:
            col = self._col(a["column"])
            lo = 0 if a["window_us"] is None else bisect_left(times, t_q - a["window_us"])
            values = [v for _, vals in earlier[lo:] if (v := vals[col]) is not None]
            out[a["name"]] = aggregate_value(a["fn"], values, t_q, self.prior.get(a["name"]))
        return out

    # -- storage --------------------------------------------------------------------
    def to_json(self) -> str:
        """The state as compact JSON (floats round-trip exactly)."""
        events = sorted(([eid, t, vals] for eid, (t, vals) in self.events.items()),
                        key=lambda e: (e[1], e[0]))
        return json.dumps({
            "v": self.VERSION, "signature": state_signature(self.spec, self.lateness_us),
            "newest": self.newest_us, "compacted": self.compacted, "prior": self.prior,
            "events": events,
        }, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, spec: dict[str, Any], lateness_us: int) -> EntityState:
        """Load a stored state; ValueError when it was built for other feature definitions
        (the backfill then rebuilds it)."""
        data = json.loads(text)
        expected = state_signature(spec, lateness_us)
        if data.get("v") != cls.VERSION or data.get("signature") != expected:
            raise StaleState(f"entity state built for feature definitions {data.get('signature')!r}; "
                             f"expected {expected!r} (run the backfill)")
        state = cls(spec, lateness_us)
        state.newest_us = data["newest"]
        state.compacted = data["compacted"]
        state.prior = data["prior"]
        state.events = {eid: (t, vals) for eid, t, vals in data["events"]}
        state._oldest_us = min((t for t, _ in state.events.values()), default=None)
        return state


class StaleState(ValueError):
    """A stored entity state computed for other aggregate definitions."""


def state_signature(spec: dict[str, Any], lateness_us: int) -> str:
    """Short hash of what the stored state depends on: aggregates, columns, lateness."""
    text = json.dumps([online_aggregates(spec), aggregate_columns(spec), lateness_us],
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def lateness_us(spec: dict[str, Any]) -> int:
    """The team's allowed lateness (``streaming.allowed_lateness_minutes``) in µs."""
    minutes = (spec.get("streaming") or {}).get("allowed_lateness_minutes", 60)
    return int(minutes) * 60 * 10**6


def states_from_frame(df: Any, spec: dict[str, Any]) -> dict[str, EntityState]:
    """Every entity's state after all records of a frame (the backfill's recomputation).
    Records are added in time order, so no record counts as late."""
    late = lateness_us(spec)
    states: dict[str, EntityState] = {}
    for ent, event in _frame_events(df, spec):
        state = states.get(ent)
        if state is None:
            state = states[ent] = EntityState(spec, late)
        state.add(*event)
    return states


def _frame_events(df: Any, spec: dict[str, Any]) -> list[tuple[str, tuple[str, int, list[Any]]]]:
    """``(entity, (id, t, values))`` of every usable record, sorted by (t, id)."""
    keys = key_columns(spec)
    columns = aggregate_columns(spec)
    ents = _python_values(df[keys["entity"]])
    ids = _python_values(df[keys["id"]]) if keys["id"] in df.columns else list(range(len(df)))
    times = [normalise("time", v) for v in _python_values(df[keys["timestamp"]])]
    cols = [[normalise(kind, v) for v in _python_values(df[c])] for c, kind in columns]
    out = []
    for i, (ent, t) in enumerate(zip(ents, times, strict=True)):
        if ent is None or t is None:
            continue
        out.append((str(ent), (str(ids[i]), t, [c[i] for c in cols])))
    out.sort(key=lambda e: (e[1][1], e[1][0]))
    return out


# ------------------------------------------------------------------------ frame path
def _online_at(df: Any, spec: dict[str, Any], queries: list[tuple[Any, int | None]]) -> Any:
    """Raw online features for each query ``(entity, as-of µs)`` from the frame's records
    strictly before it: per entity, a running compacted state for the unbounded aggregates
    and a window slice for the others, both through :func:`aggregate_value`."""
    import pandas as pd

    aggs = online_aggregates(spec)
    columns = aggregate_columns(spec)
    index = {c: i for i, (c, _) in enumerate(columns)}
    history: dict[str, list[tuple[int, list[Any]]]] = {}
    for ent, (_, t, vals) in _frame_events(df, spec):
        history.setdefault(ent, []).append((t, vals))
    by_entity: dict[str, list[int]] = {}
    for qi, (ent, t) in enumerate(queries):
        if ent is not None and t is not None and not is_missing(ent):
            by_entity.setdefault(str(ent), []).append(qi)
    results: list[dict[str, Any] | None] = [None] * len(queries)
    for ent, qis in by_entity.items():
        events = history.get(ent, [])
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
                    values = [v for _, vals in events[lo:hi] if (v := vals[col]) is not None]
                    out[a["name"]] = aggregate_value(a["fn"], values, t_q)
            results[qi] = out
    frame = pd.DataFrame(index=range(len(queries)))
    for f in features(spec):
        if f.get("source") == "online":
            frame[f["name"]] = _online_column(f, [None if r is None else r[f["name"]] for r in results],
                                              [r is not None for r in results])
    return frame


def _online_column(feature: dict[str, Any], values: list[Any], known: list[bool]) -> Any:
    """A column of one online feature: unknown entities get the default; types per schema."""
    import numpy as np
    import pandas as pd

    default = feature.get("default")
    filled = [v if k else default for v, k in zip(values, known, strict=True)]
    if feature["type"] in ("string", "category"):
        return pd.Series([None if is_missing(v) else v for v in filled], dtype=object)
    arr = np.array([np.nan if v is None else float(v) for v in filled], dtype="float64")
    if feature["type"] in ("int", "bool"):
        return pd.Series(np.round(arr)).astype("Int64")
    return arr


def online_features_frame(transactions_df: Any, spec: dict[str, Any], as_of: Any) -> Any:
    """The online features of every entity seen before ``as_of``: one row per entity.

    Columns: the entity key, then every ``source: online`` feature. ``as_of`` is an
    ISO-8601 string or datetime; only records strictly earlier than it count. Entities
    with no earlier record are left out (serving then uses the defaults).
    """
    import pandas as pd

    entity = key_columns(spec)["entity"]
    t_q = time_us(as_of)
    seen = sorted({ent for ent, (_, t, _) in _frame_events(transactions_df, spec) if t < t_q})
    out = _online_at(transactions_df, spec, [(ent, t_q) for ent in seen])
    out.insert(0, entity, pd.Series(seen, dtype=object))
    return out


def point_in_time_features(df: Any, spec: dict[str, Any], rows: Any = None) -> Any:
    """Training features without leakage: for each record, the online aggregates over its
    entity's strictly earlier records in the window, then the derived features.

    Returns a copy of ``df`` (same row order and index) with every online and derived
    feature added as raw (unencoded) values. Rows without a parseable timestamp or entity
    get unknown-entity defaults. ``rows`` (positions) limits the result to those records;
    their history is still every record of ``df`` (the monitor's skew check).
    """
    keys = key_columns(spec)
    out = df.copy() if rows is None else df.iloc[list(rows)].copy()
    ents = _python_values(out[keys["entity"]])
    times = [normalise("time", v) for v in _python_values(out[keys["timestamp"]])]
    online = _online_at(df, spec, list(zip(ents, times, strict=True)))
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


def states_from_records(records: Any, spec: dict[str, Any]) -> dict[str, EntityState]:
    """Every entity's state after the given raw records (dicts), added in time order: the
    recomputation the backfill writes and reconciliation compares with. Records without
    entity, id or a parseable time are skipped, as training skips them."""
    late = lateness_us(spec)
    entity_col = key_columns(spec)["entity"]
    probe = EntityState(spec, late)
    events = []
    for record in records:
        entity = record.get(entity_col)
        if is_missing(entity):
            continue
        try:
            events.append((str(entity), probe.event_from_record(record)))
        except ValueError:
            continue
    events.sort(key=lambda e: (e[1][1], e[1][0]))
    states: dict[str, EntityState] = {}
    for entity, event in events:
        state = states.get(entity)
        if state is None:
            state = states[entity] = EntityState(spec, late)
        state.add(*event)
    return states


def reconcile_state(online: EntityState, recomputed: EntityState,
                    snapshot_end_us: int) -> tuple[bool, EntityState]:
    """Compare an entity's online state with its recomputation from a raw snapshot that
    holds every record before ``snapshot_end_us``.

    The online state's events at or after the snapshot end (newer than the export) are
    added to the recomputation first; then both must agree on every feature as of just
    after their newest event and on the events both still hold. Returns (equal, the
    recomputation with the newer events), the state a repair writes.
    """
    merged = EntityState.from_json(recomputed.to_json(), recomputed.spec, recomputed.lateness_us)
    for eid, (t, values) in sorted(online.events.items(), key=lambda e: (e[1][0], e[0])):
        if t >= snapshot_end_us and eid not in merged.events:
            try:
                merged.add(eid, t, values)
            except LateEvent:
                pass
    newest = max(online.newest_us or 0, merged.newest_us or 0)
    if online.features_at(newest + 1) != merged.features_at(newest + 1):
        return False, merged
    horizon = newest - online.retention_us
    held = {e: v for e, v in online.events.items() if v[0] >= horizon}
    again = {e: v for e, v in merged.events.items() if v[0] >= horizon}
    return _same_events(held, again), merged


def _same_events(a: dict[str, tuple[int, list[Any]]], b: dict[str, tuple[int, list[Any]]]) -> bool:
    return a.keys() == b.keys() and all(a[k][0] == b[k][0] and list(a[k][1]) == list(b[k][1]) for k in a)

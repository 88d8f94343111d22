"""The one feature package: every feature is computed here, for training and for serving.

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

Every path computes every aggregate through :func:`aggregate_value` and every derived
feature through :func:`derive_value`, both defined by one table each (``ops.AGGREGATES``,
``ops.DERIVES``), so a feature has exactly one definition and the stream, a backfill
and training agree bit for bit. Only the standard library is imported at module
level; numpy and pandas are imported inside the frame functions, so a Lambda imports this
module in a few milliseconds. Everything works on the *spec* dict
(``mdlc.contract.runtime_spec``), never on pydantic objects.

Semantics (the same on both paths):

* timestamps are ISO-8601; a time without an offset is UTC; ``hour_of_day`` and
  ``day_of_week`` (Monday = 0) are taken in UTC.
* an online aggregate as of time ``T`` covers the records of its key value (``aggregate.key``,
  default ``schema.entity_key``) with ``T - window <= time < T`` (all earlier records when
  there is no window); windows are durations (``10m``, ``1h``, ``7d``; or ``window_days``).
* the empty-window rule, identical on every path: a window with no value (and a key value
  never seen) gives the feature's ``default``, None when it has none (the contract then
  requires ``nullable``). An entity with no record before ``T`` is flagged *unknown*.
* ``count`` counts non-missing values, ``count_distinct`` distinct ones (exactly);
  ``sum``/``mean``/``max``/``min`` read numbers (a value that
  is not a number counts as missing); sums are exact (``math.fsum``), so the result does
  not depend on the order records arrive in.
* ``mode`` ties go to the smallest value (as text); ``first_seen_days`` is fractional days
  from integer microseconds.
* derived ops: ``ratio`` a/b (None if either is missing or b is 0), ``difference`` a-b,
  ``not_equal`` 1/0 (0 when either side is missing), ``log1p`` (None below -1).
* encoding for the model: category → index in its ``categories`` list, bool → 0/1,
  missing or unknown → None (NaN in a model row).
"""

from mdlc.features.frames import (
    derive_frame,
    encode_frame,
    join_online,
    online_features_frame,
    point_in_time_features,
    states_from_frame,
)
from mdlc.features.ops import (
    AGGREGATES,
    COLUMN_KINDS,
    DERIVES,
    KIND_TYPES,
    AggregateOp,
    DeriveOp,
    aggregate_value,
    compact_into,
    derive_value,
    empty_prior,
)
from mdlc.features.serving import (
    STATE_ATTRIBUTE,
    check_record,
    derive_record,
    derive_record_items,
    features_from_item,
    online_values,
    request_item_keys,
    to_model_row,
)
from mdlc.features.state import (
    ITEM_WARN_FRACTION,
    MAX_ITEM_BYTES,
    MAX_WINDOW_DAYS,
    MIN_WINDOW_US,
    WINDOW_PATTERN,
    EntityState,
    LateEvent,
    StaleState,
    aggregate_columns,
    aggregate_keys,
    finish_online,
    finish_value,
    item_key,
    item_size,
    key_of_item,
    online_aggregates,
    online_defaults,
    parse_window,
    reconcile_state,
    record_item_keys,
    state_signature,
    states_from_records,
    window_us,
)
from mdlc.features.values import (
    NS_PER_DAY,
    NUMERIC_TYPES,
    PASSTHROUGH_KEYS,
    US_PER_DAY,
    FeatureError,
    cast,
    check_value,
    encode_value,
    feature_map,
    features,
    is_missing,
    iso_from_us,
    key_columns,
    lateness_us,
    model_columns,
    normalise,
    now_iso,
    online_columns,
    parse_time,
    parse_times_ns,
    record_columns,
    shift_iso,
    show,
    time_us,
    to_bool,
    to_number,
)

__all__ = [
    "AGGREGATES", "COLUMN_KINDS", "DERIVES", "ITEM_WARN_FRACTION", "KIND_TYPES", "MAX_ITEM_BYTES",
    "MAX_WINDOW_DAYS", "MIN_WINDOW_US", "NS_PER_DAY", "NUMERIC_TYPES", "PASSTHROUGH_KEYS", "STATE_ATTRIBUTE",
    "US_PER_DAY", "WINDOW_PATTERN", "AggregateOp", "DeriveOp", "EntityState", "FeatureError", "LateEvent",
    "StaleState", "aggregate_columns", "aggregate_keys", "aggregate_value", "cast", "check_record",
    "check_value", "compact_into", "derive_frame", "derive_record", "derive_record_items", "derive_value",
    "empty_prior", "encode_frame", "encode_value", "feature_map", "features", "features_from_item",
    "finish_online", "finish_value", "is_missing", "iso_from_us", "item_key", "item_size", "join_online",
    "key_columns", "key_of_item", "lateness_us", "model_columns", "normalise", "now_iso", "online_aggregates",
    "online_columns", "online_defaults", "online_features_frame", "online_values", "parse_time",
    "parse_times_ns", "parse_window", "point_in_time_features", "reconcile_state", "record_columns",
    "record_item_keys", "request_item_keys", "shift_iso", "show", "state_signature", "states_from_frame",
    "states_from_records", "time_us", "to_bool", "to_model_row", "to_number", "window_us",
]

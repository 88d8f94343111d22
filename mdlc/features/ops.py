"""THE tables of aggregate functions and derive ops: one entry + its function per op.

The contract (allowed names, the JSON schema's enum and descriptions, type checks), the
lint, the synthetic data and the parametrised tests all read :data:`AGGREGATES` and
:data:`DERIVES`; adding an op is one entry here and the function it names.

An aggregate keeps, for the records of a window, the non-missing *normalised* values of its
column (see :data:`COLUMN_KINDS`); older records of an unbounded aggregate are folded into
an exact compacted ``prior`` (:func:`compact_into`). :func:`aggregate_value` is the one
definition every path (training, stream, serving, backfill, batch, monitoring) computes
with. **Empty windows**: every function gives None when its window holds no value; the
feature's ``default`` then applies (:func:`mdlc.features.state.finish_value`), exactly as
for an entity never seen. A feature without a default must be nullable (the contract
refuses it otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mdlc.features.values import US_PER_DAY, is_missing, parse_time, to_number

#: How an aggregate's column is normalised in an event: integer µs, float or text.
COLUMN_KINDS = ("time", "number", "text")
#: Schema types a column of each kind may have.
KIND_TYPES = {"time": ("timestamp",), "number": ("float", "int", "bool"),
              "text": ("float", "int", "bool", "category", "timestamp", "string")}


@dataclass(frozen=True)
class AggregateOp:
    """One aggregate function.

    ``kind``: how its column is read (``COLUMN_KINDS``); ``types``: feature types its result
    may be declared as; ``needs_window``: True when its exact state would grow without bound
    over all history (distinct values); ``fold(prior, values)`` compacts older values
    exactly; ``value(values, prior, as_of_us)`` is the result, None for no value at all.
    """

    kind: str
    types: tuple[str, ...]
    doc: str
    fold: Callable[[dict[str, Any], list[Any]], None]
    value: Callable[[list[Any], dict[str, Any], int], Any]
    needs_window: bool = False


def _fold_sum(prior: dict[str, Any], values: list[Any]) -> None:
    for v in values:
        _grow_partials(prior["partials"], v)


def _fold_extreme(pick: Callable[..., Any], slot: str) -> Callable[[dict[str, Any], list[Any]], None]:
    def fold(prior: dict[str, Any], values: list[Any]) -> None:
        prior[slot] = pick(values if prior[slot] is None else [*values, prior[slot]])
    return fold


def _fold_counts(prior: dict[str, Any], values: list[Any]) -> None:
    counts = prior["counts"]
    for v in values:
        counts[v] = counts.get(v, 0) + 1


def _no_fold(prior: dict[str, Any], values: list[Any]) -> None:
    """Nothing beyond the count (``n``) is kept."""


def _unbounded(prior: dict[str, Any], values: list[Any]) -> None:
    raise ValueError("count_distinct needs a window: its exact state over all history has no bound")


def _extreme(pick: Callable[..., Any], slot: str) -> Callable[[list[Any], dict[str, Any], int], Any]:
    return lambda values, p, _t: pick(values if p[slot] is None else [*values, p[slot]])


def _first_seen_days(values: list[Any], p: dict[str, Any], as_of_us: int) -> float:
    first = min(values if p["min"] is None else [*values, p["min"]])
    return (as_of_us - first) / US_PER_DAY


def _mode(values: list[Any], p: dict[str, Any], _t: int) -> Any:
    counts = dict(p["counts"])
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    top = max(counts.values())
    return min(v for v, c in counts.items() if c == top)


NUMBER_RESULT = ("float", "int")
AGGREGATES: dict[str, AggregateOp] = {
    "count": AggregateOp("text", NUMBER_RESULT, "number of records with a value of `column`",
                         _no_fold, lambda values, p, _t: p["n"] + len(values)),
    "count_distinct": AggregateOp("text", NUMBER_RESULT, "number of distinct values of `column` (exact; "
                                  "needs a window)", _unbounded, lambda values, p, _t: len(set(values)),
                                  needs_window=True),
    "sum": AggregateOp("number", NUMBER_RESULT, "exact sum of `column`", _fold_sum,
                       lambda values, p, _t: math.fsum([*p["partials"], *values])),
    "mean": AggregateOp("number", NUMBER_RESULT, "mean of `column` (exact sum / count)", _fold_sum,
                        lambda values, p, _t: math.fsum([*p["partials"], *values]) / (p["n"] + len(values))),
    "max": AggregateOp("number", NUMBER_RESULT, "largest value of `column`", _fold_extreme(max, "max"),
                       _extreme(max, "max")),
    "min": AggregateOp("number", NUMBER_RESULT, "smallest value of `column`", _fold_extreme(min, "min"),
                       _extreme(min, "min")),
    "first_seen_days": AggregateOp("time", NUMBER_RESULT, "days since the earliest `column` time",
                                   _fold_extreme(min, "min"), _first_seen_days),
    "mode": AggregateOp("text", ("string", "category"), "most frequent value of `column` (ties: the "
                        "smallest as text)", _fold_counts, _mode),
}


def aggregate_names() -> list[str]:
    return list(AGGREGATES)


def empty_prior() -> dict[str, Any]:
    """The compacted state of no values (see :func:`compact_into`)."""
    return {"n": 0, "partials": [], "max": None, "min": None, "counts": {}}


_EMPTY = empty_prior()


def compact_into(prior: dict[str, Any], fn: str, values: list[Any]) -> None:
    """Fold non-missing values into a compacted state, exactly (only what ``fn`` needs)."""
    if not values:
        return
    op = _op(fn)
    op.fold(prior, values)
    prior["n"] += len(values)


def aggregate_value(fn: str, values: list[Any], as_of_us: int, prior: dict[str, Any] | None = None) -> Any:
    """THE definition of every aggregate, used by training, the stream consumer, serving,
    reconciliation and monitoring alike.

    ``values`` are the non-missing normalised values of the records in the window
    (``as_of - window <= t < as_of``); ``prior`` optionally holds older records compacted by
    :func:`compact_into`. Exact and independent of record order (sums are correctly rounded
    over exact partials), so the stream, a replay or a backfill give bit for bit the value
    training computed. None when there is no value at all (the empty-window rule).
    """
    op = _op(fn)
    p = prior or _EMPTY
    if p["n"] + len(values) == 0:
        return None
    return op.value(values, p, as_of_us)


def _op(fn: str) -> AggregateOp:
    try:
        return AGGREGATES[fn]
    except KeyError:
        raise ValueError(f"unknown aggregate {fn!r}; expected one of {', '.join(AGGREGATES)}") from None


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


# ---------------------------------------------------------------------- derived ops
@dataclass(frozen=True)
class DeriveOp:
    """One derived op: ``arity`` arguments read as ``reads`` (number, time or any value)."""

    arity: int
    reads: str
    doc: str
    fn: Callable[..., Any]


def _numbers(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        values = [to_number(a) for a in args]
        return None if any(v is None for v in values) else fn(*values)
    return wrapped


def _time(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda a: None if is_missing(a) else fn(parse_time(a))


DERIVES: dict[str, DeriveOp] = {
    "ratio": DeriveOp(2, "number", "a/b (missing when either is missing or b is 0)",
                      _numbers(lambda a, b: None if b == 0 else a / b)),
    "difference": DeriveOp(2, "number", "a-b", _numbers(lambda a, b: a - b)),
    "not_equal": DeriveOp(2, "any", "1 when a≠b, 0 when equal or either is missing",
                          lambda a, b: 0 if is_missing(a) or is_missing(b) else int(a != b)),
    "hour_of_day": DeriveOp(1, "time", "hour of a time (UTC)", _time(lambda dt: dt.hour)),
    "day_of_week": DeriveOp(1, "time", "weekday of a time (UTC, Monday = 0)", _time(lambda dt: dt.weekday())),
    "log1p": DeriveOp(1, "number", "log(1+a) (missing below -1)",
                      _numbers(lambda a: None if a < -1 else math.log1p(a))),
}


def derive_value(op: str, args: list[Any]) -> float | int | None:
    """One derived op on already-resolved argument values (the single definition)."""
    try:
        spec = DERIVES[op]
    except KeyError:
        raise ValueError(f"unknown derive op {op!r}; expected one of {', '.join(DERIVES)}") from None
    return spec.fn(*args)

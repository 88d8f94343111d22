"""Windows, keys and the online state of one key value (one DynamoDB item).

An aggregate is grouped by ``aggregate.key`` (a record column; ``schema.entity_key`` when
not given) over ``aggregate.window`` (a duration: ``10m``, ``1h``, ``36h``, ``7d``; or the
older ``window_days``). Each key column has its own item per value, holding the events
within that key's longest window plus the allowed lateness (so its size is bounded by the
busiest value's traffic in that span) and an exact compacted state of older events for the
aggregates without a window. Items of the entity key are stored under the value itself;
items of another key under ``<key column>#<value>`` in the same table.
"""

from __future__ import annotations

import hashlib
import json
import re
from bisect import bisect_left
from typing import Any

from mdlc.features.ops import AGGREGATES, aggregate_value, compact_into, empty_prior
from mdlc.features.values import (
    US_PER_DAY,
    cast,
    features,
    is_missing,
    iso_from_us,
    key_columns,
    lateness_us,
    normalise,
    time_us,
)

#: Shortest and longest window: one minute, and the ten years the online state supports
#: (an item holds the busiest key value's events of its longest window; see MAX_ITEM_BYTES).
MIN_WINDOW_US = 60 * 10**6
MAX_WINDOW_DAYS = 3650
#: DynamoDB's item size limit, and the share of it at which the stream consumer warns.
MAX_ITEM_BYTES = 400 * 1024
ITEM_WARN_FRACTION = 0.75
WINDOW_PATTERN = r"^[1-9][0-9]*[mhd]$"
_UNIT_US = {"m": 60 * 10**6, "h": 3600 * 10**6, "d": US_PER_DAY}
ITEM_KEY_SEPARATOR = "#"


def parse_window(text: str) -> int:
    """A window duration (``10m``, ``1h``, ``36h``, ``7d``) in µs; ValueError saying what fits."""
    if not isinstance(text, str) or not re.match(WINDOW_PATTERN, text):
        raise ValueError(f"window {text!r} is not a duration; expected a whole number of minutes, hours or "
                         "days such as 10m, 1h, 36h or 7d")
    us = int(text[:-1]) * _UNIT_US[text[-1]]
    if us < MIN_WINDOW_US or us > MAX_WINDOW_DAYS * US_PER_DAY:
        raise ValueError(f"window {text!r} is outside 1m..{MAX_WINDOW_DAYS}d")
    return us


def window_us(aggregate: dict[str, Any]) -> int | None:
    """The aggregate's window in µs (None: all history)."""
    if aggregate.get("window") is not None:
        return parse_window(aggregate["window"])
    days = aggregate.get("window_days")
    return None if days is None else int(days) * US_PER_DAY


#: What each spec's aggregates derive to, computed once per spec object: the stream consumer
#: and serving build a state per item per batch and request, and deriving these anew each
#: time cost more than the events themselves. A spec is read-only once loaded.
_DERIVED: dict[int, tuple[dict[str, Any], dict[Any, Any]]] = {}


def _memo(spec: dict[str, Any], name: Any, compute: Any) -> Any:
    hit = _DERIVED.get(id(spec))
    if hit is None or hit[0] is not spec:
        if len(_DERIVED) > 64:
            _DERIVED.clear()
        hit = _DERIVED[id(spec)] = (spec, {})  # holding the spec keeps its id from being reused
    memo = hit[1]
    if name not in memo:
        memo[name] = compute()
    return memo[name]


def online_aggregates(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """``{name, fn, column, key, window_us}`` of every online feature, in spec order (shared:
    do not modify)."""
    return _memo(spec, "aggregates", lambda: _online_aggregates(spec))


def _online_aggregates(spec: dict[str, Any]) -> list[dict[str, Any]]:
    entity = spec["schema"]["entity_key"]
    out = []
    for f in features(spec):
        if f.get("source") == "online":
            agg = f["aggregate"]
            out.append({"name": f["name"], "fn": agg["fn"], "column": agg["column"],
                        "key": agg.get("key") or entity, "window_us": window_us(agg)})
    return out


def aggregate_keys(spec: dict[str, Any]) -> list[str]:
    """The key columns the online aggregates are grouped by, the entity key first."""
    return _memo(spec, "keys", lambda: _aggregate_keys(spec))


def _aggregate_keys(spec: dict[str, Any]) -> list[str]:
    entity = spec["schema"]["entity_key"]
    keys = [entity] if any(a["key"] == entity for a in online_aggregates(spec)) else []
    for a in online_aggregates(spec):
        if a["key"] not in keys:
            keys.append(a["key"])
    return keys


def aggregate_columns(spec: dict[str, Any], key: str | None = None) -> list[tuple[str, str]]:
    """The raw columns an event of ``key``'s items carries (all keys when None), each with how it
    is normalised (``time``, ``number`` or ``text``); the strictest kind wins for a shared column."""
    return _memo(spec, ("columns", key), lambda: _aggregate_columns(spec, key))


def _aggregate_columns(spec: dict[str, Any], key: str | None) -> list[tuple[str, str]]:
    kinds: dict[str, str] = {}
    numeric = {f["name"] for f in features(spec) if f.get("source", "record") == "record"
               and f["type"] in ("float", "int")}
    for agg in online_aggregates(spec):
        if key is not None and agg["key"] != key:
            continue
        kind = AGGREGATES[agg["fn"]].kind
        if kind == "text" and agg["column"] in numeric:
            kind = "numtext"  # 40.0 from JSON and "40.0" from CSV must be one value
        previous = kinds.get(agg["column"])
        if previous is None or _KIND_RANK[kind] < _KIND_RANK[previous]:
            kinds[agg["column"]] = kind
    return list(kinds.items())


_KIND_RANK = {"time": 0, "number": 1, "numtext": 2, "text": 3}


def item_key(spec: dict[str, Any], key: str, value: Any) -> str:
    """The online table's partition key value of ``key`` = ``value``."""
    return str(value) if key == spec["schema"]["entity_key"] else f"{key}{ITEM_KEY_SEPARATOR}{value}"


def key_of_item(spec: dict[str, Any], item: str) -> str:
    """The key column an item key belongs to (the inverse of :func:`item_key`)."""
    head, sep, _ = item.partition(ITEM_KEY_SEPARATOR)
    others = set(aggregate_keys(spec)) - {spec["schema"]["entity_key"]}
    return head if sep and head in others else spec["schema"]["entity_key"]


def record_item_keys(record: dict[str, Any], spec: dict[str, Any]) -> dict[str, str | None]:
    """Key column → item key of a record (None where the record has no value for it)."""
    out: dict[str, str | None] = {}
    for key in aggregate_keys(spec):
        value = normalise("text", record.get(key))
        out[key] = None if value is None else item_key(spec, key, value)
    return out


def finish_value(feature: dict[str, Any], raw: Any) -> Any:
    """THE empty-window rule: no value (an empty window, or a key value never seen) → the
    feature's ``default`` (None without one); then the declared type."""
    return cast(feature, feature.get("default") if raw is None else raw)


def finish_online(spec: dict[str, Any], values: dict[str, Any] | None) -> dict[str, Any]:
    """Online feature values typed as the schema says, the empty-window rule applied."""
    values = values or {}
    return {f["name"]: finish_value(f, values.get(f["name"])) for f in features(spec) if f.get("source") == "online"}


def online_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """Online feature values served when nothing is known (each feature's ``default``)."""
    return finish_online(spec, None)


# -------------------------------------------------------------------- entity state
class LateEvent(ValueError):
    """An event older than the item's newest event by more than the allowed lateness."""


class StaleState(ValueError):
    """A stored state computed for other aggregate definitions."""


class EntityState:
    """One key value's history as the online table keeps it: the events within its key's
    longest window plus the allowed lateness, and an exact compacted state of older events for
    the aggregates without a window. ``features_at(T)`` is exact (equal to the point-in-time
    computation from all records) for every ``T >= newest - lateness``."""

    VERSION = 1

    def __init__(self, spec: dict[str, Any], lateness_us: int, key: str | None = None) -> None:
        self.spec = spec
        self.key = key or spec["schema"]["entity_key"]
        self.aggs = _memo(spec, ("aggs", self.key), lambda: [a for a in online_aggregates(spec)
                                                             if a["key"] == self.key])
        self.columns = aggregate_columns(spec, self.key)
        self._index = {c: i for i, (c, _) in enumerate(self.columns)}
        self.lateness_us = lateness_us
        windows = [a["window_us"] for a in self.aggs if a["window_us"] is not None]
        self.retention_us = (max(windows) if windows else 0) + lateness_us
        self.events: dict[str, tuple[int, list[Any]]] = {}
        self.prior: dict[str, dict[str, Any]] = {a["name"]: empty_prior() for a in self.aggs
                                                 if a["window_us"] is None}
        self.compacted = 0
        self.newest_us: int | None = None
        self._oldest_us: int | None = None  # of the held events: compaction only when needed

    def event_from_record(self, record: dict[str, Any]) -> tuple[str, int, list[Any]]:
        """``(id, time µs, normalised column values)`` of a raw record; ValueError names the
        missing key column."""
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
        """Add one event; False for a replay (its id is already held). Raises LateEvent when
        ``t`` is older than the newest event by more than the allowed lateness."""
        if event_id in self.events:
            return False
        if self.newest_us is not None and t < self.newest_us - self.lateness_us:
            raise LateEvent(f"event {event_id!r} at {iso_from_us(t)} is older than the newest event of "
                            f"{self.key} ({iso_from_us(self.newest_us)}) by more than the allowed lateness "
                            f"of {self.lateness_us / 60e6:g} minutes")
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
        self._oldest_us = min((t for t, _ in self.events.values() if t >= horizon), default=None)
        if not old:
            return
        for a in self.aggs:
            if a["window_us"] is None:
                col = self._index[a["column"]]
                compact_into(self.prior[a["name"]], a["fn"],
                             [v for eid in old if (v := self.events[eid][1][col]) is not None])
        for eid in old:
            del self.events[eid]
        self.compacted += len(old)

    def features_at(self, as_of: Any) -> dict[str, Any] | None:
        """Raw aggregate values as of ``as_of`` (ISO string, datetime or µs) from the events
        strictly before it (None for an empty window); None when nothing precedes it."""
        t_q = as_of if isinstance(as_of, int) else time_us(as_of)
        earlier = sorted((t, vals) for t, vals in self.events.values() if t < t_q)
        if not earlier and self.compacted == 0:
            return None
        times = [t for t, _ in earlier]
        out = {}
        for a in self.aggs:
            col = self._index[a["column"]]
            lo = 0 if a["window_us"] is None else bisect_left(times, t_q - a["window_us"])
            values = [v for _, vals in earlier[lo:] if (v := vals[col]) is not None]
            out[a["name"]] = aggregate_value(a["fn"], values, t_q, self.prior.get(a["name"]))
        return out

    def to_json(self) -> str:
        """The state as compact JSON (floats round-trip exactly)."""
        events = sorted(([eid, t, vals] for eid, (t, vals) in self.events.items()), key=lambda e: (e[1], e[0]))
        data = {"v": self.VERSION, "signature": state_signature(self.spec, self.lateness_us),
                "newest": self.newest_us, "compacted": self.compacted, "prior": self.prior, "events": events}
        if self.key != self.spec["schema"]["entity_key"]:
            data["key"] = self.key
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, spec: dict[str, Any], lateness_us: int) -> EntityState:
        """Load a stored state; StaleState when it was built for other feature definitions
        (the backfill then rebuilds it)."""
        data = json.loads(text)
        expected = state_signature(spec, lateness_us)
        if data.get("v") != cls.VERSION or data.get("signature") != expected:
            raise StaleState(f"entity state built for feature definitions {data.get('signature')!r}; "
                             f"expected {expected!r} (run the backfill)")
        state = cls(spec, lateness_us, data.get("key"))
        state.newest_us = data["newest"]
        state.compacted = data["compacted"]
        state.prior = data["prior"]
        state.events = {eid: (t, vals) for eid, t, vals in data["events"]}
        state._oldest_us = min((t for t, _ in state.events.values()), default=None)
        return state


def state_signature(spec: dict[str, Any], lateness_us: int) -> str:
    """Short hash of what the stored states depend on: aggregates, keys, columns, lateness.
    (A key is only named when it is not the entity key: older single-key states stay valid.)"""
    return _memo(spec, ("signature", lateness_us), lambda: _state_signature(spec, lateness_us))


def _state_signature(spec: dict[str, Any], lateness_us: int) -> str:
    entity = spec["schema"]["entity_key"]
    aggs = [{k: v for k, v in a.items() if k != "key" or v != entity} for a in online_aggregates(spec)]
    text = json.dumps([aggs, aggregate_columns(spec), lateness_us], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item in its low-level form (attribute names plus string and number
    values, as UTF-8 bytes; numbers counted by their digits), as the 400 KB limit counts it."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        (kind, raw), = value.items()
        size += len(raw.encode()) if kind == "S" else (len(raw) // 2 + 1 if kind == "N" else len(str(raw)))
    return size


def states_from_records(records: Any, spec: dict[str, Any], lateness: int | None = None) -> dict[str, EntityState]:
    """Every item's state (item key → state, every key column) after the given raw records
    (dicts), added in time order: the recomputation the backfill writes and reconciliation
    compares with. Records without id or a parseable time, and key columns a record has no
    value for, are skipped, as training skips them."""
    late = lateness_us(spec) if lateness is None else lateness
    probes = {key: EntityState(spec, late, key) for key in aggregate_keys(spec)}
    events = []
    for record in records:
        for key, item in record_item_keys(record, spec).items():
            if item is None:
                continue
            try:
                events.append((item, key, probes[key].event_from_record(record)))
            except ValueError:
                continue
    events.sort(key=lambda e: (e[2][1], e[2][0]))
    states: dict[str, EntityState] = {}
    for item, key, event in events:
        state = states.get(item)
        if state is None:
            state = states[item] = EntityState(spec, late, key)
        state.add(*event)
    return states


def reconcile_state(online: EntityState, recomputed: EntityState,
                    snapshot_end_us: int) -> tuple[bool, EntityState]:
    """Compare an item's online state with its recomputation from a raw snapshot that holds
    every record before ``snapshot_end_us``.

    The online state's events at or after the snapshot end (newer than the export) are added
    to the recomputation first; then both must agree on every feature as of just after their
    newest event and on the events both still hold. Returns (equal, the recomputation with the
    newer events), the state a repair writes.
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

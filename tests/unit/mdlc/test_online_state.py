"""Online key states (the stream's representation) against the point-in-time definition.

Checks the product: what the stream consumer stores and serving reads gives exactly the
features training computes, for every aggregate, at any window, on every key (entity, card,
device, …), for any team file's columns.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mdlc import features as F
from mdlc import synthetic_team
from mdlc.contract import load_team, parse_team, runtime_spec, team_files
from tests import realtime_team, second_team

REPO = Path(__file__).resolve().parents[3]

# A team unlike the example: other key columns, every aggregate, minute to day windows and
# none, aggregates keyed by the entity and by a device.
OTHER_TEAM = """
name: other-team
owner: {team: tt, email: t@example.com}
schema:
  id_column: order_ref
  entity_key: account
  timestamp_column: ts
  label: bad
  features:
    - {name: value, type: float, nullable: true}
    - {name: shop, type: category, categories: [a, b, c]}
    - {name: device, type: string, nullable: true, model_input: false}
    - {name: n_1d, type: int, source: online, aggregate: {fn: count, column: value, window_days: 1}, default: 0}
    - {name: sum_2d, type: float, source: online, aggregate: {fn: sum, column: value, window_days: 2}, default: 0}
    - {name: mean_all, type: float, source: online, nullable: true, aggregate: {fn: mean, column: value}}
    - {name: sum_all, type: float, source: online, aggregate: {fn: sum, column: value}, default: 0}
    - {name: max_3d, type: float, source: online, nullable: true, aggregate: {fn: max, column: value, window_days: 3}}
    - {name: first_2d, type: float, source: online, nullable: true,
       aggregate: {fn: first_seen_days, column: ts, window_days: 2}}
    - {name: age, type: float, source: online, aggregate: {fn: first_seen_days, column: ts}, default: 0}
    - {name: top_shop_1d, type: string, source: online, nullable: true, model_input: false,
       aggregate: {fn: mode, column: shop, window_days: 1}}
    - {name: top_shop, type: string, source: online, nullable: true, model_input: false,
       aggregate: {fn: mode, column: shop}}
    - {name: dev_n_10m, type: int, source: online, default: 0,
       aggregate: {fn: count, column: value, key: device, window: 10m}}
    - {name: dev_shops_90m, type: int, source: online, default: 0,
       aggregate: {fn: count_distinct, column: shop, key: device, window: 90m}}
    - {name: dev_accounts_1d, type: int, source: online, default: 0,
       aggregate: {fn: count_distinct, column: account, key: device, window: 1d}}
    - {name: dev_min_6h, type: float, source: online, default: -1,
       aggregate: {fn: min, column: value, key: device, window: 6h}}
streaming: {allowed_lateness_minutes: 30}
evaluation: {threshold: 0.5}
decision_rules: {score_bands: {approve_below: 0.3, decline_at_or_above: 0.8}}
"""


def other_spec() -> dict[str, Any]:
    return runtime_spec(parse_team(OTHER_TEAM))


def other_history(n: int = 900, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(0, 12 * 86400, n))
    seconds[10] = seconds[9]  # a same-time pair: not each other's history
    value = rng.lognormal(3, 1, n).round(2)
    value[rng.random(n) < 0.05] = np.nan  # missing values count nowhere
    return pd.DataFrame({
        "order_ref": [f"O{i:05d}" for i in range(n)],
        "account": rng.choice([f"A{i}" for i in range(12)], n),
        "ts": [pd.Timestamp("2026-01-01T00:00:00Z") + pd.Timedelta(seconds=int(s)) for s in seconds],
        "value": value, "shop": rng.choice(["a", "b", "c"], n), "bad": 0,
        # devices shared by accounts, bursts within minutes (times are sorted: neighbours share one)
        "device": [None if i % 50 == 7 else f"D{(i // 3) % 9}" for i in range(n)],
    }).assign(ts=lambda d: d.ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))


def teams() -> list[tuple[str, dict[str, Any], pd.DataFrame]]:
    """The team above and every team file, each with records of its own columns."""
    out = [("other-team", other_spec(), other_history())]
    specs = [(path.stem, runtime_spec(load_team(path))) for path in team_files()]
    # and the generated teams the integration tests deploy (batch-only; realtime with other keys)
    specs += [(module.NAME, runtime_spec(parse_team(yaml.safe_dump(module.team_data()))))
              for module in (second_team, realtime_team)]
    for name, spec in specs:
        history, _ = synthetic_team.for_team(spec, n_entities=25, days=120, seed=3)
        out.append((name, spec, history))
    return out


TEAMS = teams()


def _same(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and np.isnan(a)) or a is pd.NA:
        return b is None or (isinstance(b, float) and np.isnan(b)) or b is pd.NA
    return a == b  # exact: the stream must give the very same float


def _row_online(frame: pd.DataFrame, i: int, spec: dict[str, Any]) -> dict[str, Any]:
    return {name: (None if pd.isna(v := frame[name].iloc[i]) else v) for name in F.online_columns(spec)}


def _served(spec: dict[str, Any], states: dict[str, F.EntityState], record: dict[str, Any]) -> dict[str, Any]:
    """What serving computes from the stored JSON of every key's item, as of the record's time."""
    raw: dict[str, Any] = {}
    for item in F.record_item_keys(record, spec).values():
        if item in states:
            stored = F.EntityState.from_json(states[item].to_json(), spec, F.lateness_us(spec))
            raw.update(stored.features_at(record[F.key_columns(spec)["timestamp"]]) or {})
    return F.finish_online(spec, raw)


def _add(spec: dict[str, Any], states: dict[str, F.EntityState], record: dict[str, Any]) -> None:
    for key, item in F.record_item_keys(record, spec).items():
        if item is not None:
            state = states.setdefault(item, F.EntityState(spec, F.lateness_us(spec), key))
            state.add(*state.event_from_record(record))


@pytest.mark.parametrize(("team", "spec", "history"), TEAMS, ids=[t[0] for t in TEAMS])
def test_stream_state_gives_exactly_the_point_in_time_features(team, spec, history):
    """Given every record streamed in time order, when each is scored just before it is
    added, then the features of every key equal the training computation: 0 mismatches."""
    keys = F.key_columns(spec)
    training = F.point_in_time_features(history, spec)
    states: dict[str, F.EntityState] = {}
    order = np.argsort(F.parse_times_ns(history[keys["timestamp"]]), kind="stable")
    mismatches = []
    for i in order:
        record = {k: (None if F.is_missing(v) else v) for k, v in history.iloc[i].to_dict().items()}
        served = _served(spec, states, record)
        expected = _row_online(training, i, spec)
        mismatches += [(i, k, served[k], expected[k]) for k in expected if not _same(served[k], expected[k])]
        _add(spec, states, record)
    assert mismatches == []
    assert any(s.compacted for s in states.values()), "the history should outlive the longest window"


@pytest.mark.parametrize(("team", "spec", "history"), TEAMS, ids=[t[0] for t in TEAMS])
def test_serving_merge_of_every_keys_item_equals_the_training_row(team, spec, history):
    """Given the items the backfill computes from the earlier records, when a later record is
    served with every key's item, then its model row equals training's, bit for bit."""
    keys = F.key_columns(spec)
    training = F.encode_frame(F.point_in_time_features(history, spec), spec)
    cutoff = history[keys["timestamp"]].iloc[len(history) * 2 // 3]
    earlier = history[history[keys["timestamp"]] < cutoff]
    states = F.states_from_frame(earlier, spec)
    later = list(history.index[history[keys["timestamp"]] >= cutoff][:60])
    record_cols = F.record_columns(spec) + [keys["timestamp"]]
    seen: set[str] = set()
    checked = 0
    for i in later:
        record = {k: (None if F.is_missing(v) else v) for k, v in history.loc[i, record_cols].to_dict().items()}
        items = F.record_item_keys({**record, keys["entity"]: history.loc[i, keys["entity"]]}, spec)
        if seen & {v for v in items.values() if v}:
            seen |= {v for v in items.values() if v}
            continue  # an earlier later record of that key value is not in its item
        seen |= {v for v in items.values() if v}
        online = {key: None if item not in states else {keys["entity"]: item, "state": states[item].to_json()}
                  for key, item in items.items()}
        served = F.derive_record_items(record, online, spec)
        assert np.array_equal(np.array(F.to_model_row(served, spec)), training.loc[i].to_numpy(),
                              equal_nan=True), i
        checked += 1
    assert checked >= 3


def _events(spec, history):
    """``(item key, key column, event)`` of every record for every key, in record order."""
    probes = {key: F.EntityState(spec, F.lateness_us(spec), key) for key in F.aggregate_keys(spec)}
    out = []
    for r in history.to_dict("records"):
        r = {k: (None if F.is_missing(v) else v) for k, v in r.items()}
        out += [(item, key, probes[key].event_from_record(r))
                for key, item in F.record_item_keys(r, spec).items() if item is not None]
    return out


def _final(spec, events, at):
    states: dict[str, F.EntityState] = {}
    late = 0
    for item, key, event in events:
        state = states.setdefault(item, F.EntityState(spec, F.lateness_us(spec), key))
        try:
            state.add(*event)
        except F.LateEvent:
            late += 1
    return {e: s.features_at(at) for e, s in states.items()}, late


@pytest.mark.parametrize(("team", "spec", "history"), TEAMS, ids=[t[0] for t in TEAMS])
def test_replays_count_once_and_out_of_order_within_lateness_lands_in_the_right_windows(team, spec, history):
    events = _events(spec, history)
    at = F.iso_from_us(max(e[2][1] for e in events) + 1)
    in_order, late = _final(spec, events, at)
    assert late == 0
    # at-least-once: every 7th record delivered twice
    replayed, _ = _final(spec, [e for i, e in enumerate(events) for _ in range(2 if i % 7 == 0 else 1)], at)
    assert replayed == in_order
    # out of order: each record delayed by up to the allowed lateness
    lateness = F.lateness_us(spec)
    rng = random.Random(1)
    shuffled = sorted(events, key=lambda e: e[2][1] + rng.randint(0, lateness))
    assert shuffled != events
    reordered, late = _final(spec, shuffled, at)
    assert late == 0 and reordered == in_order


def test_an_event_later_than_the_allowed_lateness_is_refused_by_name():
    spec = other_spec()
    state = F.EntityState(spec, F.lateness_us(spec))  # 30 minutes
    record = {"order_ref": "O1", "account": "A", "ts": "2026-01-02T12:00:00Z", "value": 5.0, "shop": "a",
              "device": "D1"}
    assert state.add(*state.event_from_record(record))
    inside = {**record, "order_ref": "O2", "ts": "2026-01-02T11:31:00Z"}
    assert state.add(*state.event_from_record(inside))
    outside = {**record, "order_ref": "O3", "ts": "2026-01-02T11:29:00Z"}
    with pytest.raises(F.LateEvent, match="O3.*allowed lateness of 30 minutes"):
        state.add(*state.event_from_record(outside))
    assert state.features_at("2026-01-02T13:00:00Z")["n_1d"] == 2
    assert not state.add(*state.event_from_record(record))  # a replay changes nothing


def test_state_of_other_feature_definitions_is_refused():
    spec = other_spec()
    state = F.EntityState(spec, F.lateness_us(spec))
    state.add("O1", F.time_us("2026-01-02T12:00:00Z"), [1.0, 0, "a"])
    text = state.to_json()
    longer = json.loads(json.dumps(spec))
    longer["schema"]["features"][3]["aggregate"]["window_days"] = 5
    with pytest.raises(F.StaleState, match="run the backfill"):
        F.EntityState.from_json(text, longer, F.lateness_us(longer))


def test_state_json_round_trips_exact_sums():
    spec = other_spec()
    state = F.EntityState(spec, 0)
    for i, v in enumerate([0.1, 0.2, 0.3, 1e16, 1.0, -1e16]):
        state.add(f"O{i}", F.time_us("2026-01-01T00:00:00Z") + i * 4 * F.US_PER_DAY, [v, 0, "a"])
    restored = F.EntityState.from_json(state.to_json(), spec, 0)
    at = F.iso_from_us(F.time_us("2026-03-01T00:00:00Z"))
    assert restored.features_at(at) == state.features_at(at)
    assert state.features_at(at)["sum_all"] == 1.6  # fsum: exact, where naive summing gives 2.0

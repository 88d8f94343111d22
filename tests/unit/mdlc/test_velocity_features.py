"""Velocity features (issue 23): duration windows, several keys, count_distinct and min, the
empty-window rule, window-edge parity per key, and the aggregate/derive op tables.

Product tests: the feature package, the contract and the example's generator. Tests over
``F.AGGREGATES`` and ``F.DERIVES`` are parametrised by the tables, so a new op is tested by
adding its entry.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from lambdas.shared.entity_store import EntityStore
from mdlc import features as F
from mdlc import synthetic, synthetic_team
from mdlc.contract import TeamFileError, load_team, parse_team, runtime_spec

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "models" / "fraud-detection.yaml"

BASE = {
    "name": "velocity-team",
    "owner": {"team": "velocity", "email": "velocity@example.com"},
    "schema": {
        "id_column": "ref", "entity_key": "account", "timestamp_column": "ts", "label": "bad",
        "features": [
            {"name": "value", "type": "float", "nullable": True},
            {"name": "shop", "type": "category", "categories": ["a", "b", "c"]},
            {"name": "device", "type": "string", "nullable": True, "model_input": False},
        ],
    },
    "streaming": {"allowed_lateness_minutes": 30},
    "evaluation": {"threshold": 0.5},
    "decision_rules": {"score_bands": {"approve_below": 0.3, "decline_at_or_above": 0.8}},
}
#: A column of each kind the table's ops read.
COLUMN_OF_KIND = {"number": "value", "time": "ts", "text": "shop"}


def team_with(*online: dict[str, Any]) -> dict[str, Any]:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["schema"]["features"] += list(online)
    return data


def spec_of(data: dict[str, Any]) -> dict[str, Any]:
    return runtime_spec(parse_team(yaml.safe_dump(data)))


def feature_for(fn: str, *, key: str | None = None, window: str | None = "1h", name: str | None = None) -> dict:
    op = F.AGGREGATES[fn]
    agg = {"fn": fn, "column": COLUMN_OF_KIND[op.kind]}
    if key:
        agg["key"] = key
    if window:
        agg["window"] = window
    ftype = op.types[0]
    return {"name": name or f"{fn}_x", "type": ftype, "source": "online", "nullable": True,
            "model_input": ftype not in ("string",), "aggregate": agg}


# ----------------------------------------------------------------------- the op tables
@pytest.mark.parametrize("fn", list(F.AGGREGATES))
def test_every_aggregate_of_the_table_is_valid_in_a_team_file_and_gives_none_for_an_empty_window(fn):
    spec = spec_of(team_with(feature_for(fn, key="device"), feature_for(fn, name=f"{fn}_y", window="7d")))
    assert F.aggregate_value(fn, [], 0) is None
    assert [a["key"] for a in F.online_aggregates(spec)] == ["device", "account"]


@pytest.mark.parametrize("fn", [fn for fn, op in F.AGGREGATES.items() if not op.needs_window])
def test_every_compactable_aggregate_is_exact_whatever_is_compacted(fn):
    """Folding older values into the prior gives the value of all of them in the window."""
    kind = F.AGGREGATES[fn].kind
    values = {"number": [0.1, 0.2, 0.3, 1e16, 1.0, -1e16, 7.5],
              "time": [5 * F.US_PER_DAY, 2 * F.US_PER_DAY, 9 * F.US_PER_DAY, 3, 4, 8, 1],
              "text": ["b", "a", "b", "c", "a", "a", "b"]}[kind]
    whole = F.aggregate_value(fn, values, 10 * F.US_PER_DAY)
    for cut in range(len(values) + 1):
        prior = F.empty_prior()
        F.compact_into(prior, fn, values[:cut])
        assert F.aggregate_value(fn, values[cut:], 10 * F.US_PER_DAY, prior) == whole, cut


@pytest.mark.parametrize("fn", [fn for fn, op in F.AGGREGATES.items() if op.needs_window])
def test_an_aggregate_without_a_bounded_state_needs_a_window_at_validate(fn):
    with pytest.raises(TeamFileError, match=f"{fn} needs a window"):
        spec_of(team_with(feature_for(fn, window=None)))


@pytest.mark.parametrize("op", list(F.DERIVES))
def test_every_derive_op_of_the_table_is_valid_with_its_arity_and_missing_in_gives_no_error(op):
    spec = F.DERIVES[op]
    arg = {"number": "value", "time": "ts", "any": "shop"}[spec.reads]
    spec_of(team_with({"name": "d", "type": "float", "source": "derived", "nullable": True,
                       "derive": {"op": op, "args": [arg] * spec.arity}}))
    assert F.derive_value(op, [None] * spec.arity) in (None, 0)
    with pytest.raises(TeamFileError, match=f"op '{op}' takes {spec.arity}"):
        spec_of(team_with({"name": "d", "type": "float", "source": "derived", "nullable": True,
                           "derive": {"op": op, "args": [arg] * (3 - spec.arity)}}))


def test_count_distinct_is_exact_and_min_reads_numbers():
    assert F.aggregate_value("count_distinct", ["a", "b", "a", "c", "b"], 0) == 3
    assert F.normalise("text", 1.0) == F.normalise("text", "1")  # CSV text and JSON numbers agree
    assert F.aggregate_value("min", [3.5, -2.0, 7.0], 0) == -2.0


def test_a_number_column_counted_on_another_key_reads_the_same_from_json_and_from_csv():
    """The stream gets 40.0 (JSON), the backfill "40.0" (CSV text): the card's item (a count of
    amount, no sum beside it) must hold one value, or reconciliation reports a mismatch."""
    spec = runtime_spec(load_team(EXAMPLE))
    record = {"transaction_id": "T1", "customer_id": "C1", "card_id": "K1", "device_id": "D1", "merchant_id": "M1",
              "event_time": "2026-03-01T10:00:00Z", "amount": 40.0, "merchant_category": "grocery",
              "channel": "online", "country": "GB"}
    from_json = F.states_from_records([record], spec)
    from_csv = F.states_from_records([{k: str(v) for k, v in record.items()}], spec)
    end = F.time_us("2026-03-01T10:00:01Z")
    for item in from_json:
        assert F.reconcile_state(from_json[item], from_csv[item], end)[0], item


# -------------------------------------------------------------------------- windows
@pytest.mark.parametrize(("text", "minutes"), [("1m", 1), ("10m", 10), ("1h", 60), ("36h", 2160), ("7d", 10080)])
def test_windows_are_durations(text, minutes):
    assert F.parse_window(text) == minutes * 60 * 10**6


@pytest.mark.parametrize("window", ["30s", "0m", "1w", "3651d", "10 m"])
def test_a_window_that_is_no_supported_duration_is_refused_naming_the_field(window):
    with pytest.raises(TeamFileError, match=r"aggregate\.window"):
        spec_of(team_with(feature_for("count", window=window)))


def test_window_and_window_days_together_are_refused():
    feature = feature_for("count")
    feature["aggregate"]["window_days"] = 2
    with pytest.raises(TeamFileError, match="either window"):
        spec_of(team_with(feature))


def test_a_key_that_is_not_a_record_column_is_refused():
    with pytest.raises(TeamFileError, match="key 'card' is not a record column"):
        spec_of(team_with(feature_for("count", key="card")))


# ----------------------------------------------------------------- empty-window rule
def test_a_non_nullable_windowed_aggregate_without_default_is_refused_at_validate_naming_its_line(tmp_path):
    text = EXAMPLE.read_text().replace(
        "      aggregate: {fn: count, column: amount, key: card_id, window: 10m}\n      default: 0\n",
        "      aggregate: {fn: count, column: amount, key: card_id, window: 10m}\n")
    path = tmp_path / "fraud-detection.yaml"
    path.write_text(text)
    result = subprocess.run([sys.executable, "-m", "mdlc.cli", "validate", str(path)], capture_output=True,
                            text=True, cwd=REPO)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "name: txn_count_10m" in t)
    assert result.returncode != 0
    assert f"line {line}, field `schema.features." in result.stderr
    assert "'txn_count_10m' has no value when its window holds no value" in result.stderr
    assert "`default`" in result.stderr and "nullable" in result.stderr


EMPTY = team_with(
    {"name": "dev_min_1h", "type": "float", "source": "online", "default": -1.0,
     "aggregate": {"fn": "min", "column": "value", "key": "device", "window": "1h"}},
    {"name": "acc_max_10m", "type": "int", "source": "online", "default": 0,
     "aggregate": {"fn": "max", "column": "value", "window": "10m"}},
    {"name": "acc_mean_10m", "type": "float", "source": "online", "nullable": True,
     "aggregate": {"fn": "mean", "column": "value", "window": "10m"}},
)


def _records(rows: list[tuple[str, str, str | None, float | None]]) -> pd.DataFrame:
    return pd.DataFrame([{"ref": r, "account": a, "ts": t, "device": d, "value": v, "shop": "a", "bad": 0}
                         for r, a, t, d, v in [(f"R{i}", *row) for i, row in enumerate(rows)]])


def _paths(spec: dict[str, Any], history: pd.DataFrame, query: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The online features of ``query`` on every path: training (point in time), the stream's
    states as serving reads them, and the batch job's snapshot joined per key."""
    online = F.online_columns(spec)
    frame = pd.concat([history, pd.DataFrame([query])], ignore_index=True)
    training = F.point_in_time_features(frame, spec).iloc[-1]
    states: dict[str, F.EntityState] = {}
    for record in history.to_dict("records"):  # arrival order: the frame's order (late ones last)
        for key, item in F.record_item_keys(record, spec).items():
            if item is not None:
                state = states.setdefault(item, F.EntityState(spec, F.lateness_us(spec), key))
                state.add(*state.event_from_record(record))
    items = {key: (None if item not in states else {"account": item, "state": states[item].to_json()})
             for key, item in F.record_item_keys(query, spec).items()}
    raw, _ = F.online_values(query, items, spec)
    served = F.finish_online(spec, raw)
    snapshot = F.online_features_frame(history, spec, query["ts"]).set_index("account")
    batch = F.join_online(pd.DataFrame([query]), snapshot, spec).iloc[0]
    clean = {n: (None if pd.isna(training[n]) else training[n]) for n in online}
    return {"training": clean, "serving": served,
            "batch": {n: (None if pd.isna(batch[n]) else batch[n]) for n in online}}


def test_an_empty_window_gives_the_default_on_every_path_for_known_and_unknown_key_values():
    """A known device and account whose events are all older than the windows, and an
    unknown device: the default (or None for the nullable feature) everywhere."""
    spec = spec_of(EMPTY)
    history = _records([("A", "2026-01-01T10:00:00Z", "D1", 5.0), ("A", "2026-01-01T10:01:00Z", "D1", 3.0)])
    query = {"ref": "Q", "account": "A", "ts": "2026-01-01T12:00:00Z", "device": "D1", "value": 1.0,
             "shop": "a", "bad": 0}
    expected = {"dev_min_1h": -1.0, "acc_max_10m": 0, "acc_mean_10m": None}
    for where in (query, {**query, "device": "D-never-seen"}, {**query, "account": "B"}):
        paths = _paths(spec, history, where)
        assert paths["training"] == paths["serving"] == paths["batch"] == expected, (where, paths)
    # and model rows: a non-nullable int max over an empty window is a number, never nan
    served = F.derive_record_items({k: v for k, v in query.items() if k not in ("ref", "bad")},
                                   {"account": None, "device": None}, spec)
    assert served["acc_max_10m"] == 0 and served["dev_min_1h"] == -1.0


EDGES = team_with(
    {"name": "dev_n_10m", "type": "int", "source": "online", "default": 0,
     "aggregate": {"fn": "count", "column": "value", "key": "device", "window": "10m"}},
    {"name": "dev_accounts_10m", "type": "int", "source": "online", "default": 0,
     "aggregate": {"fn": "count_distinct", "column": "account", "key": "device", "window": "10m"}},
    {"name": "acc_sum_10m", "type": "float", "source": "online", "default": 0,
     "aggregate": {"fn": "sum", "column": "value", "window": "10m"}},
    {"name": "acc_min_10m", "type": "float", "source": "online", "nullable": True,
     "aggregate": {"fn": "min", "column": "value", "window": "10m"}},
)


@pytest.mark.parametrize("key", ["account", "device"])
def test_window_edges_give_bit_identical_features_in_training_serving_and_batch(key):
    """Per key: an event exactly at as_of - window counts, one a microsecond later counts, one a
    microsecond earlier does not, and a late event (within the lateness, arriving after newer
    ones) counts the same on every path."""
    spec = spec_of(EDGES)
    t = F.time_us("2026-01-01T12:00:00Z")
    window = F.parse_window("10m")
    at = F.iso_from_us
    other = "B" if key == "device" else "A"  # for the device, the events come from two accounts
    rows = [("A", at(t - window - 1), "D1", 100.0),   # just outside
            (other, at(t - window), "D1", 0.1),      # exactly at the edge: inside
            ("A", at(t - window + 1), "D1", 0.2),    # just inside
            (other, at(t - 60 * 10**6), "D1", 0.3),  # a minute before
            ("A", at(t - 5 * 60 * 10**6), "D1", 7.0)]  # late: arrives last, 4 minutes out of order
    history = _records(rows)
    query = {"ref": "Q", "account": "A", "ts": at(t), "device": "D1", "value": 1.0, "shop": "a", "bad": 0}
    paths = _paths(spec, history, query)
    assert paths["training"] == paths["serving"] == paths["batch"], paths
    got = paths["serving"]
    if key == "device":
        assert got["dev_n_10m"] == 4 and got["dev_accounts_10m"] == 2
    else:
        a_values = [v for a, ts, _, v in rows if (a == "A" and F.time_us(ts) >= t - window)]
        assert got["acc_sum_10m"] == math.fsum(a_values) and got["acc_min_10m"] == min(a_values)


# ------------------------------------------------------------------ the online item size
def test_the_busiest_item_of_the_example_generator_stays_well_inside_dynamodbs_limit():
    """90 days of the example generator (with card-testing bursts): the largest item of any key
    (customer, card, fraudster device) is below the alarm threshold (75% of 400 KB)."""
    spec = runtime_spec(load_team(EXAMPLE))
    frame = synthetic.generate(n_customers=400, days=90, seed=7, txns_per_day=3.0)
    states = F.states_from_records(frame.astype(object).where(frame.notna(), None).to_dict("records"), spec)
    store = EntityStore("table", spec)
    sizes = {item: F.item_size(store.item(item, state, 1, "backfill")) for item, state in states.items()}
    busiest = max(sizes, key=sizes.get)
    assert {F.key_of_item(spec, i) for i in sizes} == {"customer_id", "card_id", "device_id"}
    assert sizes[busiest] < F.MAX_ITEM_BYTES * F.ITEM_WARN_FRACTION, (busiest, sizes[busiest])
    assert sizes[busiest] > 10_000  # a real history: the check measures something


def test_a_generated_team_with_other_keys_and_windows_computes_every_path():
    """Any team: records generated from a schema whose aggregates are keyed by a device column
    have a few devices per entity, and training computes every key's features for them."""
    spec = spec_of(team_with(feature_for("count_distinct", key="device", name="dev_shops", window="36h")))
    frame = synthetic_team.generate(spec, n_entities=20, days=5, seed=1)
    per_device = frame.groupby("device").account.nunique()
    assert per_device.max() == 1 and frame.device.nunique() > 20
    features = F.point_in_time_features(frame, spec)
    assert features["dev_shops"].dropna().max() >= 2

"""The feature module: one definition per feature, identical for training and serving."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mdlc import features as F
from mdlc import synthetic as sy
from mdlc.contract import load_team, runtime_spec

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return runtime_spec(load_team(REPO / "models" / "fraud-detection.yaml"))


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return sy.generate(n_customers=60, days=120, seed=3)


def test_module_imports_without_numpy_or_pandas():
    code = "import sys, mdlc.features; print('numpy' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_model_columns_follow_spec_order_and_skip_non_inputs(spec):
    cols = F.model_columns(spec)
    assert cols[:4] == ["amount", "merchant_category", "channel", "country"]
    assert "home_country" not in cols and cols[-1] == "hour_of_day"


def test_encode_value(spec):
    fmap = F.feature_map(spec)
    assert F.encode_value(fmap["channel"], "online") == 2
    assert F.encode_value(fmap["channel"], "carrier-pigeon") is None
    assert F.encode_value(fmap["is_foreign"], True) == 1
    assert F.encode_value(fmap["is_foreign"], "false") == 0
    assert F.encode_value(fmap["amount"], None) is None
    assert F.encode_value(fmap["amount"], Decimal("12.5")) == 12.5


@pytest.mark.parametrize(("op", "args", "expected"), [
    ("ratio", [10, 4], 2.5), ("ratio", [10, 0], None), ("ratio", [10, None], None),
    ("difference", [10, 4], 6.0), ("not_equal", ["GB", "FR"], 1), ("not_equal", ["GB", "GB"], 0),
    ("not_equal", ["GB", None], 0), ("log1p", [0.0], 0.0), ("log1p", [-2.0], None),
    ("hour_of_day", ["2026-03-01T23:30:00+02:00"], 21),
    ("day_of_week", ["2026-03-02T10:00:00Z"], 0),  # a Monday
    ("hour_of_day", ["2026-03-01T05:00:00"], 5),  # no offset: UTC
])
def test_derive_ops(op, args, expected):
    assert F.derive_value(op, args) == expected


def _brute_force(df: dict[str, list], times: list, i: int) -> dict[str, Any]:
    """The online features of row i from their definitions, one loop per feature."""
    t = times[i]
    prior = [j for j in range(len(times)) if df["customer_id"][j] == df["customer_id"][i]
             and times[j] < t]
    if not prior:
        return {"txn_count_30d": 0, "amount_sum_30d": 0.0, "amount_mean_90d": None,
                "account_tenure_days": 0.0, "home_country": None}

    def window(days: int) -> list[float]:
        return [df["amount"][j] for j in prior
                if (t - times[j]).total_seconds() <= days * 86400]

    counts = pd.Series([df["country"][j] for j in prior]).value_counts()
    first = min(times[j] for j in prior)
    return {"txn_count_30d": len(window(30)), "amount_sum_30d": sum(window(30)),
            "amount_mean_90d": float(np.mean(window(90))) if window(90) else None,
            "account_tenure_days": (t - first).total_seconds() / 86400,
            "home_country": sorted(counts[counts == counts.max()].index)[0]}


def test_point_in_time_features_use_only_strictly_earlier_records(spec):
    df = sy.generate(n_customers=6, days=100, seed=5)
    df.loc[5, "event_time"] = df.loc[4, "event_time"]  # a same-time pair is not history
    df.loc[5, "customer_id"] = df.loc[4, "customer_id"]
    out = F.point_in_time_features(df, spec)
    times = [F.parse_time(t) for t in df.event_time]
    columns = {c: df[c].tolist() for c in ("customer_id", "amount", "country")}
    for i in range(len(df)):
        expected = _brute_force(columns, times, i)
        for name, value in expected.items():
            got = out[name].iloc[i]
            if value is None:
                assert got is None or pd.isna(got), (i, name, got)
            elif isinstance(value, str):
                assert got == value, (i, name)
            else:
                assert got == pytest.approx(value, rel=1e-9, abs=1e-9), (i, name, got, value)


def test_first_record_of_an_entity_gets_the_unknown_defaults(spec, transactions):
    out = F.point_in_time_features(transactions, spec)
    first = out.groupby("customer_id").head(1)
    assert (first["txn_count_30d"] == 0).all() and (first["account_tenure_days"] == 0).all()
    assert first["amount_mean_90d"].isna().all() and first["home_country"].isna().all()


def _as_dynamodb_item(row: pd.Series) -> dict[str, Any]:
    """What a DynamoDB GetItem returns: numbers as Decimal, nulls dropped."""
    clean = {k: (None if pd.isna(v) else v) for k, v in row.items()}
    text = json.dumps(clean, default=int)
    return {k: v for k, v in json.loads(text, parse_float=Decimal, parse_int=Decimal).items()
            if v is not None}


def test_training_and_serving_give_identical_features(spec, transactions):
    """Frame path (feature job) versus derive_record with the online item (decision API)."""
    training = F.encode_frame(F.point_in_time_features(transactions, spec), spec)
    record_cols = F.record_columns(spec) + ["event_time"]
    rng = np.random.default_rng(0)
    rows = rng.choice(len(transactions), 80, replace=False)
    unknown_seen = 0
    for i in rows:
        txn = transactions.iloc[i]
        table = F.online_features_frame(transactions, spec, as_of=txn.event_time)
        items = {}  # every key's flat item (the entity's, the card's, the device's)
        for key, item_key in F.record_item_keys(txn.to_dict(), spec).items():
            match = table[table.customer_id == item_key]
            items[key] = None if match.empty else _as_dynamodb_item(match.iloc[0])
        item = items["customer_id"]
        unknown_seen += item is None
        served = F.derive_record_items(txn[record_cols].to_dict(), items, spec)
        assert served["unknown_entity"] is (item is None)
        expected = training.iloc[i].tolist()
        actual = F.to_model_row(served, spec)
        assert np.array_equal(np.array(actual), np.array(expected), equal_nan=True), (
            i, dict(zip(F.model_columns(spec), zip(expected, actual, strict=True), strict=True)))
    assert len(rows) > unknown_seen


def test_unknown_entity_gets_defaults_and_the_flag(spec):
    record = {"amount": 80.0, "merchant_category": "fuel", "channel": "card_present",
              "country": "GB", "event_time": "2026-02-01T08:00:00Z"}
    out = F.derive_record(record, None, spec)
    assert out["unknown_entity"] is True
    assert out["txn_count_30d"] == 0 and out["account_tenure_days"] == 0.0
    assert out["amount_mean_90d"] is None and out["amount_to_avg_ratio"] is None
    assert out["is_foreign"] == 0 and out["hour_of_day"] == 8
    row = F.to_model_row(out, spec)
    assert len(row) == len(F.model_columns(spec)) and math.isnan(row[6])


@pytest.mark.parametrize(("field", "value", "says"), [
    ("channel", "carrier-pigeon", "expected one of"),
    ("amount", "12", "expected a float"),
    ("amount", -1, "expected a value in"),
    ("country", None, "missing"),
    ("event_time", "yesterday", "ISO-8601"),
])
def test_derive_record_rejects_bad_fields_by_name(spec, field, value, says):
    record = {"amount": 10.0, "merchant_category": "fuel", "channel": "online",
              "country": "GB", "event_time": "2026-02-01T08:00:00Z", field: value}
    with pytest.raises(F.FeatureError) as err:
        F.derive_record(record, None, spec)
    assert err.value.field == field and says in str(err.value)


def test_online_table_counts_only_records_before_as_of(spec, transactions):
    as_of = transactions.event_time.iloc[len(transactions) // 2]
    table = F.online_features_frame(transactions, spec, as_of)
    earlier = transactions[pd.to_datetime(transactions.event_time) < pd.Timestamp(as_of)]
    entities = table[~table.customer_id.str.contains("#")]  # other keys' items: card_id#…, device_id#…
    assert set(entities.customer_id) == set(earlier.customer_id)
    assert set(table.customer_id) - set(entities.customer_id) == \
        {f"card_id#{c}" for c in earlier.card_id} | {f"device_id#{d}" for d in earlier.device_id}
    cust = table.customer_id.iloc[0]
    mine = earlier[earlier.customer_id == cust]
    assert table.home_country.iloc[0] == mine.country.value_counts().sort_index().idxmax()

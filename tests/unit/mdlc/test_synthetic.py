"""The synthetic transaction generator: deterministic, schema-shaped, learnable, drift/corrupt."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mdlc import synthetic as sy
from mdlc.contract import load_team, runtime_spec

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def spec():
    return runtime_spec(load_team(REPO / "models" / "fraud-detection.yaml"))


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return sy.generate(n_customers=2000, days=30, seed=1)


def test_same_seed_same_rows_other_seed_other_rows(clean):
    assert sy.generate(n_customers=2000, days=30, seed=1).equals(clean)
    assert not sy.generate(n_customers=2000, days=30, seed=2).equals(clean)


def test_rows_have_the_example_teams_raw_columns_and_values(clean, spec):
    assert list(clean.columns) == sy.COLUMNS
    assert clean.transaction_id.is_unique
    times = pd.to_datetime(clean.event_time, utc=True, format="ISO8601")
    assert times.is_monotonic_increasing and clean.event_time.str.endswith("Z").all()
    features = {f["name"]: f for f in spec["schema"]["features"]}
    for name in ("merchant_category", "channel", "country"):
        assert set(clean[name]) <= set(features[name]["categories"])
    assert clean.amount.between(0, features["amount"]["max"]).all()
    assert 0.012 < clean.is_fraud.mean() < 0.03  # ~1% per transaction plus the card-testing bursts
    assert clean.customer_id.nunique() > 1500 and len(clean) > 40_000


def test_card_testing_bursts_are_many_payments_on_one_card_within_minutes_across_merchants():
    """Product (the example's generator): the pattern the card and device velocities catch."""
    frame = sy.generate(n_customers=2000, days=30, seed=1, with_pattern=True)
    burst = frame[frame.fraud_pattern == "card_testing"]
    assert len(burst) > 100 and (burst.is_fraud == 1).all() and (burst.channel == "online").all()
    times = pd.to_datetime(burst.event_time, utc=True, format="ISO8601")
    per_card = burst.assign(t=times).groupby("card_id").agg(n=("t", "size"), span=("t", lambda t: t.max() - t.min()),
                                                         shops=("merchant_id", "nunique"))
    assert (per_card.n >= 6).all() and (per_card.span < pd.Timedelta(minutes=30)).all()
    assert (per_card.shops == per_card.n).all()  # every payment at another merchant
    assert burst.groupby("device_id").card_id.nunique().max() > 1  # a fraudster's device tests several cards
    legit = frame[frame.is_fraud == 0]
    assert legit.groupby("device_id").card_id.nunique().max() <= 2  # a customer's device: their own cards
    assert list(sy.generate(n_customers=50, days=3, seed=1).columns) == sy.COLUMNS


def test_fraud_follows_learnable_patterns(clean):
    fraud, legit = clean[clean.is_fraud == 1], clean[clean.is_fraud == 0]
    fraud = fraud[~fraud.transaction_id.isin(_card_testing_ids())]  # its own pattern: velocities
    assert (fraud.channel == "online").mean() > 2 * (legit.channel == "online").mean()
    assert fraud.country.isin(sy.RISKY_COUNTRIES).mean() > 0.3
    night = pd.to_datetime(fraud.event_time).dt.hour < 6
    assert night.mean() > 3 * (pd.to_datetime(legit.event_time).dt.hour < 6).mean()


def _card_testing_ids() -> set[str]:
    frame = sy.generate(n_customers=2000, days=30, seed=1, with_pattern=True)
    return set(frame.transaction_id[frame.fraud_pattern == "card_testing"])


def test_drift_shifts_amounts_channel_and_countries(clean):
    drifted = sy.generate(n_customers=2000, days=30, seed=1, drift=1.0)
    assert drifted.amount.median() > 1.3 * clean.amount.median()
    assert (drifted.channel == "online").mean() > (clean.channel == "online").mean() + 0.2
    assert drifted.country.isin(["US", "BR", "IN"]).mean() > 0.2


def test_corrupt_rows_break_nulls_ranges_and_categories(clean, spec):
    bad = sy.generate(n_customers=2000, days=30, seed=1, corrupt=0.05)
    assert bad.amount.isna().any() and (bad.amount < 0).any() and (bad.amount > 50_000).any()
    assert bad.country.isna().any()
    assert "crypto" in set(bad.merchant_category) and "atm" in set(bad.channel)
    damaged = (bad.amount.isna() | (bad.amount < 0) | (bad.amount > 50_000)
               | bad.country.isna() | (bad.merchant_category == "crypto") | (bad.channel == "atm"))
    assert 0.03 < damaged.mean() < 0.07


def test_partitions_and_ground_truth_are_written_per_day(tmp_path):
    df = sy.generate(n_customers=50, days=3, seed=4)
    paths = sy.write_partitions(df, tmp_path / "raw")
    assert [p.parent.name for p in paths] == ["dt=2026-01-01", "dt=2026-01-02", "dt=2026-01-03"]
    first = pd.read_csv(paths[0])
    assert list(first.columns) == sy.COLUMNS and first.event_time.str.startswith("2026-01-01").all()
    assert sum(len(pd.read_csv(p)) for p in paths) == len(df)
    labels = sy.write_ground_truth(df, tmp_path / "gt")
    assert list(pd.read_csv(labels[0]).columns) == ["transaction_id", "is_fraud"]
    assert sy.ground_truth(df).is_fraud.sum() == df.is_fraud.sum()

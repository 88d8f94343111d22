"""Synthetic data from any team's schema (mdlc/synthetic_team.py): the team's own columns,
types, ranges and categories, a learnable label, drift, determinism. Product tests: this is
what `mdlc local` trains and scores when a team gives no --data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mdlc import features as F
from mdlc import synthetic_team as st
from mdlc.contract import MODELS_DIR, load_team, runtime_spec
from tests.second_team import write_second_team


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return runtime_spec(load_team(write_second_team(tmp_path_factory.mktemp("models"))))


@pytest.fixture(scope="module")
def frame(spec):
    return st.generate(spec, n_entities=150, days=30, seed=3)


def test_records_have_the_teams_own_columns_types_ranges_and_categories(spec, frame):
    assert list(frame.columns) == ["payment_ref", "merchant_id", "settled_at", "ticket_size", "mcc_group",
                                   "is_recurring", "items", "charged_back"]
    assert frame.payment_ref.is_unique
    assert frame.merchant_id.str.match(r"^M-\d{6}$").all()
    times = pd.to_datetime(frame.settled_at, utc=True, format="ISO8601")
    assert times.is_monotonic_increasing
    features = {f["name"]: f for f in spec["schema"]["features"]}
    assert frame.ticket_size.between(0, 20000).all()
    assert frame["items"].between(1, 50).all() and (frame["items"] % 1 == 0).all()
    assert set(frame.mcc_group) <= set(features["mcc_group"]["categories"])
    assert set(frame.is_recurring) <= {"true", "false"}
    assert set(frame.charged_back) == {0, 1} and 0.01 < frame.charged_back.mean() < 0.08


def test_the_same_seed_gives_the_same_rows(spec, frame):
    assert st.generate(spec, n_entities=150, days=30, seed=3).equals(frame)
    assert not st.generate(spec, n_entities=150, days=30, seed=4).equals(frame)


def test_the_label_is_learnable_from_the_features_the_feature_module_computes(spec, frame):
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    x = F.encode_frame(F.point_in_time_features(frame, spec), spec)
    y = frame.charged_back.to_numpy()
    cut = len(frame) * 7 // 10
    model = xgb.XGBClassifier(n_estimators=40, max_depth=4, learning_rate=0.2).fit(x[:cut], y[:cut])
    assert roc_auc_score(y[cut:], model.predict_proba(x[cut:])[:, 1]) > 0.75


def test_online_aggregates_have_history_to_aggregate(spec, frame):
    online = F.online_features_frame(frame, spec, "2026-01-31T00:00:00Z")
    assert len(online) > 100  # most merchants have a history
    assert online.payments_7d.max() > 3 and online.ticket_mean_60d.notna().mean() > 0.9


def test_drift_moves_numbers_and_categories(spec, frame):
    drifted = st.generate(spec, n_entities=150, days=30, seed=3, drift=1.0)
    assert drifted.ticket_size.median() > 1.3 * frame.ticket_size.median()
    tail = spec["schema"]["features"][1]["categories"][-1]
    assert (drifted.mcc_group == tail).mean() > (frame.mcc_group == tail).mean()
    shifted = st.shift(frame, spec, 1.0)
    assert shifted.ticket_size.median() > 1.3 * frame.ticket_size.median()
    assert shifted.ticket_size.max() <= 20000


def test_later_records_follow_the_history_with_new_ids(spec):
    later = st.later(spec, n_entities=150, train_days=30, days=2, seed=3, variant=2)
    times = pd.to_datetime(later.settled_at, utc=True, format="ISO8601")
    assert times.min() >= pd.Timestamp("2026-02-01", tz="UTC")
    assert later.payment_ref.str.startswith("S2-").all()


def test_corrupt_rows_break_the_teams_own_rules(spec):
    bad = st.generate(spec, n_entities=100, days=10, seed=3, corrupt=0.1)
    assert bad.ticket_size.isna().any() or (pd.to_numeric(bad.ticket_size, errors="coerce") > 20000).any()
    assert (~bad.mcc_group.isin(spec["schema"]["features"][1]["categories"])).any()


def test_the_example_team_keeps_its_hand_written_generator():
    example = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))
    frame, source = st.for_team(example, n_entities=50, days=10, seed=1)
    assert "card-transaction generator" in source and "is_fraud" in frame


def test_another_schema_is_generated_from_the_schema(spec):
    assert not st.is_example_schema(spec)
    frame, source = st.for_team(spec, n_entities=20, days=5, seed=1)
    assert "the team's schema" in source and "charged_back" in frame


def test_columns_of_every_type_are_generated(tmp_path):
    """A schema with a timestamp, a string and a nullable column (types the examples lack)."""
    data = runtime_spec(load_team(write_second_team(tmp_path)))
    data["schema"]["features"] += [
        {"name": "opened_at", "type": "timestamp", "source": "record", "model_input": False},
        {"name": "region", "type": "string", "source": "record", "model_input": False},
        {"name": "tip", "type": "float", "source": "record", "nullable": True, "min": 0, "max": 100},
    ]
    frame = st.generate(data, n_entities=100, days=20, seed=1)
    assert pd.to_datetime(frame.opened_at, utc=True, format="ISO8601").notna().all()
    assert frame.region.str.startswith("region-").all()
    assert frame.tip.isna().any() and np.nanmax(frame.tip.astype(float)) <= 100

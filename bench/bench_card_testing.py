"""Recall on the card-testing slice, with and without the velocity features (issue 23).

The example team's generator (``mdlc/synthetic.py``) adds card-testing bursts: a stolen
card paid 6-25 times within minutes, small amounts, each at another merchant, from a
fraudster's device. Two models are trained with the team's hyperparameters on the oldest
70% of the records (point-in-time features from ``mdlc.features``, as the feature job
computes them) and scored on the newest 30%: one with every model input of
``models/fraud-detection.yaml``, one without the card and device velocities
(``txn_count_10m``, ``distinct_merchants_1h``, ``distinct_cards_1d``). Recall counts the
fraud rows scored at or above the REVIEW band (``decision_rules.score_bands.approve_below``),
per fraud pattern. Run: ``python bench/bench_card_testing.py`` (~1 min).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import xgboost as xgb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mdlc import features as F  # noqa: E402
from mdlc import synthetic  # noqa: E402
from mdlc.contract import load_team, runtime_spec  # noqa: E402

VELOCITIES = ("txn_count_10m", "distinct_merchants_1h", "distinct_cards_1d")
CUSTOMERS, DAYS, SEED = 2000, 60, 11


def recall_by_pattern(spec: dict, frame, columns: list[str], cut: int, threshold: float) -> dict[str, float]:
    x = F.encode_frame(frame, spec)[columns].to_numpy("float32")
    y = frame["is_fraud"].to_numpy()
    params = {k: v for k, v in spec["training"]["hyperparameters"].items() if k != "num_round"}
    booster = xgb.train({**params, "seed": 42, "nthread": 1}, xgb.DMatrix(x[:cut], label=y[:cut]),
                        num_boost_round=int(spec["training"]["hyperparameters"].get("num_round", 100)))
    scores = booster.predict(xgb.DMatrix(x[cut:]))
    pattern = frame["fraud_pattern"].to_numpy()[cut:]
    out = {}
    for name in ("card_testing", "takeover", "cloned"):
        rows = pattern == name
        out[name] = float((scores[rows] >= threshold).mean()) if rows.any() else float("nan")
    out["all fraud"] = float((scores[y[cut:] == 1] >= threshold).mean())
    legit = y[cut:] == 0
    out["legitimate flagged"] = float((scores[legit] >= threshold).mean())
    return out


def main() -> int:
    spec = runtime_spec(load_team(REPO / "models" / "fraud-detection.yaml"))
    started = time.perf_counter()
    raw = synthetic.generate(n_customers=CUSTOMERS, days=DAYS, seed=SEED, with_pattern=True)
    frame = F.point_in_time_features(raw, spec)
    took = time.perf_counter() - started
    cut = int(len(frame) * 0.7)
    threshold = spec["decision_rules"]["score_bands"]["approve_below"]
    every = F.model_columns(spec)
    without = [c for c in every if c not in VELOCITIES]
    with_v = recall_by_pattern(spec, frame, every, cut, threshold)
    without_v = recall_by_pattern(spec, frame, without, cut, threshold)
    tested = int((frame["fraud_pattern"].to_numpy()[cut:] == "card_testing").sum())
    print(f"{len(frame)} records ({CUSTOMERS} customers, {DAYS} days, seed {SEED}; features in {took:.1f} s), "
          f"test = newest 30% ({len(frame) - cut} records, {tested} card-testing payments); recall = "
          f"share scored >= {threshold} (REVIEW or DECLINE)\n")
    print("| slice | recall without velocities | recall with velocities |")
    print("|---|---|---|")
    for name in with_v:
        print(f"| {name} | {without_v[name]:.1%} | {with_v[name]:.1%} |")
    return 0 if with_v["card_testing"] > without_v["card_testing"] else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())

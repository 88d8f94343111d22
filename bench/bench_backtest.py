"""Backtest speed: 90 days of the example team's generated history, current vs a stricter policy.

Generates the history (600 customers, 90 days, as ``mdlc backtest`` does without --data),
trains an XGBoost model with the team's own hyperparameters on the point-in-time features of
its first 60 days (what the training job would produce, without the offline harness), then
times the backtest itself as ``mdlc backtest --current-model M --policy
examples/stricter-policy.yaml`` runs it: replay (point-in-time features and the collect
step's merge for every request), scoring in the model's job runtime (one process, the
endpoint's serving code), deciding with both policies, and the comparison. Target: the whole
backtest under 60 s. Run: ``python bench/bench_backtest.py [days]``.
"""

from __future__ import annotations

import json
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import xgboost as xgb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mdlc import backtest as bt  # noqa: E402
from mdlc import backtest_inputs as inputs  # noqa: E402
from mdlc import backtest_report as rep  # noqa: E402
from mdlc import features as F  # noqa: E402
from mdlc import runtimes, synthetic_team  # noqa: E402
from mdlc.contract import MODELS_DIR, load_team, runtime_spec  # noqa: E402

TEAM_FILE = MODELS_DIR / "fraud-detection.yaml"
CANDIDATE = REPO / "examples" / "stricter-policy.yaml"
TARGET_SECONDS = 60.0


def train(history, spec, folder: Path) -> Path:
    """model.tar.gz of a model trained as the team file says, on point-in-time features."""
    hps = dict(spec["training"]["hyperparameters"])
    rounds = int(hps.pop("num_round", 100))
    rows = F.encode_frame(F.point_in_time_features(history, spec), spec)
    columns = F.model_columns(spec)
    label = history[spec["schema"]["label"]].to_numpy()
    booster = xgb.train(hps, xgb.DMatrix(rows[columns].to_numpy("float32"), label=label, feature_names=columns),
                        rounds)
    booster.save_model(str(folder / "xgboost-model.ubj"))
    (folder / "xgboost-model.ubj").rename(folder / "xgboost-model")
    (folder / "model-meta.json").write_text(json.dumps({"model_version": "bench", "features": columns}))
    (folder / "team.json").write_text(json.dumps(spec))
    with tarfile.open(folder / "model.tar.gz", "w:gz") as tar:
        for name in ("xgboost-model", "model-meta.json", "team.json"):
            tar.add(folder / name, arcname=name)
    return folder / "model.tar.gz"


def main(days: int = 90) -> int:
    team = load_team(TEAM_FILE)
    spec = runtime_spec(team)
    candidate_spec = runtime_spec(inputs.candidate_team(TEAM_FILE, CANDIDATE))
    history, _ = synthetic_team.for_team(spec, n_entities=600, days=days, seed=7)
    python = runtimes.runtime_for_algorithm(team.training.algorithm).require_built()
    times = np.asarray(F.parse_times_ns(history[spec["schema"]["timestamp_column"]]))
    with tempfile.TemporaryDirectory() as tmp:
        model = train(history[times < times.min() + (times.max() - times.min()) * 2 // 3], spec, Path(tmp))
        phases = {}
        started = time.perf_counter()
        run = bt.replay(history, spec)
        phases["replay (features)"] = time.perf_counter() - started
        t = time.perf_counter()
        answer = bt.score(model, run.features, python)
        phases["scoring (job runtime)"] = time.perf_counter() - t
        t = time.perf_counter()
        now, then = bt.decisions(run, answer, spec), bt.decisions(run, answer, candidate_spec)
        phases["deciding (two policies)"] = time.perf_counter() - t
        t = time.perf_counter()
        a, b = bt.codes(now), bt.codes(then)
        rep.compare(team.name, rep.side(now, a, run.labels, run.amounts, run.days),
                    rep.side(then, b, run.labels, run.amounts, run.days), rep.flips(a, b, run.labels), run, {})
        phases["comparison"] = time.perf_counter() - t
        total = time.perf_counter() - started
    n = len(run.requests)
    print("| history | requests | total s | decisions/s (both policies) | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    print(f"| {days} days, 600 customers | {n:,} | {total:.1f} | {2 * n / total:,.0f} | < {TARGET_SECONDS:.0f} s |")
    print("\n| phase | s |\n| --- | ---: |")
    for name, seconds in phases.items():
        print(f"| {name} | {seconds:.1f} |")
    return 0 if total < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 90))

"""Batch scoring throughput and memory of the inference code path.

Trains a small XGBoost model (100 trees, hist) on synthetic transactions, writes N model
rows as headerless CSV (what the batch features job hands the transform), then measures,
each in its own subprocess with RSS sampled every 20 ms:

* ``inference.transform_file`` (parse, schema checks, predict, write; streamed in chunks);
* raw xgboost: ``pandas.read_csv`` + ``Booster.predict`` + write the scores (no checks);
* raw ``Booster.predict`` alone on the already parsed matrix (the upper bound).

The three measured paths run in the job runtime of the example team's image (its Python
and pinned xgboost/pandas, ``mdlc/runtimes.py``), as the transform job does offline.
Prints a markdown table. Run: ``python bench/bench_batch.py [rows ...]`` (default 250000
and 1000000).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "sagemaker_jobs")]  # the repository, the job bundle's root

RUNNERS = {
    "inference": """
import sys, time
sys.path.insert(0, {jobs!r})
from inference import inference as inf
model = inf.model_fn({model!r})
t = time.perf_counter()
with open({data!r}) as src, open({out!r}, 'w') as dst:
    rows = inf.transform_file(model, src, dst, 'text/csv', chunk_rows=50_000)
print(rows, time.perf_counter() - t)
""",
    "raw_read_predict": """
import time, numpy as np, pandas as pd, xgboost as xgb
b = xgb.Booster(); b.load_model({model!r} + '/xgboost-model')
t = time.perf_counter()
x = pd.read_csv({data!r}, header=None, dtype='float32').to_numpy()
p = b.predict(xgb.DMatrix(x, feature_names=b.feature_names))
np.savetxt({out!r}, p, fmt='%r')
print(len(p), time.perf_counter() - t)
""",
    "raw_predict_only": """
import time, numpy as np, pandas as pd, xgboost as xgb
b = xgb.Booster(); b.load_model({model!r} + '/xgboost-model')
x = pd.read_csv({data!r}, header=None, dtype='float32').to_numpy()
t = time.perf_counter()
p = b.predict(xgb.DMatrix(x, feature_names=b.feature_names))
print(len(p), time.perf_counter() - t)
""",
}


def make_model(folder: Path) -> tuple[Path, np.ndarray]:
    """A trained model dir (xgboost-model, model-meta.json, team.json) and its model rows."""
    import xgboost as xgb
    from features import job as features_job  # the bundle's import root is on sys.path

    from mdlc import features as F
    from mdlc import synthetic
    from mdlc.contract import MODELS_DIR, load_team, runtime_spec

    spec = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))
    raw = synthetic.generate(n_customers=2000, days=30, seed=3)
    frame = features_job.model_frame(raw, spec)
    columns = F.model_columns(spec)
    x = frame[columns].to_numpy("float32")
    booster = xgb.train({"objective": "binary:logistic", "tree_method": "hist", "max_depth": 5, "nthread": 2},
                        xgb.DMatrix(x, label=frame[spec["schema"]["label"]].to_numpy(), feature_names=columns), 100)
    folder.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(folder / "xgboost-model"))
    (folder / "model-meta.json").write_text(json.dumps({"features": columns, "model_version": "bench"}))
    (folder / "team.json").write_text(json.dumps(spec))
    return folder, frame[columns].to_numpy("float64")


def write_rows(rows: np.ndarray, n: int, path: Path) -> None:
    rng = np.random.default_rng(0)
    with path.open("w") as fh:
        for start in range(0, n, 200_000):
            block = rows[rng.integers(0, len(rows), min(200_000, n - start))]
            np.savetxt(fh, block, delimiter=",", fmt="%.10g")
    text = path.read_text().replace("nan", "")
    path.write_text(text)


def job_python() -> str:
    """The interpreter of the example team's job runtime (built by `make`)."""
    from mdlc.contract import MODELS_DIR, load_team
    from mdlc.runtimes import runtime_for_algorithm

    algorithm = load_team(MODELS_DIR / "fraud-detection.yaml").training.algorithm
    return str(runtime_for_algorithm(algorithm).require_built())


def run(kind: str, **paths: str) -> tuple[int, float, float]:
    code = RUNNERS[kind].format(jobs=str(REPO / "sagemaker_jobs"), **paths)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "sagemaker_jobs"), str(REPO)])}
    proc = subprocess.Popen([job_python(), "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    out = proc.stdout.read().split()
    if proc.returncode != 0 or len(out) < 2:
        raise RuntimeError(f"{kind} failed (exit {proc.returncode})")
    return int(out[0]), float(out[1]), peak / 2**20


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [250_000, 1_000_000]
    with tempfile.TemporaryDirectory() as tmp:
        model, rows = make_model(Path(tmp) / "model")
        print("| rows | path | records/s | peak RSS (MiB) |\n| ---: | --- | ---: | ---: |")
        ratios = []
        for n in sizes:
            data = Path(tmp) / f"rows-{n}.csv"
            write_rows(rows, n, data)
            results = {k: run(k, model=str(model), data=str(data), out=str(Path(tmp) / f"{k}.out")) for k in RUNNERS}
            for kind, (count, seconds, rss) in results.items():
                assert count == n, (kind, count, n)
                print(f"| {n:,} | {kind} | {n / seconds:,.0f} | {rss:,.0f} |")
            ratios.append((n, results["raw_read_predict"][1] / results["inference"][1]))
        for n, ratio in ratios:
            print(f"\n{n:,} rows: inference path at {ratio:.2f}x raw xgboost (read + predict + write)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

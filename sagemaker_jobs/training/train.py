"""XGBoost training script (SageMaker script mode, run by ``sagemaker_program=train.py``).

Reads the ``train`` and ``validation`` channels (Parquet parts: id, label, model columns,
written by the feature job) and the ``config`` channel (``team.json``). Hyperparameters
come from the team spec, overridden by the job's (``SM_HPS`` or ``--name value``
arguments, as the image's sagemaker-containers toolkit passes them). Writes ``SM_MODEL_DIR``:
``xgboost-model``, ``model-meta.json`` (versions, seed, features, best iteration) and
``team.json`` (so the inference code can check requests against the schema). Logs
``validation:<evaluation.metric>=<value>;``, the objective a tuning job reads (``objective.py``).

The same seed and data give the same model bytes. With more than one host in ``SM_HOSTS``
the hosts train together through XGBoost's collective: the first host runs the tracker,
each host reads its own shard of the ``train`` channel (use ``ShardedByS3Key``), and the
first host writes the model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    # xgboost imports scikit-learn whenever it is installed (0.6 s in the 3.2-0 image) for
    # estimator wrappers this script does not use: keep it out of the training process.
    sys.modules.setdefault("sklearn", None)

import jobkit  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import xgboost as xgb  # noqa: E402
from training import objective as O  # noqa: E402

from mdlc import features as F  # noqa: E402

INPUT = Path("/opt/ml/input/data")
NOT_XGB_PARAMS = {"num_round", "early_stopping_rounds", "tracker_port"}
TRACKER_PORT = 9099
log = jobkit.setup_logging("train")


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, dict[str, Any]]:
    """Paths (from SM_* variables) and the hyperparameters given on the command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", default=jobkit.env_path("SM_CHANNEL_TRAIN", INPUT / "train"))
    p.add_argument("--validation",
                   default=jobkit.env_path("SM_CHANNEL_VALIDATION", INPUT / "validation"))
    p.add_argument("--config", default=jobkit.env_path("SM_CHANNEL_CONFIG", INPUT / "config"))
    p.add_argument("--model-dir", default=jobkit.env_path("SM_MODEL_DIR", "/opt/ml/model"))
    args, extra = p.parse_known_args(argv)
    return args, _pairs(extra)


def _pairs(tokens: list[str]) -> dict[str, Any]:
    """``--name value`` tokens as a dict (how the toolkit passes hyperparameters)."""
    out, key = {}, None
    for tok in tokens:
        if tok.startswith("--"):
            key = tok[2:].replace("-", "_")
            out[key] = True
        elif key is not None:
            out[key] = tok
            key = None
        else:
            raise SystemExit(f"unexpected argument {tok!r}; expected --name value pairs")
    return out


def _typed(value: Any) -> Any:
    """Hyperparameter strings as numbers where they are numbers ("200" → 200)."""
    if not isinstance(value, str):
        return value
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def hyperparameters(spec: dict[str, Any], cli: dict[str, Any]) -> dict[str, Any]:
    """Team spec hyperparameters, then SM_HPS, then command-line values; plus the seed."""
    hps = dict(spec["training"].get("hyperparameters", {}))
    hps.update(json.loads(os.environ.get("SM_HPS") or "{}"))
    hps.update(cli)
    hps = {k: _typed(v) for k, v in hps.items() if not k.startswith("sagemaker_")}
    hps.setdefault("seed", spec["training"].get("seed", 0))
    hps.setdefault("num_round", 100)
    return hps


def load_split(folder: str | Path, spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Features (float32, column-major: DMatrix takes them without a copy; missing values
    as NaN) and labels of every Parquet part in a channel folder."""
    label, columns = spec["schema"]["label"], F.model_columns(spec)
    wanted = [label, *columns]
    tables = [jobkit.read_parquet(path, wanted, required=wanted) for path in jobkit.split_files(folder)]
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    features = np.empty((table.num_rows, len(columns)), dtype="float32", order="F")
    for index, name in enumerate(columns):
        features[:, index] = float32_values(table.column(name))
    return features, float32_values(table.column(label))


def float32_values(column: pa.ChunkedArray) -> np.ndarray:
    """A column as float32, nulls as NaN, read from its Arrow buffers (``to_numpy`` would
    import pandas, 0.25 s of the job's start)."""
    array = column.cast(pa.float32()).combine_chunks()
    validity, data = array.buffers()[:2]
    start, end = array.offset, array.offset + len(array)
    values = np.frombuffer(data, dtype=np.float32, count=end)[start:]
    if array.null_count:
        valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[start:end]
        values = np.where(valid.astype(bool), values, np.float32("nan"))
    return values


def xgb_params(hps: dict[str, Any]) -> dict[str, Any]:
    """Booster parameters (everything but the round counts); AUC-PR is watched by default."""
    params = {k: v for k, v in hps.items() if k not in NOT_XGB_PARAMS}
    params.setdefault("eval_metric", "aucpr")
    return params


def fit(params: dict[str, Any], hps: dict[str, Any], train: xgb.DMatrix,
        valid: xgb.DMatrix | None) -> xgb.Booster:
    """Train one booster; early stopping when ``early_stopping_rounds`` and validation."""
    # only validation is watched: scoring the train set every round costs as much as training
    evals = [(valid, "validation")] if valid is not None else []
    stop = hps.get("early_stopping_rounds") if valid is not None else None
    history: dict[str, Any] = {}
    booster = xgb.train(params, train, num_boost_round=int(hps["num_round"]), evals=evals,
                        early_stopping_rounds=int(stop) if stop else None, verbose_eval=False,
                        evals_result=history)
    booster.history = history  # read by save(); not stored in the model file
    return booster


def cluster() -> tuple[list[str], str]:
    """SM_HOSTS and SM_CURRENT_HOST (single local host when unset)."""
    hosts = json.loads(os.environ.get("SM_HOSTS") or '["localhost"]')
    return hosts, os.environ.get("SM_CURRENT_HOST") or hosts[0]


def collective_context(hosts: list[str], current: str, port: int) -> Any:
    """XGBoost collective across hosts: the first host starts the tracker, all join it."""
    if len(hosts) == 1:
        return nullcontext(None)
    from xgboost import collective
    from xgboost.tracker import RabitTracker

    tracker = None
    master_ip = socket.gethostbyname(hosts[0])
    if current == hosts[0]:
        tracker = RabitTracker(n_workers=len(hosts), host_ip=master_ip, port=port,
                               sortby="task")
        tracker.start()
    ctx = collective.CommunicatorContext(dmlc_tracker_uri=master_ip, dmlc_tracker_port=port,
                                         dmlc_task_id=str(hosts.index(current)),
                                         dmlc_retry=30, dmlc_timeout=300)
    return _Cluster(ctx, tracker)


class _Cluster:
    """Enter the communicator; on exit, leave it and let the tracker finish."""

    def __init__(self, ctx: Any, tracker: Any):
        self.ctx, self.tracker = ctx, tracker

    def __enter__(self) -> Any:
        return self.ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.ctx.__exit__(*exc)
        if self.tracker is not None:
            self.tracker.wait_for(timeout=60)


def best_iteration(booster: xgb.Booster) -> int:
    """Best round with early stopping, else the last round."""
    attr = booster.attr("best_iteration")
    return int(attr) if attr is not None else booster.num_boosted_rounds() - 1


def best_score(booster: xgb.Booster) -> float | None:
    """Validation metric at the best iteration (None without a validation channel)."""
    if booster.attr("best_score") is not None:
        return float(booster.attr("best_score"))
    scores = next(iter(getattr(booster, "history", {}).get("validation", {}).values()), None)
    return float(scores[best_iteration(booster)]) if scores else None


def save(booster: xgb.Booster, args: argparse.Namespace, spec: dict[str, Any],
         hps: dict[str, Any], rows: dict[str, int]) -> dict[str, Any]:
    """Write xgboost-model, model-meta.json and team.json into the model dir."""
    model_dir = Path(args.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    model_path = model_dir / "xgboost-model"
    booster.save_model(str(model_path) + ".ubj")
    os.replace(str(model_path) + ".ubj", model_path)
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    meta = {
        "model_version": os.environ.get("TRAINING_JOB_NAME") or f"sha256-{digest[:12]}",
        "model_sha256": digest,
        "model_format": "ubj",
        "team": spec.get("name"),
        "features": F.model_columns(spec),
        "label": spec["schema"]["label"],
        "seed": hps["seed"],
        "hyperparameters": hps,
        "best_iteration": best_iteration(booster),
        "best_score": best_score(booster),
        "eval_metric": xgb_params(hps)["eval_metric"],
        "rows": rows,
        "xgboost_version": xgb.__version__,
        "numpy_version": np.__version__,
        "pyarrow_version": pa.__version__,
        "python_version": platform.python_version(),
    }
    jobkit.write_json(model_dir / "model-meta.json", meta)
    shutil.copyfile(_spec_file(args.config), model_dir / "team.json")
    ship_serving_code(model_dir)
    return meta


def ship_serving_code(model_dir: Path) -> None:
    """Copy the code bundle (the job's ``code`` channel) into the model as ``code/sourcedir.tar.gz``:
    the model's container imports its serving program from there (SAGEMAKER_SUBMIT_DIRECTORY), so
    an endpoint or transform job with network isolation downloads nothing."""
    channel = os.environ.get("SM_CHANNEL_CODE")
    if not channel:
        return  # not run by SageMaker's training toolkit (a run from the repository): no bundle
    bundles = sorted(Path(channel).glob("*.gz"))
    if len(bundles) != 1:
        raise RuntimeError(f"code channel {channel}: expected one code bundle (*.gz), got "
                           f"{[b.name for b in bundles]}")
    (model_dir / "code").mkdir(exist_ok=True)
    shutil.copyfile(bundles[0], model_dir / "code" / "sourcedir.tar.gz")


def _spec_file(config: str) -> Path:
    return jobkit.spec_path(config)


def run(args: argparse.Namespace, cli_hps: dict[str, Any]) -> dict[str, Any] | None:
    """Train and (on the first host) save; returns the model metadata there, else None."""
    spec = jobkit.load_spec(args.config)
    hps = hyperparameters(spec, cli_hps)
    x_train, y_train = load_split(args.train, spec)
    valid = None
    rows = {"train": len(y_train), "validation": 0}
    if Path(args.validation).is_dir() and any(Path(args.validation).rglob("*.parquet")):
        x_val, y_val = load_split(args.validation, spec)
        valid = xgb.DMatrix(x_val, label=y_val, feature_names=F.model_columns(spec))
        rows["validation"] = len(y_val)
    train = xgb.DMatrix(x_train, label=y_train, feature_names=F.model_columns(spec))
    hosts, current = cluster()
    port = int(hps.get("tracker_port", TRACKER_PORT))
    with collective_context(hosts, current, port):
        booster = fit(xgb_params(hps), hps, train, valid)
    if current != hosts[0]:
        return None
    meta = save(booster, args, spec, hps, rows)
    if valid is not None:
        # The tuner's objective (MetricDefinitions read this line): evaluation.metric on the
        # validation channel, scored like the evaluation job scores the test split.
        value = O.objective(spec, valid.get_label(), booster.predict(valid))
        if value is not None:
            log.info("%s", O.log_line(spec["evaluation"]["metric"], value))
    return meta


def main(argv: list[str] | None = None) -> int:
    """Entry point (the toolkit runs ``python training/train.py --hp value ...``)."""
    args, cli = parse_args(argv)
    meta = run(args, cli)
    if meta:
        log.info("model %s: best_iteration=%s best_score=%s", meta["model_version"],
                 meta["best_iteration"], meta["best_score"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A small model for backtest tests (no tests here): the layout the training job writes."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pandas as pd
import xgboost as xgb

from mdlc import features as F
from mdlc.contract import MODELS_DIR, load_team, runtime_spec

SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))


def small_model(history: pd.DataFrame, folder: Path, spec: dict[str, Any] = SPEC) -> Path:
    """model.tar.gz (xgboost-model, model-meta.json, team.json) of 20 trees trained on the
    point-in-time features of ``history``."""
    rows = F.encode_frame(F.point_in_time_features(history, spec), spec)
    label = history[spec["schema"]["label"]].to_numpy()
    columns = F.model_columns(spec)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "seed": 1},
                        xgb.DMatrix(rows[columns].to_numpy("float32"), label=label, feature_names=columns), 20)
    booster.save_model(str(folder / "xgboost-model.ubj"))
    (folder / "xgboost-model.ubj").rename(folder / "xgboost-model")
    (folder / "model-meta.json").write_text(json.dumps({"model_version": "unit-v1", "features": columns}))
    (folder / "team.json").write_text(json.dumps(spec))
    with tarfile.open(folder / "model.tar.gz", "w:gz") as tar:
        for name in ("xgboost-model", "model-meta.json", "team.json"):
            tar.add(folder / name, arcname=name)
    return folder / "model.tar.gz"

"""Model evaluation and registration gate (SageMaker Processing job).

Scores the test split with the trained model, a logistic-regression baseline fitted on the
train split and, when ``champion/`` holds a ``model.tar.gz``, the current champion. Reports
PR-AUC, ROC-AUC, recall at the team's maximum false-positive rate, calibration (Brier score
and expected calibration error) and per-slice metrics, and decides the gate:
``metric >= threshold`` AND ``metric > baseline`` AND ``metric >= champion - tolerance``.
Each failed condition is named in ``gate.reasons``. Writes ``evaluation/evaluation.json``.

For choosing ``decision_rules.score_bands`` from data the report has ``score_bands``: on the
test split, the approve / review / decline rates, the share of fraud caught (not
approved) and declined, the legitimate rows declined and, when ``schema.amount_column`` is
a model column, the fraud amount caught, at the team's bands and for a grid of single
thresholds; with ``decision_rules.costs``, ``cost_bands`` suggests the bands of least
expected cost within the review capacity (``costs.py``). ``feature_importance`` is the
global importance of each model feature (mean
absolute XGBoost contribution on the test split, and its share of the total gain);
features the model never splits on are listed in ``unused_features``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import jobkit
import numpy as np
import pandas as pd
import xgboost as xgb
from evaluation import costs as cost_bands
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mdlc import features as F
from mdlc import policy

IN = jobkit.PROCESSING / "input"
OUT = jobkit.PROCESSING / "output"
ECE_BINS = 10
THRESHOLD_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
IMPORTANCE_ROWS = 20_000  # exact TreeSHAP on at most this many test rows (evenly spaced)
log = jobkit.setup_logging("evaluation")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; defaults are the /opt/ml/processing paths of docs/design.md."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("test", "train", "model", "champion", "config"):
        p.add_argument(f"--{name}", default=str(IN / name))
    p.add_argument("--output-dir", default=str(OUT / "evaluation"))
    return p.parse_args(argv)


# --------------------------------------------------------------------------- loading
def load_split(folder: str | Path, spec: dict[str, Any]) -> pd.DataFrame:
    """A split's rows (label and model columns as float; category columns kept as codes)."""
    df = jobkit.read_split(folder)
    needed = [spec["schema"]["label"], *F.model_columns(spec)]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise jobkit.JobInputError(f"{folder} lacks columns {missing}; expected {needed}")
    return df


def load_model(folder: str | Path) -> tuple[xgb.Booster, dict[str, Any]] | None:
    """Booster and model-meta.json from ``model.tar.gz`` in ``folder`` (None if absent)."""
    folder = Path(folder)
    archive = folder / "model.tar.gz" if folder.is_dir() else folder
    if not archive.is_file():
        return None
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
        model_file = Path(tmp) / "xgboost-model"
        if not model_file.is_file():
            raise jobkit.JobInputError(f"{archive} has no xgboost-model; expected the training "
                                       "job's output")
        booster = xgb.Booster()
        booster.load_model(bytearray(model_file.read_bytes()))
        meta_file = Path(tmp) / "model-meta.json"
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    return booster, meta


def score(model: tuple[xgb.Booster, dict[str, Any]], df: pd.DataFrame) -> np.ndarray | None:
    """Probabilities for ``df`` using the model's own feature list (None if it lacks some)."""
    booster, meta = model
    names = meta.get("features") or booster.feature_names
    if not names or any(n not in df.columns for n in names):
        return None
    x = df[names].to_numpy(dtype="float32")
    return booster.predict(xgb.DMatrix(x, feature_names=list(names)))


# --------------------------------------------------------------------------- metrics
def recall_at_fpr(y: np.ndarray, p: np.ndarray, max_fpr: float) -> tuple[float, float]:
    """Highest recall whose false-positive rate is at most ``max_fpr``, and its threshold."""
    fpr, tpr, thresholds = roc_curve(y, p)
    ok = fpr <= max_fpr
    i = int(np.argmax(np.where(ok, tpr, -1)))
    return float(tpr[i]), float(min(thresholds[i], 1.0))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |observed rate - mean score| over equal-width score bins, weighted by size."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            total += sel.sum() * abs(y[sel].mean() - p[sel].mean())
    return float(total / len(y))


def metrics(y: np.ndarray, p: np.ndarray, max_fpr: float) -> dict[str, Any]:
    """Every reported metric; ranking metrics are None when only one class is present."""
    out: dict[str, Any] = {"rows": int(len(y)), "positives": int(y.sum()),
                           "brier": float(np.mean((p - y) ** 2)),
                           "ece": expected_calibration_error(y, p)}
    if 0 < y.sum() < len(y):
        recall, threshold = recall_at_fpr(y, p, max_fpr)
        out.update(pr_auc=float(average_precision_score(y, p)), roc_auc=float(roc_auc_score(y, p)),
                   recall_at_fpr=recall, threshold_at_fpr=threshold)
    else:
        out.update(pr_auc=None, roc_auc=None, recall_at_fpr=None, threshold_at_fpr=None)
    return out


def slice_metrics(df: pd.DataFrame, y: np.ndarray, p: np.ndarray, spec: dict[str, Any]) -> dict:
    """Metrics per value of each slice feature; slices under min_slice_rows are marked."""
    fmap, ev = F.feature_map(spec), spec["evaluation"]
    out: dict[str, Any] = {}
    for name in ev.get("slices", []):
        cats = fmap[name].get("categories") or []
        codes = df[name].to_numpy()
        out[name] = {}
        for code in sorted(pd.unique(codes[~pd.isna(codes)])):
            sel = codes == code
            label = cats[int(code)] if 0 <= int(code) < len(cats) else str(code)
            m = metrics(y[sel], p[sel], ev["max_false_positive_rate"])
            m["small"] = bool(sel.sum() < ev.get("min_slice_rows", 200))
            out[name][label] = m
    return out


def baseline_scores(train: pd.DataFrame, test: pd.DataFrame, spec: dict[str, Any]) -> np.ndarray:
    """Logistic regression (imputed, scaled, categories one-hot) fitted on train."""
    fmap, label = F.feature_map(spec), spec["schema"]["label"]
    columns = F.model_columns(spec)
    cats = [c for c in columns if fmap[c]["type"] == "category"]
    nums = [c for c in columns if c not in cats]
    prep = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                            keep_empty_features=True), StandardScaler()), nums),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value=-1),
                              OneHotEncoder(handle_unknown="ignore")), cats),
    ])
    model = make_pipeline(prep, LogisticRegression(max_iter=2000))
    model.fit(train[columns], train[label].to_numpy())
    return model.predict_proba(test[columns])[:, 1]


# -------------------------------------------------------------- score bands, importance
#: What bands do to labelled rows: the one policy's measure (``mdlc.policy``), which the
#: backtest reports too, so the evaluation's band table and a backtest agree.
band_outcomes = policy.band_outcomes


def score_bands(test: pd.DataFrame, y: np.ndarray, p: np.ndarray, spec: dict[str, Any]) -> dict[str, Any]:
    """The team's bands and a grid of single thresholds, measured on the test split."""
    column = spec["schema"].get("amount_column")
    amount, note = None, None
    if column is None:
        note = "schema.amount_column is not set: counts only"
    elif column not in test.columns:
        note = f"amount_column {column!r} is not a model column, so not in the test split: counts only"
    else:
        amount = np.nan_to_num(pd.to_numeric(test[column], errors="coerce").to_numpy("float64"))
    # A batch-only team has no decision rules: the grid alone helps it choose a cut-off.
    bands = (spec.get("decision_rules") or {}).get("score_bands")
    return {
        "amount_column": column if amount is not None else None, "note": note,
        "rows": int(len(y)), "frauds": int(y.sum()),
        "team": band_outcomes(y, p, amount, bands["approve_below"], bands["decline_at_or_above"]) if bands else None,
        "grid": [band_outcomes(y, p, amount, t, t) for t in THRESHOLD_GRID],
    }


def feature_importance(booster: xgb.Booster, df: pd.DataFrame, names: list[str]) -> list[dict[str, Any]]:
    """Per model feature: mean |contribution| (exact TreeSHAP) on the test split and gain share."""
    step = max(1, len(df) // IMPORTANCE_ROWS)
    x = df[names].to_numpy(dtype="float32")[::step]
    contribs = booster.predict(xgb.DMatrix(x, feature_names=list(names)), pred_contribs=True)
    mean_abs = np.abs(contribs[:, :-1]).mean(axis=0) if len(x) else np.zeros(len(names))
    gain = booster.get_score(importance_type="total_gain")
    total_abs, total_gain = float(mean_abs.sum()), float(sum(gain.values()))
    rows = [{"feature": name, "mean_abs_contribution": float(mean_abs[j]),
             "share": float(mean_abs[j] / total_abs) if total_abs else 0.0,
             "gain_share": float(gain.get(name, 0.0) / total_gain) if total_gain else 0.0,
             "used_in_splits": name in gain}
            for j, name in enumerate(names)]
    return sorted(rows, key=lambda r: (-r["mean_abs_contribution"], r["feature"]))


# ------------------------------------------------------------------------------ gate
MIN_SLICE_POSITIVES = 5


def slice_reasons(metric: str, slices: dict[str, Any], ev: dict[str, Any]) -> list[str]:
    """Large-enough slices whose metric falls below the team's slice threshold."""
    floor = ev.get("slice_threshold")
    if floor is None:
        return []
    reasons = []
    for feature, values in slices.items():
        for value, m in values.items():
            score = m.get(metric)
            if m.get("small") or score is None or m.get("positives", 0) < MIN_SLICE_POSITIVES:
                continue
            if score < floor:
                reasons.append(f"{metric} on slice {feature}={value} is {score:.4f}, below the "
                               f"slice threshold {floor:.4f}")
    return reasons


def gate(metric: str, value: float | None, baseline: float | None, champion: float | None,
         ev: dict[str, Any], slices: dict[str, Any] | None = None) -> dict[str, Any]:
    """Pass only if metric ≥ threshold, > baseline, ≥ champion − tolerance, and every large
    slice ≥ the slice threshold (when the team sets one)."""
    reasons = slice_reasons(metric, slices or {}, ev)
    if value is None:
        reasons.append(f"{metric} could not be computed (the test split needs both classes)")
    else:
        if value < ev["threshold"]:
            reasons.append(f"{metric} {value:.4f} is below the threshold {ev['threshold']:.4f}")
        if baseline is not None and value <= baseline:
            reasons.append(f"{metric} {value:.4f} does not beat the logistic-regression "
                           f"baseline {baseline:.4f}")
        tol = ev.get("champion_tolerance", 0.0)
        if champion is not None and value < champion - tol:
            reasons.append(f"{metric} {value:.4f} is more than {tol:.4f} below the champion's "
                           f"{champion:.4f}")
    return {"passed": not reasons, "reasons": reasons}


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Score everything, decide the gate, write evaluation.json; return it."""
    spec = jobkit.load_spec(args.config)
    ev, label = spec["evaluation"], spec["schema"]["label"]
    test, train = load_split(args.test, spec), load_split(args.train, spec)
    y = test[label].to_numpy(dtype="float64")
    model = load_model(args.model)
    if model is None:
        raise jobkit.JobInputError(f"no model.tar.gz in {args.model}; expected the training "
                                   "job's output")
    p = score(model, test)
    if p is None:
        raise jobkit.JobInputError(f"the model's features {model[1].get('features')} are not all "
                                   f"in the test split {list(test.columns)}")
    result: dict[str, Any] = {"metric": ev["metric"], "model_version": model[1].get("model_version"),
                              "metrics": metrics(y, p, ev["max_false_positive_rate"])}
    result["baseline"] = metrics(y, baseline_scores(train, test, spec),
                                 ev["max_false_positive_rate"])
    result["champion"] = champion_result(args.champion, test, y, ev)
    result["slices"] = slice_metrics(test, y, p, spec)
    result["score_bands"] = score_bands(test, y, p, spec)
    amount_column = spec["schema"].get("amount_column")
    amounts = test[amount_column].to_numpy("float64") if amount_column in test.columns else None
    result["cost_bands"] = cost_bands.suggest(y, p, amounts, spec)  # suggested only, never applied
    names = list(model[1].get("features") or model[0].feature_names)
    result["feature_importance"] = feature_importance(model[0], test, names)
    result["unused_features"] = [r["feature"] for r in result["feature_importance"] if not r["used_in_splits"]]
    champ_value = (result["champion"] or {}).get("metrics", {}).get(ev["metric"])
    result["gate"] = gate(ev["metric"], result["metrics"][ev["metric"]],
                          result["baseline"][ev["metric"]], champ_value, ev, result["slices"])
    jobkit.write_json(Path(args.output_dir) / "evaluation.json", result)
    return result


def champion_result(folder: str, test: pd.DataFrame, y: np.ndarray,
                    ev: dict[str, Any]) -> dict[str, Any] | None:
    """The champion's metrics on this test split; None when there is no champion."""
    champion = load_model(folder)
    if champion is None:
        return None
    p = score(champion, test)
    if p is None:
        return {"model_version": champion[1].get("model_version"), "comparable": False,
                "metrics": {}, "note": "champion features are not all in this test split; "
                                       "not compared"}
    return {"model_version": champion[1].get("model_version"), "comparable": True,
            "metrics": metrics(y, p, ev["max_false_positive_rate"])}


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    result = evaluate(parse_args(argv))
    metric = result["metric"]
    log.info("%s=%s baseline=%s gate=%s", metric, result["metrics"][metric],
             result["baseline"][metric], result["gate"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

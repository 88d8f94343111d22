"""The tuning objective: ``evaluation.metric`` on the validation channel, in the log line the
tuner reads.

A SageMaker tuning job reads a script-mode job's metrics from its log with the
``MetricDefinitions`` regexes of the request (``metric_definitions``); the objective is the
last value matched. The metrics are the evaluation job's (``sagemaker_jobs/evaluation``,
scikit-learn's definitions), computed here with numpy alone because the training process
keeps scikit-learn out (see ``train.py``): the tuner then picks the trial the evaluation
gate would rank first.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

METRICS = ("pr_auc", "roc_auc", "recall_at_fpr")
#: One value: a decimal number as Python's repr prints floats.
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


def metric_name(metric: str) -> str:
    """The objective's name: ``validation:<metric>`` (XGBoost's naming of validation metrics)."""
    return f"validation:{metric}"


def log_line(metric: str, value: float) -> str:
    """What the script prints, e.g. ``validation:pr_auc=0.812345;``."""
    return f"{metric_name(metric)}={value!r};"


def metric_definitions(metric: str) -> list[dict[str, str]]:
    """The request's MetricDefinitions: one regex per metric, the objective's first."""
    ordered = [metric] + [m for m in METRICS if m != metric]
    return [{"Name": metric_name(m), "Regex": f"{re.escape(metric_name(m))}={_NUMBER};"} for m in ordered]


def _distinct(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct score, highest score first."""
    order = np.argsort(-p, kind="mergesort")
    p, y = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(p)), len(p) - 1]
    tps = np.cumsum(y)[last]
    return tps, (last + 1) - tps


def pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision, sum of (R_n - R_n-1) P_n (scikit-learn's average_precision_score)."""
    tps, fps = _distinct(y, p)
    precision, recall = tps / (tps + fps), tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (trapezoids over distinct scores, as roc_auc_score)."""
    tps, fps = _distinct(y, p)
    tpr, fpr = np.r_[0.0, tps / tps[-1]], np.r_[0.0, fps / fps[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def recall_at_fpr(y: np.ndarray, p: np.ndarray, max_fpr: float) -> float:
    """Highest recall whose false-positive rate is at most ``max_fpr``."""
    tps, fps = _distinct(y, p)
    tpr, fpr = np.r_[0.0, tps / tps[-1]], np.r_[0.0, fps / fps[-1]]
    return float(tpr[fpr <= max_fpr].max())


def objective(spec: dict[str, Any], y: np.ndarray, p: np.ndarray) -> float | None:
    """``evaluation.metric`` of scores ``p`` for labels ``y``; None with one class only."""
    y = np.asarray(y, dtype="float64")
    if not 0 < y.sum() < len(y):
        return None
    p = np.asarray(p, dtype="float64")
    metric = spec["evaluation"]["metric"]
    if metric == "pr_auc":
        return pr_auc(y, p)
    if metric == "roc_auc":
        return roc_auc(y, p)
    return recall_at_fpr(y, p, float(spec["evaluation"]["max_false_positive_rate"]))

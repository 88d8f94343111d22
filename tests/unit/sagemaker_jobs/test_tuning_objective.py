"""The training script's tuning objective (sagemaker_jobs/training/objective.py): the product's
metric code, checked against the evaluation job's scikit-learn definitions, and its log line
against the MetricDefinitions regex the tuning request carries."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
from training import objective as O


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(3)
    y = (rng.random(5000) < 0.05).astype(float)
    # ties on purpose: scores rounded to 2 decimals, as a shallow tree gives
    p = np.round(np.clip(0.3 * y + rng.random(5000) * 0.7, 0, 1), 2)
    return y, p


def test_metrics_equal_the_evaluation_jobs_definitions(scored):
    """The tuner ranks trials by what the evaluation gate will measure: average precision,
    ROC AUC and recall at the FPR limit agree with scikit-learn's to 1e-12, ties included."""
    y, p = scored
    assert O.pr_auc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert O.roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, p)
    assert O.recall_at_fpr(y, p, 0.01) == pytest.approx(float(tpr[fpr <= 0.01].max()), abs=1e-12)


@pytest.mark.parametrize("metric", O.METRICS)
def test_the_objective_regex_reads_the_scripts_log_line(metric):
    """The first MetricDefinition is the objective, and its regex reads back the value the
    script logs (a tuner that matched nothing would rank every trial as failed)."""
    definitions = O.metric_definitions(metric)
    assert definitions[0]["Name"] == f"validation:{metric}"
    line = f"2026-03-01 INFO train: {O.log_line(metric, 0.123456789012)}"
    assert [float(m) for m in re.findall(definitions[0]["Regex"], line)] == [0.123456789012]
    assert not any(re.findall(d["Regex"], line) for d in definitions[1:])


def test_one_class_has_no_objective():
    """A validation split without fraud gives no objective (not a made-up number)."""
    spec = {"evaluation": {"metric": "pr_auc", "max_false_positive_rate": 0.01}}
    assert O.objective(spec, np.zeros(10), np.linspace(0, 1, 10)) is None

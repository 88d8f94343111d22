"""The evaluation job (sagemaker_jobs/evaluation/job.py): metrics, baseline, champion and the gate."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from evaluation import job

from tests.unit.sagemaker_jobs.support import run_processing, write_spec


def evaluate(code: Path, pipeline: dict[str, Path], out: Path, spec_dir: Path,
             champion: Path | None = None) -> dict[str, Any]:
    run_processing(code, "evaluation", [
        "--test", str(pipeline["splits"] / "test"), "--train", str(pipeline["splits"] / "train"),
        "--model", str(pipeline["model"]), "--champion", str(champion or out / "no-champion"),
        "--config", str(spec_dir), "--output-dir", str(out)])
    return json.loads((out / "evaluation.json").read_text())


def test_model_beats_the_baseline_and_passes_the_gate(pipeline, code, tmp_path):
    result = evaluate(code, pipeline, tmp_path, pipeline["config"])
    assert result["gate"] == {"passed": True, "reasons": []}
    assert result["metrics"]["pr_auc"] > result["baseline"]["pr_auc"]
    for key in ("roc_auc", "recall_at_fpr", "brier", "ece"):
        assert result["metrics"][key] is not None
    assert set(result["slices"]) == {"country", "channel"}
    assert "online" in result["slices"]["channel"]


def test_gate_names_every_failed_condition(pipeline, code, tmp_path, spec):
    strict = copy.deepcopy(spec)
    strict["evaluation"]["threshold"] = 0.999
    strict["evaluation"]["champion_tolerance"] = 0.0
    spec_dir = write_spec(tmp_path / "c", strict)
    better = dict(pipeline)
    result = evaluate(code, better, tmp_path, spec_dir, champion=pipeline["model"])
    assert not result["gate"]["passed"]
    assert any("below the threshold 0.9990" in r for r in result["gate"]["reasons"])
    # the champion is the same model: equal is within tolerance 0, so not a reason
    assert result["champion"]["metrics"]["pr_auc"] == result["metrics"]["pr_auc"]
    assert not any("champion" in r for r in result["gate"]["reasons"])


EV = {"threshold": 0.3, "champion_tolerance": 0.01, "slice_threshold": 0.2}


def slices(score: float, rows_small: bool = False, positives: int = 12) -> dict:
    return {"country": {"GB": {"pr_auc": 0.8, "positives": 30, "small": False},
                        "NG": {"pr_auc": score, "positives": positives, "small": rows_small}}}


def test_a_clear_winner_passes():
    assert job.gate("pr_auc", 0.7, 0.5, 0.69, EV, slices(0.5)) == {"passed": True, "reasons": []}


def test_each_failed_condition_is_named():
    result = job.gate("pr_auc", 0.25, 0.3, 0.4, EV, slices(0.1))
    assert not result["passed"]
    text = " | ".join(result["reasons"])
    assert "below the threshold 0.3000" in text
    assert "does not beat the logistic-regression baseline 0.3000" in text
    assert "more than 0.0100 below the champion's 0.4000" in text
    assert "slice country=NG is 0.1000, below the slice threshold 0.2000" in text


def test_small_or_label_poor_slices_are_reported_but_not_gated():
    assert job.gate("pr_auc", 0.7, 0.5, None, EV, slices(0.05, rows_small=True))["passed"]
    assert job.gate("pr_auc", 0.7, 0.5, None, EV, slices(0.05, positives=2))["passed"]


def test_without_a_slice_threshold_slices_do_not_gate():
    ev = {**EV, "slice_threshold": None}
    assert job.gate("pr_auc", 0.7, 0.5, None, ev, slices(0.0))["passed"]


def test_within_the_champion_tolerance_passes():
    assert job.gate("pr_auc", 0.695, 0.5, 0.70, EV)["passed"]
    assert not job.gate("pr_auc", 0.685, 0.5, 0.70, EV)["passed"]

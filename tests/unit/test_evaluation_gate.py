"""The evaluation gate: threshold, baseline, champion tolerance and large slices."""

from __future__ import annotations

from evaluation import job

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

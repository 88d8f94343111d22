"""The monitoring job's live-versus-shadow comparison (product): flip matrix over the window,
quality of both sides on the same labelled requests, and the promote verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from monitoring import job as monitoring_job
from monitoring import shadow as shadow_compare

SETTINGS = {"compare_metric": "recall", "promote_margin": 0.05, "min_labelled": 20}
START, END = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)
WINDOW = {"start": START, "end": END, "quality_start": datetime(2026, 3, 1, tzinfo=UTC), "quality_end": START}


def pair_line(i: int, day: int, live: str, shadow: str, live_score: float, shadow_score: float | None,
              amount: float = 100.0, error: str | None = None) -> dict:
    return {"request_id": f"r{i}", "transaction_id": f"T{i}", "decided_at": f"2026-03-0{day}T12:00:{i % 60:02d}+00:00",
            "amount": amount,
            "live": {"decision": live, "score": live_score, "policy_version": "aaaa/v1"},
            "shadow": {"decision": shadow, "score": shadow_score, "policy_version": "bbbb/v2", "error": error}}


def write(tmp_path, lines: list[dict]) -> None:
    folder = tmp_path / "shadow" / "dt=2026-03-01"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "1.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")


def test_the_flip_matrix_counts_live_against_shadow_decisions_of_the_window_only(tmp_path):
    lines = [pair_line(1, 2, "APPROVE", "APPROVE", 0.1, 0.1), pair_line(2, 2, "APPROVE", "DECLINE", 0.1, 0.9),
             pair_line(3, 2, "REVIEW", "DECLINE", 0.5, 0.9, error=None),
             pair_line(4, 2, "APPROVE", "REVIEW", 0.1, None, error="ModelError: down"),
             pair_line(5, 1, "APPROVE", "DECLINE", 0.1, 0.9)]  # the day before the window
    write(tmp_path, [*lines, lines[1]])  # a retried batch wrote request r2 twice: counted once

    out = shadow_compare.compare(shadow_compare.read_pairs(tmp_path / "shadow"), pd.DataFrame(
        {"id": pd.Series(dtype=str), "label": pd.Series(dtype="int64")}), WINDOW, SETTINGS,
        monitoring_job.average_precision)

    assert (out["decisions"], out["flips"], out["flip_rate"]) == (4, 3, 0.75)
    assert (out["errors"], out["error_rate"]) == (1, 0.25)
    assert out["flip_matrix"]["APPROVE"] == {"APPROVE": 1, "REVIEW": 1, "DECLINE": 1}
    assert out["flip_matrix"]["REVIEW"]["DECLINE"] == 1 and out["flip_matrix"]["DECLINE"]["DECLINE"] == 0
    assert out["live_versions"] == ["aaaa/v1"] and out["shadow_versions"] == ["bbbb/v2"]
    assert out["advantage"] is None and out["better"] is False and "needs at least 20" in out["note"]


def labelled_day(shadow_catches_more: bool) -> tuple[list[dict], pd.DataFrame]:
    """40 requests of the quality window, 10 fraud: live catches 5 of them; the shadow 9 (or 5)."""
    rng = np.random.default_rng(3)
    lines, labels = [], []
    for i in range(40):
        fraud = i < 10
        live_catch = fraud and i < 5
        shadow_catch = fraud and (i < 9 if shadow_catches_more else i < 5)
        score = float(rng.uniform(0.6, 0.9)) if fraud else float(rng.uniform(0.0, 0.5))
        lines.append(pair_line(i, 1, "DECLINE" if live_catch else "APPROVE", "DECLINE" if shadow_catch else "APPROVE",
                               score, score, amount=10.0 * (i + 1)))
        labels.append({"id": f"T{i}", "label": int(fraud)})
    return lines, pd.DataFrame(labels)


def test_once_labels_arrive_both_sides_are_measured_and_a_clearly_better_shadow_is_flagged(tmp_path):
    lines, labels = labelled_day(shadow_catches_more=True)
    write(tmp_path, lines)

    out = shadow_compare.compare(shadow_compare.read_pairs(tmp_path / "shadow"), labels, WINDOW, SETTINGS,
                                 monitoring_job.average_precision)

    assert (out["labelled"], out["frauds"]) == (40, 10)
    assert out["live"]["recall"] == 0.5 and out["shadow"]["recall"] == 0.9
    assert out["live"]["precision"] == 1.0 and out["shadow"]["precision"] == 1.0
    assert out["live"]["pr_auc"] == out["shadow"]["pr_auc"] == 1.0  # same scores: same ranking
    assert out["live"]["amount_saved"] == sum(10.0 * (i + 1) for i in range(5))
    assert out["shadow"]["amount_saved"] == sum(10.0 * (i + 1) for i in range(9))
    assert out["fraud_flip_matrix"]["APPROVE"]["DECLINE"] == 4
    assert abs(out["advantage"] - 0.4) < 1e-12 and out["better"] is True


def test_a_shadow_no_better_than_live_is_not_flagged(tmp_path):
    lines, labels = labelled_day(shadow_catches_more=False)
    write(tmp_path, lines)

    out = shadow_compare.compare(shadow_compare.read_pairs(tmp_path / "shadow"), labels, WINDOW, SETTINGS,
                                 monitoring_job.average_precision)

    assert out["advantage"] == 0.0 and out["better"] is False


def test_a_team_without_a_shadow_and_no_pairs_reports_none(tmp_path):
    spec = {"realtime": {"shadow": None}}

    out = shadow_compare.shadow_section(tmp_path / "none", pd.DataFrame({"id": [], "label": []}), WINDOW, spec,
                                        monitoring_job.average_precision)

    assert out == {"configured": False}


def test_pairs_in_the_capture_input_are_read_as_pairs_never_as_captured_traffic(tmp_path):
    """A processing job takes at most 10 inputs: the pairs arrive in the capture input."""
    from tests.unit.sagemaker_jobs.support import SPEC
    from tests.unit.sagemaker_jobs.test_monitoring_job import capture_line

    capture = tmp_path / "capture" / "datacapture" / "fraud-detection--endpoint" / "AllTraffic" / "2026" / "03"
    capture.mkdir(parents=True)
    (capture / "a.jsonl").write_text(capture_line([{"amount": 1.0}], [0.2]) + "\n")
    write(tmp_path / "capture", [pair_line(1, 2, "APPROVE", "DECLINE", 0.1, 0.9)])

    records, scores, *_ = monitoring_job.read_capture(tmp_path / "capture", None, SPEC, [])
    pairs = shadow_compare.read_pairs(monitoring_job.parse_args([]).shadow.replace(
        str(monitoring_job.IN / "capture"), str(tmp_path / "capture")))

    assert scores == [0.2] and len(records) == 1
    assert pairs["request_id"].tolist() == ["r1"]

"""The data-quality job (sagemaker_jobs/data_quality/job.py): violations named, PSI, chunking."""

from __future__ import annotations

import json

import pytest
from data_quality import job as dq_job

from mdlc import synthetic as sy
from tests.unit.sagemaker_jobs.support import run_data_quality, run_processing, write_spec


def test_data_quality_passes_clean_data_and_writes_a_baseline(tmp_path, code, spec):
    sy.write_partitions(sy.generate(300, 20, seed=1), tmp_path / "data")
    report = run_data_quality(code, tmp_path, tmp_path / "data", write_spec(tmp_path / "c", spec),
                          None)
    assert report["passed"], report["violations"]
    stats = json.loads((tmp_path / "baseline" / "statistics.json").read_text())
    assert {"amount", "channel", "country"} <= set(stats["features"])
    assert len(stats["features"]["amount"]["edges"]) + 1 == \
        len(stats["features"]["amount"]["proportions"])


def test_corrupt_data_fails_with_named_violations(tmp_path, code, spec):
    sy.write_partitions(sy.generate(300, 20, seed=2, corrupt=0.05), tmp_path / "data")
    report = run_data_quality(code, tmp_path, tmp_path / "data", write_spec(tmp_path / "c", spec),
                          None)
    assert not report["passed"]
    found = {(v["check"], v["feature"]) for v in report["violations"]}
    assert ("out_of_range", "amount") in found
    assert ("unknown_category", "merchant_category") in found
    message = next(v["message"] for v in report["violations"] if v["feature"] == "amount")
    assert "amount" in message and "0.1000%" in message  # names value and threshold


def test_missing_rate_above_threshold_is_reported(tmp_path, code, spec):
    df = sy.generate(300, 20, seed=3)
    df.loc[df.index[::20], "country"] = None  # 5% missing
    sy.write_partitions(df, tmp_path / "data")
    report = run_data_quality(code, tmp_path, tmp_path / "data", write_spec(tmp_path / "c", spec),
                          None)
    v = next(v for v in report["violations"] if v["check"] == "missing_rate")
    assert v["feature"] == "country" and v["value"] == pytest.approx(0.05, abs=0.005)
    assert v["threshold"] == spec["data_quality"]["max_missing_rate"]


def test_drifted_data_has_psi_above_threshold(tmp_path, code, spec):
    spec_dir = write_spec(tmp_path / "c", spec)
    sy.write_partitions(sy.generate(300, 20, seed=4), tmp_path / "base")
    run_data_quality(code, tmp_path / "r0", tmp_path / "base", spec_dir, None)
    sy.write_partitions(sy.generate(300, 20, seed=5, drift=1.0), tmp_path / "new")
    report = run_data_quality(code, tmp_path / "r1", tmp_path / "new", spec_dir,
                          tmp_path / "r0" / "baseline")
    psi = {v["feature"]: v["value"] for v in report["violations"] if v["check"] == "psi"}
    assert {"channel", "country"} <= set(psi)
    assert min(psi.values()) > spec["data_quality"]["max_psi"]
    same = run_data_quality(code, tmp_path / "r2", tmp_path / "base", spec_dir,
                        tmp_path / "r0" / "baseline")
    assert same["passed"] and max(same["psi"].values()) < 0.01
    # A retraining started by this drift learns the drifted data: reported, not gated.
    accepted = run_data_quality(code, tmp_path / "r3", tmp_path / "new", spec_dir,
                            tmp_path / "r0" / "baseline", drift_accepted="true")
    assert accepted["passed"] and accepted["violations"] == []
    assert {v["feature"] for v in accepted["accepted_drift"]} >= {"channel", "country"}


def test_row_count_change_uses_previous_row_count(tmp_path, code, spec):
    sy.write_partitions(sy.generate(300, 20, seed=6), tmp_path / "data")
    report = run_data_quality(code, tmp_path, tmp_path / "data", write_spec(tmp_path / "c", spec),
                          None, previous="100000")
    v = next(v for v in report["violations"] if v["check"] == "row_count_change")
    assert v["value"] < -0.5 and report["row_count_change"] == v["value"]


def test_small_chunks_give_the_same_report(tmp_path, code, spec):
    sy.write_partitions(sy.generate(200, 10, seed=7, corrupt=0.02), tmp_path / "data")
    spec_dir = write_spec(tmp_path / "c", spec)
    reports = []
    for chunk in ("100000", "257"):
        out = tmp_path / chunk
        run_processing(code, "data_quality", [
            "--data", str(tmp_path / "data"), "--config", str(spec_dir), "--baseline",
            str(tmp_path / "none"), "--report-dir", str(out), "--statistics-dir", str(out),
            "--chunk-rows", chunk])
        reports.append(json.loads((out / "report.json").read_text()))
    assert reports[0]["features"] == reports[1]["features"]
    assert reports[0]["violations"] == reports[1]["violations"]


def test_scoring_input_without_a_label_passes_data_quality_only_when_asked(tmp_path, config):
    frame = sy.generate(n_customers=200, days=10, seed=1).drop(columns=["is_fraud"])
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "part-0.csv", index=False)
    args = ["--data", str(tmp_path / "data"), "--config", str(config), "--baseline", str(tmp_path / "none"),
            "--report-dir", str(tmp_path / "r"), "--statistics-dir", str(tmp_path / "s")]

    strict = dq_job.run(dq_job.parse_args(args))
    scoring = dq_job.run(dq_job.parse_args([*args, "--require-label", "false"]))

    assert any(v["check"] == "column_missing" and v["feature"] == "is_fraud" for v in strict["violations"])
    assert scoring["passed"], scoring["violations"]


def test_a_batch_input_has_its_own_row_minimum_and_psi_limit(tmp_path, code, spec):
    """The batch workflow passes batch.min_rows / batch.max_psi (MIN_ROWS, MAX_PSI): a daily
    batch smaller than the training minimum passes; the training minimum still applies by default."""
    spec_dir = write_spec(tmp_path / "c", spec)
    small = sy.generate(40, 3, seed=6).drop(columns=["is_fraud"])
    sy.write_partitions(small, tmp_path / "small")
    assert len(small) < spec["data_quality"]["min_rows"]
    args = ["--data", str(tmp_path / "small"), "--config", str(spec_dir), "--baseline", str(tmp_path / "none"),
            "--require-label", "false", "--statistics-dir", str(tmp_path / "stats")]

    run_processing(code, "data_quality", [*args, "--report-dir", str(tmp_path / "a")], env={"MIN_ROWS": "10"})
    run_processing(code, "data_quality", [*args, "--report-dir", str(tmp_path / "b")], env={"MIN_ROWS": ""})

    batch = json.loads((tmp_path / "a" / "report.json").read_text())
    training = json.loads((tmp_path / "b" / "report.json").read_text())
    assert batch["passed"], batch["violations"]
    assert batch["thresholds"]["min_rows"] == 10
    assert [v["check"] for v in training["violations"]] == ["min_rows"]

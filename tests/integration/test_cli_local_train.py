"""`mdlc local train`: the training workflow from the shell, state by state, ending in a version."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from mdlc import synthetic

pytestmark = pytest.mark.slow


def test_local_train_on_given_data_prints_states_metrics_and_the_registered_version(tmp_path):
    data = tmp_path / "raw"
    frame = synthetic.generate(n_customers=350, days=45, seed=11)
    data.mkdir()
    frame.to_csv(data / "transactions.csv", index=False)

    result = subprocess.run(
        [sys.executable, "-m", "mdlc.cli", "local", "train", "--model", "fraud-detection",
         "--data", str(data)],
        capture_output=True, text=True, timeout=900,
    )

    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    for state in ("Prepare run", "Data quality check", "Train model", "Evaluate challenger",
                  "Register model version"):
        assert re.search(rf"^\s+{state}\s+\d+\.\d+s$", out, re.M), state
    assert re.search(r"^pr_auc\s+0\.\d{4}\s+0\.\d{4}", out, re.M)
    # The score-band table: the team's bands, then the threshold grid, with amounts (schema.amount_column).
    assert re.search(r"^score bands on the test split \([\d,]+ rows, [\d,]+ fraud; amounts from `amount`\)$",
                     out, re.M)
    assert re.search(r"^team 0\.3/0\.85\s+(\d+\.\d%\s+){6}\s*[\d,]+ \(\d+\.\d%\)$", out, re.M)
    assert len(re.findall(r"^  at 0\.\d+\s", out, re.M)) == 11
    assert re.search(r"^feature importance \(share of mean \|contribution\|\): \w+ \d+%", out, re.M)
    assert re.search(
        r"registered arn:aws:sagemaker:\S+/fraud-detection--models/1 \(version 1, PendingManualApproval\)", out
    )
    assert '"level"' not in out  # handler logs stay off the terminal


def test_local_train_reports_a_data_quality_failure_with_its_reason(tmp_path):
    data = tmp_path / "raw"
    data.mkdir()
    synthetic.generate(n_customers=300, days=45, seed=12, corrupt=0.05).to_csv(data / "t.csv", index=False)

    result = subprocess.run(
        [sys.executable, "-m", "mdlc.cli", "local", "train", "--model", "fraud-detection",
         "--data", str(data)],
        capture_output=True, text=True, timeout=900,
    )

    assert result.returncode == 1
    assert "FAILED in DataQualityFailed" in result.stderr
    assert "amount" in result.stderr
    assert "Train model" not in result.stdout

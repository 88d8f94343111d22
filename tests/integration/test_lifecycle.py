"""`mdlc local lifecycle` (what `make demo` runs): the whole MDLC offline, drift to redeploy."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_the_lifecycle_retrains_and_redeploys_after_injected_drift():
    result = subprocess.run(
        [sys.executable, "-m", "mdlc.cli", "local", "lifecycle", "--model", "fraud-detection"],
        capture_output=True, text=True, timeout=1200,
    )

    out = result.stdout
    assert result.returncode == 0, (out[-3000:], result.stderr[-3000:])
    summary = out[out.index("Summary"):]
    assert re.search(r"^1\s+manual\s+0\.\d+\s+0\.\d+\s+Approved", summary, re.M)
    assert re.search(r"^2\s+drift:\S+\s+0\.\d+\s+0\.\d+\s+Approved\s+yes", summary, re.M)
    assert "now deployed: version 2" in summary
    assert re.search(r"retraining reason: drift:\S+", summary)
    # Train/serve parity on the deployed path: every captured decision was served exactly the
    # features the monitor recomputes point-in-time from the raw export (no skew).
    skew = re.search(r"^skew \(before drift\): (\d+) of (\d+) decisions", summary, re.M)
    assert skew and skew.group(1) == "0" and int(skew.group(2)) > 0, summary
    assert re.search(r"^reconciliation: \d+ entities compared, 0 mismatched", summary, re.M), summary
    # Every call of every principal was evaluated against its role: none refused, and each
    # granted action the run did not use is explained (mdlc local iam-report).
    assert re.search(r"^IAM: \d+/\d+ roles made \d+ evaluated calls, 0 denied; \d+ unused grants, "
                     r"0 unexplained", summary, re.M), summary[-2000:]
    # Progress on the terminal; handler logs and EMF metrics went to the handler log.
    assert '"_aws"' not in out and '"level"' not in out

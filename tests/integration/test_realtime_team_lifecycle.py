"""`mdlc local lifecycle` for a realtime team unlike the example (``tests/realtime_team.py``):
its own entity key (wallet_id), aggregates keyed by a device fingerprint and an IP prefix,
windows of 15 minutes to 3 days, count_distinct and min, on records generated from its schema.
Product test of issue 23's "any realtime team": train → deploy → serve → burst → reconcile →
batch → monitor → drift → retrain → redeploy."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.realtime_team import NAME, write_realtime_team

pytestmark = pytest.mark.slow


def test_the_lifecycle_of_a_realtime_team_with_other_keys_and_windows(tmp_path):
    write_realtime_team(tmp_path / "models")
    result = subprocess.run(
        [sys.executable, "-m", "mdlc.cli", "local", "lifecycle", "--model", NAME, "--models-dir",
         str(tmp_path / "models"), "--entities", "500", "--days", "45"],
        capture_output=True, text=True, timeout=1800,
    )
    out = result.stdout
    assert result.returncode == 0, (out[-3000:], result.stderr[-3000:])
    # the burst of one wallet on one device within a minute is seen by each next decision, per key
    for feature in ("payments_15m", "device_payments_45m"):
        assert re.search(rf"{feature} seen by decisions 1\.\.11: \[(\d+), .*\]", out), out
    summary = out[out.index("Summary"):]
    assert re.search(r"^reconciliation: \d+ entities compared, 0 mismatched", summary, re.M), summary
    assert "now deployed: version 2" in summary

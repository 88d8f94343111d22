"""publish_reconciliation: totals, the mismatch rate, the report and the table's signature."""

from __future__ import annotations

import pytest

from lambdas.shared.aws import client
from mdlc import features as F
from tests.unit.lambdas.support import DATA_ENV, SPEC, read_json


def test_the_sample_shards_give_the_rate_the_report_and_the_signature(handler, event, context):
    summary = handler.handler(event, context)

    assert (summary["compared"], summary["mismatched"], summary["written"]) == (998, 1, 2)
    assert summary["mismatch_rate"] == pytest.approx(1 / 998) and summary["mismatched_entities"] == ["C-000042"]
    report = read_json(f"s3://{DATA_ENV['REPORTS_BUCKET']}/features/reconciliation/backfill-20260302T0300.json")
    assert report["mismatched"] == 1
    parameter = client("ssm").get_parameter(Name="/mdlc/fraud-detection/features/state-signature")["Parameter"]
    assert parameter["Value"] == F.state_signature(SPEC, F.lateness_us(SPEC))

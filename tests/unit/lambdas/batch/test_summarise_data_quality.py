"""summarise_data_quality: the batch gate's summary of the input's data-quality report."""

from __future__ import annotations

import pytest

from tests.unit.lambdas.support import put_json


def test_the_gate_gets_passed_the_messages_and_one_cause_line(handler, event, context):
    put_json(event["uri"], {"passed": False, "row_count": 1200, "psi": {"amount": 0.31},
                            "violations": [{"check": "psi", "feature": "amount",
                                            "message": "amount: PSI 0.3100 above 0.2000"}]})

    result = handler.handler(event, context)

    assert result == {"passed": False, "violations": ["amount: PSI 0.3100 above 0.2000"], "violation_count": 1,
                      "reasons_text": "amount: PSI 0.3100 above 0.2000", "row_count": 1200,
                      "psi": {"amount": 0.31}, "uri": event["uri"]}


def test_a_file_that_is_not_a_report_is_refused(handler, event, context):
    put_json(event["uri"], {"rows": 3})
    with pytest.raises(ValueError, match="expected a data-quality report with 'passed'"):
        handler.handler(event, context)

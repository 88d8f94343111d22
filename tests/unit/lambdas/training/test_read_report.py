"""read_report: a job report cut down to what the workflow's Choice states read."""

from __future__ import annotations

from tests.unit.lambdas.support import put_json


def test_the_gate_fields_and_a_readable_cause_come_back(handler, event, context):
    violations = [{"check": "missing_rate", "feature": "country", "value": 0.05,
                   "message": "country: missing rate 5.00% above 1.00%"}] * 60
    put_json(event["uri"], {"passed": False, "violations": violations, "row_count": 1200,
                            "row_count_change": 0.01, "features": {"amount": {}}})

    result = handler.handler(event, context)

    assert set(result) == {*event["keys"], "reasons_text", "uri"}
    assert result["passed"] is False and result["row_count"] == 1200
    assert len(result["violations"]) == handler.MAX_LIST + 1 and "10 more" in result["violations"][-1]
    assert result["reasons_text"].startswith("country: missing rate 5.00% above 1.00%; ")


def test_an_evaluation_gate_gives_its_reasons(handler, event, context):
    put_json(event["uri"], {"gate": {"passed": False, "reasons": ["pr_auc 0.2 below the threshold 0.3"]}})

    result = handler.handler({"uri": event["uri"], "keys": ["gate"]}, context)

    assert result["reasons_text"] == "pr_auc 0.2 below the threshold 0.3"

"""apply_rules: the model's answer read, score band and hard rules turn a scored request into a decision."""

from __future__ import annotations


def test_the_strictest_rule_wins_and_every_reason_is_given(handler, event, context):
    result = handler.handler(event, context)

    assert result["decision"] == "REVIEW" and result["fallback"] is False and result["score"] == 0.83
    assert [r.split(":")[0] for r in result["reasons"]] == ["score_band", "high_risk_online_gaming"]
    assert result["decided_by"] == "score_band"  # the band already says REVIEW; the rule does not raise it
    assert [c["feature"] for c in result["reason_codes"]] == ["amount_to_avg_ratio", "country", "account_tenure_days"]


def test_a_model_answer_without_predictions_takes_the_fallback(handler, event, context):
    malformed = {**event, "model": {"body": '{"model_version": "fraud-detection-v1"}'}}

    result = handler.handler(malformed, context)

    assert result["fallback"] is True and result["decision"] == "REVIEW" and result["decided_by"] == "fallback"
    assert result["reasons"][0].startswith("model_unavailable: MalformedModelResponse: predictions: Field required")


def test_without_a_score_the_teams_fallback_decision_applies(handler, event, context):
    unavailable = {**event, "model": {"error": "ModelError: endpoint timed out"}}

    result = handler.handler(unavailable, context)

    assert result["fallback"] is True and result["score"] is None
    assert "model_unavailable: ModelError: endpoint timed out" in result["reasons"][0]


def test_a_denied_customer_is_declined_whatever_the_score(handler, event, context):
    denied = {**event, "request": {**event["request"], "customer_id": "C-BLOCKED-0001"}}
    assert handler.handler(denied, context)["decision"] == "DECLINE"

"""apply_rules: score band and hard rules turn a scored request into a decision."""

from __future__ import annotations


def test_the_strictest_rule_wins_and_every_reason_is_given(handler, event, context):
    result = handler.handler(event, context)

    assert result["decision"] == "REVIEW" and result["fallback"] is False and result["score"] == 0.83
    assert [r.split(":")[0] for r in result["reasons"]] == ["score_band", "high_risk_online_gaming"]


def test_without_a_score_the_teams_fallback_decision_applies(handler, event, context):
    unavailable = {**event, "inference": {"error": "ModelError: endpoint timed out"}}

    result = handler.handler(unavailable, context)

    assert result["fallback"] is True and result["score"] is None
    assert "model_unavailable: ModelError: endpoint timed out" in result["reasons"][0]


def test_a_denied_customer_is_declined_whatever_the_score(handler, event, context):
    denied = {**event, "request": {**event["request"], "customer_id": "C-BLOCKED-0001"}}
    assert handler.handler(denied, context)["decision"] == "DECLINE"

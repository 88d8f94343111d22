"""mdlc.policy, the one decision policy: its version, its decisions and its measures (product tests)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from mdlc import policy
from mdlc.contract import MODELS_DIR, load_team, runtime_spec

SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))
REQUEST = {"transaction_id": "T-1", "customer_id": "C-000001", "amount": 42.5, "merchant_category": "grocery",
           "channel": "online", "country": "GB", "event_time": "2026-03-01T10:00:00Z"}


def _decide(spec=SPEC, request=REQUEST, score=0.5, **kw):
    return policy.decide(request, {}, spec, score=score, model_version="m-1", **kw)


def test_the_version_is_the_policy_hash_and_the_model_version():
    result = _decide()

    assert result["policy_version"] == f"{policy.policy_hash(SPEC)}/m-1"
    assert len(policy.policy_hash(SPEC)) == 12 and result["model_version"] == "m-1"


def test_a_change_that_decides_differently_changes_the_hash_and_one_that_does_not_keeps_it():
    stricter = copy.deepcopy(SPEC)
    stricter["decision_rules"]["score_bands"]["decline_at_or_above"] = 0.6
    fallback = copy.deepcopy(SPEC)
    fallback["realtime"]["fallback_decision"] = "DECLINE"
    reordered = {**SPEC, "decision_rules": dict(reversed(list(SPEC["decision_rules"].items())))}
    judged = copy.deepcopy(SPEC)
    judged["decision_rules"]["guardrails"] = {"max_review_rate": 0.1}
    other_team_fields = {**SPEC, "description": "another text"}

    base = policy.policy_hash(SPEC)
    assert policy.policy_hash(stricter) != base and policy.policy_hash(fallback) != base
    assert policy.policy_hash(reordered) == policy.policy_hash(judged) == policy.policy_hash(other_team_fields) == base


@pytest.mark.parametrize(("score", "decision"), [(0.29999, "APPROVE"), (0.3, "REVIEW"), (0.8499, "REVIEW"),
                                                 (0.85, "DECLINE")])
def test_score_bands_decide_at_their_edges_alike_for_one_row_and_for_arrays(score, decision):
    assert _decide(score=score)["decision"] == decision
    code = int(policy.band_codes([score], SPEC["decision_rules"]["score_bands"])[0])
    assert policy.DECISIONS[code] == decision


def test_deny_beats_allow_beats_band_and_the_strictest_hard_rule_raises_the_band():
    denied = _decide(request={**REQUEST, "customer_id": "C-BLOCKED-0001"}, score=0.01)
    trusted = _decide(request={**REQUEST, "customer_id": "C-TRUSTED-0001"}, score=0.99)
    gaming = _decide(request={**REQUEST, "merchant_category": "gaming"}, score=0.01)

    assert (denied["decision"], denied["decided_by"]) == ("DECLINE", "deny_list:customer_id")
    assert (trusted["decision"], trusted["decided_by"]) == ("APPROVE", "allow_list:customer_id")
    assert (gaming["decision"], gaming["decided_by"]) == ("REVIEW", "hard_rule:high_risk_online_gaming")


def test_without_a_score_the_fallback_decides_and_says_why():
    result = _decide(score=None, error="ModelError: timed out")

    assert result["fallback"] is True and result["decision"] == SPEC["realtime"]["fallback_decision"]
    assert result["reasons"][0] == f"model_unavailable: ModelError: timed out; fallback decision {result['decision']}"


def test_a_team_without_score_bands_gets_an_error_naming_the_field():
    with pytest.raises(policy.PolicyError, match="decision_rules.score_bands"):
        policy.policy_hash({**SPEC, "decision_rules": None})


def test_outcomes_count_fraud_caught_declined_legit_declined_and_amount_saved():
    codes = np.array([0, 1, 2, 2, 0, 1])
    y = np.array([1, 1, 1, 0, 0, 0])
    amount = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])

    out = policy.outcomes(codes, y, amount, days=2)

    assert out["fraud_caught_share"] == pytest.approx(2 / 3) and out["fraud_declined_share"] == pytest.approx(1 / 3)
    assert out["legit_declined_rate"] == pytest.approx(1 / 3) and out["reviews_per_day"] == 1.0
    assert out["amount_saved"] == 50.0 and out["amount_declined"] == 30.0 and out["fraud_amount"] == 60.0

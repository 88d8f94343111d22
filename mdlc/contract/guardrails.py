"""``decision_rules.guardrails``: what a change of the decision policy may do, judged by a backtest."""

from __future__ import annotations

from pydantic import Field

from mdlc.contract.base import Strict


class Guardrails(Strict):
    """Limits a candidate policy must keep on labelled history against the deployed policy
    (``mdlc backtest``; the pipeline's test stage stops a change that breaks one)."""

    max_legit_decline_increase: float | None = Field(
        default=None, ge=0, le=1,
        description="Largest rise of the share of legitimate requests declined, e.g. 0.002 (0.2 points).")
    max_review_rate: float | None = Field(
        default=None, ge=0, le=1, description="Largest share of requests sent to review, e.g. 0.05.")
    min_fraud_caught: float | None = Field(
        default=None, ge=0, le=1,
        description="Smallest share of fraud caught (reviewed or declined, not approved), e.g. 0.6.")

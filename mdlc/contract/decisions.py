"""The decision policy: score bands, hard rules, allow/deny lists."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    model_validator,
)

from mdlc import pan
from mdlc.contract.base import IDENTIFIER, Decision, Strict, _raise_problems
from mdlc.contract.guardrails import Guardrails


# ------------------------------------------------------------------------------ decisions
class ScoreBands(Strict):
    approve_below: float = Field(ge=0, le=1, description="Scores below this APPROVE.")
    decline_at_or_above: float = Field(
        ge=0, le=1, description="Scores at or above this DECLINE; between the two: REVIEW."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ScoreBands:
        if self.approve_below > self.decline_at_or_above:
            raise ValueError(
                f"approve_below ({self.approve_below}) must not exceed decline_at_or_above "
                f"({self.decline_at_or_above})"
            )
        return self


class Costs(Strict):
    """What each decision costs, so the evaluation report can suggest score bands by expected cost."""

    fraud_loss_share: float = Field(
        ge=0, le=1, description="Share of a fraudulent transaction's amount lost when it is approved "
        "(reviewed and declined fraud loses nothing).")
    review_cost: float = Field(ge=0, description="Cost of one manual review, in the amount's currency.")
    decline_cost: float = Field(
        ge=0, description="Cost of declining one legitimate transaction (lost margin, customer friction).")
    review_capacity_per_day: int = Field(ge=0, description="Reviews the team can make in a day.")
    transactions_per_day: int = Field(
        ge=1, description="Transactions the policy decides in a day; with review_capacity_per_day, the "
        "largest share of transactions the suggested bands may send to review.")


class HardRule(Strict):
    name: str = Field(pattern=IDENTIFIER, description="Reported as the reason.")
    field: str = Field(description="Request field or feature the rule reads.")
    op: Literal["gt", "ge", "lt", "le", "eq", "ne", "in", "not_in"]
    value: float | str | list[str] | list[float]
    decision: Decision


class DecisionRules(Strict):
    score_bands: ScoreBands
    hard_rules: list[HardRule] = Field(
        default_factory=list, description="Checked after the score; the strictest decision wins."
    )
    allow_list: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Field → values always approved (unless denied), e.g. trusted customers.",
    )
    deny_list: dict[str, list[str]] = Field(
        default_factory=dict, description="Field → values always declined."
    )
    guardrails: Guardrails | None = Field(
        default=None, description="What a change of this policy may do on labelled history (`mdlc backtest`); "
        "not part of the policy's version.")
    costs: Costs | None = Field(
        default=None,
        description="Costs of fraud, reviews and declines: the evaluation report then suggests the score "
        "bands of least expected cost on the test split within the review capacity, beside these bands "
        "(a suggestion only: score_bands is what decides).")

    @model_validator(mode="after")
    def _no_card_numbers(self) -> DecisionRules:
        """Listed ids are never card numbers: the team file is in a repository, not in the card vault."""
        problems: list[tuple[tuple[Any, ...], str]] = []
        for section in ("allow_list", "deny_list"):
            for field, values in getattr(self, section).items():
                problems += [((section, field, i), f"looks like a card number (PAN); expected {pan.PAN_EXPECTED}")
                             for i, value in enumerate(values) if pan.looks_like_pan(value)]
        for i, rule in enumerate(self.hard_rules):
            values = rule.value if isinstance(rule.value, list) else [rule.value]
            if any(isinstance(v, str) and pan.looks_like_pan(v) for v in values):
                problems.append((("hard_rules", i, "value"), f"holds a card number (PAN); expected {pan.PAN_EXPECTED}"))
        _raise_problems(problems)
        return self



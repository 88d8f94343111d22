"""Score bands by expected cost (``decision_rules.costs``), suggested beside the team's own.

On the test split, a pair of thresholds (approve below ``a``, decline at or above ``d``) costs:

* an approved fraud: ``fraud_loss_share`` x its amount (reviewed or declined fraud is stopped);
* a review, fraud or not: ``review_cost``;
* a declined legitimate transaction: ``decline_cost``.

The suggestion is the pair of least total cost whose review rate, times
``transactions_per_day``, stays within ``review_capacity_per_day``, searched exactly over every
distinct threshold (the split's scores) and the team's own, so a team whose bands fit the
capacity is never offered dearer ones.
Decisions under a band are ``mdlc.policy``'s (the one policy module), so the report's costs
are those of the policy as it decides. A suggestion only: the team's bands still decide.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from mdlc import policy


def band_cost(y: np.ndarray, p: np.ndarray, amount: np.ndarray, bands: dict[str, float],
              costs: dict[str, Any]) -> dict[str, Any]:
    """Cost and volumes of ``bands`` on labelled rows, decided by ``mdlc.policy``."""
    codes = policy.band_codes(p, bands)
    fraud = y == 1
    approved_fraud = fraud & (codes == 0)
    reviews = int((codes == 1).sum())
    declined_legit = int((~fraud & (codes == 2)).sum())
    loss = float(costs["fraud_loss_share"] * amount[approved_fraud].sum())
    total = loss + costs["review_cost"] * reviews + costs["decline_cost"] * declined_legit
    review_rate = reviews / len(y) if len(y) else 0.0
    return {
        "approve_below": float(bands["approve_below"]),
        "decline_at_or_above": float(bands["decline_at_or_above"]),
        "expected_cost": float(total),
        "cost_per_1000": float(1000 * total / len(y)) if len(y) else 0.0,
        "fraud_loss": loss,
        "review_cost": float(costs["review_cost"] * reviews),
        "decline_cost": float(costs["decline_cost"] * declined_legit),
        "reviews": reviews,
        "review_rate": review_rate,
        "reviews_per_day": review_rate * costs["transactions_per_day"],
        "within_capacity": review_rate * costs["transactions_per_day"] <= costs["review_capacity_per_day"] + 1e-9,
        "fraud_approved": int(approved_fraud.sum()),
        "legit_declined": declined_legit,
    }


def _candidates(p: np.ndarray, team: dict[str, float] | None) -> np.ndarray:
    """Every threshold that splits the rows differently: each distinct score, 0, one above the
    highest score (declines nothing: d = 1 would decline a score of 1.0), and the team's."""
    points = [np.unique(p), [0.0, float(np.nextafter(max(1.0, float(p.max(initial=0.0))), 2.0))]]
    if team:
        points.append([team["approve_below"], team["decline_at_or_above"]])
    return np.unique(np.concatenate([np.asarray(x, dtype="float64") for x in points]))


def cheapest(y: np.ndarray, p: np.ndarray, amount: np.ndarray, costs: dict[str, Any],
             team: dict[str, float] | None) -> tuple[float, float] | None:
    """(approve_below, decline_at_or_above) of least cost within capacity over every distinct
    pair of thresholds (exact); None if no pair fits."""
    t = _candidates(p, team)
    order = np.argsort(p, kind="mergesort")
    ps, fraud = p[order], (y[order] == 1)
    # Rows below each threshold: all, legitimate, and the fraud amount lost if approved.
    below = np.searchsorted(ps, t, side="left")
    legit_below = np.r_[0, np.cumsum(~fraud)][below]
    loss_below = np.r_[0.0, np.cumsum(np.where(fraud, amount[order], 0.0))][below]
    legit = int((~fraud).sum())
    # cost(a = t[i], d = t[j]) = g[i] + h[j], for i <= j and reviews below[j] - below[i] <= capacity.
    g = costs["fraud_loss_share"] * loss_below - costs["review_cost"] * below
    h = costs["review_cost"] * below + costs["decline_cost"] * (legit - legit_below)
    capacity = costs["review_capacity_per_day"] * len(p) / costs["transactions_per_day"]
    return _best_pair(t, below, g, h, capacity)


def _best_pair(t: np.ndarray, below: np.ndarray, g: np.ndarray, h: np.ndarray,
               capacity: float) -> tuple[float, float] | None:
    """Least g[i] + h[j] over the windows i in [lo(j), j] (a sliding-window minimum: lo(j) only
    grows with j). Ties: fewer reviews, then lower thresholds."""
    window: deque[int] = deque()
    best: tuple[float, int, int, int] | None = None
    lo = 0
    for j in range(len(t)):
        # A later i with an equal g reviews fewer rows: it replaces the earlier one.
        while window and g[window[-1]] >= g[j]:
            window.pop()
        window.append(j)
        while below[j] - below[lo] > capacity + 1e-9:
            lo += 1
        while window[0] < lo:
            window.popleft()
        i = window[0]
        key = (round(float(g[i] + h[j]), 6), int(below[j] - below[i]), j, i)
        if best is None or key < best:
            best = key
    return None if best is None else (float(t[best[3]]), float(t[best[2]]))


def suggest(y: np.ndarray, p: np.ndarray, amount: np.ndarray | None, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The report's ``cost_bands``: the team's bands and the suggested ones, each with its cost;
    None when the team sets no ``decision_rules.costs``."""
    rules = spec.get("decision_rules") or {}
    costs = rules.get("costs")
    if not costs:
        return None
    if amount is None:
        return {"costs": costs, "team": None, "suggested": None,
                "note": "no amounts in the test split (schema.amount_column must be a model input)"}
    y, p = np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")
    amount = np.nan_to_num(np.asarray(amount, dtype="float64"))
    team_bands = rules.get("score_bands")
    team = band_cost(y, p, amount, team_bands, costs) if team_bands else None
    pair = cheapest(y, p, amount, costs, team_bands)
    suggested = None
    if pair is not None:
        suggested = band_cost(y, p, amount, {"approve_below": pair[0], "decline_at_or_above": pair[1]}, costs)
    note = None
    if suggested is None:
        note = "no bands fit the review capacity"
    elif team is not None and not team["within_capacity"]:
        note = (f"the team's bands send {team['reviews_per_day']:,.0f} reviews a day, over the capacity of "
                f"{costs['review_capacity_per_day']:,}")
    return {"costs": costs, "rows": int(len(y)), "team": team, "suggested": suggested, "note": note,
            "saving": None if team is None or suggested is None else team["expected_cost"] - suggested["expected_cost"]}

"""The one decision policy: score bands, hard rules, allow/deny lists and the fallback.

Every caller decides through this module: the decision function (``lambdas/realtime/decide``),
the evaluation job's band table (``sagemaker_jobs/evaluation``), the backtest
(``mdlc/backtest.py``) and anything that measures a policy on labelled rows. It ships beside
``mdlc/features.py`` in every Lambda bundle (``stacks/common/lambda_function.SHARED``) and in
the job-code bundle (``mdlc/bundle.py``), so what a backtest replays is the code AWS runs.

Order (``decision_rules`` in the team file): a deny-list match → DECLINE; an allow-list
match → APPROVE; otherwise the score band (or ``realtime.fallback_decision`` when the
model could not answer), raised by any hard rule that fires: the strictest decision wins.

Version: :func:`policy_hash` is a content hash of the policy as deployed (the four
``decision_rules`` sections that decide, and the fallback; ``guardrails`` only judge a
change and are not part of it); every decision records
``policy_version = "<policy hash>/<model version>"`` beside ``model_version``, so two
decisions with the same ``policy_version`` were made by the same rules and the same model.

Only the standard library is imported at module level (a Lambda imports this in
milliseconds); the array functions import numpy when called.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

DECISIONS = ("APPROVE", "REVIEW", "DECLINE")
SEVERITY = {name: i for i, name in enumerate(DECISIONS)}
#: The ``decision_rules`` sections that decide (``guardrails`` does not).
POLICY_SECTIONS = ("score_bands", "hard_rules", "allow_list", "deny_list")
DEFAULT_FALLBACK = "REVIEW"
HASH_LENGTH = 12
OPS = {
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "in": lambda a, b: a in b, "not_in": lambda a, b: a not in b,
}


class PolicyError(ValueError):
    """A policy that cannot decide (no score bands); names what was missing."""


# ------------------------------------------------------------------------------ version
def policy_of(spec: dict[str, Any]) -> dict[str, Any]:
    """The policy of a team spec: its deciding ``decision_rules`` sections and the fallback."""
    rules = spec.get("decision_rules") or {}
    if not rules.get("score_bands"):
        raise PolicyError(f"team {spec.get('name')!r} has no decision_rules.score_bands; expected e.g. "
                          "decision_rules: {score_bands: {approve_below: 0.3, decline_at_or_above: 0.85}}")
    policy = {section: rules.get(section) or ({} if section.endswith("_list") else [])
              for section in POLICY_SECTIONS}
    policy["score_bands"] = rules["score_bands"]
    policy["fallback_decision"] = (spec.get("realtime") or {}).get("fallback_decision", DEFAULT_FALLBACK)
    return policy


def policy_hash(spec: dict[str, Any]) -> str:
    """12 hex digits of the SHA-256 of the policy as canonical JSON (key order never matters)."""
    text = json.dumps(policy_of(spec), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def policy_version(spec: dict[str, Any], model_version: str) -> str:
    """``<policy hash>/<model version>``: what decided, rules and model together."""
    return f"{policy_hash(spec)}/{model_version}"


def with_rules(spec: dict[str, Any], rules: dict[str, Any], fallback: str | None = None) -> dict[str, Any]:
    """``spec`` with other ``decision_rules`` (and fallback): a candidate policy to compare."""
    realtime = dict(spec.get("realtime") or {})
    if fallback is not None:
        realtime["fallback_decision"] = fallback
    return {**spec, "decision_rules": rules, "realtime": realtime}


# ----------------------------------------------------------------------------- one row
def field_value(field: str, request: dict[str, Any], features: dict[str, Any], spec: dict[str, Any],
                score: float | None) -> Any:
    """What a rule reads: ``score``, a request field, or a model feature (categories by label)."""
    if field == "score":
        return score
    if field in request:
        return request[field]
    value = features.get(field)
    feature = next((f for f in spec["schema"]["features"] if f["name"] == field), None)
    if feature and feature["type"] == "category" and isinstance(value, int):
        return feature["categories"][value]
    return value


def fires(op: str, actual: Any, expected: Any) -> bool:
    """Whether a hard rule fires; a missing value or values that do not compare never fire."""
    if actual is None:
        return False
    try:
        return bool(OPS[op](actual, expected))
    except TypeError:  # e.g. a number compared with a string: the rule does not apply
        return False


def band(score: float, bands: dict[str, float]) -> tuple[str, str]:
    """The score band's decision and its reason text."""
    low, high = bands["approve_below"], bands["decline_at_or_above"]
    if score < low:
        return "APPROVE", f"score {score:.4f} < {low}"
    if score >= high:
        return "DECLINE", f"score {score:.4f} >= {high}"
    return "REVIEW", f"score {score:.4f} in [{low}, {high})"


def decide(request: dict[str, Any], features: dict[str, Any], spec: dict[str, Any], *, score: float | None,
           model_version: str, error: str | None = None, reason_codes: list[dict[str, Any]] | None = None,
           version_of: str | None = None) -> dict[str, Any]:
    """``{decision, reasons, reason_codes, decided_by, score, model_version, policy_version, fallback}``.

    ``score`` None means the model did not answer (``error`` says why): the fallback decides.
    ``version_of`` is the policy hash when the caller has it already (the Lambda hashes once)."""
    policy = policy_of(spec)
    lookup = lambda field: field_value(field, request, features, spec, score)  # noqa: E731
    version = f"{version_of or policy_hash(spec)}/{model_version}"
    codes = list(reason_codes or [])

    def result(decision: str, reasons: list[str], decided_by: str) -> dict[str, Any]:
        return {"decision": decision, "reasons": reasons, "reason_codes": codes, "decided_by": decided_by,
                "score": score, "model_version": model_version, "policy_version": version,
                "fallback": score is None}

    for field, values in sorted(policy["deny_list"].items()):
        if str(lookup(field)) in values:
            return result("DECLINE", [f"deny_list: {field} {lookup(field)!r} is denied"], f"deny_list:{field}")
    for field, values in sorted(policy["allow_list"].items()):
        if str(lookup(field)) in values:
            return result("APPROVE", [f"allow_list: {field} {lookup(field)!r} is trusted"], f"allow_list:{field}")
    if score is None:
        decision, decided_by = policy["fallback_decision"], "fallback"
        reasons = [f"model_unavailable: {error or 'no score'}; fallback decision {decision}"]
    else:
        decision, text = band(score, policy["score_bands"])
        decided_by, reasons = "score_band", [f"score_band: {text}"]
    for rule in policy["hard_rules"]:
        actual = lookup(rule["field"])
        if fires(rule["op"], actual, rule["value"]):
            reasons.append(f"{rule['name']}: {rule['field']} {actual!r} {rule['op']} {rule['value']!r} "
                           f"→ {rule['decision']}")
            if SEVERITY[rule["decision"]] > SEVERITY[decision]:
                decision, decided_by = rule["decision"], f"hard_rule:{rule['name']}"
    return result(decision, reasons, decided_by)


# ------------------------------------------------------------------------ many rows
def band_codes(scores: Any, bands: dict[str, float]) -> Any:
    """Decision codes (0 APPROVE, 1 REVIEW, 2 DECLINE) of an array of scores, by band alone."""
    import numpy as np

    p = np.asarray(scores, dtype="float64")
    return np.where(p < bands["approve_below"], 0, np.where(p >= bands["decline_at_or_above"], 2, 1)).astype("int8")


def outcomes(codes: Any, y: Any, amount: Any | None = None, days: int | None = None) -> dict[str, Any]:
    """What decisions (codes 0/1/2) do to labelled rows: rates, fraud caught (not approved) and
    declined, legitimate rows declined and reviewed; with amounts, the fraud amount saved; with
    ``days``, the review volume per day. A share of nothing is None."""
    import numpy as np

    codes, fraud = np.asarray(codes), np.asarray(y) == 1
    approve, review, decline = codes == 0, codes == 1, codes == 2
    n, frauds = len(codes), int(fraud.sum())
    legit = n - frauds

    def share(mask: Any, of: int) -> float | None:
        return None if of == 0 else float(mask.sum() / of)

    out: dict[str, Any] = {
        "rows": n, "frauds": frauds,
        "approve_rate": share(approve, n), "review_rate": share(review, n), "decline_rate": share(decline, n),
        "fraud_caught_share": share(fraud & ~approve, frauds), "fraud_declined_share": share(fraud & decline, frauds),
        "legit_declined_rate": share(~fraud & decline, legit), "legit_reviewed_rate": share(~fraud & review, legit),
    }
    if days:
        out["reviews_per_day"] = float(review.sum() / days)
    if amount is not None:
        amount = np.asarray(amount, dtype="float64")
        total = float(amount[fraud].sum())
        out["fraud_amount"] = total
        out["amount_saved"] = float(amount[fraud & ~approve].sum())
        out["amount_saved_share"] = None if total == 0 else out["amount_saved"] / total
        out["amount_declined"] = float(amount[fraud & decline].sum())
    return out


def band_outcomes(y: Any, p: Any, amount: Any | None, approve_below: float, decline_at: float) -> dict[str, Any]:
    """What bands ``[0, approve_below) / [approve_below, decline_at) / [decline_at, 1]`` do to ``y``."""
    bands = {"approve_below": approve_below, "decline_at_or_above": decline_at}
    out = outcomes(band_codes(p, bands), y, amount)
    del out["rows"], out["frauds"]
    return {"approve_below": approve_below, "decline_at_or_above": decline_at, **out}

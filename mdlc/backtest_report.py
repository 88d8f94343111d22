"""A backtest's comparison of two runs (current and candidate) and the guardrails that judge it.

The measures are ``mdlc.policy.outcomes`` (the evaluation job's band table reports the same):
approve / review / decline rates, fraud caught (not approved) and declined, legitimate
declined, amount saved where ``schema.amount_column`` is set, reviews per day; plus the flip
matrix: for each current decision × candidate decision, how many requests and how many
frauds among them. ``decision_rules.guardrails`` of the candidate's team file say what a
change may do; :func:`broken_guardrails` names each one it breaks, with the figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mdlc import policy

#: (report key, label, kind): the rows of the side-by-side table.
ROWS = (
    ("approve_rate", "approve", "pct"), ("review_rate", "review", "pct"), ("decline_rate", "decline", "pct"),
    ("fraud_caught_share", "fraud caught (not approved)", "pct"),
    ("fraud_declined_share", "fraud declined", "pct"),
    ("legit_declined_rate", "legitimate declined", "pct"), ("legit_reviewed_rate", "legitimate reviewed", "pct"),
    ("reviews_per_day", "reviews per day", "num"), ("amount_saved", "fraud amount saved", "num"),
    ("amount_saved_share", "fraud amount saved (share)", "pct"),
)
#: Guardrail → (measure, comparison, how it is said).
GUARDRAILS = {
    "max_legit_decline_increase": ("legit_declined_rate", "increase", "legitimate declined rises by"),
    "max_review_rate": ("review_rate", "max", "review rate is"),
    "min_fraud_caught": ("fraud_caught_share", "min", "fraud caught is"),
}


def side(decided: list[dict[str, Any]], codes: np.ndarray, labels: np.ndarray, amounts: np.ndarray | None,
         days: int) -> dict[str, Any]:
    """One run's measures, with the versions that decided it."""
    out = policy.outcomes(codes, labels, amounts, days=days or None)
    versions = sorted({d["policy_version"] for d in decided})
    out["policy_version"] = versions[0] if len(versions) == 1 else versions
    out["model_version"] = decided[0]["model_version"] if decided else None
    out["decided_by"] = _counts(d["decided_by"].split(":")[0] for d in decided)
    return out


def _counts(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return dict(sorted(out.items()))


def flips(current: np.ndarray, candidate: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, dict[str, int]]]:
    """``{current decision: {candidate decision: {"count", "fraud"}}}`` over every request."""
    fraud = labels == 1
    return {a: {b: {"count": int(((current == i) & (candidate == j)).sum()),
                    "fraud": int(((current == i) & (candidate == j) & fraud).sum())}
                for j, b in enumerate(policy.DECISIONS)}
            for i, a in enumerate(policy.DECISIONS)}


def compare(team: str, current: dict[str, Any], candidate: dict[str, Any], matrix: dict[str, Any],
            run: Any, guardrails: dict[str, float] | None) -> dict[str, Any]:
    """The report (``--json`` writes it as is)."""
    changed = sum(cell["count"] for a, row in matrix.items() for b, cell in row.items() if a != b)
    report = {"team": team, "requests": len(run.requests), "days": run.days, "rejected": run.rejected,
              "unlabelled": run.unlabelled, "amounts": run.amounts is not None,
              "current": current, "candidate": candidate, "flips": matrix, "changed": changed,
              "guardrails": guardrails or {}}
    report["broken_guardrails"] = broken_guardrails(report)
    return report


def broken_guardrails(report: dict[str, Any]) -> list[str]:
    """Each guardrail the candidate breaks, as a sentence with the figures (empty: all kept)."""
    out = []
    for name, limit in sorted((report.get("guardrails") or {}).items()):
        if limit is None:
            continue
        measure, how, said = GUARDRAILS[name]
        now, then = report["candidate"].get(measure), report["current"].get(measure)
        if now is None:
            continue
        value = now - (then or 0.0) if how == "increase" else now
        broken = value < limit if how == "min" else value > limit
        if broken:
            bound = "at least" if how == "min" else "at most"
            out.append(f"{name}: {said} {value:.2%}; expected {bound} {limit:.2%}")
    return out


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if kind == "pct" else f"{value:,.1f}"


def render(report: dict[str, Any]) -> str:
    """The side-by-side table, the flip matrix and the guardrails, as text. With no current
    policy (``alone``: nothing deployed yet), the candidate's column only."""
    cur, cand = report["current"], report["candidate"]
    alone = report.get("alone")
    lines = [f"backtest of {report['team']}: {report['requests']:,} labelled requests over {report['days']} day(s), "
             f"{cur['frauds']:,} fraud" + (f"; {sum(report['rejected'].values()):,} refused as the API would "
                                           f"({', '.join(report['rejected'])})" if report["rejected"] else ""),
             f"current:   {f'none: {alone}' if alone else 'policy_version ' + _version(cur['policy_version'])}",
             f"candidate: policy_version {_version(cand['policy_version'])}",
             f"\n{'':<30} {'candidate':>16}" if alone
             else f"\n{'':<30} {'current':>16} {'candidate':>16} {'change':>10}"]
    for key, label, kind in ROWS:
        if key not in cur:
            continue
        a, b = cur.get(key), cand.get(key)
        if alone:
            lines.append(f"{label:<30} {_cell(b, kind):>16}")
            continue
        delta = "-" if a is None or b is None else (f"{b - a:+.2%}" if kind == "pct" else f"{b - a:+,.1f}")
        lines.append(f"{label:<30} {_cell(a, kind):>16} {_cell(b, kind):>16} {delta:>10}")
    if not alone:
        lines.append(f"\ndecisions that change: {report['changed']:,} (count / fraud among them; rows: current, "
                     "columns: candidate)")
        lines.append(f"{'':<10}" + "".join(f"{d:>16}" for d in policy.DECISIONS))
        for a, row in report["flips"].items():
            lines.append(f"{a:<10}" + "".join(f"{row[b]['count']:>9,} / {row[b]['fraud']:<4,}"
                                              for b in policy.DECISIONS))
    guardrails = report.get("guardrails") or {}
    if guardrails:
        broken = report["broken_guardrails"]
        lines.append("\nguardrails: " + ("all kept" if not broken else f"{len(broken)} broken"))
        lines += [f"  BROKEN {line}" for line in broken]
    if report.get("skipped_guardrails"):
        lines.append(f"guardrails skipped (no current policy to measure a change from): "
                     f"{', '.join(report['skipped_guardrails'])}")
    return "\n".join(lines) + "\n"


def _version(version: Any) -> str:
    return version if isinstance(version, str) else " and ".join(version)


#: The rows ``mdlc diff --backtest`` shows (the full table is ``mdlc backtest``'s).
SUMMARY = ("approve_rate", "review_rate", "decline_rate", "fraud_caught_share", "legit_declined_rate",
           "reviews_per_day", "amount_saved")


def summary(report: dict[str, Any]) -> list[str]:
    """A few lines: the main measures current → candidate, the decisions that change, the guardrails."""
    cur, cand = report["current"], report["candidate"]
    kinds = {key: (label, kind) for key, label, kind in ROWS}
    lines = [f"backtest on {report['requests']:,} labelled requests over {report['days']} day(s):"]
    for key in SUMMARY:
        if key in cur:
            label, kind = kinds[key]
            lines.append(f"  {label:<28} {_cell(cur.get(key), kind):>12} → {_cell(cand.get(key), kind)}")
    lines.append(f"  decisions that change       {report['changed']:>12,}")
    broken = report.get("broken_guardrails") or []
    if report.get("guardrails"):
        lines.append("  guardrails: " + ("all kept" if not broken else "; ".join(f"BROKEN {b}" for b in broken)))
    return lines

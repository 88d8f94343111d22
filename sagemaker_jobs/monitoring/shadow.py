"""Live against shadow on the same requests (issue 24): the monitoring job's comparison.

Reads the pairs the shadow Lambda wrote (``shadow/dt=<day>/*.jsonl`` in the capture bucket:
one line per live decision with the shadow's decision beside it, ``lambdas/realtime/
shadow_decisions``). Over the run's window: how many decisions the shadow would change, as a
flip matrix (live × shadow decision) and its error rate. Over the quality window, joined with
the labels that arrived since: for live and shadow alike, precision and recall of the
decisions (a fraud is caught when not APPROVEd), PR-AUC of the scores, the fraud amount caught
and the legitimate share declined, and the fraud among the flips. ``advantage`` is the
shadow's ``realtime.shadow.compare_metric`` minus the live one; ``better`` when it reaches
``promote_margin`` on at least ``min_labelled`` labelled requests with a fraud among them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mdlc import features as F
from mdlc import policy

#: The pairs' folder in the capture bucket, and so in the job's capture input.
FOLDER = "shadow"
COLUMNS = ["request_id", "id", "decided_at", "amount", "live_decision", "live_score", "shadow_decision",
           "shadow_score", "shadow_error", "live_version", "shadow_version"]


def read_pairs(folder: str | Path) -> pd.DataFrame:
    """Every pair line under ``folder``; a request recorded twice (a retried batch) counts once."""
    root = Path(folder)
    rows = []
    for path in sorted(root.rglob("*.jsonl")) if root.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            pair = json.loads(line)
            live, shadow = pair.get("live") or {}, pair.get("shadow") or {}
            rows.append({"request_id": pair.get("request_id"), "id": pair.get("transaction_id"),
                         "decided_at": F.parse_time(pair["decided_at"]) if pair.get("decided_at") else None,
                         "amount": pair.get("amount"), "live_decision": live.get("decision"),
                         "live_score": live.get("score"), "shadow_decision": shadow.get("decision"),
                         "shadow_score": shadow.get("score"), "shadow_error": shadow.get("error"),
                         "live_version": live.get("policy_version"), "shadow_version": shadow.get("policy_version")})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.drop_duplicates("request_id", keep="last").reset_index(drop=True)


def _between(frame: pd.DataFrame, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    keep = [(start is None or (t is not None and t >= start)) and (end is None or (t is not None and t < end))
            for t in frame["decided_at"]]
    return frame[np.asarray(keep, dtype=bool)] if len(frame) else frame


def flip_matrix(frame: pd.DataFrame, among: Any = None) -> dict[str, dict[str, int]]:
    """Counts of live decision (rows) × shadow decision (columns), optionally among a mask."""
    rows = frame if among is None else frame[among]
    return {live: {shadow: int(((rows["live_decision"] == live) & (rows["shadow_decision"] == shadow)).sum())
                   for shadow in policy.DECISIONS} for live in policy.DECISIONS}


def side_quality(decisions: pd.Series, scores: pd.Series, y: np.ndarray, amount: np.ndarray | None,
                 average_precision: Callable[[np.ndarray, np.ndarray], float | None]) -> dict[str, Any]:
    """Precision/recall of the decisions (caught = not APPROVE), PR-AUC of the scores, amounts."""
    codes = decisions.map(policy.SEVERITY).to_numpy("int64")
    caught = codes > 0
    out = policy.outcomes(codes, y, amount)
    out["precision"] = float((caught & (y == 1)).sum() / caught.sum()) if caught.sum() else None
    out["recall"] = out["fraud_caught_share"]
    scored = scores.notna().to_numpy()
    out["pr_auc"] = (average_precision(y[scored], scores[scored].to_numpy("float64"))
                     if scored.sum() and y[scored].sum() else None)
    out["scored"] = int(scored.sum())
    return out


def compare(pairs: pd.DataFrame, labels: pd.DataFrame, window: dict[str, datetime | None], shadow: dict[str, Any],
            average_precision: Callable[[np.ndarray, np.ndarray], float | None]) -> dict[str, Any]:
    """The report's ``shadow`` section (``shadow`` is ``realtime.shadow`` of the team spec)."""
    now = _between(pairs, window["start"], window["end"])
    flips = int((now["live_decision"] != now["shadow_decision"]).sum())
    errors = int(now["shadow_error"].notna().sum())
    out: dict[str, Any] = {
        "configured": True, "decisions": int(len(now)), "flips": flips,
        "flip_rate": flips / len(now) if len(now) else None,
        "errors": errors, "error_rate": errors / len(now) if len(now) else None,
        "flip_matrix": flip_matrix(now),
        "live_versions": sorted(v for v in now["live_version"].dropna().unique()),
        "shadow_versions": sorted(v for v in now["shadow_version"].dropna().unique()),
        "compare_metric": shadow["compare_metric"], "promote_margin": shadow["promote_margin"],
    }
    judged = _between(pairs, window["quality_start"], window["quality_end"]).merge(
        labels.drop_duplicates("id", keep="last"), on="id", how="inner")
    y = judged["label"].to_numpy("int64")
    out.update({"labelled": int(len(judged)), "frauds": int(y.sum()), "live": None, "shadow": None,
                "advantage": None, "better": False})
    if len(judged) < shadow["min_labelled"] or not y.sum():
        out["note"] = (f"{len(judged)} labelled requests with {int(y.sum())} fraud; the comparison needs at least "
                       f"{shadow['min_labelled']} with a fraud among them")
        return out
    amount = (pd.to_numeric(judged["amount"], errors="coerce").fillna(0.0).to_numpy("float64")
              if judged["amount"].notna().any() else None)
    for side in ("live", "shadow"):
        out[side] = side_quality(judged[f"{side}_decision"], pd.to_numeric(judged[f"{side}_score"], errors="coerce"),
                                 y, amount, average_precision)
    out["fraud_flip_matrix"] = flip_matrix(judged, among=y == 1)
    metric = shadow["compare_metric"]
    live_value, shadow_value = out["live"].get(metric), out["shadow"].get(metric)
    if live_value is not None and shadow_value is not None:
        out["advantage"] = float(shadow_value - live_value)
        out["better"] = out["advantage"] >= shadow["promote_margin"]
    return out


def shadow_section(folder: str | Path, labels: pd.DataFrame, window: dict[str, datetime | None],
                   spec: dict[str, Any], average_precision: Callable[[np.ndarray, np.ndarray], float | None],
                   ) -> dict[str, Any]:
    """The comparison, or ``{"configured": False}`` for a team without a shadow and no pairs."""
    shadow = (spec.get("realtime") or {}).get("shadow")
    pairs = read_pairs(folder)
    if shadow is None and pairs.empty:
        return {"configured": False}
    # Pairs left from a shadow since removed are still compared, with the defaults.
    settings = shadow or {"compare_metric": "pr_auc", "promote_margin": 0.02, "min_labelled": 200}
    return compare(pairs, labels, window, settings, average_precision)

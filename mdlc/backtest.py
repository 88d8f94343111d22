"""Backtest: replay labelled history through the production feature, model and policy code.

Every replayed record becomes the request the decision API would have received at its
time; its features are computed point in time (the entity's strictly earlier records only,
``mdlc.features.point_in_time_features``) and merged exactly as the collect step merges an
online item (``mdlc.features.derive_record``); the model's own serving code scores the
feature objects in the model's own runtime (:mod:`mdlc.backtest_score`: the endpoint's
``input_fn`` → ``predict_fn`` → ``output_fn``); and ``mdlc.policy.decide`` decides, as
the rules Lambda does. So a replay of served requests gives byte for byte the decisions the
deployed rules Lambda returned (``tests/integration/test_backtest_exactness.py``).

:func:`replay` prepares the requests once; :func:`decisions` decides them for one model
answer and one policy; :mod:`mdlc.backtest_report` compares two such runs (rates, fraud
caught, legitimate declined, amount saved, reviews per day, the flip matrix) and checks
``decision_rules.guardrails``.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mdlc import bundle, policy
from mdlc import features as F

#: The fields of a decision the rules Lambda returns (and the API response repeats).
DECISION_KEYS = ("decision", "reasons", "reason_codes", "decided_by", "score", "model_version",
                 "policy_version", "fallback")


class BacktestError(ValueError):
    """Input the backtest cannot replay; the message names what was wrong and what was expected."""


@dataclass
class Replay:
    """The replayed requests of a history, with their point-in-time features and labels."""

    requests: list[dict[str, Any]]  # what the API would have received (ids, record fields, time)
    features: list[dict[str, Any]]  # what the collect step hands the endpoint and the rules
    labels: np.ndarray  # 1 fraud, 0 legitimate
    amounts: np.ndarray | None  # schema.amount_column, when set
    days: int  # calendar days (UTC) the replayed records span
    rejected: dict[str, int]  # records the API would refuse, by field
    unlabelled: int  # records without a label (not replayed)


def replay(history: pd.DataFrame, spec: dict[str, Any], since: str | None = None) -> Replay:
    """The requests of every labelled record of ``history`` at or after ``since`` (all when None);
    each one's features see every earlier record of ``history``."""
    keys, label = F.key_columns(spec), spec["schema"]["label"]
    missing = [c for c in (keys["id"], keys["entity"], keys["timestamp"], label) if c not in history.columns]
    if missing:
        raise BacktestError(f"history lacks the column(s) {missing}; expected labelled raw records with "
                            f"{keys['id']}, {keys['entity']}, {keys['timestamp']} and {label}")
    frame = history.reset_index(drop=True)
    times = np.asarray(F.parse_times_ns(frame[keys["timestamp"]]))
    frame = frame.iloc[np.argsort(times, kind="stable")].reset_index(drop=True)
    times = np.asarray(F.parse_times_ns(frame[keys["timestamp"]]))
    labelled = frame[label].notna().to_numpy()
    chosen = labelled & (times >= parse_time_ns(since) if since else True)
    rows = np.flatnonzero(chosen)
    pit = F.point_in_time_features(frame, spec, rows=rows)
    entities = frame[keys["entity"]].astype(str)
    first = pd.Series(times).groupby(entities.to_numpy()).transform("min").to_numpy()
    known = (times > first)[rows]
    fields = [c for c in (keys["id"], keys["entity"], keys["timestamp"], *F.record_columns(spec))
              if c in frame.columns]
    online = F.online_columns(spec)
    aggregate_keys, entity_key = F.aggregate_keys(spec), keys["entity"]
    requests, feats, kept, rejected = [], [], [], {}
    raw_rows = _records(frame.iloc[rows], fields)
    online_rows = _records(pit, online)
    for i, (request, item) in enumerate(zip(raw_rows, online_rows, strict=True)):
        record = {k: v for k, v in request.items() if k != keys["id"]}
        # Every key's aggregates, point in time, as the collect step reads each key's item; the
        # entity key's item is absent for an entity without an earlier record (unknown_entity).
        items = {key: item for key in aggregate_keys}
        items[entity_key] = item if known[i] else None
        try:
            feats.append(F.derive_record_items(record, items, spec))
        except F.FeatureError as exc:  # the API answers 400: nothing decided
            rejected[exc.field] = rejected.get(exc.field, 0) + 1
            continue
        requests.append(request)
        kept.append(rows[i])
    kept_frame = frame.iloc[kept]
    amount_column = spec["schema"].get("amount_column")
    amounts = (pd.to_numeric(kept_frame[amount_column], errors="coerce").fillna(0).to_numpy("float64")
               if amount_column and amount_column in kept_frame.columns else None)
    days = len(set(pd.to_datetime(times[kept], utc=True).date)) if kept else 0
    return Replay(requests, feats, kept_frame[label].astype(float).to_numpy().round().astype(int), amounts,
                  days, rejected, int((~labelled).sum()))


def parse_time_ns(text: str) -> int:
    """An ISO-8601 time (UTC when it has no offset) as nanoseconds."""
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise BacktestError(f"since: {text!r} is not a time; expected ISO-8601, e.g. 2026-03-01") from None
    return (stamp if stamp.tzinfo else stamp.tz_localize("UTC")).value


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Rows as dicts of Python values (numbers as Python numbers, missing left out)."""
    values = {c: _column(frame[c]) for c in columns}
    return [{c: _plain(values[c][i]) for c in columns if values[c][i] is not None} for i in range(len(frame))]


def _column(series: pd.Series) -> list[Any]:
    values = series.astype(object).where(series.notna(), None).tolist()
    return [None if F.is_missing(v) else v for v in values]


def _plain(value: Any) -> Any:
    """A JSON value as a request carries it (numpy scalars and timestamps as Python/ISO)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


# ------------------------------------------------------------------------------ scoring
@dataclass
class ModelAnswer:
    """The endpoint's answer for every replayed request: one prediction each, and the version."""

    model_version: str
    predictions: list[dict[str, Any]]


def score(model: Path, features: list[dict[str, Any]], runtime_python: Path) -> ModelAnswer:
    """Score the feature objects with the model's serving code in its runtime (one process)."""
    with tempfile.TemporaryDirectory(prefix="mdlc-backtest-") as tmp:
        model_dir = _model_dir(Path(model), Path(tmp) / "model")
        source, target = Path(tmp) / "in.json", Path(tmp) / "out.json"
        source.write_text(json.dumps(features), encoding="utf-8")
        done = subprocess.run([str(runtime_python), "-m", "mdlc.backtest_score", str(model_dir), str(source),
                               str(target)], env=bundle.script_environment(), capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise BacktestError(f"scoring with {model} failed: {done.stderr.strip()[-1500:]}")
        body = json.loads(target.read_text(encoding="utf-8"))
    if len(body["predictions"]) != len(features):
        raise BacktestError(f"the model answered {len(body['predictions'])} predictions for {len(features)} requests")
    return ModelAnswer(str(body["model_version"]), body["predictions"])


def _model_dir(model: Path, target: Path) -> Path:
    """A model directory (xgboost-model, model-meta.json, team.json) from a folder or model.tar.gz."""
    archive = model / "model.tar.gz" if model.is_dir() else model
    if model.is_dir() and (model / "xgboost-model").is_file():
        return model
    if not archive.is_file():
        raise BacktestError(f"{model}: no model.tar.gz or model directory; expected the training job's "
                            "model.tar.gz (or a folder holding it)")
    target.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    for name in ("xgboost-model", "model-meta.json", "team.json"):
        if not (target / name).is_file():
            raise BacktestError(f"{archive} has no {name}; expected the training job's model.tar.gz")
    return target


# ----------------------------------------------------------------------------- deciding
def decisions(run: Replay, answer: ModelAnswer, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Each request decided by ``spec``'s policy with the model's answer, as the rules Lambda does:
    the answer goes through JSON as the endpoint's body does, and every decision carries its
    ``policy_version``."""
    version = policy.policy_hash(spec)
    out = []
    for request, features, prediction in zip(run.requests, run.features, answer.predictions, strict=True):
        # The workflow state is JSON: the rules Lambda reads the features as JSON values.
        out.append(policy.decide(request, features, spec, score=float(prediction["score"]),
                                 model_version=answer.model_version,
                                 reason_codes=[_reason(r) for r in prediction.get("reasons") or []],
                                 version_of=version))
    return out


def _reason(reason: dict[str, Any]) -> dict[str, Any]:
    """A reason code as the rules Lambda's parser leaves it (contribution a float)."""
    return {"feature": reason["feature"], "value": reason.get("value"), "contribution": float(reason["contribution"])}


def codes(decided: list[dict[str, Any]]) -> np.ndarray:
    """Decisions as codes 0 APPROVE, 1 REVIEW, 2 DECLINE."""
    return np.fromiter((policy.SEVERITY[d["decision"]] for d in decided), dtype="int8", count=len(decided))


def decision_json(decision: dict[str, Any]) -> str:
    """The canonical text of a decision's fields (what the exactness check compares)."""
    return json.dumps({k: decision.get(k) for k in DECISION_KEYS}, sort_keys=True)

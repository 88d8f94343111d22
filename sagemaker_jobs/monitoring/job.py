"""Model monitoring (SageMaker Processing job): drift of served inputs and scores, and
model quality once labels arrive, and training/serving skew of the features served.

Open loop: the endpoint's data capture (SageMaker's JSON Lines format: ``captureData``
``endpointInput``/``endpointOutput`` and ``eventMetadata``) and the latest batch run's
input are compared with the champion's training baseline (``statistics.json``: PSI per
feature, with the data-quality job's own statistics code), and their scores with the
scores the champion gives its own test split (prediction PSI). Closed loop: predictions
(captured and batch) joined by record id with the ground-truth labels give precision and
recall at the team's review threshold and PR-AUC; with a shadow challenger, live against
shadow on the same requests (``monitoring/shadow.py``). Skew: each decision's captured features
(its ``inferenceId`` is the event's id) against the point-in-time features recomputed with
``mdlc/features.py`` from the newest raw partition for the same event, per feature
(``FeatureSkew``: the share of decisions whose served value differs). Writes ``report/report.json``; the
workflow publishes its numbers as CloudWatch metrics, where the team's alarms watch them.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import os
import sys
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jobkit
import numpy as np
import pandas as pd
from data_quality import job as dq
from features import job as features_job
from monitoring import shadow as shadow_compare

from mdlc import features as F

IN = jobkit.PROCESSING / "input"
OUT = jobkit.PROCESSING / "output"
MIN_RECORDS = 80  # fewer records give no drift verdict (PSI on a handful is noise)
MIN_LABELLED = 50
log = jobkit.setup_logging("monitoring")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("config", "baseline", "reference", "model", "capture", "batch", "batch-input", "ground-truth",
                 "raw"):
        p.add_argument(f"--{name}", default=str(IN / name.replace("-", "_")))
    # The shadow pairs arrive in the capture input (its bucket), apart from the capture files.
    p.add_argument("--shadow", default=str(IN / "capture" / shadow_compare.FOLDER))
    p.add_argument("--report-dir", default=str(OUT / "report"))
    # The window [start, end) measured for drift, and the quality window (shifted back by the
    # team's label delay) whose predictions are joined with the labels that arrived since.
    # The skew window is the window shifted back by monitoring.feature_skew_delay_hours: its
    # decisions' events have reached the raw data by now.
    for name in ("window-start", "window-end", "quality-start", "quality-end", "skew-start", "skew-end"):
        p.add_argument(f"--{name}", default=os.environ.get(name.upper().replace("-", "_"), ""))
    return p.parse_args(argv)


# ----------------------------------------------------------------------- capture
def decode(payload: dict[str, Any]) -> tuple[str, str]:
    """(text, content type) of a captured endpointInput/endpointOutput."""
    data, encoding = payload.get("data", ""), str(payload.get("encoding", "")).upper()
    text = base64.b64decode(data).decode("utf-8") if encoding == "BASE64" else data
    return text, str(payload.get("observedContentType", "")).split(";")[0].strip().lower()


def input_records(text: str, content_type: str, columns: list[str]) -> list[dict[str, Any]]:
    """The records of one captured request (JSON, JSON Lines or headerless CSV)."""
    if content_type == "text/csv":
        rows = [r for r in csv.reader(io.StringIO(text)) if r]
        return [dict(zip(columns, r, strict=False)) for r in rows if len(r) == len(columns)]
    if "jsonlines" in content_type:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("instances"), list):
        data = data["instances"]
    return [r for r in (data if isinstance(data, list) else [data]) if isinstance(r, dict)]


def output_scores(text: str, content_type: str) -> list[float]:
    """The scores of one captured response."""
    if content_type == "text/csv":
        return [float(v) for v in text.split()]
    if "jsonlines" in content_type:
        return [float(json.loads(line)["score"]) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if isinstance(data, dict) and "predictions" in data:
        data = data["predictions"]
    items = data if isinstance(data, list) else [data]
    return [float(i["score"]) if isinstance(i, dict) else float(i) for i in items]


def read_capture(folder: str | Path, since: datetime | None, spec: dict[str, Any],
                 columns: list[str], until: datetime | None = None,
                 ) -> tuple[list[dict[str, Any]], list[float], list[str | None], list[datetime | None]]:
    """Records, scores, record ids and inference times of every capture event in [since, until)."""
    id_column = F.key_columns(spec)["id"]
    records: list[dict[str, Any]] = []
    scores: list[float] = []
    ids: list[str | None] = []
    times: list[datetime | None] = []
    root = Path(folder)
    files = sorted(p for p in root.rglob("*.jsonl") if p.is_file()
                   and p.relative_to(root).parts[0] != shadow_compare.FOLDER) if root.is_dir() else []
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                meta = event.get("eventMetadata", {})
                when = F.parse_time(meta["inferenceTime"]) if meta.get("inferenceTime") else None
                if when and ((since and when < since) or (until and when >= until)):
                    continue
                capture = event["captureData"]
                got = input_records(*decode(capture["endpointInput"]), columns)
                out = output_scores(*decode(capture["endpointOutput"]))
            except (KeyError, ValueError, TypeError) as exc:
                raise jobkit.JobInputError(f"{path}:{n}: not a SageMaker data capture record ({exc})") from None
            if len(got) != len(out):
                log.warning("%s:%d: %d records but %d scores; skipped", path, n, len(got), len(out))
                continue
            for record, score in zip(got, out, strict=True):
                records.append(record)
                scores.append(score)
                ident = record.get(id_column) or (meta.get("inferenceId") if len(got) == 1 else None)
                ids.append(None if ident is None else str(ident))
                times.append(when)
    return records, scores, ids, times


# ------------------------------------------------------------------------- drift
def record_frame(records: list[dict[str, Any]], spec: dict[str, Any], names: list[str]) -> pd.DataFrame:
    """Captured records as raw strings, categories sent as indexes turned back into labels."""
    fmap = F.feature_map(spec)
    out = {}
    for name in names:
        f, values = fmap.get(name), []
        for r in records:
            v = r.get(name)
            if f and f["type"] == "category" and isinstance(v, int | float) and not isinstance(v, bool) \
                    and float(v).is_integer() and 0 <= int(v) < len(f["categories"]):
                v = f["categories"][int(v)]
            values.append("" if v is None else str(v))
        out[name] = values
    return pd.DataFrame(out, dtype=str)


def feature_drift(frame: pd.DataFrame, spec: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """PSI of each baseline feature present in ``frame`` (the data-quality job's statistics)."""
    columns = [c for c in dq.checked_columns(spec, require_label=False)
               if c["name"] in baseline and c["name"] in frame.columns]
    stats = {c["name"]: dq.ColumnStats(c, baseline.get(c["name"])) for c in columns}
    for name, st in stats.items():
        st.update(frame[name].fillna(""))
    psis = dq.psi_per_feature(stats, baseline)
    worst = max(psis, key=psis.get) if psis else None
    return {"feature_psi": psis, "max_feature_psi": psis[worst] if worst else None, "max_feature": worst}


def score_bins(reference: np.ndarray) -> np.ndarray:
    return np.unique(np.quantile(reference, np.linspace(0, 1, dq.N_BINS + 1)[1:-1]))


def prediction_psi(reference: np.ndarray, scores: np.ndarray) -> float | None:
    """PSI of served scores versus the champion's scores on its own test split."""
    if not len(reference) or not len(scores):
        return None
    edges = score_bins(reference)
    share = lambda v: np.bincount(np.searchsorted(edges, v, side="right"), minlength=len(edges) + 1) / len(v)  # noqa: E731
    return dq.psi(share(reference).tolist(), share(scores).tolist())


def source_summary(frame: pd.DataFrame, scores: np.ndarray, reference: np.ndarray, spec: dict[str, Any],
                   baseline: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"records": int(len(frame)), "mean_score": float(scores.mean()) if len(scores) else None}
    if len(frame) < MIN_RECORDS:
        out.update(feature_psi={}, max_feature_psi=None, max_feature=None, prediction_psi=None,
                   note=f"{len(frame)} records; drift needs at least {MIN_RECORDS}")
        return out
    out.update(feature_drift(frame, spec, baseline))
    out["prediction_psi"] = prediction_psi(reference, scores)
    return out


# ----------------------------------------------------------------------- quality
def average_precision(y: np.ndarray, p: np.ndarray) -> float | None:
    """Area under the precision-recall curve (average precision, as scikit-learn defines it)."""
    positives = int(y.sum())
    if not positives:
        return None
    order = np.argsort(-p, kind="mergesort")
    y, p = y[order], p[order]
    distinct = np.r_[np.flatnonzero(np.diff(p)), len(p) - 1]
    tp = np.cumsum(y)[distinct]
    precision = tp / (distinct + 1)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def model_quality(predictions: pd.DataFrame, labels: pd.DataFrame, threshold: float) -> dict[str, Any]:
    joined = predictions.merge(labels, on="id", how="inner").drop_duplicates("id", keep="last")
    out: dict[str, Any] = {"labelled": int(len(joined)), "threshold": threshold,
                           "precision": None, "recall": None, "pr_auc": None}
    if len(joined) < MIN_LABELLED:
        out["note"] = f"{len(joined)} labelled predictions; quality needs at least {MIN_LABELLED}"
        return out
    y, p = joined["label"].to_numpy("int64"), joined["score"].to_numpy("float64")
    flagged = p >= threshold
    out["positives"] = int(y.sum())
    out["precision"] = float((y & flagged).sum() / flagged.sum()) if flagged.sum() else 0.0
    out["recall"] = float((y & flagged).sum() / y.sum()) if y.sum() else None
    out["pr_auc"] = average_precision(y, p)
    return out


# ------------------------------------------------------------------------ inputs
def reference_scores(model_dir: str | Path, reference_dir: str | Path, spec: dict[str, Any]) -> np.ndarray:
    """The champion's scores on its own test split: the prediction baseline."""
    archives = sorted(Path(model_dir).rglob("*.tar.gz"))
    files = sorted(Path(reference_dir).rglob("*.parquet")) if Path(reference_dir).is_dir() else []
    if not archives or not files:
        return np.empty(0)
    import xgboost as xgb

    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(archives[0]) as tar:
            tar.extractall(tmp, filter="data")
        booster = xgb.Booster()
        booster.load_model(str(Path(tmp) / "xgboost-model"))
        meta = json.loads((Path(tmp) / "model-meta.json").read_text(encoding="utf-8"))
    columns = list(meta.get("features") or F.model_columns(spec))
    matrix = jobkit.read_split(reference_dir, columns)[columns].to_numpy("float32")
    return booster.predict(xgb.DMatrix(matrix, feature_names=columns))


def read_batch(folder: str | Path, spec: dict[str, Any], start: datetime | None = None,
               end: datetime | None = None) -> pd.DataFrame:
    """The ``id,score`` parts of the batch runs under ``folder`` published in [start, end).

    Each run folder holds its ``_manifest.json`` (``published_at``) next to its parts; a
    folder without one (a single run's results given directly) counts as in the window.
    """
    id_column = F.key_columns(spec)["id"]
    files = []
    for part in sorted(Path(folder).rglob("part-*.csv")) if Path(folder).is_dir() else []:
        manifest = part.parent / "_manifest.json"
        if manifest.is_file() and (start or end):
            published = F.parse_time(json.loads(manifest.read_text(encoding="utf-8"))["published_at"])
            if (start and published < start) or (end and published >= end):
                continue
        files.append(part)
    if not files:
        return pd.DataFrame({"id": pd.Series(dtype=str), "score": pd.Series(dtype=float)})
    frame = pd.concat([pd.read_csv(f, dtype={id_column: str}) for f in files], ignore_index=True)
    return frame.rename(columns={id_column: "id"})[["id", "score"]]


def read_raw(folder: str | Path) -> pd.DataFrame:
    files = sorted(Path(folder).rglob("*.csv")) if Path(folder).is_dir() else []
    if not files:
        return pd.DataFrame()
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True)


def read_labels(folder: str | Path, spec: dict[str, Any]) -> pd.DataFrame:
    keys = F.key_columns(spec)
    frame = read_raw(folder)
    if frame.empty:
        return pd.DataFrame({"id": pd.Series(dtype=str), "label": pd.Series(dtype="int64")})
    missing = [c for c in (keys["id"], keys["label"]) if c not in frame.columns]
    if missing:
        raise jobkit.JobInputError(f"ground truth under {folder} lacks column(s) {missing}; expected "
                                   f"{keys['id']},{keys['label']}")
    frame = frame[frame[keys["label"]].isin(["0", "1"])]
    return pd.DataFrame({"id": frame[keys["id"]], "label": frame[keys["label"]].astype("int64")})


# -------------------------------------------------------------------------- skew
SKEW_EXAMPLES = 5  # ids of decisions with a skewed feature listed per feature in the report


def read_events(folder: str | Path, spec: dict[str, Any]) -> pd.DataFrame:
    """The raw partition's records, typed as the features job reads them; labelled or not
    (the online state counts every event), rows that cannot be placed (no entity, id or
    time) left out."""
    files = sorted(Path(folder).rglob("*.csv")) if Path(folder).is_dir() else []
    if not files:
        return pd.DataFrame()
    keys = F.key_columns(spec)
    frame = pd.concat([pd.read_csv(p, dtype=dict.fromkeys(features_job.text_columns(spec), "string"))
                       for p in files], ignore_index=True)
    missing = [c for c in [keys["id"], keys["entity"], keys["timestamp"], *F.record_columns(spec)]
               if c not in frame.columns]
    if missing:
        raise jobkit.JobInputError(f"raw data under {folder} lacks column(s) {missing}; expected the key "
                                   "columns and record features of the team spec")
    placed = frame[keys["id"]].notna() & frame[keys["entity"]].notna() & \
        (F.parse_times_ns(frame[keys["timestamp"]]) != np.iinfo("int64").min)
    return frame.loc[placed.to_numpy()].reset_index(drop=True)


def _served_column(records: list[dict[str, Any]], name: str) -> np.ndarray:
    return pd.to_numeric(pd.Series([r.get(name) for r in records], dtype=object), errors="coerce") \
        .to_numpy("float64")


def feature_skew(records: list[dict[str, Any]], ids: list[str | None], raw: pd.DataFrame,
                 spec: dict[str, Any]) -> dict[str, Any]:
    """Served model features of each decision against the point-in-time features of the
    same event recomputed from ``raw`` (every earlier event of its entity), per feature.

    A decision whose id is not in ``raw`` (its event not exported yet) is unmatched, not
    judged. Values agree when both are missing or equal to 1e-9 (relative).
    """
    columns = F.model_columns(spec)
    out: dict[str, Any] = {"decisions": len(records), "checked": 0, "unmatched": 0, "mismatched": 0,
                           "feature_skew": {}, "max_feature_skew": None, "max_skew_feature": None,
                           "examples": {}}
    position: dict[str, int] = {}
    if not raw.empty:
        for i, ident in enumerate(raw[F.key_columns(spec)["id"]].astype(str)):
            position.setdefault(ident, i)
    pairs = [(k, position[ident]) for k, ident in enumerate(ids) if ident is not None and ident in position]
    out["checked"], out["unmatched"] = len(pairs), len(records) - len(pairs)
    if not pairs:
        out["note"] = (f"{len(records)} decisions, none found in the raw data (by id)" if records
                       else "no decisions in the skew window")
        return out
    served = [records[k] for k, _ in pairs]
    recomputed = F.encode_frame(F.point_in_time_features(raw, spec, [i for _, i in pairs]), spec)
    any_bad = np.zeros(len(pairs), dtype=bool)
    for name in columns:
        s, r = _served_column(served, name), recomputed[name].to_numpy("float64")
        bad = ~((np.isnan(s) & np.isnan(r)) | np.isclose(s, r, rtol=1e-9, atol=1e-12))
        any_bad |= bad
        out["feature_skew"][name] = float(bad.mean())
        if bad.any():
            out["examples"][name] = [ids[pairs[j][0]] for j in np.flatnonzero(bad)[:SKEW_EXAMPLES]]
    out["mismatched"] = int(any_bad.sum())
    worst = max(out["feature_skew"], key=out["feature_skew"].get)
    out["max_feature_skew"] = out["feature_skew"][worst]
    out["max_skew_feature"] = worst if out["max_feature_skew"] > 0 else None
    return out


# -------------------------------------------------------------------------- main
def violations(report: dict[str, Any], spec: dict[str, Any]) -> list[dict[str, Any]]:
    mon, out = spec["monitoring"], []
    for source in ("endpoint", "batch"):
        s = report[source]
        if s.get("max_feature_psi") is not None and s["max_feature_psi"] > mon["max_feature_psi"]:
            out.append({"check": "feature_drift", "source": source, "feature": s["max_feature"],
                        "value": s["max_feature_psi"], "threshold": mon["max_feature_psi"],
                        "message": f"{source}: {s['max_feature']} PSI {s['max_feature_psi']:.3f} exceeds "
                                   f"max_feature_psi {mon['max_feature_psi']}"})
        if s.get("prediction_psi") is not None and s["prediction_psi"] > mon["max_prediction_psi"]:
            out.append({"check": "prediction_drift", "source": source, "value": s["prediction_psi"],
                        "threshold": mon["max_prediction_psi"],
                        "message": f"{source}: score PSI {s['prediction_psi']:.3f} exceeds "
                                   f"max_prediction_psi {mon['max_prediction_psi']}"})
    skew = report.get("skew") or {}
    if skew.get("max_feature_skew") is not None and skew["max_feature_skew"] > mon["max_feature_skew"]:
        out.append({"check": "feature_skew", "feature": skew["max_skew_feature"], "value": skew["max_feature_skew"],
                    "threshold": mon["max_feature_skew"],
                    "message": f"{skew['max_skew_feature']}: {skew['max_feature_skew']:.1%} of {skew['checked']} "
                               "decisions were served a value other than the point-in-time recomputation "
                               f"(max_feature_skew {mon['max_feature_skew']})"})
    q = report["quality"]
    for metric, floor in (("precision", "min_precision"), ("recall", "min_recall"), ("pr_auc", "min_pr_auc")):
        if q.get(metric) is not None and q[metric] < mon[floor]:
            out.append({"check": "quality", "metric": metric, "value": q[metric], "threshold": mon[floor],
                        "message": f"{metric} {q[metric]:.3f} on {q['labelled']} labelled predictions is "
                                   f"below {floor} {mon[floor]}"})
    return out


def window_bounds(args: argparse.Namespace) -> dict[str, datetime | None]:
    """The run's window and quality window; capture times have whole seconds, so a bound
    counts from the second it names. Without a quality window, the window is judged."""
    def at(value: str) -> datetime | None:
        return F.parse_time(value).replace(microsecond=0) if value else None

    out = {"start": at(args.window_start), "end": at(args.window_end),
           "quality_start": at(args.quality_start), "quality_end": at(args.quality_end),
           "skew_start": at(args.skew_start), "skew_end": at(args.skew_end)}
    for shifted in ("quality", "skew"):
        if not (out[f"{shifted}_start"] or out[f"{shifted}_end"]):
            out[f"{shifted}_start"], out[f"{shifted}_end"] = out["start"], out["end"]
    return out


def within(when: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    """An event without a time counts as in every window (it cannot be placed)."""
    return when is None or ((start is None or when >= start) and (end is None or when < end))


def run(args: argparse.Namespace) -> dict[str, Any]:
    spec = jobkit.load_spec(args.config)
    baseline = dq.load_baseline(args.baseline)
    if not baseline:
        raise jobkit.JobInputError(f"no statistics.json under {args.baseline}; expected the champion's "
                                   "training baseline")
    columns = F.model_columns(spec)
    window = window_bounds(args)
    reference = reference_scores(args.model, args.reference, spec)
    names = list(baseline)

    records, scores, ids, times = read_capture(args.capture, None, spec, columns)
    drift = [i for i, t in enumerate(times) if within(t, window["start"], window["end"])]
    endpoint = source_summary(record_frame([records[i] for i in drift], spec, names),
                              np.asarray([scores[i] for i in drift], "float64"), reference, spec, baseline)
    batch_scores = read_batch(args.batch, spec, window["start"], window["end"])
    batch_input = read_raw(args.batch_input)
    batch = source_summary(batch_input, batch_scores["score"].to_numpy("float64"), reference, spec, baseline)

    judged = [i for i, t in enumerate(times) if within(t, window["quality_start"], window["quality_end"])]
    predictions = pd.concat([
        pd.DataFrame({"id": [ids[i] for i in judged], "score": [scores[i] for i in judged]}).dropna(subset=["id"]),
        read_batch(args.batch, spec, window["quality_start"], window["quality_end"]),
    ], ignore_index=True)
    threshold = float(spec["monitoring"]["score_threshold"])
    labels = read_labels(args.ground_truth, spec)
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(),
        "window_start": args.window_start or None,
        "window": {k: (v.isoformat() if v else None) for k, v in window.items()},
        "reference_records": int(len(reference)),
        "endpoint": endpoint,
        "batch": batch,
        "quality": model_quality(predictions, labels, threshold),
        # live against the shadow challenger on the same requests (realtime.shadow)
        "shadow": shadow_compare.shadow_section(args.shadow, labels, window, spec, average_precision),
    }
    checked = [i for i, t in enumerate(times) if within(t, window["skew_start"], window["skew_end"])]
    report["skew"] = feature_skew([records[i] for i in checked], [ids[i] for i in checked],
                                  read_events(args.raw, spec) if checked else pd.DataFrame(), spec)
    report["violations"] = violations(report, spec)
    report["passed"] = not report["violations"]
    jobkit.write_json(Path(args.report_dir) / "report.json", report)
    return report


def main(argv: list[str] | None = None) -> int:
    report = run(parse_args(argv))
    log.info("endpoint=%s batch=%s quality=%s skew checked=%s unmatched=%s", report["endpoint"].get("records"),
             report["batch"].get("records"), report["quality"].get("labelled"), report["skew"]["checked"],
             report["skew"]["unmatched"])
    for v in report["violations"]:
        log.warning("violation: %s", v["message"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

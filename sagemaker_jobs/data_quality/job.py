"""Data-quality gate on a raw partition (SageMaker Processing job).

Reads the raw CSVs in chunks (memory bounded by the chunk size, not the data), checks every
key column and record feature of the team spec: missing rate, type, range, categories, row
count (absolute and change versus ``PREVIOUS_ROW_COUNT``) and PSI versus the champion's
``statistics.json``. Writes ``report/report.json`` (``passed``, ``violations`` each naming
the feature, value and threshold) and this data's ``baseline/statistics.json``. Exits 0
whether or not the data passed: the workflow branches on ``passed``; a non-zero exit means
the job itself could not run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import jobkit
import numpy as np
import pandas as pd

from mdlc import features as F

IN = jobkit.PROCESSING / "input"
OUT = jobkit.PROCESSING / "output"
SAMPLE_SIZE = 100_000
N_BINS = 10
PSI_FLOOR = 1e-4
OTHER = "__other__"
log = jobkit.setup_logging("data_quality")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; defaults are the /opt/ml/processing paths of docs/design.md."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(IN / "data"))
    p.add_argument("--config", default=str(IN / "config"))
    p.add_argument("--baseline", default=str(IN / "baseline"))
    p.add_argument("--report-dir", default=str(OUT / "report"))
    p.add_argument("--statistics-dir", default=str(OUT / "baseline"))
    p.add_argument("--previous-row-count", default=os.environ.get("PREVIOUS_ROW_COUNT", ""))
    p.add_argument("--chunk-rows", type=int, default=200_000)
    # Scoring inputs (batch) have no label yet: REQUIRE_LABEL=false leaves it out of the checks.
    p.add_argument("--require-label", default=os.environ.get("REQUIRE_LABEL", "true"))
    # Batch inputs have their own minimum (batch.min_rows); training uses data_quality.min_rows.
    p.add_argument("--min-rows", default=os.environ.get("MIN_ROWS", ""),
                   help="row minimum of this check (default: data_quality.min_rows)")
    p.add_argument("--max-psi", default=os.environ.get("MAX_PSI", ""),
                   help="PSI limit of this check (default: data_quality.max_psi)")
    p.add_argument("--drift-accepted", default=os.environ.get("DRIFT_ACCEPTED", ""),
                   help="true: a retraining started by drift; PSI is reported, not gated")
    return p.parse_args(argv)


# ------------------------------------------------------------------------- columns
def checked_columns(spec: dict[str, Any], require_label: bool = True) -> list[dict[str, Any]]:
    """Key columns and record features as feature dicts (the columns a raw file must have)."""
    keys = F.key_columns(spec)
    cols = [
        {"name": keys["id"], "type": "string", "nullable": False},
        {"name": keys["entity"], "type": "string", "nullable": False},
        {"name": keys["timestamp"], "type": "timestamp", "nullable": False},
    ]
    if require_label:
        cols.append({"name": keys["label"], "type": "int", "nullable": False, "min": 0, "max": 1})
    return cols + [f for f in F.features(spec) if f.get("source", "record") == "record"]


class ColumnStats:
    """Running counts for one column; a few numbers per column whatever the row count."""

    def __init__(self, feature: dict[str, Any], baseline: dict[str, Any] | None):
        self.feature = feature
        self.kind = _kind(feature)
        self.missing = self.invalid_type = self.out_of_range = self.unknown_category = 0
        self.present = True
        self.total = self.sum = self.sumsq = 0.0
        self.min, self.max = math.inf, -math.inf
        self.counts: dict[str, int] = {}
        self.baseline = baseline
        self.hist = np.zeros(len(baseline["proportions"]), "int64") if baseline else None

    def update(self, raw: pd.Series) -> np.ndarray | None:
        """Count one chunk; returns numeric values (NaN for missing/invalid) for sampling."""
        empty = raw.eq("").to_numpy()
        self.missing += int(empty.sum())
        if self.kind == "numeric":
            return self._numeric(raw, empty)
        if self.kind == "category":
            self._category(raw[~empty])
        elif self.kind == "timestamp":
            bad = F.parse_times_ns(raw[~empty]) == np.iinfo("int64").min
            self.invalid_type += int(bad.sum())
        return None

    def _numeric(self, raw: pd.Series, empty: np.ndarray) -> np.ndarray:
        values = pd.to_numeric(raw.mask(raw.eq("")), errors="coerce").to_numpy("float64")
        nan = np.isnan(values)
        self.invalid_type += int((nan & ~empty).sum())
        bad = ~np.isfinite(values) & ~nan
        if self.feature["type"] == "int":
            bad |= ~nan & (np.mod(values, 1) != 0)
        self.invalid_type += int(bad.sum())
        values = np.where(bad, np.nan, values)
        ok = values[~np.isnan(values)]
        lo, hi = self.feature.get("min"), self.feature.get("max")
        if lo is not None:
            self.out_of_range += int((ok < lo).sum())
        if hi is not None:
            self.out_of_range += int((ok > hi).sum())
        if len(ok):
            self.total += len(ok)
            self.sum += float(ok.sum())
            self.sumsq += float((ok * ok).sum())
            self.min, self.max = min(self.min, float(ok.min())), max(self.max, float(ok.max()))
        if self.hist is not None:
            bins = np.searchsorted(np.asarray(self.baseline["edges"]), ok, side="right")
            self.hist += np.bincount(bins, minlength=len(self.hist))
        return values

    def _category(self, raw: pd.Series) -> None:
        for value, n in raw.value_counts().items():
            self.counts[str(value)] = self.counts.get(str(value), 0) + int(n)
        if self.feature["type"] == "bool":
            valid = raw.str.lower().isin(["true", "false", "0", "1"])
            self.invalid_type += int((~valid).sum())
        else:
            self.unknown_category += int((~raw.isin(self.feature["categories"])).sum())

    def category_proportions(self, categories: list[str]) -> list[float]:
        """Shares of each category plus a last 'other' bucket (unknown values)."""
        counts = [self.counts.get(c, 0) for c in categories]
        other = sum(self.counts.values()) - sum(counts)
        total = max(sum(counts) + other, 1)
        return [c / total for c in counts + [other]]


def _kind(feature: dict[str, Any]) -> str:
    if feature["type"] in F.NUMERIC_TYPES:
        return "numeric"
    if feature["type"] in ("category", "bool"):
        return "category"
    return feature["type"]


# --------------------------------------------------------------------------- reading
class Sample:
    """A fixed-size uniform sample of numeric rows (bottom-k of seeded random keys)."""

    def __init__(self, names: list[str], size: int = SAMPLE_SIZE, seed: int = 0):
        self.names, self.size = names, size
        self.rng = np.random.default_rng(seed)
        self.keys = np.empty(0)
        self.rows = np.empty((0, len(names)))

    def add(self, block: np.ndarray) -> None:
        keys = np.concatenate([self.keys, self.rng.random(len(block))])
        rows = np.vstack([self.rows, block])
        if len(keys) > self.size:
            keep = np.argpartition(keys, self.size)[: self.size]
            keys, rows = keys[keep], rows[keep]
        self.keys, self.rows = keys, rows


def scan(files: list[Path], columns: list[dict[str, Any]], baseline: dict[str, Any],
         chunk_rows: int) -> tuple[int, dict[str, ColumnStats], Sample]:
    """One pass over the files in chunks: row count, per-column stats, numeric sample."""
    stats = {c["name"]: ColumnStats(c, baseline.get(c["name"])) for c in columns}
    numeric = [c["name"] for c in columns if _kind(c) == "numeric"]
    sample, rows = Sample(numeric), 0
    for path in files:
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=chunk_rows)
        for chunk in reader:
            rows += len(chunk)
            block = np.full((len(chunk), len(numeric)), np.nan)
            for name, st in stats.items():
                if name not in chunk.columns:
                    st.present = False
                    continue
                values = st.update(chunk[name])
                if values is not None:
                    block[:, numeric.index(name)] = values
            sample.add(block)
    return rows, stats, sample


# ---------------------------------------------------------------------- statistics
def build_statistics(rows: int, stats: dict[str, ColumnStats], sample: Sample) -> dict[str, Any]:
    """This data's statistics.json: PSI bins and proportions per feature (next baseline)."""
    features: dict[str, Any] = {}
    for name, st in stats.items():
        if st.kind == "numeric" and name in sample.names:
            values = sample.rows[:, sample.names.index(name)]
            values = values[~np.isnan(values)]
            if not len(values):
                continue
            edges = np.unique(np.quantile(values, np.linspace(0, 1, N_BINS + 1)[1:-1]))
            hist = np.bincount(np.searchsorted(edges, values, side="right"),
                               minlength=len(edges) + 1)
            features[name] = {"kind": "numeric", "edges": edges.tolist(),
                              "proportions": (hist / hist.sum()).tolist()}
        elif st.kind == "category" and st.counts:
            cats = st.feature.get("categories") or sorted(st.counts)
            features[name] = {"kind": "category", "categories": cats,
                              "proportions": st.category_proportions(cats)}
    return {"row_count": rows, "features": features}


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index of two aligned proportion vectors (floored at 1e-4)."""
    e = np.clip(np.asarray(expected, "float64"), PSI_FLOOR, None)
    a = np.clip(np.asarray(actual, "float64"), PSI_FLOOR, None)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_per_feature(stats: dict[str, ColumnStats], baseline: dict[str, Any]) -> dict[str, float]:
    """PSI of each feature present in the baseline, on the baseline's own bins."""
    out = {}
    for name, base in baseline.items():
        st = stats.get(name)
        if st is None or not st.present:
            continue
        if base["kind"] == "numeric" and st.hist is not None and st.hist.sum():
            out[name] = psi(base["proportions"], (st.hist / st.hist.sum()).tolist())
        elif base["kind"] == "category" and st.counts:
            out[name] = psi(base["proportions"], st.category_proportions(base["categories"]))
    return out


# ------------------------------------------------------------------------ violations
def violation(check: str, feature: str, value: float, threshold: float, text: str) -> dict:
    """One failed check: machine-readable fields and a sentence for people."""
    return {"check": check, "feature": feature, "value": value, "threshold": threshold,
            "message": text}


def column_violations(rows: int, stats: dict[str, ColumnStats], dq: dict[str, Any]) -> list:
    """Missing columns, missing rates, invalid types, out-of-range values, unknown categories."""
    out = []
    max_missing, max_bad = dq["max_missing_rate"], dq["max_out_of_range_rate"]
    for name, st in stats.items():
        if not st.present:
            out.append(violation("column_missing", name, 1.0, 0.0,
                                 f"{name}: column is missing from the data"))
            continue
        rates = {k: getattr(st, k) / max(rows, 1) for k in
                 ("missing", "invalid_type", "out_of_range", "unknown_category")}
        if not st.feature.get("nullable") and rates["missing"] > max_missing:
            out.append(violation("missing_rate", name, rates["missing"], max_missing,
                                 f"{name}: missing rate {rates['missing']:.4%} exceeds "
                                 f"max_missing_rate {max_missing:.4%}"))
        for check in ("invalid_type", "out_of_range", "unknown_category"):
            if rates[check] > max_bad:
                out.append(violation(check, name, rates[check], max_bad,
                                     f"{name}: {check.replace('_', ' ')} rate {rates[check]:.4%} "
                                     f"exceeds max_out_of_range_rate {max_bad:.4%}"
                                     + _detail(st, check)))
    return out


def _detail(st: ColumnStats, check: str) -> str:
    if check == "out_of_range":
        return f" (allowed [{st.feature.get('min')}, {st.feature.get('max')}], " \
               f"seen [{st.min}, {st.max}])"
    if check == "unknown_category":
        unknown = sorted(v for v in st.counts if v not in st.feature["categories"])[:5]
        return f" (unknown values {unknown}; allowed {st.feature['categories']})"
    return f" (expected type {st.feature['type']})"


def row_violations(rows: int, previous: str, dq: dict[str, Any]) -> tuple[list, float | None]:
    """Too few rows, or a row count too far from the previous run's."""
    out, change = [], None
    if rows < dq["min_rows"]:
        out.append(violation("min_rows", "(rows)", rows, dq["min_rows"],
                             f"row count {rows} is below min_rows {dq['min_rows']}"))
    if previous not in ("", None) and float(previous) > 0:
        change = (rows - float(previous)) / float(previous)
        if abs(change) > dq["max_row_count_change"]:
            out.append(violation("row_count_change", "(rows)", change, dq["max_row_count_change"],
                                 f"row count {rows} changed by {change:+.1%} versus the previous "
                                 f"{int(float(previous))}; max_row_count_change is "
                                 f"±{dq['max_row_count_change']:.0%}"))
    return out, change


def psi_violations(psis: dict[str, float], max_psi: float) -> list:
    """Features whose PSI versus the baseline exceeds max_psi."""
    return [violation("psi", name, value, max_psi,
                      f"{name}: PSI {value:.3f} versus the baseline exceeds max_psi {max_psi}")
            for name, value in sorted(psis.items()) if value > max_psi]


def feature_report(st: ColumnStats, rows: int) -> dict[str, Any]:
    """Per-feature numbers shown in report.json."""
    d = max(rows, 1)
    out: dict[str, Any] = {"present": st.present, "missing_rate": st.missing / d,
                           "invalid_type_rate": st.invalid_type / d,
                           "out_of_range_rate": st.out_of_range / d,
                           "unknown_category_rate": st.unknown_category / d}
    if st.kind == "numeric" and st.total:
        mean = st.sum / st.total
        out.update(min=st.min, max=st.max, mean=mean,
                   std=math.sqrt(max(st.sumsq / st.total - mean * mean, 0.0)))
    if st.kind == "category":
        out["counts"] = dict(sorted(st.counts.items(), key=lambda kv: -kv[1])[:50])
    return out


# ------------------------------------------------------------------------------ main
def load_baseline(folder: str | Path) -> dict[str, Any]:
    """The champion's statistics.json features, or {} when the folder is empty/absent."""
    path = Path(folder) / "statistics.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if "features" not in data:
        raise jobkit.JobInputError(f"{path} has no 'features'; expected a statistics.json "
                                   "written by this job")
    return data["features"]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Check the data, write report.json and statistics.json; return the report."""
    spec = jobkit.load_spec(args.config)
    dq = dict(spec["data_quality"])
    if str(args.min_rows).strip():
        dq["min_rows"] = int(args.min_rows)
    if str(args.max_psi).strip():
        dq["max_psi"] = float(args.max_psi)
    baseline = load_baseline(args.baseline)
    files = jobkit.csv_files(args.data)
    require_label = str(args.require_label).lower() not in ("false", "0", "no")
    rows, stats, sample = scan(files, checked_columns(spec, require_label), baseline, args.chunk_rows)
    psis = psi_per_feature(stats, baseline)
    row_problems, change = row_violations(rows, args.previous_row_count, dq)
    drift = psi_violations(psis, dq["max_psi"])
    # A retraining started because the population drifted must learn the drifted data: the
    # shift is reported, every other check still gates.
    drift_accepted = str(args.drift_accepted).lower() in ("true", "1", "yes")
    violations = row_problems + column_violations(rows, stats, dq) + ([] if drift_accepted else drift)
    report = {
        "passed": not violations,
        "violations": violations,
        "accepted_drift": drift if drift_accepted else [],
        "row_count": rows,
        "previous_row_count": int(float(args.previous_row_count)) if args.previous_row_count
        else None,
        "row_count_change": change,
        "files": len(files),
        "baseline_used": bool(baseline),
        "psi": psis,
        "features": {name: feature_report(st, rows) for name, st in stats.items()},
        "thresholds": dq,
    }
    jobkit.write_json(Path(args.report_dir) / "report.json", report)
    jobkit.write_json(Path(args.statistics_dir) / "statistics.json",
                      build_statistics(rows, stats, sample))
    return report


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the checks and log the verdict."""
    report = run(parse_args(argv))
    log.info("rows=%d passed=%s", report["row_count"], report["passed"])
    for v in report["violations"]:
        log.warning("violation: %s", v["message"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Feature engineering (SageMaker Processing job): raw CSVs → model splits + online table.

Computes every feature with ``mdlc.features`` (point in time, so a record only sees its
entity's earlier records), encodes them for the model and splits by time: the oldest rows
train, the next ``validation_fraction`` validate, the newest ``test_fraction`` test.
Writes ``splits/{train,validation,test}/part-NNNNN.parquet`` (``id, label, model columns``;
the train split in one part per training instance, for ``ShardedByS3Key``) and
``online/online_features.jsonl`` (one entity per line: entity key, online features,
``as_of``) for the DynamoDB feature table.
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
SPLITS = ("train", "validation", "test")
log = jobkit.setup_logging("features")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; defaults are the /opt/ml/processing paths of docs/design.md."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(IN / "data"))
    p.add_argument("--config", default=str(IN / "config"))
    p.add_argument("--splits-dir", default=str(OUT / "splits"))
    p.add_argument("--online-dir", default=str(OUT / "online"))
    p.add_argument("--online-shard-rows", type=int,
                   default=int(os.environ.get("ONLINE_SHARD_ROWS") or 250_000),
                   help="entities per online-feature shard (one parallel load task each)")
    p.add_argument("--as-of", default="", help="time of the online table (default: 1 s after "
                                               "the last record)")
    return p.parse_args(argv)


def text_columns(spec: dict[str, Any]) -> list[str]:
    """Raw columns read as text: the keys and the text record features (the rest parse as numbers)."""
    keys = F.key_columns(spec)
    return [keys["id"], keys["entity"], keys["timestamp"]] + [
        f["name"] for f in F.features(spec)
        if f.get("source", "record") == "record" and f["type"] in ("category", "string")]


def read_raw(files: list[Path], spec: dict[str, Any]) -> pd.DataFrame:
    """All raw rows; rows without entity, time or a 0/1 label cannot be used and are dropped."""
    keys = F.key_columns(spec)
    frames = [pd.read_csv(p, dtype=dict.fromkeys(text_columns(spec), "string")) for p in files]
    df = pd.concat(frames, ignore_index=True)
    missing = [c for c in [*keys.values(), *F.record_columns(spec)] if c not in df.columns]
    if missing:
        raise jobkit.JobInputError(f"raw data lacks columns {missing}; expected the key columns "
                                   f"and record features of the team spec")
    label = pd.to_numeric(df[keys["label"]], errors="coerce")
    times = F.parse_times_ns(df[keys["timestamp"]])
    ok = label.isin([0, 1]).to_numpy() & (times != np.iinfo("int64").min) & \
        df[keys["entity"]].notna().to_numpy()
    if (~ok).any():
        log.warning("dropping %d of %d rows without entity, time or 0/1 label", (~ok).sum(), len(df))
    df = df.loc[ok].reset_index(drop=True)
    df[keys["label"]] = label[ok].astype("int64").to_numpy()
    return df


def split_by_time(df: pd.DataFrame, raw: pd.DataFrame,
                  spec: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Oldest rows → train, then validation, newest → test (fractions from the spec).

    ``df`` is row-aligned with ``raw``, whose time and id columns give the order.
    """
    keys, training = F.key_columns(spec), spec["training"]
    times = F.parse_times_ns(raw[keys["timestamp"]])
    order = np.lexsort((raw[keys["id"]].astype(str).to_numpy(), times))
    n = len(df)
    n_test = int(math.floor(n * training["test_fraction"]))
    n_val = int(math.floor(n * training["validation_fraction"]))
    cut1, cut2 = n - n_test - n_val, n - n_test
    ordered = df.iloc[order]
    return {"train": ordered.iloc[:cut1], "validation": ordered.iloc[cut1:cut2],
            "test": ordered.iloc[cut2:]}


def model_frame(raw: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    """``id, label, model columns`` encoded for the model; whole-number columns as Int64."""
    keys = F.key_columns(spec)
    encoded = F.encode_frame(F.point_in_time_features(raw, spec), spec)
    fmap = F.feature_map(spec)
    for name in encoded.columns:
        if fmap[name]["type"] in ("int", "bool", "category"):
            encoded[name] = encoded[name].round().astype("Int64")
    encoded.insert(0, keys["label"], raw[keys["label"]].to_numpy())
    encoded.insert(0, keys["id"], raw[keys["id"]].to_numpy())
    return encoded


def write_splits(frame: pd.DataFrame, raw: pd.DataFrame, spec: dict[str, Any],
                 out_dir: Path) -> dict[str, int]:
    """Write each split as Parquet; returns the row count per split.

    Parquet, not CSV: the training job reads 1M x 30 rows in 0.3 s instead of 1.4 s, and
    this job writes them in 1 s instead of 21 s. The train split is written in one part per
    training instance (rows dealt in turn, so every part spans the whole period): with
    ``ShardedByS3Key`` SageMaker gives each instance its own objects, and an instance
    without one would have no data."""
    parts = {"train": int(spec["training"].get("instance_count") or 1)}
    counts = {}
    for name, split in split_by_time(frame, raw, spec).items():
        folder = out_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        n = parts.get(name, 1)
        for index in range(n):
            with open(folder / f"part-{index:05d}.parquet", "wb") as fh:  # opened by Python, not pyarrow
                split.iloc[index::n].to_parquet(fh, index=False)
        counts[name] = len(split)
    return counts


def shard_name(index: int) -> str:
    """``online_features.jsonl``, then ``online_features-00001.jsonl``, … (one shard per load task)."""
    return "online_features.jsonl" if index == 0 else f"online_features-{index:05d}.jsonl"


def write_online(raw: pd.DataFrame, spec: dict[str, Any], as_of: str, out_dir: Path,
                 shard_rows: int = 250_000) -> int:
    """Write the online table as JSON Lines shards of ``shard_rows`` entities (null for
    missing values); the training workflow loads the shards in parallel (Distributed Map).
    Returns the entity count."""
    table = F.online_features_frame(raw, spec, as_of)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = table.astype(object).where(table.notna(), None).to_dict("records")
    for index, start in enumerate(range(0, max(len(records), 1), shard_rows)):
        with (out_dir / shard_name(index)).open("w", encoding="utf-8") as fh:
            for record in records[start:start + shard_rows]:
                record["as_of"] = as_of
                fh.write(json.dumps(record, default=_json_number) + "\n")
    return len(table)


def _json_number(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to JSON")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Compute features, write splits and the online table; return a summary."""
    spec = jobkit.load_spec(args.config)
    raw = read_raw(jobkit.csv_files(args.data), spec)
    if raw.empty:
        raise jobkit.JobInputError(f"no usable rows under {args.data}")
    keys = F.key_columns(spec)
    counts = write_splits(model_frame(raw, spec), raw, spec, Path(args.splits_dir))
    last = pd.to_datetime(raw[keys["timestamp"]], utc=True, format="ISO8601").max()
    as_of = args.as_of or F.shift_iso(last.to_pydatetime(), 1)
    entities = write_online(raw, spec, as_of, Path(args.online_dir), args.online_shard_rows)
    return {"rows": len(raw), "splits": counts, "entities": entities, "as_of": as_of}


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    summary = run(parse_args(argv))
    log.info("features written: %s", json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

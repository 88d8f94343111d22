"""Batch features (SageMaker Processing job): raw records → model rows for the transform job.

Reads the input CSVs in chunks, joins each record with its entity's online features from
the model's training-run snapshot (``online_features.jsonl``; unknown entities get the
defaults, exactly as serving does), derives and encodes the model columns with the shared
feature module, and writes one line per record: ``id,<model columns>`` (CSV, no header) or
a JSON object (JSON Lines) with the id and the model features. ``summary/summary.json``
holds the row count the output validation compares with.
"""

from __future__ import annotations

import argparse
import json
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
CSV, JSONLINES = "text/csv", "application/jsonlines"
log = jobkit.setup_logging("batch_features")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(IN / "data"))
    p.add_argument("--online", default=str(IN / "online"))
    p.add_argument("--config", default=str(IN / "config"))
    p.add_argument("--output-dir", default=str(OUT / "records"))
    p.add_argument("--summary-dir", default=str(OUT / "summary"))
    p.add_argument("--content-type", default=os.environ.get("CONTENT_TYPE") or CSV)
    p.add_argument("--chunk-rows", type=int, default=100_000)
    return p.parse_args(argv)


def load_online(folder: str | Path, spec: dict[str, Any]) -> pd.DataFrame:
    """The online feature snapshot, one row per online item (entity, card, device, …) indexed by
    its item key (empty frame when there is none)."""
    entity = F.key_columns(spec)["entity"]
    names = F.online_columns(spec)
    rows = []
    for path in sorted(Path(folder).rglob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    frame = pd.DataFrame(rows, columns=[entity, *names]) if rows else pd.DataFrame(columns=[entity, *names])
    return frame.drop_duplicates(entity, keep="last").set_index(entity)


def model_rows(chunk: pd.DataFrame, online: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    """``id`` plus encoded model columns of one chunk of raw records."""
    keys = F.key_columns(spec)
    joined = F.join_online(chunk, online, spec)  # every key's item; the empty-window rule
    for f in F.features(spec):
        if f.get("source", "record") == "record" and f["type"] in F.NUMERIC_TYPES:
            joined[f["name"]] = pd.to_numeric(joined[f["name"]].replace("", np.nan), errors="coerce")
    encoded = F.encode_frame(F.derive_frame(joined, spec), spec)
    encoded.insert(0, keys["id"], chunk[keys["id"]].to_numpy())
    return encoded


def write_chunk(frame: pd.DataFrame, fh: Any, content_type: str, spec: dict[str, Any]) -> None:
    if content_type == CSV:
        frame.to_csv(fh, header=False, index=False, float_format="%.10g")
        return
    fmap = F.feature_map(spec)
    for record in frame.astype(object).where(frame.notna(), None).to_dict("records"):
        for name, value in record.items():
            if value is not None and name in fmap and fmap[name]["type"] in ("int", "bool", "category"):
                record[name] = int(value)
        fh.write(json.dumps(record) + "\n")


def run(args: argparse.Namespace) -> dict[str, Any]:
    spec = jobkit.load_spec(args.config)
    if args.content_type not in (CSV, JSONLINES):
        raise jobkit.JobInputError(f"content type {args.content_type!r}; expected {CSV} or {JSONLINES}")
    online = load_online(args.online, spec)
    out = Path(args.output_dir) / ("records.csv" if args.content_type == CSV else "records.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with out.open("w", encoding="utf-8", newline="") as fh:
        for path in jobkit.csv_files(args.data):
            for chunk in pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=args.chunk_rows):
                write_chunk(model_rows(chunk, online, spec), fh, args.content_type, spec)
                rows += len(chunk)
    summary = {"rows": rows, "content_type": args.content_type, "entities_in_snapshot": len(online)}
    jobkit.write_json(Path(args.summary_dir) / "summary.json", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    summary = run(parse_args(argv))
    log.info("batch features written: %s", json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

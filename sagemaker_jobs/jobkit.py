"""Small helpers shared by the job scripts: spec loading, input discovery, JSON output.

Shipped at the root of the job-code bundle next to ``mdlc/features.py``; standard library
only, so importing it costs nothing.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

PROCESSING = Path("/opt/ml/processing")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JobInputError(RuntimeError):
    """An input the job cannot use; the message names the path and what was expected."""


def setup_logging(name: str) -> logging.Logger:
    """One log line format for every job (CloudWatch shows stdout/stderr)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stdout, force=True)
    return logging.getLogger(name)


def env_path(env_var: str, default: str | Path) -> str:
    """A path from ``env_var`` when set (SM_CHANNEL_*, SM_MODEL_DIR ...), else ``default``."""
    return os.environ.get(env_var) or str(default)


def spec_path(config_dir: str | Path) -> Path:
    """Where the team spec is: ``team.json``, or the one ``*.json`` (CDK names the asset
    ``<hash>.json``) in ``config_dir``, or ``config_dir`` itself if it is a file."""
    path = Path(config_dir)
    if path.is_dir():
        candidates = sorted(path.glob("*.json"))
        path = path / "team.json" if (path / "team.json").is_file() else (
            candidates[0] if len(candidates) == 1 else path / "team.json")
    return path


def load_spec(config_dir: str | Path) -> dict[str, Any]:
    """The team spec: ``team.json`` in ``config_dir`` (or ``config_dir`` itself if a file)."""
    path = spec_path(config_dir)
    if not path.is_file():
        raise JobInputError(f"team spec not found at {path}; expected config/team.json")
    spec = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(spec, dict) or "schema" not in spec:
        raise JobInputError(f"{path} is not a team spec: expected a JSON object with 'schema'")
    return spec


def csv_files(folder: str | Path) -> list[Path]:
    """Every ``*.csv`` under ``folder`` (recursively, e.g. ``dt=…/part-0.csv``), sorted."""
    return data_files(folder, "csv")


def split_files(folder: str | Path) -> list[Path]:
    """Every ``*.parquet`` part of a model split (``splits/<split>/part-00000.parquet`` …), sorted."""
    return data_files(folder, "parquet")


def read_split(folder: str | Path, columns: list[str] | None = None) -> Any:
    """A model split's Parquet parts as one pandas frame, typed as reading CSV types them
    (whole numbers with missing values as float NaN, not pandas' nullable Int64)."""
    import pyarrow as pa

    return pa.concat_tables([read_parquet(p, columns) for p in split_files(folder)]).to_pandas(
        ignore_metadata=True)


def read_parquet(path: Path, columns: list[str] | None = None, *, required: list[str] = ()) -> Any:
    """One Parquet file as a pyarrow Table of ``columns`` (all when None); ``required``
    columns missing from the file fail with the file and the columns named. The file is
    opened by Python, not by pyarrow's own file system."""
    import pyarrow.parquet as pq  # not read_table, which imports pyarrow.dataset (0.4 s)

    with open(path, "rb") as fh:
        part = pq.ParquetFile(fh)
        missing = [c for c in required if c not in part.schema_arrow.names]
        if missing:
            raise JobInputError(f"{path} lacks columns {missing}; expected {list(required)}")
        return part.read(columns=columns)


def data_files(folder: str | Path, extension: str) -> list[Path]:
    """Every ``*.<extension>`` file under ``folder`` (recursively), sorted; at least one."""
    root = Path(folder)
    if not root.is_dir():
        raise JobInputError(f"input folder {root} does not exist; expected {extension} files there")
    files = sorted(p for p in root.rglob(f"*.{extension}") if p.is_file())
    if not files:
        raise JobInputError(f"no *.{extension} files under {root}; expected at least one")
    return files


def write_json(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as indented JSON, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n",
                    encoding="utf-8")
    return path

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
    root = Path(folder)
    if not root.is_dir():
        raise JobInputError(f"input folder {root} does not exist; expected CSV files there")
    files = sorted(p for p in root.rglob("*.csv") if p.is_file())
    if not files:
        raise JobInputError(f"no *.csv files under {root}; expected at least one")
    return files


def write_json(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as indented JSON, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n",
                    encoding="utf-8")
    return path

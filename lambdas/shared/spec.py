"""The team spec (docs/design.md): ``team.json`` shipped at the root of every Lambda bundle.

Lambda's 4 KB environment limit rules out passing the spec in a variable. Offline runs point
``MDLC_TEAM_SPEC_FILE`` at the file the synth wrote (``build/<team>/config/team.json``).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

BUNDLED = Path(__file__).resolve().parents[2] / "team.json"


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def team_spec() -> dict[str, Any]:
    path = os.environ.get("MDLC_TEAM_SPEC_FILE") or str(BUNDLED)
    if not Path(path).is_file():
        raise RuntimeError(
            f"team spec not found at {path}; expected team.json in the bundle or "
            "MDLC_TEAM_SPEC_FILE naming it"
        )
    return _load(path)


def env(name: str) -> str:
    """A required environment variable, with a clear error naming it."""
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is not set; the stack sets it")
    return value

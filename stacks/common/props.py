"""Typed, keyword-only props passed from the app builder to every team stack."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mdlc.contract import TeamConfig, runtime_spec


@dataclass(frozen=True, kw_only=True)
class TeamContext:
    """What every stack of a team needs to know: the validated team file and where it lives."""

    team: TeamConfig
    team_file: Path
    stage: str
    build_dir: Path

    @property
    def name(self) -> str:
        return self.team.name


def write_team_spec(ctx: TeamContext) -> Path:
    """The runtime spec as ``build/<team>/config/team.json`` (deterministic bytes)."""
    path = ctx.build_dir / "config" / "team.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(runtime_spec(ctx.team), indent=2, sort_keys=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path

"""Typed, keyword-only props passed from the app builder to every team stack."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mdlc.contract import TeamConfig


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

"""What a backtest compares: the current and candidate policies (team files), the history, the models.

A candidate policy file is a whole team file, a file holding ``decision_rules:`` (and
optionally ``realtime: {fallback_decision: …}``), or a bare ``decision_rules`` mapping (with
``score_bands``). It is merged into the team's file and the whole is validated by the
contract, so a candidate that names a field no request or feature has is refused the way
``mdlc validate`` refuses it. The current policy is the team file's, or its version at a git
revision (``--baseline-ref``: what the pipeline deployed before this commit).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from mdlc import policy
from mdlc.contract import TeamConfig, TeamFileError, parse_team, runtime_spec


def team_at(path: Path, ref: str | None) -> TeamConfig:
    """The team file, from the working tree or as committed at git revision ``ref``."""
    if ref is None:
        return parse_team(path.read_text(encoding="utf-8"), path)
    path = path.resolve()
    try:
        root = subprocess.run(["git", "-C", str(path.parent), "rev-parse", "--show-toplevel"],
                              capture_output=True, text=True, check=True).stdout.strip()
        rel = path.relative_to(Path(root).resolve()).as_posix()
        text = subprocess.run(["git", "-C", root, "show", f"{ref}:{rel}"], capture_output=True, text=True,
                              check=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError, ValueError) as exc:
        detail = (getattr(exc, "stderr", "") or str(exc)).strip()
        raise NoBaseline(f"{path.name} has no version at git revision {ref!r} ({detail})") from None
    return parse_team(text, f"{ref}:{path.name}")


class NoBaseline(LookupError):
    """The team file has no version at the baseline revision (a new team, the first commit)."""


def candidate_team(team_path: Path, candidate: Path) -> TeamConfig:
    """The team file with the candidate's ``decision_rules`` (and fallback), validated as a whole."""
    try:
        data = yaml.safe_load(candidate.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TeamFileError(candidate, [f"cannot be read as YAML ({exc})"]) from None
    if not isinstance(data, dict):
        raise TeamFileError(candidate, ["expected a mapping: a team file, `decision_rules: {...}` or a "
                                        "decision_rules mapping with score_bands"])
    rules = data if "score_bands" in data else data.get("decision_rules")
    if not isinstance(rules, dict):
        raise TeamFileError(candidate, ["no decision_rules found; expected `decision_rules: {score_bands: "
                                        "{approve_below: 0.3, decline_at_or_above: 0.85}, ...}`"])
    base = yaml.safe_load(team_path.read_text(encoding="utf-8"))
    base["decision_rules"] = rules
    fallback = (data.get("realtime") or {}).get("fallback_decision") if "score_bands" not in data else None
    if fallback is not None:
        base.setdefault("realtime", {})["fallback_decision"] = fallback
    return parse_team(yaml.safe_dump(base, sort_keys=False), f"{team_path} with the policy of {candidate}")


def same_policy(a: TeamConfig, b: TeamConfig) -> bool:
    """Whether two team files decide alike (same policy hash)."""
    return policy.policy_hash(runtime_spec(a)) == policy.policy_hash(runtime_spec(b))


def guardrails_of(team: TeamConfig) -> dict[str, Any]:
    """The team file's ``decision_rules.guardrails`` that are set."""
    rules = team.decision_rules
    if rules is None or rules.guardrails is None:
        return {}
    return {k: v for k, v in rules.guardrails.model_dump().items() if v is not None}

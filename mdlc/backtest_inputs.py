"""What a backtest compares: the current and candidate policies (team files), the history, the models.

A candidate policy file is a whole team file, a file holding ``decision_rules:`` (and
optionally ``realtime: {fallback_decision: …}``), or a bare ``decision_rules`` mapping (with
``score_bands``). It is merged into the team's file and the whole is validated by the
contract, so a candidate that names a field no request or feature has is refused the way
``mdlc validate`` refuses it. The current policy is the team file's, its version at a git
revision (``--baseline-ref``, by hand), or its version at the commit the pipeline last deployed
to a stage (``--baseline-deployed STAGE``: the pipeline records that commit in an SSM
parameter of its own account once the stage's deployment and smoke test pass,
``mdlc.names.deployed_commit_parameter``; its test stage compares with production's).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from mdlc import policy
from mdlc.contract import TeamConfig, TeamFileError, parse_team, runtime_spec
from mdlc.names import PIPELINE_HOME_STAGES, deployed_commit_parameter

#: A git object name as CodePipeline's CommitId gives it (SHA-1 or SHA-256, possibly abbreviated).
COMMIT = re.compile(r"[0-9a-f]{7,64}")


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


class BaselineError(ValueError):
    """The deployed baseline cannot be read: the parameter is unreadable, malformed, or names a
    commit this clone lacks and cannot fetch. Never taken as "nothing deployed"."""


def deployed_commit(team: TeamConfig, stage: str) -> str | None:
    """The commit the pipeline last deployed to ``stage`` (its SSM parameter in the pipeline's
    account; the region from the environment, as in CodeBuild, else the team file's pipeline
    account); None when it has deployed nothing there yet (no parameter)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    name = deployed_commit_parameter(team.name, stage)
    home = next((team.environments[s] for s in PIPELINE_HOME_STAGES if s in team.environments), None)
    region = boto3.session.Session().region_name or (home.region if home else None)
    try:
        value = boto3.client("ssm", region_name=region).get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ParameterNotFound":
            return None
        raise BaselineError(f"cannot read the commit deployed to {stage} from SSM parameter {name} "
                            f"({error.get('Code')}: {error.get('Message')}); expected the pipeline's build role "
                            f"to hold ssm:GetParameter on it") from None
    except BotoCoreError as exc:
        raise BaselineError(f"cannot read the commit deployed to {stage} from SSM parameter {name} ({exc}); "
                            "expected AWS credentials and a region for the pipeline's account") from None
    value = value.strip()
    if not COMMIT.fullmatch(value):
        raise BaselineError(f"SSM parameter {name} holds {value[:80]!r}; expected the git commit id the "
                            f"pipeline deployed to {stage} (hexadecimal)")
    return value


def ensure_commit(path: Path, commit: str) -> None:
    """Make sure the clone holding ``path`` has ``commit``: fetch it from ``origin`` when it is
    missing (a shallow or single-branch clone), else fail saying so."""
    root = str(path.resolve().parent)

    def present() -> bool:
        return subprocess.run(["git", "-C", root, "cat-file", "-e", f"{commit}^{{commit}}"],
                              capture_output=True).returncode == 0

    if present():
        return
    fetched = subprocess.run(["git", "-C", root, "fetch", "--quiet", "origin", commit], capture_output=True, text=True)
    if fetched.returncode == 0 and present():
        return
    detail = (fetched.stderr or fetched.stdout).strip() or "fetched, but the commit is still missing"
    raise BaselineError(f"commit {commit} (the deployed baseline) is not in the clone at {root}, and `git fetch "
                        f"origin {commit}` failed ({detail}); expected a full git clone of the team's repository "
                        "(the pipeline's source is one: CODEBUILD_CLONE_REF)")


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


def split_guardrails(guardrails: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(absolute, relative): the guardrails a candidate alone can be held to (a review rate, a
    share of fraud caught), and those that measure a change from the current policy."""
    from mdlc.backtest_report import GUARDRAILS

    relative = {k: v for k, v in guardrails.items() if GUARDRAILS[k][1] == "increase"}
    return {k: v for k, v in guardrails.items() if k not in relative}, relative


def guardrails_of(team: TeamConfig) -> dict[str, Any]:
    """The team file's ``decision_rules.guardrails`` that are set."""
    rules = team.decision_rules
    if rules is None or rules.guardrails is None:
        return {}
    return {k: v for k, v in rules.guardrails.model_dump().items() if v is not None}

"""Builds the CDK app: one set of stacks per team file, checked by cdk-nag on every synth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from mdlc.contract import REPO_ROOT, TeamConfig, TeamFileError, load_team, team_files
from stacks.common.props import TeamContext
from stacks.team import TeamStacks


@dataclass(frozen=True)
class ResolvedEnv:
    account: str | None
    region: str


def resolve_env(
    team: TeamConfig, team_file: Path, stage: str, default_account: str | None, default_region: str | None
) -> ResolvedEnv:
    """Account and region of a team's stage: the team file first, then CDK_DEFAULT_*."""
    env = team.environments.get(stage)
    if env is not None:
        return ResolvedEnv(account=env.account, region=env.region)
    if default_region:
        return ResolvedEnv(account=default_account, region=default_region)
    stages = ", ".join(sorted(team.environments)) or "none"
    raise TeamFileError(
        team_file,
        [
            f"field `environments.{stage}`: missing, and CDK_DEFAULT_REGION is not set; expected "
            f"an account and region for stage {stage!r} (stages in the file: {stages})"
        ],
    )


def select_team_files(model: str | None, models_dir: Path) -> list[Path]:
    files = team_files(models_dir)
    if model is None:
        return files
    chosen = [f for f in files if f.stem == model]
    if not chosen:
        names = ", ".join(f.stem for f in files) or "none"
        raise TeamFileError(
            models_dir / f"{model}.yaml",
            [f"context `model`: got {model!r}; expected one of the team files: {names}"],
        )
    return chosen


def build_app(
    app: cdk.App,
    *,
    model: str | None,
    stage: str,
    default_account: str | None,
    default_region: str | None,
    models_dir: Path | None = None,
    build_dir: Path | None = None,
) -> list[TeamStacks]:
    """Validate the selected team files, then add each team's stacks to ``app``.

    Every file is validated before the first construct is created, so a wrong file fails
    the synth before any template is written.
    """
    models_dir = models_dir or REPO_ROOT / "models"
    build_dir = build_dir or REPO_ROOT / "build"
    files = select_team_files(model, models_dir)
    teams = [(load_team(f), f) for f in files]
    envs = [resolve_env(t, f, stage, default_account, default_region) for t, f in teams]
    names = [t.name for t, _ in teams]
    if len(set(names)) != len(names):
        raise TeamFileError(models_dir, [f"team names must be unique, got {names}"])

    built = []
    for (team, team_file), env in zip(teams, envs, strict=True):
        ctx = TeamContext(team=team, team_file=team_file, stage=stage, build_dir=build_dir / team.name)
        built.append(
            TeamStacks(app, ctx=ctx, env=cdk.Environment(account=env.account, region=env.region))
        )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return built


def write_team_spec(ctx: TeamContext) -> Path:
    """The runtime spec as a file, for the S3 asset jobs read (deterministic bytes)."""
    from mdlc.contract import runtime_spec

    path = ctx.build_dir / "config" / "team.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(runtime_spec(ctx.team), indent=2, sort_keys=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path

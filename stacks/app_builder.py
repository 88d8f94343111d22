"""Builds the CDK app: one set of stacks per team file, checked by cdk-nag on every synth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from mdlc.contract import REPO_ROOT, TeamConfig, TeamFileError, load_team, team_files
from stacks.common.props import TeamContext
from stacks.pipeline import TARGET_STAGES, PipelineStack, plan_pipeline
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
    pipelines: bool = True,
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
    # The pipeline deploys the target stages itself: a synth for one of them leaves it out.
    plans = [
        plan_pipeline(t, f) if pipelines and stage not in TARGET_STAGES else None for t, f in teams
    ]

    built = []
    for (team, team_file), env, plan in zip(teams, envs, plans, strict=True):
        ctx = TeamContext(team=team, team_file=team_file, stage=stage, build_dir=build_dir / team.name)
        built.append(
            TeamStacks(app, ctx=ctx, env=cdk.Environment(account=env.account, region=env.region))
        )
        if plan is not None:
            PipelineStack(app, f"{team.name}-pipeline", ctx=ctx, plan=plan,
                          build_dir=build_dir / team.name / "pipeline",
                          env=cdk.Environment(account=plan.home.account, region=plan.home.region))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return built
